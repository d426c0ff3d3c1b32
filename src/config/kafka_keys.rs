//! Kafka broker keys that are not sluice settings, and what sluice does with each. A Kafka
//! `server.properties` loads as it is where sluice does what its keys say; a key whose value
//! sluice cannot honour stops start-up with a message naming it — never a silently weaker
//! broker.
//!
//! | treatment | keys | why |
//! |---|---|---|
//! | accepted, nothing to act on | `replica.*`, `controller.quorum.*` timeouts, `auto.leader.rebalance.enable`, thread-pool sizes, … | one node: no followers, one voter; listed once at start-up with the reason |
//! | accepted for one value | `process.roles=broker,controller`, `compression.type=producer`, `log.preallocate=false`, … | what sluice does; any other value is refused |
//! | refused | `ssl.*`, `sasl.*`, `listener.name.*`, `authorizer.class.name`, `metric.reporters`, `config.providers`, metadata snapshot and retention keys, … | not there (yet) |
//! | warned of, ignored | `zookeeper.*`, `inter.broker.protocol.version`, `log.message.format.version`, `confluent.*`, … | not Kafka 4 settings: Kafka warns of them too |
//!
//! Kafka keys whose meaning depends on other keys (`listener.security.protocol.map`,
//! `inter.broker.listener.name`, `controller.quorum.voters`, `metadata.log.dir`) are sluice
//! settings, checked against each other once the whole configuration is read
//! (`Loader::finish`).

/// What sluice does with one Kafka key that is not one of its settings.
#[derive(Debug, Clone, Copy)]
pub enum Treatment {
    /// One node leaves it nothing to act on: accepted (its value checked for form where the
    /// checker says so), listed at start-up with the reason.
    Moot(&'static str),
    /// Accepted when `accepts` holds for the value (what sluice does); refused otherwise, with
    /// `reason`.
    Only {
        accepts: fn(&str) -> bool,
        reason: &'static str,
    },
    /// Refused whatever the value, with the reason.
    Refused(&'static str),
    /// Not a Kafka 4 broker setting (ZooKeeper mode, removed, or a vendor's): ignored with a
    /// warning, as Kafka warns of keys it does not know.
    Obsolete,
}

const THREADS: &str = "a thread pool of Kafka's; sluice runs its actors on `num.arbiters` threads";
const ONE_VOTER: &str = "the metadata quorum has one voter, this node: no elections or fetches \
                         between controllers";
const NO_FOLLOWERS: &str = "one node: no follower replicates, no leader moves";
const NO_TRANSACTIONS: &str = "transactions are refused at InitProducerId (not there yet)";
const NO_SECURITY: &str = "TLS, SASL and ACLs are not there yet; sluice serves PLAINTEXT only";

fn is(value: &str, want: &str) -> bool {
    value.trim().eq_ignore_ascii_case(want)
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn empty(value: &str) -> bool {
    value.trim().is_empty()
}

fn one(value: &str) -> bool {
    value.trim() == "1"
}

fn is_false(value: &str) -> bool {
    is(value, "false")
}

/// How sluice treats `key`, a key that is not one of its settings; `None` for a key neither
/// sluice nor Kafka 4 knows.
pub fn treatment(key: &str) -> Option<Treatment> {
    use Treatment::*;
    let t = match key {
        "process.roles" => Only {
            accepts: |v| {
                let mut roles = list(v);
                roles.sort();
                roles == ["broker", "controller"]
            },
            reason: "sluice is one node that is both broker and controller \
                     (process.roles=broker,controller)",
        },
        "controller.quorum.bootstrap.servers" => Only {
            accepts: |v| list(v).len() <= 1,
            reason: "a quorum of several controllers; sluice runs a one-node quorum",
        },
        "security.inter.broker.protocol" => Only {
            accepts: |v| is(v, "PLAINTEXT"),
            reason: NO_SECURITY,
        },
        "transaction.state.log.min.isr" | "share.coordinator.state.topic.min.isr" => Only {
            accepts: one,
            reason: "one node: the ISR has one replica",
        },
        "group.coordinator.rebalance.protocols" => Only {
            accepts: |v| list(v).iter().all(|p| p == "classic") && !list(v).is_empty(),
            reason: "sluice's group coordinator speaks the classic protocol only (the \
                     consumer and share protocols are not there yet)",
        },
        "compression.type" => Only {
            accepts: |v| is(v, "producer"),
            reason: "sluice stores batches as the producer compressed them \
                     (compression.type=producer); recompression is not there yet",
        },
        "log.preallocate" => Only {
            accepts: is_false,
            reason: "sluice does not preallocate segment files",
        },
        "remote.log.storage.system.enable" => Only {
            accepts: is_false,
            reason: "tiered storage is not there yet",
        },
        "max.connections.per.ip.overrides" => Only {
            accepts: empty,
            reason: "per-host connection limits are not there yet (max.connections.per.ip is)",
        },
        "authorizer.class.name" => Only {
            accepts: empty,
            reason: NO_SECURITY,
        },
        "metric.reporters" => Only {
            accepts: empty,
            reason: "sluice cannot load Java metrics reporters; its metrics are served in \
                     Prometheus form on the admin listener",
        },
        "config.providers" => Only {
            accepts: empty,
            reason: "Java config providers cannot be loaded, so ${…} values would be taken \
                     literally",
        },
        "compression.gzip.level" | "compression.lz4.level" | "compression.zstd.level" => Moot(
            "the level of the broker's own compression, which compression.type=producer (the \
             only value sluice takes) never does",
        ),
        "log.local.retention.ms" | "log.local.retention.bytes" => Moot("tiered storage is off"),
        "metadata.log.max.record.bytes.between.snapshots"
        | "metadata.log.max.snapshot.interval.ms"
        | "metadata.max.retention.bytes"
        | "metadata.max.retention.ms"
        | "metadata.max.idle.interval.ms" => Refused(
            "sluice takes no metadata snapshots, keeps the whole metadata log and writes no \
             NoOpRecords",
        ),
        "num.network.threads"
        | "num.io.threads"
        | "background.threads"
        | "num.recovery.threads.per.data.dir"
        | "queued.max.requests" => Moot(THREADS),
        "num.replica.fetchers" | "replica.fetch.max.bytes" | "replica.lag.time.max.ms" => {
            Moot(NO_FOLLOWERS)
        }
        "auto.leader.rebalance.enable"
        | "leader.imbalance.check.interval.seconds"
        | "leader.imbalance.per.broker.percentage" => {
            Moot("one replica per partition: its leader is always the preferred one")
        }
        "offsets.commit.timeout.ms" => {
            Moot("one node: a commit waits for its own fsync, not for replicas")
        }
        "super.users" | "allow.everyone.if.no.acl.found" => {
            Moot("no authorizer is configured: every client may do everything")
        }
        "log.flush.scheduler.interval.ms" => {
            Moot("each partition flushes on its own timer (log.flush.interval.ms)")
        }
        "inter.broker.protocol.version"
        | "log.message.format.version"
        | "log.message.timestamp.difference.max.ms"
        | "broker.id.generation.enable"
        | "reserved.broker.max.id"
        | "control.plane.listener.name" => Obsolete,
        _ => return prefixed(key),
    };
    Some(t)
}

/// Families of keys, by prefix.
fn prefixed(key: &str) -> Option<Treatment> {
    use Treatment::*;
    const FAMILIES: &[(&str, Treatment)] = &[
        ("ssl.", Refused(NO_SECURITY)),
        ("sasl.", Refused(NO_SECURITY)),
        ("listener.name.", Refused(NO_SECURITY)),
        ("delegation.token.", Refused(NO_SECURITY)),
        ("remote.log.", Moot("tiered storage is off")),
        ("controller.quorum.", Moot(ONE_VOTER)),
        ("controller.", Moot(ONE_VOTER)),
        ("replica.", Moot(NO_FOLLOWERS)),
        ("transaction.", Moot(NO_TRANSACTIONS)),
        ("transactional.", Moot(NO_TRANSACTIONS)),
        (
            "quota.",
            Moot("client quotas are not there yet: no quota has a window to sample"),
        ),
        (
            "metrics.",
            Moot("sluice's metrics are Prometheus counters, not sampled windows"),
        ),
        ("password.encoder.", Moot("no dynamic password settings")),
        ("zookeeper.", Obsolete),
        ("confluent.", Obsolete),
    ];
    FAMILIES
        .iter()
        .find(|(prefix, _)| key.starts_with(prefix))
        .map(|(_, t)| *t)
}

/// The security protocol of each listener name: `listener.security.protocol.map` when given
/// (`NAME:PROTOCOL,…`, names upper-cased), else Kafka's default map (each protocol name maps
/// to itself). `Err` says what is wrong with the map.
pub fn protocol_map(value: Option<&str>) -> Result<Vec<(String, String)>, String> {
    const PROTOCOLS: [&str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(PROTOCOLS
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect());
    };
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| format!("{entry:?} is not NAME:PROTOCOL"))?;
        let protocol = protocol.trim().to_ascii_uppercase();
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(format!("{protocol} is not a security protocol"));
        }
        out.push((name.trim().to_ascii_uppercase(), protocol));
    }
    Ok(out)
}

/// The voter ids of `controller.quorum.voters` (`id@host:port,…`).
pub fn voter_ids(value: &str) -> Result<Vec<i32>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.split_once('@')
                .and_then(|(id, _)| id.trim().parse::<i32>().ok())
                .ok_or_else(|| format!("{e:?} is not id@host:port"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(key: &str, value: &str) -> bool {
        match treatment(key) {
            Some(Treatment::Only { accepts, .. }) => accepts(value),
            Some(Treatment::Moot(_)) | Some(Treatment::Obsolete) => true,
            Some(Treatment::Refused(_)) | None => false,
        }
    }

    #[test]
    fn values_sluice_honours_are_accepted_and_others_refused() {
        assert!(accepts("process.roles", "broker,controller"));
        assert!(accepts("process.roles", " controller , broker "));
        assert!(!accepts("process.roles", "broker"));
        assert!(!accepts("process.roles", "controller"));
        assert!(accepts("compression.type", "producer"));
        assert!(!accepts("compression.type", "zstd"));
        assert!(treatment("min.insync.replicas").is_none(), "a setting");
        assert!(treatment("log.cleanup.policy").is_none(), "a setting");
        assert!(accepts("compression.zstd.level", "3"));
        assert!(accepts("group.coordinator.rebalance.protocols", "classic"));
        assert!(!accepts(
            "group.coordinator.rebalance.protocols",
            "classic,consumer"
        ));
        assert!(!accepts(
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        ));
        assert!(accepts("authorizer.class.name", ""));
        assert!(!accepts("ssl.keystore.location", "/x"));
        assert!(!accepts("sasl.enabled.mechanisms", "PLAIN"));
        assert!(!accepts(
            "listener.name.external.ssl.keystore.location",
            "/x"
        ));
        assert!(!accepts("metadata.max.retention.ms", "1"));
        assert!(accepts(
            "controller.quorum.bootstrap.servers",
            "localhost:9093"
        ));
        assert!(!accepts(
            "controller.quorum.bootstrap.servers",
            "a:9093,b:9093"
        ));
        assert!(accepts("num.io.threads", "8"));
        assert!(accepts("zookeeper.connect", "zk:2181"));
        assert!(treatment("no.such.key").is_none());
    }

    #[test]
    fn protocol_maps_and_voters() {
        let default = protocol_map(None).expect("default");
        assert!(default.contains(&("SSL".to_string(), "SSL".to_string())));
        let map = protocol_map(Some("controller:plaintext, EXTERNAL:SASL_SSL")).expect("map");
        assert_eq!(
            map,
            [
                ("CONTROLLER".to_string(), "PLAINTEXT".to_string()),
                ("EXTERNAL".to_string(), "SASL_SSL".to_string())
            ]
        );
        assert!(protocol_map(Some("A:TLS")).is_err());
        assert!(protocol_map(Some("A")).is_err());
        assert_eq!(voter_ids("1@localhost:9093").expect("one"), [1]);
        assert_eq!(voter_ids("1@a:1, 2@b:2").expect("two"), [1, 2]);
        assert!(voter_ids("localhost:9093").is_err());
    }
}
