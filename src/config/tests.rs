use std::path::{Path, PathBuf};

use clap::Parser;

use super::*;
use crate::cli::{self, Cli};

const CODECRAFTERS: &str = "process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=/tmp/kraft-combined-logs";

fn ok<T>(r: Result<T, ConfigError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn err<T: fmt::Debug>(r: Result<T, ConfigError>) -> ConfigError {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

fn props(text: &str) -> Config {
    ok(Config::from_properties_str(text))
}

fn toml(text: &str) -> Config {
    ok(Config::from_toml_str(text))
}

/// A temporary directory holding one file.
struct TempFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn temp_file(name: &str, text: &str) -> TempFile {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = dir.path().join(name);
    if let Err(e) = std::fs::write(&path, text) {
        panic!("write {}: {e}", path.display());
    }
    TempFile { _dir: dir, path }
}

fn load_args(args: &[&str]) -> Result<Config, ConfigError> {
    let argv = std::iter::once("sluice").chain(args.iter().copied());
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli::load(&cli),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn without_source(mut c: Config) -> Config {
    c.source = ConfigSource::default();
    c
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

// ----- defaults and example files -----

#[test]
fn embedded_default() {
    let c = Config::default();
    assert_eq!(c.node_id, 1);
    assert_eq!(
        c.listeners,
        vec![Listener::new("PLAINTEXT", Some("127.0.0.1"), 9092)]
    );
    assert_eq!(c.bind_addr().ok(), "127.0.0.1:9092".parse().ok());
    assert_eq!(c.log_dirs, vec![PathBuf::from("./sluice-data")]);
    assert_eq!(c.log_retention_ms, 7 * 24 * 3_600_000);
    assert_eq!(c.log_roll_ms, 7 * 24 * 3_600_000);
    assert_eq!(c.log_flush_interval_messages, u64::MAX);
    assert_eq!(c.source.file, ConfigFile::Embedded);
    assert!(c.num_arbiters >= 1);
    // No file and no flags: the embedded default.
    assert_eq!(ok(load_args(&[])), c);
    assert_eq!(
        without_source(props("")),
        Config::default(),
        "an empty file changes nothing"
    );
}

#[test]
fn documented_defaults_are_the_defaults() {
    for s in SETTINGS {
        if s.default.is_empty() {
            continue;
        }
        let mut c = Config::default();
        ok(c.set(s.key, s.default));
        // `source.explicit` now records the key as given; the values must not change.
        assert_eq!(
            c.source.explicit.get(s.key).map(String::as_str),
            Some(s.default)
        );
        assert_eq!(
            without_source(c),
            Config::default(),
            "{} = {}",
            s.key,
            s.default
        );
    }
}

#[test]
fn sluice_toml_is_the_default() {
    let path = repo_file("config/sluice.toml");
    let c = ok(Config::from_toml_file(&path));
    assert_eq!(c.source.file, ConfigFile::Toml(path.clone()));
    assert_eq!(c.source.ignored, vec![]);
    assert_eq!(without_source(c), Config::default());
    // Every setting is listed (those unset by default as comments).
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    for s in SETTINGS {
        assert!(
            text.contains(&format!("\"{}\" = ", s.key)),
            "{} missing from config/sluice.toml",
            s.key
        );
    }
    // Through the command line too.
    let c = ok(load_args(&["--config", &path.to_string_lossy()]));
    assert_eq!(without_source(c), Config::default());
}

#[test]
fn server_properties_example_loads() {
    let path = repo_file("config/server.properties");
    let c = ok(load_args(&[&path.to_string_lossy()]));
    assert_eq!(c.source.file, ConfigFile::Properties(path));
    assert_eq!(c.broker_listener(), &Listener::new("PLAINTEXT", None, 9092));
    assert_eq!(
        c.advertised_listener(),
        Listener::new("PLAINTEXT", Some("localhost"), 9092)
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/sluice-logs")]);
    assert_eq!(c.group_initial_rebalance_delay_ms, 0);
    assert!(c
        .source
        .ignored
        .iter()
        .all(|i| i.kind != IgnoredKind::Unknown));
}

// ----- properties files -----

#[test]
fn codecrafters_file() {
    let file = temp_file("server.properties", CODECRAFTERS);
    let c = ok(load_args(&[&file.path.to_string_lossy()]));
    assert_eq!(c.node_id, 1);
    assert_eq!(c.broker_listener(), &Listener::new("PLAINTEXT", None, 9092));
    assert_eq!(c.bind_addr().ok(), "0.0.0.0:9092".parse().ok());
    assert_eq!(c.controller_listener_names, vec!["CONTROLLER".to_owned()]);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kraft-combined-logs")]);
    assert_eq!(c.source.file, ConfigFile::Properties(file.path.clone()));
    let ignored: Vec<(&str, IgnoredKind)> = c
        .source
        .ignored
        .iter()
        .map(|i| (i.key.as_str(), i.kind))
        .collect();
    assert_eq!(ignored, [("process.roles", IgnoredKind::AsSluiceDoes)]);
    assert_eq!(c.controller_quorum_voters, [1]);
    assert_eq!(c.listener_security_protocol_map.len(), 5);
    // Everything else is at its default.
    let expected = Config {
        listeners: c.listeners.clone(),
        controller_listener_names: c.controller_listener_names.clone(),
        log_dirs: c.log_dirs.clone(),
        controller_quorum_voters: c.controller_quorum_voters.clone(),
        listener_security_protocol_map: c.listener_security_protocol_map.clone(),
        ..Config::default()
    };
    assert_eq!(without_source(c), expected);
}

#[test]
fn properties_syntax() {
    let c = props(
        "# a comment\n\
         ! another\n\
         \n\
         node.id: 5\n\
         \x20  num.partitions   7   \n\
         log.dirs = /a,\\\n\
         \x20          /b\n\
         broker.rack=rack\\u0031\\=\\ \n\
         listeners=PLAINTEXT://localhost:9092\r\n\
         # log.segment.bytes=1\n",
    );
    assert_eq!(c.node_id, 5);
    assert_eq!(c.num_partitions, 7);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(c.rack.as_deref(), Some("rack1="));
    assert_eq!(
        c.listeners,
        vec![Listener::new("PLAINTEXT", Some("localhost"), 9092)]
    );
    assert_eq!(c.log_segment_bytes, Config::default().log_segment_bytes);
}

#[test]
fn listener_forms() {
    let c = props("listeners=PLAINTEXT://[::1]:9092");
    assert_eq!(c.bind_addr().ok(), "[::1]:9092".parse().ok());
    let c = props(
        "listeners=CONTROLLER://:9093,INTERNAL://localhost:9094\n\
         controller.listener.names=controller\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT",
    );
    assert_eq!(c.broker_listener().name, "INTERNAL");
    assert_eq!(c.broker_listener().host.as_deref(), Some("localhost"));
    let c =
        props("listeners=PLAINTEXT://0.0.0.0:9092\nadvertised.listeners=PLAINTEXT://broker1:19092");
    assert_eq!(
        c.advertised_listener(),
        Listener::new("PLAINTEXT", Some("broker1"), 19092)
    );
    assert_eq!(
        props("").advertised_listener(),
        Listener::new("PLAINTEXT", Some("127.0.0.1"), 9092)
    );
}

#[test]
fn unknown_keys_are_ignored() {
    let c = props(
        "no.such.key=1\nnum.partitions=2\nprocess.roles=broker,controller\n\
         zookeeper.connect=zk:2181\nnum.io.threads=8",
    );
    assert_eq!(c.num_partitions, 2);
    let ignored: Vec<(&str, IgnoredKind)> = c
        .source
        .ignored
        .iter()
        .map(|i| (i.key.as_str(), i.kind))
        .collect();
    assert_eq!(
        ignored,
        [
            ("no.such.key", IgnoredKind::Unknown),
            ("process.roles", IgnoredKind::AsSluiceDoes),
            ("zookeeper.connect", IgnoredKind::Obsolete),
            (
                "num.io.threads",
                IgnoredKind::Moot(
                    "a thread pool of Kafka's; sluice runs its actors on `num.arbiters` threads"
                )
            ),
        ]
    );
    assert_eq!(
        c.source.ignored[0].origin,
        Origin::File {
            path: PathBuf::from("<properties>"),
            line: Some(1)
        }
    );
    let c = toml("\"no.such.key\" = 1\n[whatever]\nx = [1, 2]\n");
    assert_eq!(c.source.ignored.len(), 2);
    // A Kafka key is accepted on the command line; an unknown one is a typo.
    let c = ok(load_args(&["--set", "process.roles=broker,controller"]));
    assert_eq!(c.source.ignored.len(), 1);
    let e = err(load_args(&["--set", "num.partition=3"]));
    assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "command line (--set): unknown setting num.partition (`sluice --help` lists them all)"
    );
}

// ----- key families -----

#[test]
fn retention_precedence() {
    let hour = 3_600_000;
    assert_eq!(props("log.retention.hours=2").log_retention_ms, 2 * hour);
    assert_eq!(
        props("log.retention.minutes=3\nlog.retention.hours=2").log_retention_ms,
        180_000
    );
    assert_eq!(
        props("log.retention.hours=2\nlog.retention.minutes=3").log_retention_ms,
        180_000
    );
    for text in [
        "log.retention.ms=1234\nlog.retention.minutes=3\nlog.retention.hours=2",
        "log.retention.hours=2\nlog.retention.minutes=3\nlog.retention.ms=1234",
        "log.retention.minutes=3\nlog.retention.ms=1234",
    ] {
        assert_eq!(props(text).log_retention_ms, 1234, "{text}");
    }
    assert_eq!(props("log.retention.hours=-1").log_retention_ms, -1);
    assert_eq!(props("log.retention.minutes=-5").log_retention_ms, -1);
    assert_eq!(props("log.retention.ms=-1").log_retention_ms, -1);
    assert_eq!(
        props("log.retention.ms=-1\nlog.retention.hours=5").log_retention_ms,
        -1
    );
    // TOML, both key shapes.
    assert_eq!(
        toml("[log.retention]\nhours = 1\nminutes = 2").log_retention_ms,
        120_000
    );
    assert_eq!(
        toml("\"log.retention.ms\" = 5\n\"log.retention.hours\" = 1").log_retention_ms,
        5
    );
}

#[test]
fn roll_precedence() {
    assert_eq!(props("log.roll.hours=1").log_roll_ms, 3_600_000);
    assert_eq!(props("log.roll.ms=500\nlog.roll.hours=1").log_roll_ms, 500);
    assert_eq!(props("log.roll.hours=1\nlog.roll.ms=500").log_roll_ms, 500);
    assert!(Config::from_properties_str("log.roll.hours=0").is_err());
    assert!(Config::from_properties_str("log.roll.ms=0").is_err());
}

#[test]
fn log_dir_and_log_dirs() {
    assert_eq!(props("log.dir=/one").log_dirs, vec![PathBuf::from("/one")]);
    assert_eq!(
        props("log.dirs=/two\nlog.dir=/one").log_dirs,
        vec![PathBuf::from("/two")]
    );
    assert_eq!(
        props("log.dir=/one\nlog.dirs=/two").log_dirs,
        vec![PathBuf::from("/two")]
    );
    assert_eq!(
        toml("\"log.dirs\" = [\"/a\", \"/b,/c\"]").log_dirs,
        vec![
            PathBuf::from("/a"),
            PathBuf::from("/b"),
            PathBuf::from("/c")
        ]
    );
}

#[test]
fn later_layer_overrides_a_whole_family() {
    let file = temp_file(
        "s.properties",
        "log.retention.ms=1000\nlog.roll.ms=7\nlog.dirs=/x",
    );
    let p = file.path.to_string_lossy();
    let c = ok(load_args(&[
        &p,
        "--set",
        "log.retention.hours=2",
        "--set",
        "log.roll.hours=1",
        "--set",
        "log.dir=/y",
    ]));
    assert_eq!(c.log_retention_ms, 7_200_000);
    assert_eq!(c.log_roll_ms, 3_600_000);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/y")]);
    // Within the command line, Kafka's order holds again.
    let c = ok(load_args(&[
        &p,
        "--set",
        "log.retention.ms=5",
        "--set",
        "log.retention.hours=2",
    ]));
    assert_eq!(c.log_retention_ms, 5);
    // Config::set is a layer of its own.
    let mut c = props("log.retention.ms=1000");
    ok(c.set("log.retention.hours", "1"));
    assert_eq!(c.log_retention_ms, 3_600_000);
}

// ----- every key, every way -----

type Check = fn(&Config) -> bool;

/// A non-default value for every key (and alias), and how to see it took effect.
const SAMPLES: &[(&str, &str, Check)] = &[
    ("node.id", "7", |c| c.node_id == 7),
    ("broker.id", "8", |c| c.node_id == 8),
    ("listeners", "PLAINTEXT://[::1]:9001", |c| {
        c.listeners == vec![Listener::new("PLAINTEXT", Some("::1"), 9001)]
    }),
    (
        "advertised.listeners",
        "PLAINTEXT://example.com:19092",
        |c| c.advertised_listeners == vec![Listener::new("PLAINTEXT", Some("example.com"), 19092)],
    ),
    ("controller.listener.names", "controller,other", |c| {
        c.controller_listener_names == ["CONTROLLER", "OTHER"]
    }),
    (
        "listener.security.protocol.map",
        "PLAINTEXT:PLAINTEXT,EXT:SSL",
        |c| {
            c.listener_security_protocol_map
                == [
                    ("PLAINTEXT".to_string(), "PLAINTEXT".to_string()),
                    ("EXT".to_string(), "SSL".to_string()),
                ]
        },
    ),
    ("inter.broker.listener.name", "plaintext", |c| {
        c.inter_broker_listener_name.as_deref() == Some("PLAINTEXT")
    }),
    ("controller.quorum.voters", "1@localhost:9093", |c| {
        c.controller_quorum_voters == [1]
    }),
    ("metadata.log.dir", "./sluice-data", |c| {
        c.metadata_log_dir.as_deref() == Some(std::path::Path::new("./sluice-data"))
    }),
    ("broker.rack", "r1", |c| c.rack.as_deref() == Some("r1")),
    ("socket.request.max.bytes", "1000", |c| {
        c.socket_request_max_bytes == 1000
    }),
    ("socket.listen.backlog.size", "64", |c| {
        c.socket_listen_backlog_size == 64
    }),
    ("socket.send.buffer.bytes", "102400", |c| {
        c.socket_send_buffer_bytes == 102_400
    }),
    ("socket.receive.buffer.bytes", "65536", |c| {
        c.socket_receive_buffer_bytes == 65_536
    }),
    ("connections.max.idle.ms", "1234", |c| {
        c.connections_max_idle_ms == 1234
    }),
    ("max.connections", "10", |c| c.max_connections == 10),
    ("max.connections.per.ip", "5", |c| {
        c.max_connections_per_ip == 5
    }),
    ("max.inflight.requests.per.connection", "4", |c| {
        c.max_inflight_requests_per_connection == 4
    }),
    ("num.arbiters", "1000", |c| c.num_arbiters == 1000),
    ("connection.affinity", "false", |c| !c.connection_affinity),
    ("shutdown.timeout.ms", "100", |c| {
        c.shutdown_timeout_ms == 100
    }),
    ("admin.listener", "127.0.0.1:9644", |c| {
        c.admin_listener == "127.0.0.1:9644".parse().ok()
    }),
    ("num.partitions", "3", |c| c.num_partitions == 3),
    ("offsets.topic.num.partitions", "7", |c| {
        c.offsets_topic_num_partitions == 7
    }),
    ("offsets.topic.segment.bytes", "1048576", |c| {
        c.offsets_topic_segment_bytes == 1_048_576
    }),
    ("auto.create.topics.enable", "false", |c| {
        !c.auto_create_topics_enable
    }),
    ("delete.topic.enable", "FALSE", |c| !c.delete_topic_enable),
    ("unclean.leader.election.enable", "true", |c| {
        c.unclean_leader_election_enable
    }),
    ("message.max.bytes", "2000", |c| c.message_max_bytes == 2000),
    ("fetch.max.bytes", "4096", |c| c.fetch_max_bytes == 4096),
    ("log.message.timestamp.type", "LogAppendTime", |c| {
        c.message_timestamp_type == TimestampType::LogAppendTime
    }),
    ("log.dirs", "/a,/b", |c| {
        c.log_dirs == [PathBuf::from("/a"), PathBuf::from("/b")]
    }),
    ("log.dir", "/c", |c| c.log_dirs == [PathBuf::from("/c")]),
    ("log.segment.bytes", "1048576", |c| {
        c.log_segment_bytes == 1_048_576
    }),
    ("metadata.log.segment.bytes", "16777216", |c| {
        c.metadata_log_segment_bytes == 16_777_216
    }),
    ("log.roll.ms", "60000", |c| c.log_roll_ms == 60_000),
    ("log.roll.hours", "2", |c| c.log_roll_ms == 7_200_000),
    ("log.roll.jitter.ms", "1500", |c| {
        c.log_roll_jitter_ms == 1500
    }),
    ("log.roll.jitter.hours", "1", |c| {
        c.log_roll_jitter_ms == 3_600_000
    }),
    ("log.cleanup.policy", "compact,delete", |c| {
        c.log_cleanup_policy == ["compact", "delete"]
    }),
    ("min.insync.replicas", "2", |c| c.min_insync_replicas == 2),
    ("log.message.timestamp.before.max.ms", "3600000", |c| {
        c.log_message_timestamp_before_max_ms == 3_600_000
    }),
    ("log.message.timestamp.after.max.ms", "60000", |c| {
        c.log_message_timestamp_after_max_ms == 60_000
    }),
    ("log.flush.offset.checkpoint.interval.ms", "1000", |c| {
        c.log_flush_offset_checkpoint_interval_ms == 1000
    }),
    (
        "log.flush.start.offset.checkpoint.interval.ms",
        "2000",
        |c| c.log_flush_start_offset_checkpoint_interval_ms == 2000,
    ),
    (
        "replica.high.watermark.checkpoint.interval.ms",
        "3000",
        |c| c.replica_high_watermark_checkpoint_interval_ms == 3000,
    ),
    ("log.index.interval.bytes", "100", |c| {
        c.log_index_interval_bytes == 100
    }),
    ("log.index.size.max.bytes", "1024", |c| {
        c.log_index_size_max_bytes == 1024
    }),
    ("log.retention.ms", "1000", |c| c.log_retention_ms == 1000),
    ("log.retention.minutes", "2", |c| {
        c.log_retention_ms == 120_000
    }),
    ("log.retention.hours", "-1", |c| c.log_retention_ms == -1),
    ("log.retention.bytes", "1000000", |c| {
        c.log_retention_bytes == 1_000_000
    }),
    ("log.retention.check.interval.ms", "1000", |c| {
        c.log_retention_check_interval_ms == 1000
    }),
    ("log.segment.delete.delay.ms", "0", |c| {
        c.log_segment_delete_delay_ms == 0
    }),
    ("log.flush.interval.messages", "1", |c| {
        c.log_flush_interval_messages == 1
    }),
    ("log.flush.interval.ms", "1000", |c| {
        c.log_flush_interval_ms == Some(1000)
    }),
    ("flush.on.ack", "acks-all", |c| {
        c.flush_on_ack == FlushOnAck::AcksAll
    }),
    ("group.initial.rebalance.delay.ms", "0", |c| {
        c.group_initial_rebalance_delay_ms == 0
    }),
    ("group.min.session.timeout.ms", "1000", |c| {
        c.group_min_session_timeout_ms == 1000
    }),
    ("group.max.session.timeout.ms", "60000", |c| {
        c.group_max_session_timeout_ms == 60_000
    }),
    ("offsets.retention.minutes", "60", |c| {
        c.offsets_retention_minutes == 60
    }),
    ("log.cleaner.enable", "false", |c| !c.log_cleaner_enable),
    ("log.cleaner.threads", "2", |c| c.log_cleaner_threads == 2),
    ("log.cleaner.backoff.ms", "100", |c| {
        c.log_cleaner_backoff_ms == 100
    }),
    ("log.cleaner.dedupe.buffer.size", "2097152", |c| {
        c.log_cleaner_dedupe_buffer_size == 2 << 20
    }),
    ("log.cleaner.io.buffer.size", "65536", |c| {
        c.log_cleaner_io_buffer_size == 65_536
    }),
    ("log.cleaner.io.buffer.load.factor", "0.75", |c| {
        c.log_cleaner_io_buffer_load_factor == 0.75
    }),
    ("log.cleaner.io.max.bytes.per.second", "1048576.5", |c| {
        c.log_cleaner_io_max_bytes_per_second == 1_048_576.5
    }),
    ("log.cleaner.min.cleanable.ratio", "0.01", |c| {
        c.log_cleaner_min_cleanable_ratio == 0.01
    }),
    ("log.cleaner.delete.retention.ms", "1000", |c| {
        c.log_cleaner_delete_retention_ms == 1000
    }),
    ("log.cleaner.min.compaction.lag.ms", "5", |c| {
        c.log_cleaner_min_compaction_lag_ms == 5
    }),
    ("log.cleaner.max.compaction.lag.ms", "60000", |c| {
        c.log_cleaner_max_compaction_lag_ms == 60_000
    }),
    ("log.filter", "info,sluice=debug", |c| {
        c.log_filter.as_deref() == Some("info,sluice=debug")
    }),
    ("log.format", "json", |c| c.log_format == LogFormat::Json),
];

/// Settings whose one accepted value is their default: no sample can differ from it.
const ONE_NODE_ONLY: &[&str] = &[
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "share.coordinator.state.topic.replication.factor",
];

#[test]
fn samples_cover_every_key() {
    for s in SETTINGS {
        if ONE_NODE_ONLY.contains(&s.key) {
            continue;
        }
        for key in std::iter::once(&s.key).chain(s.aliases) {
            assert!(
                SAMPLES.iter().any(|(k, _, _)| k == key),
                "no sample for {key}"
            );
        }
    }
    for (key, _, check) in SAMPLES {
        assert!(Setting::find(key).is_some(), "{key} is not a setting");
        assert!(!check(&Config::default()), "{key}: sample is the default");
    }
}

#[test]
fn every_key_via_properties() {
    for (key, value, check) in SAMPLES {
        let c = props(&format!("{key}={value}"));
        assert!(check(&c), "{key}={value}: {c:#?}");
        let c = props(&format!("  {key} : {value}  "));
        assert!(check(&c), "{key} : {value}");
    }
}

#[test]
fn every_key_via_toml() {
    for (key, value, check) in SAMPLES {
        let c = toml(&format!("{key:?} = {value:?}"));
        assert!(check(&c), "{key:?} = {value:?}: {c:#?}");
        // Bare dotted keys too.
        let c = toml(&format!("{key} = {value:?}"));
        assert!(check(&c), "{key} = {value:?}");
    }
}

#[test]
fn every_key_via_set_flag() {
    for (key, value, check) in SAMPLES {
        let arg = format!("{key}={value}");
        let c = ok(load_args(&["--set", &arg]));
        assert!(check(&c), "--set {arg}");
        assert_eq!(c.source.overrides, vec![format!("--set {arg}")]);
    }
}

#[test]
fn every_key_via_config_set() {
    for (key, value, check) in SAMPLES {
        let mut c = Config::default();
        ok(c.set(key, value));
        assert!(check(&c), "Config::set({key}, {value})");
    }
}

#[test]
fn typed_toml_values() {
    let c = toml(
        r#"
node.id = 3
"auto.create.topics.enable" = false
listeners = ["PLAINTEXT://:9092", "CONTROLLER://:9093"]
"controller.listener.names" = ["CONTROLLER"]
"num.arbiters" = 2

[log]
dirs = ["/d1", "/d2"]
"segment.bytes" = 1048576
"flush.interval.ms" = 250

[log.retention]
bytes = -1
minutes = 10
"#,
    );
    assert_eq!(c.node_id, 3);
    assert!(!c.auto_create_topics_enable);
    assert_eq!(c.broker_listener(), &Listener::new("PLAINTEXT", None, 9092));
    assert_eq!(c.num_arbiters, 2);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/d1"), PathBuf::from("/d2")]);
    assert_eq!(c.log_segment_bytes, 1_048_576);
    assert_eq!(c.log_flush_interval_ms, Some(250));
    assert_eq!(c.log_retention_ms, 600_000);
    assert_eq!(c.source.ignored, vec![]);
    // Strings work where typed values do.
    let c = toml("\"node.id\" = \"3\"\n\"auto.create.topics.enable\" = \"false\"");
    assert_eq!(c.node_id, 3);
    assert!(!c.auto_create_topics_enable);
}

// ----- precedence across sources -----

#[test]
fn file_then_flags() {
    let file = temp_file(
        "s.properties",
        "num.partitions=3\nnode.id=4\nlisteners=PLAINTEXT://:9092\nlog.dirs=/f",
    );
    let p = file.path.to_string_lossy();
    let c = ok(load_args(&[&p]));
    assert_eq!((c.num_partitions, c.node_id), (3, 4));

    let c = ok(load_args(&[
        &p,
        "--num-partitions",
        "5",
        "--node-id",
        "9",
        "--listen",
        "127.0.0.1:19092",
        "--log-dirs",
        "/flag",
        "--advertised-listeners",
        "example.com:9092",
        "--log-filter",
        "warn",
        "--admin-listener",
        "127.0.0.1:9644",
    ]));
    assert_eq!((c.num_partitions, c.node_id), (5, 9));
    assert_eq!(c.bind_addr().ok(), "127.0.0.1:19092".parse().ok());
    assert_eq!(c.log_dirs, vec![PathBuf::from("/flag")]);
    assert_eq!(
        c.advertised_listener(),
        Listener::new("PLAINTEXT", Some("example.com"), 9092)
    );
    assert_eq!(c.log_filter.as_deref(), Some("warn"));
    assert_eq!(c.admin_listener, "127.0.0.1:9644".parse().ok());
    assert_eq!(c.source.overrides.len(), 7);
    assert_eq!(
        c.source.overrides[0],
        "--listen PLAINTEXT://127.0.0.1:19092"
    );

    // --set comes after the named flags; the last --set wins.
    let c = ok(load_args(&[
        &p,
        "--set",
        "num.partitions=6",
        "--num-partitions",
        "5",
        "--set",
        "num.partitions=7",
    ]));
    assert_eq!(c.num_partitions, 7);

    // TOML file, and a .toml name given as the positional argument.
    let t = temp_file("s.toml", "\"num.partitions\" = 8\n");
    let tp = t.path.to_string_lossy();
    assert_eq!(ok(load_args(&["--config", &tp])).num_partitions, 8);
    assert_eq!(ok(load_args(&[&tp])).num_partitions, 8);
    assert_eq!(
        ok(load_args(&["-c", &tp, "--num-partitions", "9"])).num_partitions,
        9
    );
}

// ----- errors -----

#[test]
fn error_names_file_line_and_key() {
    let file = temp_file("x.properties", "node.id=1\n# comment\nnum.partitions=abc\n");
    let e = err(load_args(&[&file.path.to_string_lossy()]));
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3: invalid value \"abc\" for num.partitions: expected an integer",
            file.path.display()
        )
    );
    assert_eq!(e.key(), Some("num.partitions"));
    assert_eq!(
        e.origin(),
        Some(&Origin::File {
            path: file.path.clone(),
            line: Some(3)
        })
    );

    let e = err(Config::from_properties_str("\n\nlisteners=garbage"));
    let msg = e.to_string();
    assert!(
        msg.starts_with("<properties>:3: invalid value \"garbage\" for listeners: "),
        "{msg}"
    );

    let e = err(Config::from_properties_str("node.id=-5"));
    assert_eq!(
        e.to_string(),
        "<properties>:1: invalid value \"-5\" for node.id: must be at least 0"
    );
    let e = err(Config::from_properties_str("broker.id=x"));
    assert_eq!(e.key(), Some("broker.id"));

    for (text, reason) in [
        ("auto.create.topics.enable=yes", "expected true or false"),
        ("num.partitions=0", "must be at least 1"),
        ("message.max.bytes=3000000000", "must be at most 2147483647"),
        (
            "flush.on.ack=sometimes",
            "expected none, acks-all or always",
        ),
        ("log.format=xml", "expected text or json"),
        (
            "log.message.timestamp.type=now",
            "CreateTime or LogAppendTime",
        ),
        ("admin.listener=nowhere", "expected IP:PORT"),
        ("log.dirs=", "at least one directory"),
        ("listeners=", "at least one listener"),
        (
            "listeners=PLAINTEXT://:1,plaintext://:2",
            "listener name PLAINTEXT appears twice",
        ),
        ("log.filter=[[[", "not a valid filter"),
        ("log.segment.bytes=10", "must be at least 14"),
        (
            "metadata.log.segment.bytes=1048576",
            "must be at least 8388608",
        ),
    ] {
        let e = err(Config::from_properties_str(text));
        assert!(e.to_string().contains(reason), "{text}: {e}");
        assert!(e.to_string().starts_with("<properties>:1: "), "{text}: {e}");
    }
}

#[test]
fn toml_errors_name_key_and_line() {
    let file = temp_file(
        "bad.toml",
        "# header\n\"node.id\" = 1\n\n[log]\ndirs = \"/x\"\n\"segment.bytes\" = \"big\"\n",
    );
    let e = err(load_args(&["--config", &file.path.to_string_lossy()]));
    assert_eq!(
        e.to_string(),
        format!(
            "{}:6: invalid value \"big\" for log.segment.bytes: expected an integer",
            file.path.display()
        )
    );
    let e = err(Config::from_toml_str("\"num.partitions\" = 1.5"));
    assert_eq!(
        e.to_string(),
        "<toml>:1: invalid value 1.5 for num.partitions: expected an integer"
    );
    let e = err(Config::from_toml_str("a = 1\n\"node.id\" = [1, 2]"));
    assert_eq!(e.key(), Some("node.id"));
    assert!(e.to_string().starts_with("<toml>:2: "), "{e}");

    // Syntax errors.
    let e = err(Config::from_toml_str("a = 1\nb = = 2\n"));
    assert!(matches!(e, ConfigError::Syntax { .. }));
    assert!(e.to_string().starts_with("<toml>:2: "), "{e}");
    // The same key written twice in two shapes.
    let e = err(Config::from_toml_str(
        "\"log.dirs\" = \"/a\"\n[log]\ndirs = \"/b\"",
    ));
    assert_eq!(e.key(), Some("log.dirs"));
    assert!(e.to_string().contains("set twice"), "{e}");
    // A .properties file is read as properties even with --config.
    let p = temp_file("x.properties", "num.partitions=2");
    assert_eq!(
        ok(load_args(&["--config", &p.path.to_string_lossy()])).num_partitions,
        2
    );
}

#[test]
fn flag_errors_name_the_flag() {
    let e = err(load_args(&["--num-partitions", "abc"]));
    assert_eq!(
        e.to_string(),
        "command line (--num-partitions): invalid value \"abc\" for num.partitions: \
         expected an integer"
    );
    let e = err(load_args(&["--listen", "nope"]));
    assert_eq!(e.key(), Some("listeners"));
    assert_eq!(e.origin(), Some(&Origin::Flag("--listen".into())));
    let e = err(load_args(&["--set", "node.id=-5"]));
    assert_eq!(e.origin(), Some(&Origin::Flag("--set".into())));
    let mut c = Config::default();
    let e = err(c.set("num.partitions", "x"));
    assert_eq!(e.origin(), Some(&Origin::Api));
    assert_eq!(c, Config::default(), "a failed set changes nothing");
}

#[test]
fn missing_file_is_named() {
    let e = err(load_args(&["/nonexistent/dir/server.properties"]));
    assert!(matches!(e, ConfigError::Read { .. }));
    let msg = e.to_string();
    assert!(
        msg.starts_with("/nonexistent/dir/server.properties: cannot read config file: "),
        "{msg}"
    );
    let e = err(load_args(&["--config", "/nonexistent/sluice.toml"]));
    assert!(e.to_string().contains("/nonexistent/sluice.toml"), "{e}");
}

#[test]
fn inconsistent_settings() {
    let e = err(Config::from_properties_str(
        "listeners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER",
    ));
    assert!(matches!(e, ConfigError::Inconsistent { .. }), "{e}");
    assert_eq!(e.key(), Some("listeners"));
    assert!(
        e.to_string().starts_with("<properties>:1: listeners: "),
        "{e}"
    );

    let e = err(Config::from_properties_str(
        "listeners=PLAINTEXT://:9092\nadvertised.listeners=EXTERNAL://h:1",
    ));
    assert_eq!(e.key(), Some("advertised.listeners"));
    assert!(e.to_string().starts_with("<properties>:2: "), "{e}");

    let e = err(Config::from_properties_str(
        "group.min.session.timeout.ms=10000000",
    ));
    assert_eq!(e.key(), Some("group.min.session.timeout.ms"));
}

#[test]
fn latin1_properties() {
    // Java reads .properties as ISO-8859-1.
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("l1.properties");
    if let Err(e) = std::fs::write(&path, b"broker.rack=caf\xe9\n") {
        panic!("{e}");
    }
    let c = ok(Config::from_properties_file(&path));
    assert_eq!(c.rack.as_deref(), Some("caf\u{e9}"));
}

#[test]
fn log_filter_directives() {
    // RUST_LOG may be set in the environment running the tests; only check the fallback chain
    // when it is not.
    if std::env::var("RUST_LOG").map_or(true, |v| v.trim().is_empty()) {
        assert_eq!(Config::default().log_filter_directives(), "info");
        assert_eq!(props("log.filter=debug").log_filter_directives(), "debug");
    }
}

/// The internal topics' replication factors: 1 (the default) is accepted from every source and
/// recorded as given, not ignored; any other count is refused at load with the key and the
/// reason, as are values Kafka refuses (below 1, not a short).
#[test]
fn internal_topic_replication_factors_accept_only_one_node() {
    for key in ONE_NODE_ONLY {
        let setting = Setting::find(key).expect("a setting");
        assert_eq!(setting.default, "1", "{key}");
        assert!(setting.help.contains("one node"), "{key}");
        let c = props(&format!("{key}=1"));
        assert_eq!(
            c.source.explicit.get(*key).map(String::as_str),
            Some("1"),
            "{key}"
        );
        assert!(c.source.ignored.is_empty(), "{key}: {:?}", c.source.ignored);
        assert_eq!(without_source(c), Config::default());
        assert!(ok(load_args(&["--set", &format!("{key}=1")]))
            .source
            .ignored
            .is_empty());
        let c = toml(&format!("{key:?} = 1"));
        assert_eq!(c.source.explicit.get(*key).map(String::as_str), Some("1"));

        let file = temp_file("server.properties", &format!("node.id=1\n{key}=3\n"));
        let e = err(load_args(&[&file.path.to_string_lossy()]));
        assert_eq!(e.key(), Some(*key));
        let text = e.to_string();
        assert!(
            text.contains("invalid value \"3\"")
                && text.contains("one node")
                && text.contains("replication is not there yet")
                && text.contains("server.properties:2:"),
            "{text}"
        );
        let e = err(load_args(&["--set", &format!("{key}=2")]));
        assert_eq!(e.key(), Some(*key), "{e}");
        for bad in ["0", "-1", "40000", "three"] {
            let mut c = Config::default();
            let e = err(c.set(key, bad));
            assert_eq!(e.key(), Some(*key), "{key}={bad}: {e}");
        }
    }
}

/// A Kafka key whose value sluice cannot honour stops the load, naming the key and the reason;
/// so do listeners sluice would serve weaker than asked.
#[test]
fn what_sluice_cannot_honour_is_refused_by_name() {
    for (text, key, why) in [
        ("ssl.keystore.location=/x", "ssl.keystore.location", "TLS"),
        (
            "sasl.enabled.mechanisms=PLAIN",
            "sasl.enabled.mechanisms",
            "SASL",
        ),
        ("process.roles=broker", "process.roles", "controller"),
        ("compression.type=zstd", "compression.type", "producer"),
        (
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "authorizer.class.name",
            "ACLs",
        ),
        (
            "metadata.max.retention.ms=1000",
            "metadata.max.retention.ms",
            "snapshots",
        ),
        ("listeners=SSL://:9093", "listeners", "SSL listener"),
        (
            "listeners=PLAINTEXT://:9092,EXTERNAL://:9094\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT",
            "listeners",
            "one client listener",
        ),
        (
            "listeners=EXTERNAL://:9094\nlistener.security.protocol.map=EXTERNAL:SASL_SSL",
            "listeners",
            "SASL_SSL",
        ),
        (
            "controller.quorum.voters=1@a:9093,2@b:9093",
            "controller.quorum.voters",
            "one-node",
        ),
        (
            "node.id=2\ncontroller.quorum.voters=1@a:9093",
            "controller.quorum.voters",
            "(2)",
        ),
        (
            "metadata.log.dir=/elsewhere",
            "metadata.log.dir",
            "log.dirs",
        ),
    ] {
        let e = err(Config::from_properties_str(text));
        assert!(
            matches!(e, ConfigError::NotHonoured { .. }),
            "{text}: {e:?}"
        );
        assert_eq!(e.key(), Some(key), "{text}");
        assert!(e.to_string().contains(why), "{text}: {e}");
    }
    // Inconsistent, as Kafka finds them: a listener with no protocol, an unknown
    // inter-broker listener.
    let e = err(Config::from_properties_str("listeners=INTERNAL://:9094"));
    assert_eq!(e.key(), Some("listener.security.protocol.map"), "{e}");
    let e = err(Config::from_properties_str(
        "inter.broker.listener.name=NOPE",
    ));
    assert_eq!(e.key(), Some("inter.broker.listener.name"), "{e}");
    // What sluice does is accepted: Kafka's stock single-node file loads.
    let c = props(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
         listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\n\
         advertised.listeners=PLAINTEXT://localhost:9092\ncontroller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,\
         SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\nnum.network.threads=3\n\
         num.io.threads=8\nsocket.send.buffer.bytes=102400\nsocket.receive.buffer.bytes=102400\n\
         socket.request.max.bytes=104857600\nlog.dirs=/tmp/kraft-combined-logs\n\
         num.partitions=1\nnum.recovery.threads.per.data.dir=1\n\
         offsets.topic.replication.factor=1\nshare.coordinator.state.topic.replication.factor=1\n\
         share.coordinator.state.topic.min.isr=1\ntransaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\nlog.retention.hours=168\n\
         log.segment.bytes=1073741824\nlog.retention.check.interval.ms=300000",
    );
    assert_eq!(c.socket_send_buffer_bytes, 102_400);
    assert_eq!(c.inter_broker_listener_name.as_deref(), Some("PLAINTEXT"));
}
