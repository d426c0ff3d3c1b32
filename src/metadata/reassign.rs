//! ElectLeaders and partition reassignment, decided as Kafka's controller decides them
//! (`ReplicationControlManager.electLeaders` / `alterPartitionReassignments`) for a cluster in
//! which this node is the only live broker.
//!
//! - **ElectLeaders PREFERRED** (0): the first replica becomes leader if it is alive and in the
//!   ISR; ELECTION_NOT_NEEDED when it already leads, PREFERRED_LEADER_NOT_AVAILABLE otherwise.
//! - **ElectLeaders UNCLEAN** (1): a partition without a live leader gets one, from the ISR or
//!   else any live replica (the ISR becomes that replica, recovery state RECOVERING then
//!   RECOVERED, as at start-up); ELECTION_NOT_NEEDED when it has a live leader,
//!   ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is alive. With no partitions named, every
//!   partition is tried and those that needed nothing are left out of the answer, as in Kafka.
//! - **AlterPartitionReassignments**: a reassignment to the current replicas completes at once;
//!   one that keeps only this node (a replica in the ISR) drops the dead replicas in one
//!   PartitionChangeRecord. Any other target names a broker that is not alive: refused with
//!   INVALID_REPLICA_ASSIGNMENT, since it could never complete. Cancelling finds nothing in
//!   progress (NO_REASSIGNMENT_IN_PROGRESS), and ListPartitionReassignments is always empty.

use actix::prelude::*;
use uuid::Uuid;

use crate::error::ErrorCode;
use crate::metadata::election::{self, NO_LEADER};
use crate::metadata::image::{ClusterImage, PartitionInfo, TopicInfo};
use crate::metadata::MetadataActor;
use crate::protocol::messages::metadata::{MetadataRecord, PartitionChangeRecord};

pub const PREFERRED: i8 = 0;
pub const UNCLEAN: i8 = 1;

/// One partition's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOutcome {
    pub topic: String,
    pub partition: i32,
    pub error: ErrorCode,
    pub message: Option<String>,
}

/// Elects leaders (`partitions: None` = every partition).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<PartitionOutcome>, (ErrorCode, String)>")]
pub struct ElectLeaders {
    pub election_type: i8,
    pub partitions: Option<Vec<(String, Vec<i32>)>>,
}

/// Reassigns partitions: `(topic, partition, target replicas or None to cancel)`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<PartitionOutcome>, (ErrorCode, String)>")]
pub struct AlterReassignments {
    pub partitions: Vec<(String, i32, Option<Vec<i32>>)>,
    pub allow_replication_factor_change: bool,
}

type Decision = Result<Vec<MetadataRecord>, (ErrorCode, String)>;

fn find<'a>(
    image: &'a ClusterImage,
    topic: &str,
    index: i32,
) -> Result<(&'a TopicInfo, &'a PartitionInfo), (ErrorCode, String)> {
    let t = image.topic(topic).ok_or_else(|| {
        (
            ErrorCode::UnknownTopicOrPartition,
            format!("No such topic as {topic}"),
        )
    })?;
    let p = t.partitions.get(&index).ok_or_else(|| {
        (
            ErrorCode::UnknownTopicOrPartition,
            format!("No such partition as {topic}-{index}"),
        )
    })?;
    Ok((t, p))
}

/// The records electing a leader of `topic`-`index` under `election_type`, with `me` the only
/// live broker.
fn elect(image: &ClusterImage, topic: &str, index: i32, election_type: i8, me: i32) -> Decision {
    let (info, p) = find(image, topic, index)?;
    let id = info.id;
    let not_needed = || {
        Err((
            ErrorCode::ElectionNotNeeded,
            "Leader election not needed for topic partition.".to_string(),
        ))
    };
    match election_type {
        PREFERRED => {
            let preferred = p.replicas.first().copied().unwrap_or(NO_LEADER);
            if preferred == p.leader {
                return not_needed();
            }
            if preferred != me || !p.isr.contains(&me) {
                return Err((
                    ErrorCode::PreferredLeaderNotAvailable,
                    format!(
                        "Failed to elect leader for partition {topic}-{index} under strategy \
                         PREFERRED: the preferred replica {preferred} is not alive and in the ISR"
                    ),
                ));
            }
            let built = election::build(id, index, p, me, election::rules(image, info, false));
            Ok(election::change_records(id, index, &built))
        }
        UNCLEAN => {
            if p.leader == me {
                return not_needed();
            }
            let built = election::build(id, index, p, me, election::rules(image, info, true));
            if built.leader == NO_LEADER {
                return Err((
                    ErrorCode::EligibleLeadersNotAvailable,
                    format!(
                        "Failed to elect leader for partition {topic}-{index} under strategy \
                         UNCLEAN: no replica is alive"
                    ),
                ));
            }
            Ok(election::change_records(id, index, &built))
        }
        other => Err((
            ErrorCode::InvalidRequest,
            format!("Unknown election type {other}"),
        )),
    }
}

/// The records of reassigning `topic`-`index` to `target`.
fn reassign(
    image: &ClusterImage,
    topic: &str,
    index: i32,
    target: Option<&[i32]>,
    allow_rf_change: bool,
    me: i32,
    directory: Uuid,
) -> Decision {
    let (info, p) = find(image, topic, index)?;
    let id = info.id;
    let Some(target) = target else {
        return Err((
            ErrorCode::NoReassignmentInProgress,
            format!("Unable to find any reassignment for partition {topic}-{index}"),
        ));
    };
    if target.is_empty() {
        return Err((
            ErrorCode::InvalidReplicaAssignment,
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    if (1..target.len()).any(|i| target[..i].contains(&target[i])) {
        return Err((
            ErrorCode::InvalidReplicaAssignment,
            format!("The manual partition assignment {target:?} includes a duplicate broker."),
        ));
    }
    if !allow_rf_change && target.len() != p.replicas.len() {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            format!(
                "The replication factor is changed from {} to {} but \
                 allowReplicationFactorChange is false",
                p.replicas.len(),
                target.len()
            ),
        ));
    }
    if target == p.replicas.as_slice() {
        return Ok(Vec::new());
    }
    if let Some(&other) = target.iter().find(|&&b| b != me) {
        return Err((
            ErrorCode::InvalidReplicaAssignment,
            format!(
                "The manual partition assignment includes broker {other}, which is not alive: \
                 broker {me} is the only one (sluice runs one node)"
            ),
        ));
    }
    if !p.isr.contains(&me) {
        return Err((
            ErrorCode::InvalidReplicaAssignment,
            format!(
                "Broker {me} is not in the ISR of {topic}-{index}, so it cannot become its only \
                 replica"
            ),
        ));
    }
    Ok(vec![MetadataRecord::PartitionChangeRecord(
        PartitionChangeRecord {
            topic_id: id,
            partition_id: index,
            replicas: Some(vec![me]),
            isr: Some(vec![me]),
            leader: if p.leader == me {
                election::NO_LEADER_CHANGE
            } else {
                me
            },
            directories: Some(vec![directory]),
            ..PartitionChangeRecord::default()
        },
    )])
}

impl MetadataActor {
    /// Decides each partition with `decide`, appends every record in one batch and publishes.
    fn change_partitions(
        &mut self,
        wanted: Vec<(String, i32)>,
        skip_not_needed: bool,
        mut decide: impl FnMut(&ClusterImage, &str, i32) -> Decision,
    ) -> Result<Vec<PartitionOutcome>, (ErrorCode, String)> {
        let mut records = Vec::new();
        let mut out = Vec::new();
        for (topic, partition) in wanted {
            let (error, message) = match decide(&self.image, &topic, partition) {
                Ok(r) => {
                    records.extend(r);
                    (ErrorCode::None, None)
                }
                Err((ErrorCode::ElectionNotNeeded, _)) if skip_not_needed => continue,
                Err((code, message)) => (code, Some(message)),
            };
            out.push(PartitionOutcome {
                topic,
                partition,
                error,
                message,
            });
        }
        if !records.is_empty() {
            self.append(&records)?;
            self.publish();
        }
        Ok(out)
    }
}

impl Handler<ElectLeaders> for MetadataActor {
    type Result = Result<Vec<PartitionOutcome>, (ErrorCode, String)>;

    fn handle(&mut self, msg: ElectLeaders, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span().entered();
        let all = msg.partitions.is_none();
        let wanted: Vec<(String, i32)> = match msg.partitions {
            Some(list) => list
                .into_iter()
                .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
                .collect(),
            None => self
                .image
                .topics
                .values()
                .flat_map(|t| t.partitions.keys().map(|&p| (t.name.to_string(), p)))
                .collect(),
        };
        let me = self.deps.node.node_id;
        let election_type = msg.election_type;
        self.change_partitions(wanted, all, |image, topic, index| {
            elect(image, topic, index, election_type, me)
        })
    }
}

impl Handler<AlterReassignments> for MetadataActor {
    type Result = Result<Vec<PartitionOutcome>, (ErrorCode, String)>;

    fn handle(&mut self, msg: AlterReassignments, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span().entered();
        let me = self.deps.node.node_id;
        let directory = self.deps.node.directory_id;
        let wanted: Vec<(String, i32)> = msg
            .partitions
            .iter()
            .map(|(t, p, _)| (t.clone(), *p))
            .collect();
        let targets = msg.partitions;
        let allow = msg.allow_replication_factor_change;
        let mut at = 0;
        self.change_partitions(wanted, false, |image, topic, index| {
            let target = targets.get(at).and_then(|(_, _, r)| r.as_deref());
            at += 1;
            reassign(image, topic, index, target, allow, me, directory)
        })
    }
}
