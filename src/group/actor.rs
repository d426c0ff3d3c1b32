//! One consumer group as an actor: the shell around the synchronous [`Group`] core
//! ([`super::state`], where the classic rebalance protocol and its state diagram live).
//!
//! The actor owns what needs a runtime: its mailbox, the channels of answers that must wait,
//! one timer, and the offsets store's address. Each message reads the clock once, hands the
//! request to the core with that instant, and carries out the [`Effect`]s the core returns:
//! answers to requests parked earlier, metadata records to write.
//!
//! Answers that must wait (JoinGroup until the join phase completes, SyncGroup of a follower
//! until the leader's assignment arrives) are oneshot channels kept under the core's
//! [`Ticket`]; the handler returns a future on the receiving end ([`Parked`]), so the actor
//! never blocks and a parked request holds no mailbox slot.
//!
//! Timers: one actor timer (`run_later`), never a polling loop, armed for the core's earliest
//! deadline ([`Group::next_deadline`]: sessions, the join and sync phases, member ids handed
//! out with MEMBER_ID_REQUIRED). It is moved only when a deadline comes earlier than the one it
//! is armed for; a heartbeat merely moves a deadline later, so it costs no timer work, and a
//! timer that fires early ticks the core for nothing and is armed again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;
use tracing::{debug, info, Span};
use uuid::Uuid;

use super::records::GroupMetadataValue;
use super::state::{Effect, Group, Reply, Ticket};
pub use super::state::{
    GroupDescription, GroupOverview, GroupSettings, GroupState, JoinRequest, JoinResult,
    JoinedMember, MemberDescription, SyncRequest, SyncResult,
};
use super::store::{OffsetStore, StoreGroup};
use crate::actor::ActorStats;
use crate::error::ErrorCode;
use crate::util::clock::now_ms;

/// What a group actor reports to the broker's observers.
pub struct Observed {
    pub stats: Arc<ActorStats>,
    pub members: Arc<AtomicI64>,
}

pub struct GroupActor {
    id: String,
    span: Span,
    group: Group,
    store: Addr<OffsetStore>,
    /// Parked JoinGroup answers, under the core's tickets.
    joins: HashMap<Ticket, oneshot::Sender<JoinResult>>,
    /// Parked SyncGroup answers, under the core's tickets.
    syncs: HashMap<Ticket, oneshot::Sender<SyncResult>>,
    /// The timer and the instant it fires at: never later than the core's next deadline.
    timer: Option<(Instant, SpawnHandle)>,
    /// This actor's entry in the actor registry (`/actors`); held while the actor lives.
    _stats: Arc<ActorStats>,
    /// Members over all groups (`sluice_group_members`): this group adds `counted`.
    members_gauge: Arc<AtomicI64>,
    counted: usize,
}

impl Drop for GroupActor {
    fn drop(&mut self) {
        self.members_gauge
            .fetch_sub(self.counted as i64, Ordering::Relaxed);
    }
}

impl GroupActor {
    /// A group as the offsets log last described it (`None`: a new group); see
    /// [`Group::restore`]. Restored members' sessions start over now.
    pub fn new(
        id: String,
        settings: Arc<GroupSettings>,
        store: Addr<OffsetStore>,
        record: Option<GroupMetadataValue>,
        observed: Observed,
    ) -> GroupActor {
        let span = tracing::info_span!("group", id = %id);
        let group = match record {
            Some(r) => Group::restore(settings, r, Instant::now()),
            None => Group::new(settings),
        };
        let counted = group.member_count();
        observed
            .members
            .fetch_add(counted as i64, Ordering::Relaxed);
        GroupActor {
            id,
            span,
            group,
            store,
            joins: HashMap::new(),
            syncs: HashMap::new(),
            timer: None,
            _stats: observed.stats,
            members_gauge: observed.members,
            counted,
        }
    }

    /// Carries out what the core decided, in order, then follows its membership (the gauge)
    /// and its deadlines (the timer).
    fn apply(&mut self, effects: Vec<Effect>, ctx: &mut Context<Self>) {
        for effect in effects {
            match effect {
                Effect::Join(ticket, answer) => {
                    if let Some(tx) = self.joins.remove(&ticket) {
                        let _ = tx.send(answer);
                    }
                }
                Effect::Sync(ticket, answer) => {
                    if let Some(tx) = self.syncs.remove(&ticket) {
                        let _ = tx.send(answer);
                    }
                }
                Effect::Persist(mut value) => {
                    value.current_state_timestamp = now_ms();
                    self.store.do_send(StoreGroup {
                        group: self.id.clone(),
                        value,
                    });
                }
            }
        }
        let members = self.group.member_count();
        if members != self.counted {
            self.members_gauge
                .fetch_add(members as i64 - self.counted as i64, Ordering::Relaxed);
            self.counted = members;
        }
        self.arm_timer(ctx);
    }

    /// Keeps the timer no later than the core's next deadline.
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(next) = self.group.next_deadline() else {
            if let Some((_, handle)) = self.timer.take() {
                ctx.cancel_future(handle);
            }
            return;
        };
        if self.timer.as_ref().is_some_and(|(at, _)| *at <= next) {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let after = next.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(after, |act, ctx| {
            act.timer = None;
            let _e = act.span.clone().entered();
            let effects = act.group.tick(Instant::now());
            act.apply(effects, ctx);
        });
        self.timer = Some((next, handle));
    }
}

impl Actor for GroupActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let generation = self.group.generation();
        if self.group.member_count() == 0 {
            debug!(parent: &self.span, generation, "group coordinator started");
        } else {
            info!(
                parent: &self.span,
                generation,
                members = self.group.member_count(),
                "group restored from the offsets log"
            );
        }
        self.arm_timer(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        debug!(parent: &self.span, "group coordinator stopped");
    }
}

/// JoinGroup. The answer comes when the join phase completes (or at once for errors and for
/// members of a formed generation).
///
/// The actor answers the message at once with a [`Parked`] answer, which the caller awaits
/// outside the mailbox: a join parked for the rest of the group does not hold a mailbox slot.
#[derive(Message)]
#[rtype(result = "Parked<JoinResult>")]
pub struct JoinGroup(pub JoinRequest);

/// An answer that may wait for other members (a parked join, a follower's sync).
pub type Parked<T> = futures_util::future::BoxFuture<'static, T>;

fn park<T>(answer: impl std::future::Future<Output = T> + Send + 'static) -> Parked<T> {
    Box::pin(answer)
}

impl Handler<JoinGroup> for GroupActor {
    type Result = MessageResult<JoinGroup>;

    fn handle(&mut self, msg: JoinGroup, ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let fallback_id = msg.0.member_id.clone();
        let (reply, effects) = self.group.join(msg.0, Uuid::new_v4(), Instant::now());
        let answer = match reply {
            Reply::Now(answer) => park(async move { answer }),
            Reply::Parked(ticket) => {
                // Parked before the effects run: they may hold this very answer.
                let (tx, rx) = oneshot::channel();
                self.joins.insert(ticket, tx);
                park(async move {
                    rx.await.unwrap_or_else(|_| {
                        JoinResult::error(fallback_id, ErrorCode::CoordinatorNotAvailable)
                    })
                })
            }
        };
        self.apply(effects, ctx);
        MessageResult(answer)
    }
}

/// SyncGroup. A follower's answer waits for the leader's assignment.
/// Answered at once with a [`Parked`] answer, as [`JoinGroup`] is.
#[derive(Message)]
#[rtype(result = "Parked<SyncResult>")]
pub struct SyncGroup(pub SyncRequest);

impl Handler<SyncGroup> for GroupActor {
    type Result = MessageResult<SyncGroup>;

    fn handle(&mut self, msg: SyncGroup, ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let (reply, effects) = self.group.sync(msg.0, Instant::now());
        let answer = match reply {
            Reply::Now(answer) => park(async move { answer }),
            Reply::Parked(ticket) => {
                let (tx, rx) = oneshot::channel();
                self.syncs.insert(ticket, tx);
                park(async move {
                    rx.await
                        .unwrap_or_else(|_| SyncResult::error(ErrorCode::CoordinatorNotAvailable))
                })
            }
        };
        self.apply(effects, ctx);
        MessageResult(answer)
    }
}

/// Heartbeat: keeps the session alive, and tells the member when a rebalance is under way.
#[derive(Message)]
#[rtype(result = "ErrorCode")]
pub struct Heartbeat {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation: i32,
}

impl Handler<Heartbeat> for GroupActor {
    type Result = MessageResult<Heartbeat>;

    fn handle(&mut self, msg: Heartbeat, _ctx: &mut Self::Context) -> Self::Result {
        // A sign of life moves a deadline later only: the timer stays as it is.
        MessageResult(self.group.heartbeat(
            &msg.member_id,
            msg.group_instance_id.as_deref(),
            msg.generation,
            Instant::now(),
        ))
    }
}

/// LeaveGroup for one or more members (by member id, or by instance id alone).
#[derive(Message)]
#[rtype(result = "Result<Vec<ErrorCode>, ErrorCode>")]
pub struct LeaveGroup {
    pub members: Vec<(String, Option<String>)>,
}

impl Handler<LeaveGroup> for GroupActor {
    type Result = Result<Vec<ErrorCode>, ErrorCode>;

    fn handle(&mut self, msg: LeaveGroup, ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let (codes, effects) = self.group.leave(msg.members, Instant::now());
        self.apply(effects, ctx);
        codes
    }
}

/// Checks an OffsetCommit against the group (a valid member's commit counts as a heartbeat).
#[derive(Message)]
#[rtype(result = "ErrorCode")]
pub struct ValidateCommit {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation: i32,
}

impl Handler<ValidateCommit> for GroupActor {
    type Result = MessageResult<ValidateCommit>;

    fn handle(&mut self, msg: ValidateCommit, _ctx: &mut Self::Context) -> Self::Result {
        // As for a heartbeat, the timer stays as it is.
        MessageResult(self.group.validate_commit(
            &msg.member_id,
            msg.group_instance_id.as_deref(),
            msg.generation,
            Instant::now(),
        ))
    }
}

#[derive(Message)]
#[rtype(result = "GroupDescription")]
pub struct Describe;

impl Handler<Describe> for GroupActor {
    type Result = MessageResult<Describe>;

    fn handle(&mut self, _msg: Describe, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.group.describe())
    }
}

#[derive(Message)]
#[rtype(result = "GroupOverview")]
pub struct Overview;

impl Handler<Overview> for GroupActor {
    type Result = MessageResult<Overview>;

    fn handle(&mut self, _msg: Overview, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(GroupOverview {
            group_id: self.id.clone(),
            protocol_type: self.group.protocol_type().to_string(),
            state: self.group.state(),
        })
    }
}

/// DeleteGroups: an Empty group becomes Dead and its actor stops; otherwise NON_EMPTY_GROUP.
#[derive(Message)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct DeleteIfEmpty;

impl Handler<DeleteIfEmpty> for GroupActor {
    type Result = Result<(), ErrorCode>;

    fn handle(&mut self, _msg: DeleteIfEmpty, ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        self.group.delete_if_empty()?;
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        ctx.stop();
        Ok(())
    }
}
