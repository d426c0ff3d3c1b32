//! One consumer group: Kafka's classic rebalance protocol as an actor.
//!
//! ```text
//! Empty               ─ a member joins ──────────────────────────────────────▶ PreparingRebalance
//! PreparingRebalance  ─ every known member rejoined, or the rebalance timeout
//!                       ran out (dynamic members that did not rejoin are out) ─▶ CompletingRebalance
//!                     ─ … and nobody is left (the generation still moves on) ─▶ Empty
//! CompletingRebalance ─ the leader's SyncGroup hands out the assignments ────▶ Stable
//! CompletingRebalance
//! or Stable           ─ a join that changes something, a leave, a session
//!                       expiry, members that never sent SyncGroup ───────────▶ PreparingRebalance
//! Empty               ─ DeleteGroups (the actor stops) ──────────────────────▶ Dead
//! ```
//!
//! Answers that must wait (JoinGroup until the join phase completes, SyncGroup of a follower
//! until the leader's assignment arrives) are oneshot channels parked on the member; the
//! handler returns a future on the receiving end, so the actor never blocks.
//!
//! Timers are actor timers (`run_later`), never polling loops:
//! - the join phase: `group.initial.rebalance.delay.ms` for a group's first rebalance (extended
//!   while new members keep arriving, up to the rebalance timeout), else the largest
//!   `rebalance_timeout_ms` of the members;
//! - the sync phase: members that have not sent SyncGroup within the rebalance timeout are
//!   evicted and the group rebalances;
//! - one session timer per member. It is armed once and, when it fires, re-armed for whatever
//!   is left of the session (heartbeats only move `last_seen`), so a heartbeat costs no timer
//!   work and a member costs at most one wake-up per session timeout. A member parked in a join
//!   or sync is never expired by it (the rebalance timeout bounds those);
//! - one timer per member id handed out with MEMBER_ID_REQUIRED, forgotten after a session
//!   timeout if the client never comes back with it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::oneshot;
use tracing::{debug, info, warn, Span};
use uuid::Uuid;

use super::records::{GroupMetadataValue, MemberRecord};
use super::store::{OffsetStore, StoreGroup};
use crate::actor::ActorStats;
use crate::error::ErrorCode;
use crate::util::clock::now_ms;

/// Coordinator settings every group uses.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
}

/// Kafka's classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka reports (ListGroups, DescribeGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup, decoded and version-normalised by the API layer.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata), most preferred first.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a join without member id gets one back with MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in its JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinResult {
    pub fn error(member_id: impl Into<String>, error: ErrorCode) -> JoinResult {
        JoinResult {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.into(),
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation: i32,
    /// SyncGroup v5+: checked against the group's.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment per member id (bytes pass through unread).
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: ErrorCode) -> SyncResult {
        SyncResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// DescribeGroups' view of a group.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    /// The selected protocol when Stable, else "".
    pub protocol_data: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Only when Stable (as Kafka): the member's metadata for the selected protocol.
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// ListGroups' view of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOverview {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
    /// Last sign of life (join, sync, heartbeat, commit).
    last_seen: Instant,
    session_timer: Option<SpawnHandle>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Same protocols, same metadata, same order.
    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }
}

/// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms` and again
/// while new members keep joining, within the rebalance timeout.
struct InitialDelay {
    remaining: Duration,
    new_member_added: bool,
}

/// What a group actor reports to the broker's observers.
pub struct Observed {
    pub stats: Arc<ActorStats>,
    pub members: Arc<AtomicI64>,
}

pub struct GroupActor {
    id: String,
    span: Span,
    settings: Arc<GroupSettings>,
    store: Addr<OffsetStore>,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// In join order (the first joiner leads).
    members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet back.
    pending: HashMap<String, SpawnHandle>,
    /// group.instance.id → member id.
    static_members: HashMap<String, String>,
    join_timer: Option<SpawnHandle>,
    initial_delay: Option<InitialDelay>,
    sync_timer: Option<SpawnHandle>,
    /// Members of this generation that have not sent SyncGroup yet.
    pending_sync: HashSet<String>,
    /// This actor's entry in the actor registry (`/actors`); held while the actor lives.
    _stats: Arc<ActorStats>,
    /// Members over all groups (`sluice_group_members`): this group adds its own count.
    members_gauge: Arc<AtomicI64>,
}

impl Drop for GroupActor {
    fn drop(&mut self) {
        self.members_gauge
            .fetch_sub(self.members.len() as i64, Ordering::Relaxed);
    }
}

impl GroupActor {
    /// A group as the offsets log last described it (`None`: a new group). A record with
    /// members restores them (Stable, with their assignments) so that consumers that outlive a
    /// broker restart carry on without a rebalance; their sessions start over now.
    pub fn new(
        id: String,
        settings: Arc<GroupSettings>,
        store: Addr<OffsetStore>,
        record: Option<GroupMetadataValue>,
        observed: Observed,
    ) -> GroupActor {
        let span = tracing::info_span!("group", id = %id);
        let mut actor = GroupActor {
            id,
            span,
            settings,
            store,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            join_timer: None,
            initial_delay: None,
            sync_timer: None,
            pending_sync: HashSet::new(),
            _stats: observed.stats,
            members_gauge: observed.members,
        };
        if let Some(record) = record {
            actor.restore(record);
        }
        actor
    }

    fn restore(&mut self, r: GroupMetadataValue) {
        self.generation = r.generation;
        self.protocol_type = Some(r.protocol_type).filter(|t| !t.is_empty());
        let Some(protocol) = r.protocol.filter(|_| !r.members.is_empty()) else {
            return;
        };
        let now = Instant::now();
        let min_session = self.settings.min_session_timeout_ms;
        for m in r.members {
            if let Some(instance) = &m.group_instance_id {
                self.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            self.members_gauge.fetch_add(1, Ordering::Relaxed);
            self.members.push(Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout: millis(m.session_timeout_ms.max(min_session)),
                rebalance_timeout: millis(m.rebalance_timeout_ms),
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                join_waiter: None,
                sync_waiter: None,
                last_seen: now,
                session_timer: None,
            });
        }
        self.leader = r
            .leader
            .filter(|l| self.has(l))
            .or_else(|| self.members.first().map(|m| m.id.clone()));
        self.protocol_name = Some(protocol);
        self.state = GroupState::Stable;
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn has(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    /// The checks SyncGroup, Heartbeat and OffsetCommit share, in Kafka's order: the member is
    /// not fenced, is known, and speaks of the current generation.
    fn check_member(
        &self,
        instance_id: Option<&str>,
        member_id: &str,
        generation: i32,
    ) -> Result<(), ErrorCode> {
        if self.is_fenced(instance_id, member_id) {
            Err(ErrorCode::FencedInstanceId)
        } else if !self.has(member_id) {
            Err(ErrorCode::UnknownMemberId)
        } else if generation != self.generation {
            Err(ErrorCode::IllegalGeneration)
        } else {
            Ok(())
        }
    }

    /// A static member whose instance id now belongs to another member id is fenced.
    fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|current| current != member_id)
    }

    /// The longest rebalance timeout of the members bounds a join phase and a sync phase.
    fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    fn transition(&mut self, to: GroupState) {
        if self.state != to {
            debug!(
                from = self.state.name(),
                to = to.name(),
                generation = self.generation,
                "state"
            );
            self.state = to;
        }
    }

    // ----- liveness -------------------------------------------------------------------------

    /// A sign of life from `id`: moves its session deadline, arming its timer if idle.
    fn touch(&mut self, id: &str, ctx: &mut Context<Self>) {
        let Some(m) = self.member_mut(id) else { return };
        m.last_seen = Instant::now();
        if m.session_timer.is_none() {
            let after = m.session_timeout;
            self.arm_session(id, after, ctx);
        }
    }

    fn arm_session(&mut self, id: &str, after: Duration, ctx: &mut Context<Self>) {
        let member_id = id.to_string();
        let handle = ctx.run_later(after, move |act, ctx| act.session_check(&member_id, ctx));
        if let Some(m) = self.member_mut(id) {
            m.session_timer = Some(handle);
        } else {
            ctx.cancel_future(handle);
        }
    }

    fn session_check(&mut self, id: &str, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Some(m) = self.member_mut(id) else { return };
        m.session_timer = None;
        if m.join_waiter.is_some() || m.sync_waiter.is_some() {
            // Parked in a join or a sync: the rebalance timeout is what bounds it.
            m.last_seen = now;
            let after = m.session_timeout;
            self.arm_session(id, after, ctx);
            return;
        }
        let deadline = m.last_seen + m.session_timeout;
        if deadline > now {
            self.arm_session(id, deadline - now, ctx);
            return;
        }
        let _e = self.span.clone().entered();
        info!(
            member = id,
            generation = self.generation,
            "member session expired"
        );
        self.remove_member(id, "session timeout", ctx);
    }

    fn add_pending(&mut self, id: String, session: Duration, ctx: &mut Context<Self>) {
        let member_id = id.clone();
        let handle = ctx.run_later(session, move |act, ctx| {
            if act.pending.remove(&member_id).is_some() {
                debug!(parent: &act.span, member = %member_id, "pending member never rejoined");
                act.try_complete_join(ctx);
            }
        });
        self.pending.insert(id, handle);
    }

    // ----- membership -----------------------------------------------------------------------

    fn new_member(id: String, req: &JoinRequest, waiter: oneshot::Sender<JoinResult>) -> Member {
        Member {
            id,
            instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout: millis(req.session_timeout_ms),
            rebalance_timeout: millis(req.rebalance_timeout_ms),
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: Some(waiter),
            sync_waiter: None,
            last_seen: Instant::now(),
            session_timer: None,
        }
    }

    /// Kafka's rule: an empty group takes any non-empty protocol list; otherwise the protocol
    /// type must match and one of the protocols must be supported by every member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.members.iter().all(|m| m.supports(name)))
    }

    /// The protocol every member supports with the most first-choice votes (ties: the
    /// leader's preference).
    fn select_protocol(&self) -> Option<String> {
        let first = self
            .leader
            .as_deref()
            .and_then(|l| self.member(l))
            .or(self.members.first())?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| self.members.iter().all(|m| m.supports(n)))
            .collect();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in &self.members {
            if let Some((name, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n.as_str()))
            {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for c in &candidates {
            let v = votes.get(c).copied().unwrap_or(0);
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((c, v));
            }
        }
        best.map(|(n, _)| n.to_string())
    }

    fn add_member_and_rebalance(
        &mut self,
        id: String,
        req: &JoinRequest,
        waiter: oneshot::Sender<JoinResult>,
        ctx: &mut Context<Self>,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        debug!(member = %id, client_id = %req.client_id, "member added");
        self.members.push(Self::new_member(id.clone(), req, waiter));
        self.members_gauge.fetch_add(1, Ordering::Relaxed);
        self.touch(&id, ctx);
        if let Some(delay) = self.initial_delay.as_mut() {
            delay.new_member_added = true;
        }
        self.maybe_prepare_rebalance("new member joined", ctx);
    }

    fn update_member(&mut self, id: &str, req: &JoinRequest, waiter: oneshot::Sender<JoinResult>) {
        if let Some(m) = self.member_mut(id) {
            m.protocols = req.protocols.clone();
            m.protocol_type = req.protocol_type.clone();
            m.session_timeout = millis(req.session_timeout_ms);
            m.rebalance_timeout = millis(req.rebalance_timeout_ms);
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
            if let Some(old) = m.join_waiter.replace(waiter) {
                // A duplicate join (the client gave up on the first): the first answer is moot.
                let _ = old.send(JoinResult::error(id, ErrorCode::RebalanceInProgress));
            }
        }
    }

    fn update_member_and_rebalance(
        &mut self,
        id: &str,
        req: &JoinRequest,
        waiter: oneshot::Sender<JoinResult>,
        ctx: &mut Context<Self>,
    ) {
        self.update_member(id, req, waiter);
        self.touch(id, ctx);
        self.maybe_prepare_rebalance("member rejoined", ctx);
    }

    /// A static member came back without its member id: it takes a new id in place of the old
    /// one. In a Stable group whose protocol does not change it keeps its assignment and the
    /// group does not rebalance.
    fn static_rejoin(
        &mut self,
        old_id: &str,
        new_id: String,
        req: &JoinRequest,
        waiter: oneshot::Sender<JoinResult>,
        ctx: &mut Context<Self>,
    ) {
        let current_leader = self.leader.clone().unwrap_or_default();
        let Some(m) = self.member_mut(old_id) else {
            self.add_member_and_rebalance(new_id, req, waiter, ctx);
            return;
        };
        if let Some(w) = m.join_waiter.take() {
            let _ = w.send(JoinResult::error(old_id, ErrorCode::FencedInstanceId));
        }
        if let Some(w) = m.sync_waiter.take() {
            let _ = w.send(SyncResult::error(ErrorCode::FencedInstanceId));
        }
        let timer = m.session_timer.take();
        m.id = new_id.clone();
        if let Some(t) = timer {
            ctx.cancel_future(t);
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        if self.is_leader(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        info!(old = old_id, new = %new_id, "static member rejoined with a new member id");
        self.update_member(&new_id, req, waiter);
        self.touch(&new_id, ctx);
        match self.state {
            GroupState::Stable => {
                if self.select_protocol() == self.protocol_name {
                    // No rebalance: answer with this generation. The leader id stays the old
                    // one so that a rejoining leader does not run a pointless assignment.
                    let answer = JoinResult {
                        error: ErrorCode::None,
                        generation: self.generation,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol_name.clone(),
                        leader: current_leader,
                        member_id: new_id.clone(),
                        members: Vec::new(),
                    };
                    if let Some(w) = self.member_mut(&new_id).and_then(|m| m.join_waiter.take()) {
                        let _ = w.send(answer);
                    }
                    self.persist();
                } else {
                    self.prepare_rebalance("static member changed its protocols", ctx);
                }
            }
            GroupState::PreparingRebalance => self.try_complete_join(ctx),
            _ => self.prepare_rebalance("static member rejoined", ctx),
        }
    }

    /// Takes a member out without deciding what the group does next.
    fn drop_member(&mut self, id: &str, ctx: &mut Context<Self>) {
        let Some(pos) = self.members.iter().position(|m| m.id == id) else {
            return;
        };
        let mut m = self.members.remove(pos);
        self.members_gauge.fetch_sub(1, Ordering::Relaxed);
        if let Some(t) = m.session_timer.take() {
            ctx.cancel_future(t);
        }
        if let Some(w) = m.join_waiter.take() {
            // Kafka answers a parked join of a removed member so the client starts over.
            let _ = w.send(JoinResult::error("", ErrorCode::UnknownMemberId));
        }
        if let Some(w) = m.sync_waiter.take() {
            let _ = w.send(SyncResult::error(ErrorCode::UnknownMemberId));
        }
        if let Some(instance) = &m.instance_id {
            if self.static_members.get(instance) == Some(&m.id) {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(id);
        if self.is_leader(id) {
            self.leader = self
                .members
                .iter()
                .find(|m| m.join_waiter.is_some())
                .or(self.members.first())
                .map(|m| m.id.clone());
        }
        debug!(member = id, "member removed");
    }

    /// Removes a member (leave, session expiry, sync timeout) and rebalances what is left.
    fn remove_member(&mut self, id: &str, reason: &str, ctx: &mut Context<Self>) {
        self.drop_member(id, ctx);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(reason, ctx)
            }
            GroupState::PreparingRebalance => self.try_complete_join(ctx),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ----- rebalance ------------------------------------------------------------------------

    fn maybe_prepare_rebalance(&mut self, reason: &str, ctx: &mut Context<Self>) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty => {
                self.prepare_rebalance(reason, ctx)
            }
            GroupState::PreparingRebalance => self.try_complete_join(ctx),
            GroupState::Dead => {}
        }
    }

    fn prepare_rebalance(&mut self, reason: &str, ctx: &mut Context<Self>) {
        if self.state == GroupState::CompletingRebalance {
            // Members parked in SyncGroup learn that this generation is over.
            for m in &mut self.members {
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncResult::error(ErrorCode::RebalanceInProgress));
                }
            }
        }
        if let Some(t) = self.sync_timer.take() {
            ctx.cancel_future(t);
        }
        self.pending_sync.clear();
        if let Some(t) = self.join_timer.take() {
            ctx.cancel_future(t);
        }
        let timeout = self.rebalance_timeout();
        let first = self.state == GroupState::Empty;
        info!(
            reason,
            generation = self.generation,
            members = self.members.len(),
            "preparing to rebalance"
        );
        self.transition(GroupState::PreparingRebalance);
        if first {
            let delay = self.settings.initial_rebalance_delay.min(timeout);
            self.initial_delay = Some(InitialDelay {
                remaining: timeout.saturating_sub(delay),
                new_member_added: false,
            });
            self.schedule_join(delay, ctx);
        } else {
            self.initial_delay = None;
            self.schedule_join(timeout, ctx);
            self.try_complete_join(ctx);
        }
    }

    fn schedule_join(&mut self, after: Duration, ctx: &mut Context<Self>) {
        if let Some(t) = self.join_timer.take() {
            ctx.cancel_future(t);
        }
        self.join_timer = Some(ctx.run_later(after, |act, ctx| {
            act.join_timer = None;
            let _e = act.span.clone().entered();
            act.on_join_deadline(ctx);
        }));
    }

    fn on_join_deadline(&mut self, ctx: &mut Context<Self>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(delay) = self.initial_delay.as_mut() {
            if delay.new_member_added && !delay.remaining.is_zero() {
                let next = self.settings.initial_rebalance_delay.min(delay.remaining);
                delay.remaining = delay.remaining.saturating_sub(next);
                delay.new_member_added = false;
                self.schedule_join(next, ctx);
                return;
            }
        }
        self.complete_join(ctx);
    }

    /// Completes the join phase early once every known member has rejoined (never during the
    /// initial delay, which waits for more members on purpose).
    fn try_complete_join(&mut self, ctx: &mut Context<Self>) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.pending.is_empty()
            && self.members.iter().all(|m| m.join_waiter.is_some())
        {
            self.complete_join(ctx);
        }
    }

    fn complete_join(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.join_timer.take() {
            ctx.cancel_future(t);
        }
        self.initial_delay = None;
        // Dynamic members that did not rejoin in time are out; static members stay until
        // their session expires.
        let laggards: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &laggards {
            info!(member = %id, "member did not rejoin in time");
            self.drop_member(id, ctx);
        }
        if !self.members.is_empty() {
            // The leader must be among those that rejoined.
            let leader_joined = self
                .leader
                .as_deref()
                .and_then(|l| self.member(l))
                .is_some_and(|m| m.join_waiter.is_some());
            if !leader_joined {
                match self.members.iter().find(|m| m.join_waiter.is_some()) {
                    Some(m) => self.leader = Some(m.id.clone()),
                    None => {
                        // Only static members that have not come back: wait for them (or for
                        // their sessions to expire).
                        warn!("no member rejoined: waiting another rebalance timeout");
                        let timeout = self.rebalance_timeout();
                        self.schedule_join(timeout, ctx);
                        return;
                    }
                }
            }
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader = None;
            self.transition(GroupState::Empty);
            info!(generation = self.generation, "group is empty");
            self.persist();
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance);
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let all: Vec<JoinedMember> = self
            .members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect();
        let leader = self.leader.clone().unwrap_or_default();
        info!(
            generation = self.generation,
            protocol = %protocol,
            leader = %leader,
            members = all.len(),
            "join phase complete"
        );
        let now = Instant::now();
        for m in &mut self.members {
            m.last_seen = now;
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinResult {
                    error: ErrorCode::None,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    leader: leader.clone(),
                    member_id: m.id.clone(),
                    members: if m.id == leader {
                        all.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
        self.pending_sync = self.members.iter().map(|m| m.id.clone()).collect();
        let generation = self.generation;
        let timeout = self.rebalance_timeout();
        self.sync_timer = Some(ctx.run_later(timeout, move |act, ctx| {
            act.sync_timer = None;
            let _e = act.span.clone().entered();
            act.on_sync_deadline(generation, ctx);
        }));
    }

    /// Members that never sent SyncGroup for this generation are evicted.
    fn on_sync_deadline(&mut self, generation: i32, ctx: &mut Context<Self>) {
        if generation != self.generation
            || !matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
            || self.pending_sync.is_empty()
        {
            return;
        }
        let missing: Vec<String> = self.pending_sync.drain().collect();
        for id in &missing {
            info!(member = %id, "member did not sync in time");
            self.drop_member(id, ctx);
        }
        self.prepare_rebalance("members did not sync in time", ctx);
    }

    /// The answer for a member asking to join a generation that is already formed.
    fn current_generation_answer(&self, id: &str) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        JoinResult {
            error: ErrorCode::None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: id.to_string(),
            members: if self.is_leader(id) {
                self.members
                    .iter()
                    .map(|m| JoinedMember {
                        member_id: m.id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        metadata: m.metadata_for(&protocol),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Writes the group's metadata record (unsynced).
    fn persist(&self) {
        let value = GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: now_ms(),
            members: self
                .members
                .iter()
                .map(|m| MemberRecord {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: duration_ms(m.rebalance_timeout),
                    session_timeout_ms: duration_ms(m.session_timeout),
                    subscription: self
                        .protocol_name
                        .as_deref()
                        .map(|p| m.metadata_for(p))
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        };
        self.store.do_send(StoreGroup {
            group: self.id.clone(),
            value,
        });
    }

    fn stop_timers(&mut self, ctx: &mut Context<Self>) {
        for t in [self.join_timer.take(), self.sync_timer.take()]
            .into_iter()
            .flatten()
        {
            ctx.cancel_future(t);
        }
        for (_, t) in self.pending.drain() {
            ctx.cancel_future(t);
        }
    }
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn duration_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

impl Actor for GroupActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.members.is_empty() {
            debug!(parent: &self.span, generation = self.generation, "group coordinator started");
            return;
        }
        info!(
            parent: &self.span,
            generation = self.generation,
            members = self.members.len(),
            "group restored from the offsets log"
        );
        let sessions: Vec<(String, Duration)> = self
            .members
            .iter()
            .map(|m| (m.id.clone(), m.session_timeout))
            .collect();
        for (id, session) in sessions {
            self.arm_session(&id, session, ctx);
        }
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
        let req = msg.0;
        let (tx, rx) = oneshot::channel();
        let fallback_id = req.member_id.clone();
        if let Some(answer) = self.join(req, tx, ctx) {
            return MessageResult(park(async move { answer }));
        }
        MessageResult(park(async move {
            rx.await.unwrap_or_else(|_| {
                JoinResult::error(fallback_id, ErrorCode::CoordinatorNotAvailable)
            })
        }))
    }
}

impl GroupActor {
    /// Handles a join; `Some` is an immediate answer, otherwise `tx` is answered (now or later).
    fn join(
        &mut self,
        req: JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        ctx: &mut Context<Self>,
    ) -> Option<JoinResult> {
        let fail = |code| Some(JoinResult::error(req.member_id.clone(), code));
        if req.session_timeout_ms < self.settings.min_session_timeout_ms
            || req.session_timeout_ms > self.settings.max_session_timeout_ms
        {
            return fail(ErrorCode::InvalidSessionTimeout);
        }
        if self.state == GroupState::Dead {
            return fail(ErrorCode::CoordinatorNotAvailable);
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return fail(ErrorCode::InconsistentGroupProtocol);
        }
        if req.member_id.is_empty() {
            let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
            let new_id = format!("{prefix}-{}", Uuid::new_v4());
            match &req.group_instance_id {
                Some(instance) => match self.static_members.get(instance).cloned() {
                    Some(old) => self.static_rejoin(&old, new_id, &req, tx, ctx),
                    None => self.add_member_and_rebalance(new_id, &req, tx, ctx),
                },
                None if req.require_known_member_id => {
                    debug!(member = %new_id, "member id required");
                    self.add_pending(new_id.clone(), millis(req.session_timeout_ms), ctx);
                    return Some(JoinResult::error(new_id, ErrorCode::MemberIdRequired));
                }
                None => self.add_member_and_rebalance(new_id, &req, tx, ctx),
            }
            return None;
        }
        let id = req.member_id.clone();
        if let Some(timer) = self.pending.remove(&id) {
            ctx.cancel_future(timer);
            self.add_member_and_rebalance(id, &req, tx, ctx);
            return None;
        }
        if self.is_fenced(req.group_instance_id.as_deref(), &id) {
            return fail(ErrorCode::FencedInstanceId);
        }
        let Some(member) = self.member(&id) else {
            return fail(ErrorCode::UnknownMemberId);
        };
        let same = member.matches(&req.protocols);
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(&id, &req, tx, ctx),
            GroupState::CompletingRebalance if same => {
                // A retried join of this very generation.
                self.touch(&id, ctx);
                let _ = tx.send(self.current_generation_answer(&id));
            }
            GroupState::Stable if same && !self.is_leader(&id) => {
                // A follower with nothing new: no rebalance.
                self.touch(&id, ctx);
                let _ = tx.send(self.current_generation_answer(&id));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(&id, &req, tx, ctx)
            }
            GroupState::Empty | GroupState::Dead => return fail(ErrorCode::UnknownMemberId),
        }
        None
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
        let req = msg.0;
        let fail =
            |code| -> Self::Result { MessageResult(park(async move { SyncResult::error(code) })) };
        if self.state == GroupState::Dead {
            return fail(ErrorCode::CoordinatorNotAvailable);
        }
        if let Err(code) = self.check_member(
            req.group_instance_id.as_deref(),
            &req.member_id,
            req.generation,
        ) {
            return fail(code);
        }
        if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| self.protocol_type.as_ref() != Some(t))
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|n| self.protocol_name.as_ref() != Some(n))
        {
            return fail(ErrorCode::InconsistentGroupProtocol);
        }
        let ok = |assignment: Bytes, this: &Self| SyncResult {
            error: ErrorCode::None,
            protocol_type: this.protocol_type.clone(),
            protocol_name: this.protocol_name.clone(),
            assignment,
        };
        match self.state {
            GroupState::Empty => fail(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                self.sync_received(&req.member_id, ctx);
                let assignment = self
                    .member(&req.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                let answer = ok(assignment, self);
                MessageResult(park(async move { answer }))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.member_mut(&req.member_id) {
                    if let Some(old) = m.sync_waiter.replace(tx) {
                        let _ = old.send(SyncResult::error(ErrorCode::RebalanceInProgress));
                    }
                }
                self.sync_received(&req.member_id, ctx);
                if self.is_leader(&req.member_id) {
                    let assignments: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in &mut self.members {
                        m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                    }
                    self.transition(GroupState::Stable);
                    info!(generation = self.generation, "group is stable");
                    let (pt, pn) = (self.protocol_type.clone(), self.protocol_name.clone());
                    for m in &mut self.members {
                        if let Some(w) = m.sync_waiter.take() {
                            let _ = w.send(SyncResult {
                                error: ErrorCode::None,
                                protocol_type: pt.clone(),
                                protocol_name: pn.clone(),
                                assignment: m.assignment.clone(),
                            });
                        }
                    }
                    self.persist();
                }
                MessageResult(park(async move {
                    rx.await
                        .unwrap_or_else(|_| SyncResult::error(ErrorCode::CoordinatorNotAvailable))
                }))
            }
            GroupState::Dead => fail(ErrorCode::CoordinatorNotAvailable),
        }
    }
}

impl GroupActor {
    fn sync_received(&mut self, id: &str, ctx: &mut Context<Self>) {
        self.pending_sync.remove(id);
        if self.pending_sync.is_empty() {
            if let Some(t) = self.sync_timer.take() {
                ctx.cancel_future(t);
            }
        }
        self.touch(id, ctx);
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

    fn handle(&mut self, msg: Heartbeat, ctx: &mut Self::Context) -> Self::Result {
        let code = if self.state == GroupState::Dead {
            ErrorCode::CoordinatorNotAvailable
        } else if let Err(code) = self.check_member(
            msg.group_instance_id.as_deref(),
            &msg.member_id,
            msg.generation,
        ) {
            code
        } else {
            self.touch(&msg.member_id, ctx);
            match self.state {
                GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
                GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
                GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
            }
        };
        MessageResult(code)
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
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let mut codes = Vec::with_capacity(msg.members.len());
        for (member_id, instance_id) in msg.members {
            let code = if member_id.is_empty() {
                match instance_id
                    .as_ref()
                    .and_then(|i| self.static_members.get(i))
                    .cloned()
                {
                    Some(current) => {
                        info!(member = %current, "static member removed by instance id");
                        self.remove_member(&current, "member left", ctx);
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if let Some(timer) = self.pending.remove(&member_id) {
                ctx.cancel_future(timer);
                self.try_complete_join(ctx);
                ErrorCode::None
            } else if self.is_fenced(instance_id.as_deref(), &member_id) {
                ErrorCode::FencedInstanceId
            } else if self.has(&member_id) {
                info!(member = %member_id, "member left the group");
                self.remove_member(&member_id, "member left", ctx);
                ErrorCode::None
            } else {
                ErrorCode::UnknownMemberId
            };
            codes.push(code);
        }
        Ok(codes)
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

    fn handle(&mut self, msg: ValidateCommit, ctx: &mut Self::Context) -> Self::Result {
        let code = if self.state == GroupState::Dead {
            ErrorCode::CoordinatorNotAvailable
        } else if msg.generation < 0 && self.state == GroupState::Empty {
            // A simple consumer or the admin client: the group only stores offsets.
            ErrorCode::None
        } else if let Err(code) = self.check_member(
            msg.group_instance_id.as_deref(),
            &msg.member_id,
            msg.generation,
        ) {
            code
        } else if self.state == GroupState::CompletingRebalance {
            ErrorCode::RebalanceInProgress
        } else {
            self.touch(&msg.member_id, ctx);
            ErrorCode::None
        };
        MessageResult(code)
    }
}

#[derive(Message)]
#[rtype(result = "GroupDescription")]
pub struct Describe;

impl Handler<Describe> for GroupActor {
    type Result = MessageResult<Describe>;

    fn handle(&mut self, _msg: Describe, _ctx: &mut Self::Context) -> Self::Result {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        MessageResult(GroupDescription {
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: self
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
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
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            state: self.state,
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
        match self.state {
            GroupState::Dead => Err(ErrorCode::GroupIdNotFound),
            GroupState::Empty => {
                self.transition(GroupState::Dead);
                self.stop_timers(ctx);
                ctx.stop();
                Ok(())
            }
            _ => Err(ErrorCode::NonEmptyGroup),
        }
    }
}
