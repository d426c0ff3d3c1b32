//! Leadership at start-up, as KRaft's controller hands it out when a broker comes back.
//!
//! After the metadata log is replayed and before the broker answers anyone, [`plan`] computes
//! the records Kafka's controller would write for this broker's return, and the metadata log
//! appends them (two batches, one fsync) and applies them to the image:
//!
//! ```text
//! batch 1  RegisterBrokerRecord v3     node.id, new incarnation id, broker epoch = its offset,
//!                                      endpoints (listeners), rack, log dir ids, features,
//!                                      fenced = true              (ClusterControlManager)
//! batch 2  BrokerRegistrationChangeRecord v0  fenced = 1 for every other broker still
//!                                      registered unfenced: nothing heartbeats for them here
//!          BrokerRegistrationChangeRecord v0  this broker, fenced = -1 (unfenced)
//!          PartitionChangeRecord v1/v2 for every partition this broker is a replica of that
//!                                      needs one (ReplicationControlManager, built as
//!                                      PartitionChangeBuilder builds it)
//! ```
//!
//! Only this broker is alive: every other broker id is fenced or absent. For a partition whose
//! replicas include this broker, the other brokers leave the ISR (as fencing them makes Kafka's
//! controller remove them; without ELR an ISR is never emptied, the last member stays), then a
//! leader is elected as `PartitionChangeBuilder.electAnyLeader` does:
//!
//! 1. this broker is already leader and a valid one: no change of leader;
//! 2. this broker is in the (new) ISR, or the ISR is empty and it is in the ELR: it is elected
//!    cleanly. Elected from the ELR, the ISR becomes `[this broker]` and it leaves the ELR;
//! 3. otherwise, with `unclean.leader.election.enable` (the topic's config, else the broker's),
//!    it is elected uncleanly: ISR = `[this broker]`, ELR and last known ELR cleared, leader
//!    recovery state RECOVERING. Its log is local and whole, so it reports itself RECOVERED at
//!    once, as a partition leader does through AlterPartition: a second record sets the state
//!    back to 0;
//! 4. otherwise the partition stays leaderless, and a warning names it and the setting.
//!
//! With ELR enabled (feature `eligible.leader.replicas.version` ≥ 1, KIP-966) the ELR and last
//! known ELR are maintained as `maybePopulateTargetElr` / `maybeUpdateRecordElr` do, against
//! `min.insync.replicas` (topic config, else the broker ConfigRecord, else 1); without it a
//! change clears them. Epochs follow `PartitionRegistration.merge`: a record with a `leader`
//! field bumps the leader epoch, every record the partition epoch. Partitions this broker is
//! not a replica of are left as they are: nothing here can lead them.
//!
//! Not reproduced: the KIP-966 unclean-shutdown path (a broker re-registering with a stale
//! previous epoch is first removed from its ISRs, then re-elected, two epoch bumps), since a
//! partition this broker still leads keeps its leader here (rule 1), whatever the last stop was;
//! and the last-known-leader recovery of `unclean.recovery.strategy` (off by default in Kafka).
//!
//! **Clean shutdown.** Kafka's controller writes `PartitionChangeRecord leader=-1` for every
//! partition a stopping broker led, and fences it, because *another* replica may take over. sluice
//! does not write them on its clean shutdown: on one node no other replica exists, so the records
//! would tell nobody anything, would cost a synced metadata write in the shutdown path, and would
//! bump every leader epoch twice per restart. A stop that is not clean could not write them
//! anyway, so the start-up election has to handle both shapes regardless — and it does, so a
//! Kafka directory ending in `leader=-1` records gets its leaders back here, and a directory
//! sluice left (leaders set, this broker registered unfenced) is what Kafka's own controller sees
//! after a broker crash, which it handles by fencing the stale registration and re-electing.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use tracing::{info, warn};
use uuid::Uuid;

use crate::config::Config;
use crate::metadata::kraft_log::MetadataLog;
use crate::metadata::topic_config;
use crate::util::clock::now_ms;

use crate::metadata::image::{ClusterImage, PartitionInfo, TopicInfo};
use crate::protocol::messages::metadata::register_broker_record::{BrokerEndpoint, BrokerFeature};
use crate::protocol::messages::metadata::{
    BrokerRegistrationChangeRecord, MetadataRecord, PartitionChangeRecord, RegisterBrokerRecord,
};

/// Kafka's `LeaderConstants.NO_LEADER` and the PartitionChangeRecord "no change" value.
pub const NO_LEADER: i32 = -1;
pub const NO_LEADER_CHANGE: i32 = -2;
/// Kafka's `LeaderRecoveryState`.
const RECOVERED: i8 = 0;
const RECOVERING: i8 = 1;
/// `metadata.version` level of IBP_3_2_IV0, from which the controller marks unclean leaders
/// RECOVERING.
const MV_LEADER_RECOVERY: i16 = 3;

/// What this broker registers with: the fields of Kafka's BrokerRegistrationRequest that end up
/// in its RegisterBrokerRecord.
#[derive(Debug, Clone)]
pub struct Registration {
    pub node_id: i32,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    pub log_dirs: Vec<Uuid>,
    pub features: Vec<BrokerFeature>,
}

/// A partition left without a leader, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaderless {
    pub topic: Arc<str>,
    pub partition: i32,
    pub isr: Vec<i32>,
    pub elr: Vec<i32>,
}

/// The records of this broker's return, as two batches (see the module doc).
#[derive(Debug, Default)]
pub struct StartupPlan {
    pub register: Vec<MetadataRecord>,
    pub unfence_and_elect: Vec<MetadataRecord>,
    /// Partitions this broker became leader of.
    pub elected: usize,
    /// Of those, elected uncleanly.
    pub unclean: usize,
    /// Partitions of this broker that stay without a leader (unclean election not allowed).
    pub leaderless: Vec<Leaderless>,
}

/// What an election may do for one partition.
#[derive(Debug, Clone, Copy)]
pub struct ElectionRules {
    pub elr_enabled: bool,
    pub min_isr: usize,
    pub unclean_allowed: bool,
    pub leader_recovery_supported: bool,
}

/// The outcome of [`build`] for one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The change, `None` when there is nothing to change.
    pub record: Option<PartitionChangeRecord>,
    /// The leader after the change.
    pub leader: i32,
    pub unclean: bool,
}

/// Kafka's `Replicas.toList` of an optional list.
fn list(v: &Option<Vec<i32>>) -> &[i32] {
    v.as_deref().unwrap_or(&[])
}

/// The PartitionChangeRecord Kafka's `PartitionChangeBuilder` (election ONLINE, or UNCLEAN when
/// allowed) builds for `p` when `me` is the only live broker: the dead leave the ISR, then a
/// leader is elected (see the module doc).
pub fn build(
    topic_id: Uuid,
    partition_id: i32,
    p: &PartitionInfo,
    me: i32,
    rules: ElectionRules,
) -> Built {
    let alive = |b: i32| b == me;
    let old_elr = list(&p.eligible_leader_replicas);
    let old_lke = list(&p.last_known_elr);
    // Fencing the others removes them from the ISR; without ELR the ISR keeps its last member.
    let mut target_isr: Vec<i32> = p.isr.iter().copied().filter(|&b| alive(b)).collect();
    if target_isr.is_empty() && !rules.elr_enabled {
        target_isr = p.isr.clone();
    }
    let mut target_elr: Vec<i32> = old_elr.to_vec();
    let mut target_lke: Vec<i32> = old_lke.to_vec();
    let mut record = PartitionChangeRecord {
        topic_id,
        partition_id,
        ..PartitionChangeRecord::default()
    };

    // maybePopulateTargetElr
    if rules.elr_enabled {
        if target_isr.len() >= rules.min_isr {
            target_elr.clear();
            target_lke.clear();
        } else {
            let mut candidates: Vec<i32> = target_elr.clone();
            for &b in &p.isr {
                if !candidates.contains(&b) {
                    candidates.push(b);
                }
            }
            target_elr = candidates
                .iter()
                .copied()
                .filter(|b| !target_isr.contains(b))
                .collect();
            for &b in &target_lke {
                if !candidates.contains(&b) {
                    candidates.push(b);
                }
            }
            target_lke = candidates
                .into_iter()
                .filter(|b| !target_isr.contains(b) && !target_elr.contains(b))
                .collect();
        }
    }

    // tryElection (electAnyLeader)
    let valid = |b: i32, isr: &[i32], elr: &[i32]| {
        (isr.contains(&b) || (isr.is_empty() && elr.contains(&b))) && alive(b)
    };
    let (leader, unclean) = if valid(p.leader, &target_isr, &target_elr) {
        (p.leader, false)
    } else if let Some(&b) = p
        .replicas
        .iter()
        .find(|&&b| valid(b, &target_isr, &target_elr))
    {
        (b, false)
    } else if rules.unclean_allowed {
        match p.replicas.iter().find(|&&b| alive(b)) {
            Some(&b) => (b, true),
            None => (NO_LEADER, false),
        }
    } else {
        (NO_LEADER, false)
    };
    if leader != p.leader {
        if target_elr.contains(&leader) {
            target_isr = vec![leader];
            target_elr.retain(|&b| b != leader);
        }
        record.leader = leader;
        if unclean {
            record.isr = Some(vec![leader]);
            if p.leader_recovery_state != RECOVERING && rules.leader_recovery_supported {
                record.leader_recovery_state = RECOVERING;
            }
        }
    }

    // maybeUpdateRecordElr
    if record.isr.is_some() || !rules.elr_enabled {
        target_elr.clear();
        target_lke.clear();
    }
    if target_elr.as_slice() != old_elr {
        record.eligible_leader_replicas = Some(target_elr);
    }
    if target_lke.as_slice() != old_lke {
        record.last_known_elr = Some(target_lke);
    }

    if record.isr.is_none() && (!target_isr.is_empty() || rules.elr_enabled) && target_isr != p.isr
    {
        record.isr = Some(target_isr);
    }

    let no_op = record.leader == NO_LEADER_CHANGE
        && record.isr.is_none()
        && record.eligible_leader_replicas.is_none()
        && record.last_known_elr.is_none()
        && record.leader_recovery_state == -1;
    let leader_after = if record.leader == NO_LEADER_CHANGE {
        p.leader
    } else {
        record.leader
    };
    Built {
        record: (!no_op).then_some(record),
        leader: leader_after,
        unclean,
    }
}

/// The election rules for `topic` in the cluster `image` describes.
pub fn rules(image: &ClusterImage, topic: &TopicInfo, unclean_allowed: bool) -> ElectionRules {
    let mv = image.features.get("metadata.version").copied();
    ElectionRules {
        elr_enabled: image
            .features
            .get("eligible.leader.replicas.version")
            .is_some_and(|&v| v >= 1),
        min_isr: min_isr(image, topic),
        unclean_allowed,
        leader_recovery_supported: mv.is_none_or(|v| v >= MV_LEADER_RECOVERY),
    }
}

/// The records of a built change: the change itself, and after an unclean election the one
/// that marks the leader recovered (this node's log needs no recovery from others).
pub fn change_records(topic_id: Uuid, partition_id: i32, built: &Built) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    if let Some(r) = &built.record {
        out.push(MetadataRecord::PartitionChangeRecord(r.clone()));
        if r.leader_recovery_state == RECOVERING {
            out.push(MetadataRecord::PartitionChangeRecord(
                PartitionChangeRecord {
                    topic_id,
                    partition_id,
                    leader_recovery_state: RECOVERED,
                    ..PartitionChangeRecord::default()
                },
            ));
        }
    }
    out
}

/// `min.insync.replicas` for a topic: its config, else the cluster-wide broker ConfigRecord
/// (resource name ""), else Kafka's default 1.
fn min_isr(image: &ClusterImage, topic: &TopicInfo) -> usize {
    topic
        .configs
        .get("min.insync.replicas")
        .or_else(|| image.broker_configs.get("min.insync.replicas"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
}

/// The records of this broker's return to a cluster described by `image` (see the module doc).
/// `unclean_allowed` says, per topic, whether `unclean.leader.election.enable` holds for it.
pub fn plan(
    image: &ClusterImage,
    reg: &Registration,
    unclean_allowed: impl Fn(&TopicInfo) -> bool,
) -> StartupPlan {
    let me = reg.node_id;
    // The registration is the first record appended: its offset is the broker epoch.
    let broker_epoch = image.last_offset + 1;
    let mut plan = StartupPlan {
        register: vec![MetadataRecord::RegisterBrokerRecord(RegisterBrokerRecord {
            broker_id: me,
            is_migrating_zk_broker: false,
            incarnation_id: reg.incarnation_id,
            broker_epoch,
            end_points: reg.endpoints.clone(),
            features: reg.features.clone(),
            rack: reg.rack.clone(),
            fenced: true,
            in_controlled_shutdown: false,
            log_dirs: reg.log_dirs.clone(),
            cordoned_log_dirs: None,
        })],
        ..StartupPlan::default()
    };
    for (&id, b) in &image.brokers {
        if id != me && !b.fenced {
            plan.unfence_and_elect
                .push(MetadataRecord::BrokerRegistrationChangeRecord(
                    BrokerRegistrationChangeRecord {
                        broker_id: id,
                        broker_epoch: b.epoch,
                        fenced: 1,
                        ..BrokerRegistrationChangeRecord::default()
                    },
                ));
        }
    }
    plan.unfence_and_elect
        .push(MetadataRecord::BrokerRegistrationChangeRecord(
            BrokerRegistrationChangeRecord {
                broker_id: me,
                broker_epoch,
                fenced: -1,
                ..BrokerRegistrationChangeRecord::default()
            },
        ));
    for topic in image.topics.values() {
        let rules = rules(image, topic, unclean_allowed(topic));
        for (&index, p) in &topic.partitions {
            // The partitions Kafka's controller visits: leaderless ones when this broker is
            // unfenced, and those the fenced others lead or are in the ISR of.
            let visited = p.leader != me || p.isr.iter().any(|&b| b != me);
            if !p.replicas.contains(&me) || !visited {
                continue;
            }
            let built = build(topic.id, index, p, me, rules);
            plan.unfence_and_elect
                .extend(change_records(topic.id, index, &built));
            if built.leader == me && p.leader != me {
                plan.elected += 1;
                if built.unclean {
                    plan.unclean += 1;
                }
            }
            if built.leader == NO_LEADER {
                plan.leaderless.push(Leaderless {
                    topic: topic.name.clone(),
                    partition: index,
                    isr: p.isr.clone(),
                    elr: list(&p.eligible_leader_replicas).to_vec(),
                });
            }
        }
    }
    plan
}

/// The features this broker supports, as it registers them (Kafka's `BrokerFeature` list):
/// `metadata.version` from Kafka 3.3-IV3 (level 7, the oldest sluice reads PartitionRecord v0
/// with) to the level the directory holds or Kafka 4.0's 4.0-IV3 (level 25), whichever is
/// higher, so that a registration never refuses the finalized level.
pub fn supported_features(image: &ClusterImage) -> Vec<BrokerFeature> {
    let mut max: BTreeMap<&str, i16> = BTreeMap::new();
    max.insert("metadata.version", 25);
    let mut out = Vec::new();
    for (name, max_level) in max {
        let finalized = image.features.get(name).copied().unwrap_or(max_level);
        out.push(BrokerFeature {
            name: name.to_string(),
            min_supported_version: 7.min(finalized),
            max_supported_version: max_level.max(finalized),
        });
    }
    out
}

/// Plans this broker's return (see [`plan`]), appends it to the metadata log (two batches, one
/// fsync), applies it to `image`, and logs what happened: every partition left without a
/// leader by name, with the setting that would elect it.
pub fn elect_at_startup(
    log: &mut MetadataLog,
    image: &mut ClusterImage,
    config: &Config,
    reg: &Registration,
) -> io::Result<()> {
    let started = std::time::Instant::now();
    let plan = plan(image, reg, |t| {
        topic_config::unclean_leader_election(config, &t.configs)
    });
    log.append_batches(&[&plan.register, &plan.unfence_and_elect], image, now_ms())?;
    for l in &plan.leaderless {
        warn!(
            topic = %l.topic,
            partition = l.partition,
            isr = ?l.isr,
            elr = ?l.elr,
            node_id = reg.node_id,
            "partition {}-{} stays without a leader: broker {} is neither in its ISR nor in its \
             ELR, and unclean.leader.election.enable is false (set it for the topic or the broker \
             to elect it, at the risk of losing what only the other replicas held)",
            l.topic,
            l.partition,
            reg.node_id
        );
    }
    info!(
        broker_epoch = image.brokers.get(&reg.node_id).map(|b| b.epoch),
        elected = plan.elected,
        unclean = plan.unclean,
        leaderless = plan.leaderless.len(),
        records = plan.unfence_and_elect.len() + plan.register.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "broker registered and unfenced; partition leaders elected"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Uuid = Uuid::from_u128(0x7);

    fn part(leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionInfo {
        PartitionInfo {
            leader,
            leader_epoch: 4,
            partition_epoch: 9,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            eligible_leader_replicas: None,
            last_known_elr: None,
            leader_recovery_state: 0,
        }
    }

    fn rules(elr: bool, unclean: bool) -> ElectionRules {
        ElectionRules {
            elr_enabled: elr,
            min_isr: 1,
            unclean_allowed: unclean,
            leader_recovery_supported: true,
        }
    }

    fn applied(p: &PartitionInfo, built: &Built) -> PartitionInfo {
        let mut image = ClusterImage::default();
        image.apply_topic(&crate::protocol::messages::metadata::TopicRecord {
            name: "t".into(),
            topic_id: T,
        });
        image
            .topics
            .get_mut("t")
            .map(|t| t.partitions.insert(0, p.clone()));
        if let Some(r) = &built.record {
            image.apply_partition_change(r);
        }
        image.topics["t"].partitions[&0].clone()
    }

    #[test]
    fn a_leaderless_partition_after_kafkas_clean_shutdown_gets_this_broker() {
        // ELR off: the controller kept the ISR at [1] when it set leader -1.
        let p = part(-1, &[1], &[1]);
        let b = build(T, 0, &p, 1, rules(false, false));
        let r = b.record.clone().expect("a change");
        assert_eq!(
            (r.leader, r.isr.clone(), r.eligible_leader_replicas.clone()),
            (1, None, None)
        );
        let after = applied(&p, &b);
        assert_eq!(
            (after.leader, after.leader_epoch, after.partition_epoch),
            (1, 5, 10)
        );
    }

    #[test]
    fn elected_from_the_elr_when_the_isr_is_empty() {
        // ELR on (Kafka 4 with eligible.leader.replicas.version=1): the ISR went empty and the
        // stopping broker moved to the ELR.
        let mut p = part(-1, &[1], &[]);
        p.eligible_leader_replicas = Some(vec![1]);
        p.last_known_elr = Some(vec![]);
        let b = build(T, 0, &p, 1, rules(true, false));
        let r = b.record.clone().expect("a change");
        assert_eq!(r.leader, 1);
        assert_eq!(r.isr, Some(vec![1]));
        assert_eq!(r.eligible_leader_replicas, Some(vec![]));
        assert_eq!(r.last_known_elr, None);
        assert!(!b.unclean);
        let after = applied(&p, &b);
        assert_eq!((after.isr.clone(), after.leader_epoch), (vec![1], 5));
    }

    #[test]
    fn not_in_isr_nor_elr_stays_leaderless_without_unclean_election() {
        let p = part(-1, &[1, 2], &[2]);
        let b = build(T, 0, &p, 1, rules(false, false));
        assert_eq!(b.leader, -1);
        assert_eq!(b.record, None);
        let mut p = part(-1, &[1, 2], &[]);
        p.eligible_leader_replicas = Some(vec![2]);
        let b = build(T, 0, &p, 1, rules(true, false));
        assert_eq!(b.leader, -1);
    }

    #[test]
    fn unclean_election_sets_the_isr_to_the_new_leader_and_recovering() {
        let mut p = part(2, &[2, 1], &[2]);
        p.eligible_leader_replicas = Some(vec![3]);
        let b = build(T, 0, &p, 1, rules(false, true));
        let r = b.record.clone().expect("a change");
        assert!(b.unclean);
        assert_eq!(
            (r.leader, r.isr.clone(), r.leader_recovery_state),
            (1, Some(vec![1]), 1)
        );
        assert_eq!(r.eligible_leader_replicas, Some(vec![]));
        let after = applied(&p, &b);
        assert_eq!(
            (after.leader, after.isr.clone(), after.leader_epoch),
            (1, vec![1], 5)
        );
    }

    #[test]
    fn a_dead_leader_is_replaced_and_the_dead_leave_the_isr() {
        let p = part(2, &[2, 1, 3], &[2, 1, 3]);
        let b = build(T, 0, &p, 1, rules(false, false));
        let r = b.record.expect("a change");
        assert_eq!((r.leader, r.isr), (1, Some(vec![1])));
    }

    #[test]
    fn a_partition_this_broker_leads_is_left_alone() {
        let p = part(1, &[1], &[1]);
        assert_eq!(build(T, 0, &p, 1, rules(false, false)).record, None);
        assert_eq!(build(T, 0, &p, 1, rules(true, true)).record, None);
        // Its dead followers leave the ISR, the leader and its epoch stay.
        let p = part(1, &[1, 2], &[1, 2]);
        let r = build(T, 0, &p, 1, rules(false, false))
            .record
            .expect("isr shrink");
        assert_eq!((r.leader, r.isr), (-2, Some(vec![1])));
    }

    #[test]
    fn the_plan_registers_unfences_and_elects_in_kafkas_order() {
        let mut image = ClusterImage::default();
        image.apply_topic(&crate::protocol::messages::metadata::TopicRecord {
            name: "a".into(),
            topic_id: T,
        });
        let t = image.topics.get_mut("a").expect("a");
        t.partitions.insert(0, part(-1, &[1], &[1]));
        t.partitions.insert(1, part(-1, &[1, 2], &[2]));
        t.partitions.insert(2, part(2, &[2], &[2]));
        image.last_offset = 41;
        let reg = Registration {
            node_id: 1,
            incarnation_id: Uuid::from_u128(5),
            endpoints: vec![],
            rack: None,
            log_dirs: vec![Uuid::from_u128(6)],
            features: supported_features(&image),
        };
        // Led by this broker, with ELR left from before: not visited, left as it is.
        let mut led = part(1, &[1], &[1]);
        led.last_known_elr = Some(vec![1]);
        image
            .topics
            .get_mut("a")
            .map(|t| t.partitions.insert(3, led));
        let plan = plan(&image, &reg, |_| false);
        let MetadataRecord::RegisterBrokerRecord(r) = &plan.register[0] else {
            panic!("registration first")
        };
        assert_eq!((r.broker_epoch, r.fenced), (42, true));
        let MetadataRecord::BrokerRegistrationChangeRecord(u) = &plan.unfence_and_elect[0] else {
            panic!("unfence first")
        };
        assert_eq!((u.broker_id, u.broker_epoch, u.fenced), (1, 42, -1));
        assert_eq!(plan.unfence_and_elect.len(), 2);
        assert_eq!(plan.elected, 1);
        assert_eq!(plan.leaderless.len(), 1);
        assert_eq!(plan.leaderless[0].partition, 1);
    }
}
