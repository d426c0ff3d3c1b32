//! Kafka's classic group protocol as a synchronous state machine: no actor, no runtime, no
//! clock. [`Group`] takes a request and the instant it arrived, updates the group, and returns
//! the answer together with its [`Effect`]s (answers to requests parked earlier, metadata
//! records to write). Time moves only through the `now` each call passes in: sessions, the join
//! phase and the sync phase are deadlines, [`Group::next_deadline`] says when the earliest falls
//! due, and [`Group::tick`] handles what has fallen due by then. The actor around it
//! ([`super::actor::GroupActor`]) owns the mailbox, the parked answers' channels, one timer, and
//! the offsets store.
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
//! Empty               ─ DeleteGroups ────────────────────────────────────────▶ Dead
//! ```
//!
//! Deadlines:
//! - the join phase: `group.initial.rebalance.delay.ms` for a group's first rebalance (extended
//!   while new members keep arriving, up to the rebalance timeout), else the largest
//!   `rebalance_timeout_ms` of the members;
//! - the sync phase: members that have not sent SyncGroup within the rebalance timeout are
//!   evicted and the group rebalances;
//! - each member's session: `last_seen + session_timeout`. A member parked in a join or a sync
//!   is never expired by it (the rebalance timeout bounds those): when its session falls due it
//!   starts over;
//! - each member id handed out with MEMBER_ID_REQUIRED is forgotten after a session timeout if
//!   the client never comes back with it.
//!
//! A deadline set while [`Group::tick`] runs is left for the next tick, even if it is already
//! due, as an actor timer armed from a timer callback runs in a later turn: with a zero
//! initial delay, members arriving in between still land in the first generation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::records::{GroupMetadataValue, MemberRecord};
use crate::error::ErrorCode;

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

/// Names one parked request (a JoinGroup or SyncGroup waiting for the rest of the group).
/// Tickets are never reused, so an answer cannot reach a later request of the same member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(u64);

/// The immediate outcome of a JoinGroup or SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    /// Answer the request with this.
    Now(T),
    /// The answer comes later, as an [`Effect`] for this ticket (possibly among the effects
    /// returned with this very reply).
    Parked(Ticket),
}

/// Something the caller must do after a call into [`Group`], in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer the parked JoinGroup.
    Join(Ticket, JoinResult),
    /// Answer the parked SyncGroup.
    Sync(Ticket, SyncResult),
    /// Write the group's metadata record (unsynced). `current_state_timestamp` is 0: the core
    /// reads no clock, the caller stamps the wall-clock time.
    Persist(GroupMetadataValue),
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    /// The member's parked JoinGroup, if any.
    join_waiter: Option<Ticket>,
    /// The member's parked SyncGroup, if any.
    sync_waiter: Option<Ticket>,
    /// Last sign of life (join, sync, heartbeat, commit); the session runs out a session
    /// timeout later.
    last_seen: Instant,
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

    fn session_deadline(&self) -> Instant {
        self.last_seen + self.session_timeout
    }

    fn parked(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }
}

/// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms` and again
/// while new members keep joining, within the rebalance timeout.
struct InitialDelay {
    remaining: Duration,
    new_member_added: bool,
}

/// One classic consumer group: membership, generation, protocol and the rebalance protocol.
pub struct Group {
    settings: Arc<GroupSettings>,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// In join order (the first joiner leads).
    members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet back, with when they are
    /// forgotten.
    pending: HashMap<String, Instant>,
    /// group.instance.id → member id.
    static_members: HashMap<String, String>,
    /// When the join phase ends (or the initial delay is reviewed); set only while
    /// PreparingRebalance.
    join_deadline: Option<Instant>,
    initial_delay: Option<InitialDelay>,
    /// When the members in `pending_sync` are evicted; set only while some are.
    sync_deadline: Option<Instant>,
    /// Members of this generation that have not sent SyncGroup yet.
    pending_sync: HashSet<String>,
    next_ticket: u64,
    /// The effects of the call under way.
    out: Vec<Effect>,
}

impl Group {
    /// A new, empty group.
    pub fn new(settings: Arc<GroupSettings>) -> Group {
        Group {
            settings,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            join_deadline: None,
            initial_delay: None,
            sync_deadline: None,
            pending_sync: HashSet::new(),
            next_ticket: 0,
            out: Vec::new(),
        }
    }

    /// A group as the offsets log last described it. A record with members restores them
    /// (Stable, with their assignments) so that consumers that outlive a broker restart carry
    /// on without a rebalance; their sessions start over at `now`.
    pub fn restore(settings: Arc<GroupSettings>, r: GroupMetadataValue, now: Instant) -> Group {
        let mut g = Group::new(settings);
        g.generation = r.generation;
        g.protocol_type = Some(r.protocol_type).filter(|t| !t.is_empty());
        let Some(protocol) = r.protocol.filter(|_| !r.members.is_empty()) else {
            return g;
        };
        let min_session = g.settings.min_session_timeout_ms;
        for m in r.members {
            if let Some(instance) = &m.group_instance_id {
                g.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            g.members.push(Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout: millis(m.session_timeout_ms.max(min_session)),
                rebalance_timeout: millis(m.rebalance_timeout_ms),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                join_waiter: None,
                sync_waiter: None,
                last_seen: now,
            });
        }
        g.leader = r
            .leader
            .filter(|l| g.has(l))
            .or_else(|| g.members.first().map(|m| m.id.clone()));
        g.protocol_name = Some(protocol);
        g.state = GroupState::Stable;
        g
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The protocol type, "" if none.
    pub fn protocol_type(&self) -> &str {
        self.protocol_type.as_deref().unwrap_or_default()
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// The earliest deadline (a session, a forgotten member id, the join or sync phase), if any:
    /// [`Group::tick`] has something to do then.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.members
            .iter()
            .map(Member::session_deadline)
            .chain(self.pending.values().copied())
            .chain(self.join_deadline)
            .chain(self.sync_deadline)
            .min()
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

    fn ticket(&mut self) -> Ticket {
        self.next_ticket += 1;
        Ticket(self.next_ticket)
    }

    fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.out)
    }

    fn answer_join(&mut self, to: Option<Ticket>, answer: JoinResult) {
        if let Some(t) = to {
            self.out.push(Effect::Join(t, answer));
        }
    }

    fn answer_sync(&mut self, to: Option<Ticket>, answer: SyncResult) {
        if let Some(t) = to {
            self.out.push(Effect::Sync(t, answer));
        }
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

    /// A sign of life from `id`: its session starts over.
    fn touch(&mut self, id: &str, now: Instant) {
        if let Some(m) = self.member_mut(id) {
            m.last_seen = now;
        }
    }

    // ----- requests -------------------------------------------------------------------------

    /// JoinGroup. `fresh` makes the member id of a member that joins without one
    /// (`<instance or client id>-<fresh>`).
    pub fn join(
        &mut self,
        req: JoinRequest,
        fresh: Uuid,
        now: Instant,
    ) -> (Reply<JoinResult>, Vec<Effect>) {
        let ticket = self.ticket();
        let reply = match self.join_inner(req, ticket, fresh, now) {
            Some(answer) => Reply::Now(answer),
            None => Reply::Parked(ticket),
        };
        (reply, self.take())
    }

    /// `Some` is an immediate answer; `None` parks the join under `ticket`.
    fn join_inner(
        &mut self,
        req: JoinRequest,
        ticket: Ticket,
        fresh: Uuid,
        now: Instant,
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
            let new_id = format!("{prefix}-{fresh}");
            match &req.group_instance_id {
                Some(instance) => match self.static_members.get(instance).cloned() {
                    Some(old) => self.static_rejoin(&old, new_id, &req, ticket, now),
                    None => self.add_member_and_rebalance(new_id, &req, ticket, now),
                },
                None if req.require_known_member_id => {
                    debug!(member = %new_id, "member id required");
                    self.pending
                        .insert(new_id.clone(), now + millis(req.session_timeout_ms));
                    return Some(JoinResult::error(new_id, ErrorCode::MemberIdRequired));
                }
                None => self.add_member_and_rebalance(new_id, &req, ticket, now),
            }
            return None;
        }
        let id = req.member_id.clone();
        if self.pending.remove(&id).is_some() {
            self.add_member_and_rebalance(id, &req, ticket, now);
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
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(&id, &req, ticket, now)
            }
            GroupState::CompletingRebalance if same => {
                // A retried join of this very generation.
                self.touch(&id, now);
                return Some(self.current_generation_answer(&id));
            }
            GroupState::Stable if same && !self.is_leader(&id) => {
                // A follower with nothing new: no rebalance.
                self.touch(&id, now);
                return Some(self.current_generation_answer(&id));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(&id, &req, ticket, now)
            }
            GroupState::Empty | GroupState::Dead => return fail(ErrorCode::UnknownMemberId),
        }
        None
    }

    /// SyncGroup. A follower's answer waits for the leader's assignment.
    pub fn sync(&mut self, req: SyncRequest, now: Instant) -> (Reply<SyncResult>, Vec<Effect>) {
        let reply = self.sync_inner(req, now);
        (reply, self.take())
    }

    fn sync_inner(&mut self, req: SyncRequest, now: Instant) -> Reply<SyncResult> {
        let fail = |code| Reply::Now(SyncResult::error(code));
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
        match self.state {
            GroupState::Empty => fail(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                self.sync_received(&req.member_id, now);
                let assignment = self
                    .member(&req.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                Reply::Now(SyncResult {
                    error: ErrorCode::None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment,
                })
            }
            GroupState::CompletingRebalance => {
                let ticket = self.ticket();
                let old = self
                    .member_mut(&req.member_id)
                    .and_then(|m| m.sync_waiter.replace(ticket));
                self.answer_sync(old, SyncResult::error(ErrorCode::RebalanceInProgress));
                self.sync_received(&req.member_id, now);
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
                            self.out.push(Effect::Sync(
                                w,
                                SyncResult {
                                    error: ErrorCode::None,
                                    protocol_type: pt.clone(),
                                    protocol_name: pn.clone(),
                                    assignment: m.assignment.clone(),
                                },
                            ));
                        }
                    }
                    self.persist();
                }
                Reply::Parked(ticket)
            }
            GroupState::Dead => fail(ErrorCode::CoordinatorNotAvailable),
        }
    }

    fn sync_received(&mut self, id: &str, now: Instant) {
        self.pending_sync.remove(id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
        self.touch(id, now);
    }

    /// Heartbeat: keeps the session alive, and tells the member when a rebalance is under way.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if let Err(code) = self.check_member(instance_id, member_id, generation) {
            return code;
        }
        self.touch(member_id, now);
        match self.state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
        }
    }

    /// LeaveGroup for one or more (member id, instance id) pairs; a member may be named by its
    /// instance id alone. One code per member, or one for the whole request.
    pub fn leave(
        &mut self,
        members: Vec<(String, Option<String>)>,
        now: Instant,
    ) -> (Result<Vec<ErrorCode>, ErrorCode>, Vec<Effect>) {
        if self.state == GroupState::Dead {
            return (Err(ErrorCode::CoordinatorNotAvailable), Vec::new());
        }
        let mut codes = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let code = if member_id.is_empty() {
                match instance_id
                    .as_ref()
                    .and_then(|i| self.static_members.get(i))
                    .cloned()
                {
                    Some(current) => {
                        info!(member = %current, "static member removed by instance id");
                        self.remove_member(&current, "member left", now);
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if self.pending.remove(&member_id).is_some() {
                self.try_complete_join(now);
                ErrorCode::None
            } else if self.is_fenced(instance_id.as_deref(), &member_id) {
                ErrorCode::FencedInstanceId
            } else if self.has(&member_id) {
                info!(member = %member_id, "member left the group");
                self.remove_member(&member_id, "member left", now);
                ErrorCode::None
            } else {
                ErrorCode::UnknownMemberId
            };
            codes.push(code);
        }
        (Ok(codes), self.take())
    }

    /// Checks an OffsetCommit against the group (a valid member's commit counts as a
    /// heartbeat).
    pub fn validate_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> ErrorCode {
        if self.state == GroupState::Dead {
            ErrorCode::CoordinatorNotAvailable
        } else if generation < 0 && self.state == GroupState::Empty {
            // A simple consumer or the admin client: the group only stores offsets.
            ErrorCode::None
        } else if let Err(code) = self.check_member(instance_id, member_id, generation) {
            code
        } else if self.state == GroupState::CompletingRebalance {
            ErrorCode::RebalanceInProgress
        } else {
            self.touch(member_id, now);
            ErrorCode::None
        }
    }

    /// DeleteGroups: an Empty group becomes Dead (and stays so: every request is refused);
    /// otherwise NON_EMPTY_GROUP.
    pub fn delete_if_empty(&mut self) -> Result<(), ErrorCode> {
        match self.state {
            GroupState::Dead => Err(ErrorCode::GroupIdNotFound),
            GroupState::Empty => {
                self.transition(GroupState::Dead);
                self.join_deadline = None;
                self.sync_deadline = None;
                self.pending.clear();
                Ok(())
            }
            _ => Err(ErrorCode::NonEmptyGroup),
        }
    }

    /// DescribeGroups' view.
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupDescription {
            state: self.state,
            protocol_type: self.protocol_type().to_string(),
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
        }
    }

    // ----- time -----------------------------------------------------------------------------

    /// Handles every deadline due by `now`, earliest first: sessions that ran out, member ids
    /// never brought back, the end of the join phase, members that never synced. A deadline
    /// these set is left for the next tick (see the module doc).
    pub fn tick(&mut self, now: Instant) -> Vec<Effect> {
        enum Due {
            Pending(String),
            Session(String),
            Join,
            Sync,
        }
        let mut due: Vec<(Instant, Due)> = Vec::new();
        for m in &self.members {
            if m.session_deadline() <= now {
                due.push((m.session_deadline(), Due::Session(m.id.clone())));
            }
        }
        for (id, &at) in &self.pending {
            if at <= now {
                due.push((at, Due::Pending(id.clone())));
            }
        }
        if let Some(at) = self.join_deadline.filter(|&at| at <= now) {
            due.push((at, Due::Join));
        }
        if let Some(at) = self.sync_deadline.filter(|&at| at <= now) {
            due.push((at, Due::Sync));
        }
        due.sort_by_key(|(at, _)| *at);
        // Each entry is handled only if what set it still stands: an earlier one may have
        // removed the member or moved the deadline.
        for (at, what) in due {
            match what {
                Due::Pending(id) => {
                    if self.pending.get(&id) == Some(&at) {
                        self.pending.remove(&id);
                        debug!(member = %id, "pending member never rejoined");
                        self.try_complete_join(now);
                    }
                }
                Due::Session(id) => {
                    if self.member(&id).is_some_and(|m| m.session_deadline() == at) {
                        self.session_due(&id, now);
                    }
                }
                Due::Join => {
                    if self.join_deadline == Some(at) {
                        self.join_deadline = None;
                        self.on_join_deadline(now);
                    }
                }
                Due::Sync => {
                    if self.sync_deadline == Some(at) {
                        self.sync_deadline = None;
                        self.on_sync_deadline(now);
                    }
                }
            }
        }
        self.take()
    }

    fn session_due(&mut self, id: &str, now: Instant) {
        let Some(m) = self.member_mut(id) else { return };
        if m.parked() {
            // Parked in a join or a sync: the rebalance timeout is what bounds it.
            m.last_seen = now;
            return;
        }
        info!(
            member = id,
            generation = self.generation,
            "member session expired"
        );
        self.remove_member(id, "session timeout", now);
    }

    // ----- membership -----------------------------------------------------------------------

    fn new_member(id: String, req: &JoinRequest, waiter: Ticket, now: Instant) -> Member {
        Member {
            id,
            instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout: millis(req.session_timeout_ms),
            rebalance_timeout: millis(req.rebalance_timeout_ms),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: Some(waiter),
            sync_waiter: None,
            last_seen: now,
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
        waiter: Ticket,
        now: Instant,
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
        self.members.push(Self::new_member(id, req, waiter, now));
        if let Some(delay) = self.initial_delay.as_mut() {
            delay.new_member_added = true;
        }
        self.maybe_prepare_rebalance("new member joined", now);
    }

    fn update_member(&mut self, id: &str, req: &JoinRequest, waiter: Ticket) {
        let Some(m) = self.member_mut(id) else { return };
        m.protocols = req.protocols.clone();
        m.session_timeout = millis(req.session_timeout_ms);
        m.rebalance_timeout = millis(req.rebalance_timeout_ms);
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        let old = m.join_waiter.replace(waiter);
        // A duplicate join (the client gave up on the first): the first answer is moot.
        self.answer_join(old, JoinResult::error(id, ErrorCode::RebalanceInProgress));
    }

    fn update_member_and_rebalance(
        &mut self,
        id: &str,
        req: &JoinRequest,
        waiter: Ticket,
        now: Instant,
    ) {
        self.update_member(id, req, waiter);
        self.touch(id, now);
        self.maybe_prepare_rebalance("member rejoined", now);
    }

    /// A static member came back without its member id: it takes a new id in place of the old
    /// one. In a Stable group whose protocol does not change it keeps its assignment and the
    /// group does not rebalance.
    fn static_rejoin(
        &mut self,
        old_id: &str,
        new_id: String,
        req: &JoinRequest,
        waiter: Ticket,
        now: Instant,
    ) {
        let current_leader = self.leader.clone().unwrap_or_default();
        let Some(m) = self.member_mut(old_id) else {
            self.add_member_and_rebalance(new_id, req, waiter, now);
            return;
        };
        let (old_join, old_sync) = (m.join_waiter.take(), m.sync_waiter.take());
        m.id = new_id.clone();
        self.answer_join(
            old_join,
            JoinResult::error(old_id, ErrorCode::FencedInstanceId),
        );
        self.answer_sync(old_sync, SyncResult::error(ErrorCode::FencedInstanceId));
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
        self.touch(&new_id, now);
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
                    let w = self.member_mut(&new_id).and_then(|m| m.join_waiter.take());
                    self.answer_join(w, answer);
                    self.persist();
                } else {
                    self.prepare_rebalance("static member changed its protocols", now);
                }
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            _ => self.prepare_rebalance("static member rejoined", now),
        }
    }

    /// Takes a member out without deciding what the group does next.
    fn drop_member(&mut self, id: &str) {
        let Some(pos) = self.members.iter().position(|m| m.id == id) else {
            return;
        };
        let m = self.members.remove(pos);
        // Kafka answers a parked join of a removed member so the client starts over.
        self.answer_join(
            m.join_waiter,
            JoinResult::error("", ErrorCode::UnknownMemberId),
        );
        self.answer_sync(m.sync_waiter, SyncResult::error(ErrorCode::UnknownMemberId));
        if let Some(instance) = &m.instance_id {
            if self.static_members.get(instance) == Some(&m.id) {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
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

    /// Removes a member (leave, session expiry) and rebalances what is left.
    fn remove_member(&mut self, id: &str, reason: &str, now: Instant) {
        self.drop_member(id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(reason, now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ----- rebalance ------------------------------------------------------------------------

    fn maybe_prepare_rebalance(&mut self, reason: &str, now: Instant) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty => {
                self.prepare_rebalance(reason, now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::Dead => {}
        }
    }

    fn prepare_rebalance(&mut self, reason: &str, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            // Members parked in SyncGroup learn that this generation is over.
            let waiters: Vec<Ticket> = self
                .members
                .iter_mut()
                .filter_map(|m| m.sync_waiter.take())
                .collect();
            for w in waiters {
                self.answer_sync(Some(w), SyncResult::error(ErrorCode::RebalanceInProgress));
            }
        }
        self.sync_deadline = None;
        self.pending_sync.clear();
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
            self.join_deadline = Some(now + delay);
        } else {
            self.initial_delay = None;
            self.join_deadline = Some(now + timeout);
            self.try_complete_join(now);
        }
    }

    fn on_join_deadline(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(delay) = self.initial_delay.as_mut() {
            if delay.new_member_added && !delay.remaining.is_zero() {
                let next = self.settings.initial_rebalance_delay.min(delay.remaining);
                delay.remaining = delay.remaining.saturating_sub(next);
                delay.new_member_added = false;
                self.join_deadline = Some(now + next);
                return;
            }
        }
        self.complete_join(now);
    }

    /// Completes the join phase early once every known member has rejoined (never during the
    /// initial delay, which waits for more members on purpose).
    fn try_complete_join(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.pending.is_empty()
            && self.members.iter().all(|m| m.join_waiter.is_some())
        {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        self.join_deadline = None;
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
            self.drop_member(id);
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
                        self.join_deadline = Some(now + self.rebalance_timeout());
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
        let all = self.joined_members(&protocol);
        let leader = self.leader.clone().unwrap_or_default();
        info!(
            generation = self.generation,
            protocol = %protocol,
            leader = %leader,
            members = all.len(),
            "join phase complete"
        );
        let mut answers = Vec::new();
        for m in &mut self.members {
            m.last_seen = now;
            if let Some(w) = m.join_waiter.take() {
                answers.push(Effect::Join(
                    w,
                    JoinResult {
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
                    },
                ));
            }
        }
        self.out.extend(answers);
        self.pending_sync = self.members.iter().map(|m| m.id.clone()).collect();
        self.sync_deadline = Some(now + self.rebalance_timeout());
    }

    /// Members that never sent SyncGroup for this generation are evicted.
    fn on_sync_deadline(&mut self, now: Instant) {
        if !matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) || self.pending_sync.is_empty()
        {
            return;
        }
        let mut missing: Vec<String> = self.pending_sync.drain().collect();
        missing.sort();
        for id in &missing {
            info!(member = %id, "member did not sync in time");
            self.drop_member(id);
        }
        self.prepare_rebalance("members did not sync in time", now);
    }

    /// Every member with its metadata for `protocol`, in join order: the leader's view.
    fn joined_members(&self, protocol: &str) -> Vec<JoinedMember> {
        self.members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(protocol),
            })
            .collect()
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
                self.joined_members(&protocol)
            } else {
                Vec::new()
            },
        }
    }

    /// The group's metadata record as it stands (without a timestamp: see [`Effect::Persist`]).
    pub fn record(&self) -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: self.protocol_type().to_string(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: 0,
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
        }
    }

    fn persist(&mut self) {
        let record = self.record();
        self.out.push(Effect::Persist(record));
    }
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn duration_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests;
