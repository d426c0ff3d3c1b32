//! The core on its own: requests and ticks at chosen instants, no actor, no sleeping.

use super::*;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn settings(initial_delay_ms: u64) -> Arc<GroupSettings> {
    Arc::new(GroupSettings {
        initial_rebalance_delay: Duration::from_millis(initial_delay_ms),
        min_session_timeout_ms: 6_000,
        max_session_timeout_ms: 300_000,
    })
}

/// A clock the tests move by hand.
struct Clock(Instant);

impl Clock {
    fn at(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

fn clock() -> Clock {
    Clock(Instant::now())
}

fn req(member_id: &str, protocols: &[(&str, &str)]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|(n, m)| (n.to_string(), Bytes::from(m.to_string())))
            .collect(),
        require_known_member_id: false,
    }
}

fn range() -> [(&'static str, &'static str); 1] {
    [("range", "sub")]
}

fn static_req(member_id: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        ..req(member_id, &range())
    }
}

fn sync_req(member_id: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        member_id: member_id.into(),
        group_instance_id: None,
        generation,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
    }
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn parked<T: std::fmt::Debug>(reply: Reply<T>) -> Ticket {
    match reply {
        Reply::Parked(t) => t,
        Reply::Now(answer) => panic!("expected a parked answer, got {answer:?}"),
    }
}

fn now<T: std::fmt::Debug>(reply: Reply<T>) -> T {
    match reply {
        Reply::Now(answer) => answer,
        Reply::Parked(t) => panic!("expected an answer now, got parked {t:?}"),
    }
}

fn join_answer(effects: &[Effect], ticket: Ticket) -> JoinResult {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Join(t, answer) if *t == ticket => Some(answer.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join answer for {ticket:?} in {effects:?}"))
}

fn sync_answer(effects: &[Effect], ticket: Ticket) -> SyncResult {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Sync(t, answer) if *t == ticket => Some(answer.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync answer for {ticket:?} in {effects:?}"))
}

fn records(effects: &[Effect]) -> Vec<GroupMetadataValue> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// A member joins an empty group without a member id (JoinGroup v0–v3): it gets one and the
/// join parks; with no initial delay the join phase ends at the next tick.
fn first_join(g: &mut Group, client: &str, n: u128, at: Instant) -> Ticket {
    let mut r = req("", &range());
    r.client_id = client.into();
    let (reply, effects) = g.join(r, uuid(n), at);
    assert!(effects.is_empty(), "{effects:?}");
    parked(reply)
}

/// Ticks at `at` until the join phase ends: each member that arrived during the (zero)
/// initial delay extends it by one more tick.
fn settle(g: &mut Group, at: Instant) -> Vec<Effect> {
    for _ in 0..5 {
        let effects = g.tick(at);
        if !effects.is_empty() {
            return effects;
        }
    }
    panic!("the join phase did not end");
}

fn id(client: &str, n: u128) -> String {
    format!("{client}-{}", uuid(n))
}

/// A Stable group of generation 1 with members `a` (the leader) and `b`, formed at 0 ms.
fn stable_pair(c: &Clock) -> (Group, String, String) {
    let mut g = Group::new(settings(0));
    let ta = first_join(&mut g, "a", 1, c.at(0));
    let tb = first_join(&mut g, "b", 2, c.at(0));
    let effects = settle(&mut g, c.at(0));
    let (a, b) = (id("a", 1), id("b", 2));
    assert_eq!(join_answer(&effects, ta).leader, a);
    assert_eq!(join_answer(&effects, tb).generation, 1);
    let (reply, effects) = g.sync(sync_req(&a, 1, &[(&a, "A"), (&b, "B")]), c.at(0));
    assert_eq!(sync_answer(&effects, parked(reply)).assignment, "A");
    let (reply, _) = g.sync(sync_req(&b, 1, &[]), c.at(0));
    assert_eq!(now(reply).assignment, "B");
    assert_eq!(g.state(), GroupState::Stable);
    (g, a, b)
}

// ----- joining ------------------------------------------------------------------------------

#[test]
fn first_member_prepares_a_rebalance_and_leads_generation_one() {
    let c = clock();
    let mut g = Group::new(settings(0));
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.next_deadline(), None);
    let t = first_join(&mut g, "a", 1, c.at(0));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(g.next_deadline(), Some(c.at(0)));
    let effects = g.tick(c.at(0));
    let answer = join_answer(&effects, t);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    assert_eq!(answer.error, ErrorCode::None);
    assert_eq!(answer.generation, 1);
    assert_eq!(answer.member_id, id("a", 1));
    assert_eq!(answer.leader, id("a", 1));
    assert_eq!(answer.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(answer.protocol_name.as_deref(), Some("range"));
    assert_eq!(
        answer.members,
        vec![JoinedMember {
            member_id: id("a", 1),
            group_instance_id: None,
            metadata: Bytes::from("sub"),
        }]
    );
    // The session comes before the end of the sync phase (the rebalance timeout).
    assert_eq!(g.next_deadline(), Some(c.at(SESSION as u64)));
    assert_eq!(
        g.heartbeat(&id("a", 1), None, 1, c.at(25_000)),
        ErrorCode::None
    );
    assert_eq!(g.next_deadline(), Some(c.at(REBALANCE as u64)));
}

#[test]
fn only_the_leader_sees_the_members() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let ta = first_join(&mut g, "a", 1, c.at(0));
    let tb = first_join(&mut g, "b", 2, c.at(0));
    let effects = settle(&mut g, c.at(0));
    let (a, b) = (join_answer(&effects, ta), join_answer(&effects, tb));
    assert_eq!(a.leader, id("a", 1));
    assert_eq!(b.leader, id("a", 1));
    assert_eq!(a.members.len(), 2);
    assert!(b.members.is_empty());
}

#[test]
fn member_id_required_hands_out_an_id_that_is_forgotten_after_a_session() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let mut r = req("", &range());
    r.require_known_member_id = true;
    let (reply, effects) = g.join(r.clone(), uuid(7), c.at(0));
    let answer = now(reply);
    assert!(effects.is_empty());
    assert_eq!(answer.error, ErrorCode::MemberIdRequired);
    assert_eq!(answer.member_id, id("client", 7));
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.member_count(), 0);
    assert_eq!(g.next_deadline(), Some(c.at(SESSION as u64)));

    // Back with the id: it joins.
    r.member_id = id("client", 7);
    let (reply, _) = g.join(r.clone(), uuid(8), c.at(100));
    let t = parked(reply);
    let effects = g.tick(c.at(100));
    assert_eq!(join_answer(&effects, t).member_id, id("client", 7));

    // An id never brought back is forgotten; coming back later, it is unknown.
    let mut g = Group::new(settings(0));
    r.member_id = String::new();
    let (reply, _) = g.join(r.clone(), uuid(9), c.at(0));
    assert_eq!(now(reply).error, ErrorCode::MemberIdRequired);
    assert!(g.tick(c.at(SESSION as u64 - 1)).is_empty());
    assert!(g.tick(c.at(SESSION as u64)).is_empty());
    assert_eq!(g.next_deadline(), None);
    r.member_id = id("client", 9);
    let (reply, _) = g.join(r, uuid(10), c.at(SESSION as u64 + 1));
    assert_eq!(now(reply).error, ErrorCode::UnknownMemberId);
}

#[test]
fn a_pending_member_id_holds_the_join_phase_until_it_comes_back_or_is_forgotten() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    // A new member is told to come back with an id; meanwhile a and b rejoin.
    let mut r = req("", &range());
    r.require_known_member_id = true;
    let (reply, _) = g.join(r, uuid(3), c.at(10));
    assert_eq!(now(reply).error, ErrorCode::MemberIdRequired);
    let (reply, _) = g.join(req(&a, &[("range", "new")]), uuid(0), c.at(20));
    let ta = parked(reply);
    let (reply, effects) = g.join(req(&b, &range()), uuid(0), c.at(20));
    let tb = parked(reply);
    assert!(effects.is_empty(), "the pending id holds the join phase");
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    // Leaving with that id lets the join phase complete.
    let (codes, effects) = g.leave(vec![(id("client", 3), None)], c.at(30));
    assert_eq!(codes, Ok(vec![ErrorCode::None]));
    assert_eq!(join_answer(&effects, ta).generation, 2);
    assert_eq!(join_answer(&effects, tb).generation, 2);
}

#[test]
fn join_refusals() {
    let c = clock();
    let (mut g, a, _b) = stable_pair(&c);
    let mut r = req(&a, &range());
    r.session_timeout_ms = 1_000;
    assert_eq!(
        now(g.join(r, uuid(0), c.at(1)).0).error,
        ErrorCode::InvalidSessionTimeout
    );
    let mut r = req(&a, &range());
    r.session_timeout_ms = 300_001;
    assert_eq!(
        now(g.join(r, uuid(0), c.at(1)).0).error,
        ErrorCode::InvalidSessionTimeout
    );
    // Another protocol type, or no protocol in common with the members.
    let mut r = req("", &range());
    r.protocol_type = "connect".into();
    assert_eq!(
        now(g.join(r, uuid(3), c.at(1)).0).error,
        ErrorCode::InconsistentGroupProtocol
    );
    assert_eq!(
        now(g.join(req("", &[("roundrobin", "")]), uuid(3), c.at(1)).0).error,
        ErrorCode::InconsistentGroupProtocol
    );
    // An unknown member id.
    assert_eq!(
        now(g.join(req("ghost", &range()), uuid(3), c.at(1)).0).error,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(g.state(), GroupState::Stable);
    assert_eq!(g.generation(), 1);

    // An empty group takes any protocol type, but not an empty one nor no protocols.
    let mut g = Group::new(settings(0));
    let mut r = req("", &range());
    r.protocol_type = String::new();
    assert_eq!(
        now(g.join(r, uuid(1), c.at(0)).0).error,
        ErrorCode::InconsistentGroupProtocol
    );
    assert_eq!(
        now(g.join(req("", &[]), uuid(1), c.at(0)).0).error,
        ErrorCode::InconsistentGroupProtocol
    );
    // A member id in an empty group is unknown.
    assert_eq!(
        now(g.join(req("someone", &range()), uuid(1), c.at(0)).0).error,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn a_stable_follower_rejoining_unchanged_gets_the_current_generation() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    let (reply, effects) = g.join(req(&b, &range()), uuid(0), c.at(5));
    let answer = now(reply);
    assert!(effects.is_empty());
    assert_eq!(answer.error, ErrorCode::None);
    assert_eq!(answer.generation, 1);
    assert_eq!(answer.leader, a);
    assert!(answer.members.is_empty());
    assert_eq!(g.state(), GroupState::Stable);
}

#[test]
fn a_retried_join_while_completing_gets_the_current_generation() {
    let c = clock();
    let mut g = Group::new(settings(0));
    first_join(&mut g, "a", 1, c.at(0));
    g.tick(c.at(0));
    let a = id("a", 1);
    let answer = now(g.join(req(&a, &range()), uuid(0), c.at(1)).0);
    assert_eq!(answer.generation, 1);
    assert_eq!(answer.members.len(), 1, "the leader sees the members again");
    assert_eq!(g.state(), GroupState::CompletingRebalance);
}

#[test]
fn the_leader_rejoining_or_new_metadata_rebalances_and_ends_when_all_rejoined() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    let (reply, effects) = g.join(req(&a, &range()), uuid(0), c.at(100));
    let ta = parked(reply);
    assert!(effects.is_empty());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    // The other member learns of it through its heartbeat.
    assert_eq!(
        g.heartbeat(&b, None, 1, c.at(200)),
        ErrorCode::RebalanceInProgress
    );
    // Its rejoin completes the join phase at once.
    let (reply, effects) = g.join(req(&b, &[("range", "more")]), uuid(0), c.at(300));
    let tb = parked(reply);
    assert_eq!(join_answer(&effects, ta).generation, 2);
    assert_eq!(join_answer(&effects, tb).generation, 2);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    let leader_view = join_answer(&effects, ta).members;
    assert_eq!(leader_view[1].metadata, "more");

    // A follower with new metadata rebalances a Stable group too.
    let (mut g, _a, b) = stable_pair(&c);
    let (reply, effects) = g.join(req(&b, &[("range", "changed")]), uuid(0), c.at(1));
    parked(reply);
    assert!(effects.is_empty());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn a_duplicate_join_answers_the_first_with_rebalance_in_progress() {
    let c = clock();
    let (mut g, a, _b) = stable_pair(&c);
    let first = parked(g.join(req(&a, &range()), uuid(0), c.at(1)).0);
    let (reply, effects) = g.join(req(&a, &range()), uuid(0), c.at(2));
    let second = parked(reply);
    assert_ne!(first, second);
    let old = join_answer(&effects, first);
    assert_eq!(old.error, ErrorCode::RebalanceInProgress);
    assert_eq!(old.member_id, a);
}

#[test]
fn a_member_that_does_not_rejoin_in_time_is_dropped() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    let ta = parked(g.join(req(&a, &range()), uuid(0), c.at(1_000)).0);
    // b keeps heartbeating but never rejoins.
    for ms in [4_000, 8_000, 12_000, 16_000, 20_000, 24_000, 28_000] {
        assert_eq!(
            g.heartbeat(&b, None, 1, c.at(ms)),
            ErrorCode::RebalanceInProgress
        );
        assert!(g.tick(c.at(ms)).is_empty());
    }
    let deadline = 1_000 + REBALANCE as u64;
    assert!(g.tick(c.at(deadline - 1)).is_empty());
    let effects = g.tick(c.at(deadline));
    let answer = join_answer(&effects, ta);
    assert_eq!(answer.generation, 2);
    assert_eq!(answer.members.len(), 1);
    assert_eq!(g.member_count(), 1);
    assert_eq!(
        g.heartbeat(&b, None, 2, c.at(deadline)),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn the_leader_not_rejoining_hands_leadership_to_one_that_did() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    let tb = parked(g.join(req(&b, &[("range", "new")]), uuid(0), c.at(0)).0);
    let effects = g.tick(c.at(REBALANCE as u64));
    let answer = join_answer(&effects, tb);
    assert_eq!(answer.leader, b);
    assert_eq!(answer.members.len(), 1);
    assert_eq!(g.leader(), Some(b.as_str()));
    assert_ne!(g.leader(), Some(a.as_str()));
}

// ----- the initial delay --------------------------------------------------------------------

#[test]
fn the_initial_delay_waits_while_new_members_keep_arriving() {
    let c = clock();
    let mut g = Group::new(settings(3_000));
    let ta = first_join(&mut g, "a", 1, c.at(0));
    assert_eq!(g.next_deadline(), Some(c.at(3_000)));
    let tb = first_join(&mut g, "b", 2, c.at(1_000));
    // Every member has rejoined, but the initial delay waits on purpose.
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    // At the deadline a member has arrived since: wait one more delay.
    assert!(g.tick(c.at(3_000)).is_empty());
    assert_eq!(g.next_deadline(), Some(c.at(6_000)));
    let effects = g.tick(c.at(6_000));
    assert_eq!(join_answer(&effects, ta).generation, 1);
    assert_eq!(join_answer(&effects, ta).members.len(), 2);
    assert_eq!(join_answer(&effects, tb).generation, 1);
}

#[test]
fn the_initial_delay_is_bounded_by_the_rebalance_timeout() {
    let c = clock();
    let mut g = Group::new(settings(3_000));
    let mut r = req("", &range());
    r.rebalance_timeout_ms = 5_000;
    let ta = parked(g.join(r.clone(), uuid(1), c.at(0)).0);
    let mut t = 0;
    let mut n = 2;
    // Members keep arriving just before each deadline.
    loop {
        let deadline = g.next_deadline().expect("a join deadline");
        let ms = deadline.duration_since(c.0).as_millis() as u64;
        assert!(ms <= 5_000, "waited past the rebalance timeout: {ms}");
        g.join(r.clone(), uuid(n), c.at(ms.saturating_sub(1)));
        n += 1;
        let effects = g.tick(c.at(ms));
        t += 1;
        if !effects.is_empty() {
            assert_eq!(join_answer(&effects, ta).generation, 1);
            break;
        }
        assert!(t < 10, "the initial delay never ended");
    }
    assert_eq!(g.state(), GroupState::CompletingRebalance);
}

#[test]
fn a_deadline_set_during_a_tick_waits_for_the_next_tick() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let ta = first_join(&mut g, "a", 1, c.at(0));
    let tb = first_join(&mut g, "b", 2, c.at(0));
    // b arrived after the (zero) initial delay was set: the first tick extends it, by zero.
    let effects = g.tick(c.at(0));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(g.next_deadline(), Some(c.at(0)));
    // A third member still makes it into the first generation.
    let tc = first_join(&mut g, "c", 3, c.at(0));
    assert!(g.tick(c.at(0)).is_empty());
    let effects = g.tick(c.at(0));
    for t in [ta, tb, tc] {
        assert_eq!(join_answer(&effects, t).generation, 1);
    }
}

// ----- syncing ------------------------------------------------------------------------------

#[test]
fn the_leaders_sync_hands_out_assignments_and_persists_the_group() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let ta = first_join(&mut g, "a", 1, c.at(0));
    let tb = first_join(&mut g, "b", 2, c.at(0));
    let effects = settle(&mut g, c.at(0));
    let (a, b) = (
        join_answer(&effects, ta).member_id,
        join_answer(&effects, tb).member_id,
    );
    // The follower's sync waits for the leader's.
    let (reply, effects) = g.sync(sync_req(&b, 1, &[]), c.at(10));
    let follower = parked(reply);
    assert!(effects.is_empty());
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    let (reply, effects) = g.sync(sync_req(&a, 1, &[(&a, "A"), (&b, "B")]), c.at(20));
    let leader = parked(reply);
    assert_eq!(g.state(), GroupState::Stable);
    let (la, fb) = (
        sync_answer(&effects, leader),
        sync_answer(&effects, follower),
    );
    assert_eq!(
        (la.error, la.assignment),
        (ErrorCode::None, Bytes::from("A"))
    );
    assert_eq!(
        (fb.error, fb.assignment),
        (ErrorCode::None, Bytes::from("B"))
    );
    assert_eq!(fb.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(fb.protocol_name.as_deref(), Some("range"));
    let written = records(&effects);
    assert_eq!(written.len(), 1);
    let r = &written[0];
    assert_eq!(r.generation, 1);
    assert_eq!(r.protocol.as_deref(), Some("range"));
    assert_eq!(r.leader.as_deref(), Some(a.as_str()));
    assert_eq!(r.current_state_timestamp, 0, "the shell stamps the time");
    assert_eq!(r.members.len(), 2);
    assert_eq!(r.members[1].assignment, "B");
    assert_eq!(r.members[1].subscription, "sub");
    assert_eq!(r.members[1].session_timeout_ms, SESSION);
    assert_eq!(r.members[1].rebalance_timeout_ms, REBALANCE);
    // Every member synced: no sync deadline is left, only sessions.
    assert_eq!(g.next_deadline(), Some(c.at(10 + SESSION as u64)));
    // A sync in a Stable group answers with the member's assignment.
    let again = now(g.sync(sync_req(&b, 1, &[]), c.at(30)).0);
    assert_eq!(again.assignment, "B");
}

#[test]
fn sync_refusals() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    let code = |g: &mut Group, r: SyncRequest| now(g.sync(r, c.at(1)).0).error;
    assert_eq!(
        code(&mut g, sync_req("ghost", 1, &[])),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        code(&mut g, sync_req(&a, 0, &[])),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        code(&mut g, sync_req(&a, 2, &[])),
        ErrorCode::IllegalGeneration
    );
    let mut r = sync_req(&a, 1, &[]);
    r.protocol_name = Some("roundrobin".into());
    assert_eq!(code(&mut g, r), ErrorCode::InconsistentGroupProtocol);
    let mut r = sync_req(&a, 1, &[]);
    r.protocol_type = Some("connect".into());
    assert_eq!(code(&mut g, r), ErrorCode::InconsistentGroupProtocol);
    let mut r = sync_req(&a, 1, &[]);
    r.protocol_type = Some("consumer".into());
    r.protocol_name = Some("range".into());
    assert_eq!(code(&mut g, r), ErrorCode::None);
    // During a rebalance.
    parked(g.join(req(&a, &range()), uuid(0), c.at(2)).0);
    assert_eq!(
        code(&mut g, sync_req(&b, 1, &[])),
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn a_rebalance_answers_parked_syncs_with_rebalance_in_progress() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let ta = first_join(&mut g, "a", 1, c.at(0));
    first_join(&mut g, "b", 2, c.at(0));
    let effects = settle(&mut g, c.at(0));
    let a = join_answer(&effects, ta).member_id;
    let b = id("b", 2);
    let follower = parked(g.sync(sync_req(&b, 1, &[]), c.at(1)).0);
    // The leader leaves instead of syncing.
    let (codes, effects) = g.leave(vec![(a, None)], c.at(2));
    assert_eq!(codes, Ok(vec![ErrorCode::None]));
    assert_eq!(
        sync_answer(&effects, follower).error,
        ErrorCode::RebalanceInProgress
    );
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn a_member_that_never_syncs_is_evicted_and_the_group_rebalances() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let ta = first_join(&mut g, "a", 1, c.at(0));
    first_join(&mut g, "b", 2, c.at(0));
    let effects = settle(&mut g, c.at(0));
    let a = join_answer(&effects, ta).member_id;
    let (reply, _) = g.sync(sync_req(&a, 1, &[(&a, "A")]), c.at(1));
    parked(reply);
    assert_eq!(g.state(), GroupState::Stable);
    // a heartbeats; b never syncs.
    for ms in [5_000, 10_000, 15_000, 20_000, 25_000] {
        assert_eq!(g.heartbeat(&a, None, 1, c.at(ms)), ErrorCode::None);
    }
    assert!(g.tick(c.at(REBALANCE as u64 - 1)).is_empty());
    g.tick(c.at(REBALANCE as u64));
    assert_eq!(g.member_count(), 1);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(&id("b", 2), None, 1, c.at(REBALANCE as u64)),
        ErrorCode::UnknownMemberId
    );
}

// ----- sessions -----------------------------------------------------------------------------

#[test]
fn heartbeats_keep_a_session_and_silence_ends_it() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    assert_eq!(g.next_deadline(), Some(c.at(SESSION as u64)));
    assert_eq!(g.heartbeat(&a, None, 1, c.at(9_000)), ErrorCode::None);
    assert_eq!(g.heartbeat(&b, None, 1, c.at(5_000)), ErrorCode::None);
    assert!(g.tick(c.at(SESSION as u64)).is_empty(), "nobody is due yet");
    assert_eq!(g.next_deadline(), Some(c.at(15_000)));
    assert_eq!(g.heartbeat(&a, None, 1, c.at(14_000)), ErrorCode::None);
    // b falls silent: its session ends, and a learns of the rebalance.
    g.tick(c.at(15_000));
    assert_eq!(g.member_count(), 1);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(&a, None, 1, c.at(15_001)),
        ErrorCode::RebalanceInProgress
    );
    assert_eq!(
        g.heartbeat(&b, None, 1, c.at(15_001)),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn a_valid_commit_counts_as_a_heartbeat() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    assert_eq!(g.validate_commit(&a, None, 1, c.at(9_000)), ErrorCode::None);
    assert_eq!(g.heartbeat(&b, None, 1, c.at(9_000)), ErrorCode::None);
    g.tick(c.at(SESSION as u64));
    assert_eq!(g.member_count(), 2);
    assert_eq!(g.state(), GroupState::Stable);
}

#[test]
fn a_parked_member_is_not_expired_by_its_session() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    let ta = parked(g.join(req(&a, &range()), uuid(0), c.at(1_000)).0);
    // b heartbeats; a waits in its join past its session timeout.
    for ms in (2_000..=REBALANCE as u64).step_by(2_000) {
        g.heartbeat(&b, None, 1, c.at(ms));
        assert!(g.tick(c.at(ms)).is_empty());
    }
    assert_eq!(g.member_count(), 2);
    let effects = g.tick(c.at(1_000 + REBALANCE as u64));
    // b did not rejoin: it is out, a leads generation 2.
    assert_eq!(join_answer(&effects, ta).generation, 2);
    assert_eq!(g.member_count(), 1);
}

#[test]
fn heartbeat_codes() {
    let c = clock();
    let (mut g, a, _b) = stable_pair(&c);
    assert_eq!(g.heartbeat(&a, None, 1, c.at(1)), ErrorCode::None);
    assert_eq!(
        g.heartbeat("ghost", None, 1, c.at(1)),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        g.heartbeat(&a, None, 7, c.at(1)),
        ErrorCode::IllegalGeneration
    );
    // While completing, a heartbeat is fine.
    let mut g = Group::new(settings(0));
    first_join(&mut g, "a", 1, c.at(0));
    g.tick(c.at(0));
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    assert_eq!(g.heartbeat(&id("a", 1), None, 1, c.at(1)), ErrorCode::None);
}

// ----- leaving ------------------------------------------------------------------------------

#[test]
fn the_last_member_leaving_empties_the_group_and_persists_it() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    let (codes, effects) = g.leave(vec![(a.clone(), None), ("ghost".into(), None)], c.at(1));
    assert_eq!(codes, Ok(vec![ErrorCode::None, ErrorCode::UnknownMemberId]));
    assert!(records(&effects).is_empty());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    let (codes, effects) = g.leave(vec![(b, None)], c.at(2));
    assert_eq!(codes, Ok(vec![ErrorCode::None]));
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.generation(), 2, "the generation moves on");
    let written = records(&effects);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].generation, 2);
    assert!(written[0].members.is_empty());
    assert_eq!(written[0].protocol, None);
    assert_eq!(g.next_deadline(), None);
    // An empty group answers member checks as Kafka does.
    assert_eq!(
        g.heartbeat(&a, None, 2, c.at(3)),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        now(g.sync(sync_req(&a, 2, &[]), c.at(3)).0).error,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn a_removed_members_parked_join_is_answered_unknown_member() {
    let c = clock();
    let (mut g, a, b) = stable_pair(&c);
    let ta = parked(g.join(req(&a, &range()), uuid(0), c.at(1)).0);
    // a leaves while its join is parked: the client is told to start over.
    let (codes, effects) = g.leave(vec![(a, None)], c.at(2));
    assert_eq!(codes, Ok(vec![ErrorCode::None]));
    let answer = join_answer(&effects, ta);
    assert_eq!(answer.error, ErrorCode::UnknownMemberId);
    assert_eq!(answer.member_id, "");
    // b, which has not rejoined, now leads; the join phase waits for it.
    assert_eq!(g.leader(), Some(b.as_str()));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    let (reply, effects) = g.join(req(&b, &range()), uuid(0), c.at(3));
    let answer = join_answer(&effects, parked(reply));
    assert_eq!(answer.generation, 2);
    assert_eq!(answer.leader, b);
}

#[test]
fn leave_after_delete_is_refused_whole() {
    let c = clock();
    let mut g = Group::new(settings(0));
    assert_eq!(g.delete_if_empty(), Ok(()));
    assert_eq!(
        g.leave(vec![("a".into(), None)], c.at(0)).0,
        Err(ErrorCode::CoordinatorNotAvailable)
    );
}

// ----- static membership ---------------------------------------------------------------------

/// A Stable group of one static member, instance "i", formed at 0 ms.
fn stable_static(c: &Clock) -> (Group, String) {
    let mut g = Group::new(settings(0));
    let t = parked(g.join(static_req("", "i"), uuid(1), c.at(0)).0);
    let effects = g.tick(c.at(0));
    let member = join_answer(&effects, t).member_id;
    assert_eq!(member, format!("i-{}", uuid(1)));
    parked(g.sync(sync_req(&member, 1, &[(&member, "A")]), c.at(0)).0);
    assert_eq!(g.state(), GroupState::Stable);
    (g, member)
}

#[test]
fn a_static_member_rejoining_without_its_id_takes_a_new_one_without_a_rebalance() {
    let c = clock();
    let (mut g, old) = stable_static(&c);
    let (reply, effects) = g.join(static_req("", "i"), uuid(2), c.at(100));
    let t = parked(reply);
    let answer = join_answer(&effects, t);
    let new = format!("i-{}", uuid(2));
    assert_eq!(answer.error, ErrorCode::None);
    assert_eq!(answer.member_id, new);
    assert_eq!(answer.generation, 1);
    assert_eq!(
        answer.leader, old,
        "the leader id stays: no pointless assignment"
    );
    assert_eq!(g.state(), GroupState::Stable);
    let written = records(&effects);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].members[0].member_id, new);
    assert_eq!(written[0].members[0].assignment, "A");
    // The old id is fenced; the new one works and keeps the assignment.
    let instance = Some("i");
    assert_eq!(
        g.heartbeat(&old, instance, 1, c.at(200)),
        ErrorCode::FencedInstanceId
    );
    assert_eq!(g.heartbeat(&new, instance, 1, c.at(200)), ErrorCode::None);
    let mut r = sync_req(&old, 1, &[]);
    r.group_instance_id = Some("i".into());
    assert_eq!(
        now(g.sync(r, c.at(200)).0).error,
        ErrorCode::FencedInstanceId
    );
    let mut r = sync_req(&new, 1, &[]);
    r.group_instance_id = Some("i".into());
    assert_eq!(now(g.sync(r, c.at(200)).0).assignment, "A");
    assert_eq!(
        g.validate_commit(&old, instance, 1, c.at(200)),
        ErrorCode::FencedInstanceId
    );
    assert_eq!(
        now(g.join(static_req(&old, "i"), uuid(3), c.at(200)).0).error,
        ErrorCode::FencedInstanceId
    );
    assert_eq!(
        g.leave(vec![(old, Some("i".into()))], c.at(200)).0,
        Ok(vec![ErrorCode::FencedInstanceId])
    );
}

#[test]
fn a_static_member_changing_its_protocols_rebalances() {
    let c = clock();
    let (mut g, _old) = stable_static(&c);
    let mut r = static_req("", "i");
    r.protocols = vec![
        ("roundrobin".into(), Bytes::new()),
        ("range".into(), Bytes::new()),
    ];
    let (reply, effects) = g.join(r, uuid(2), c.at(1));
    let t = parked(reply);
    // Alone in the group, it completes the join phase at once.
    let answer = join_answer(&effects, t);
    assert_eq!(answer.generation, 2);
    assert_eq!(answer.protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn a_static_rejoin_fences_the_old_ids_parked_join() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let ts = parked(g.join(static_req("", "i"), uuid(1), c.at(0)).0);
    let td = first_join(&mut g, "d", 2, c.at(0));
    let effects = settle(&mut g, c.at(0));
    let (old, d) = (
        join_answer(&effects, ts).member_id,
        join_answer(&effects, td).member_id,
    );
    parked(g.sync(sync_req(&old, 1, &[]), c.at(0)).0);
    now(g.sync(sync_req(&d, 1, &[]), c.at(0)).0);
    // The static leader rejoins and parks, waiting for d.
    let first = parked(g.join(static_req(&old, "i"), uuid(0), c.at(1)).0);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    // The instance comes back with no id: the old id's join is fenced.
    let (reply, effects) = g.join(static_req("", "i"), uuid(5), c.at(2));
    let second = parked(reply);
    let fenced = join_answer(&effects, first);
    assert_eq!(fenced.error, ErrorCode::FencedInstanceId);
    assert_eq!(fenced.member_id, old);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    let (reply, effects) = g.join(req(&d, &range()), uuid(0), c.at(3));
    parked(reply);
    let answer = join_answer(&effects, second);
    let new = format!("i-{}", uuid(5));
    assert_eq!(answer.member_id, new);
    assert_eq!(answer.generation, 2);
    assert_eq!(answer.leader, new, "the leader's new id leads");
}

#[test]
fn a_static_member_stays_through_a_join_phase_it_misses_until_its_session_ends() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let ts = parked(g.join(static_req("", "i"), uuid(1), c.at(0)).0);
    let td = first_join(&mut g, "d", 2, c.at(0));
    let effects = settle(&mut g, c.at(0));
    let (s, d) = (
        join_answer(&effects, ts).member_id,
        join_answer(&effects, td).member_id,
    );
    parked(g.sync(sync_req(&s, 1, &[]), c.at(0)).0);
    now(g.sync(sync_req(&d, 1, &[]), c.at(0)).0);
    // d rejoins; the static member stays silent through the join phase.
    let td = parked(g.join(req(&d, &[("range", "new")]), uuid(0), c.at(1_000)).0);
    let effects = g.tick(c.at(SESSION as u64 - 1));
    assert!(effects.is_empty());
    // Its session ends first, which completes the join phase without it.
    let effects = g.tick(c.at(SESSION as u64));
    let answer = join_answer(&effects, td);
    assert_eq!(answer.generation, 2);
    assert_eq!(answer.members.len(), 1);
    assert_eq!(g.member_count(), 1);
}

#[test]
fn a_static_member_with_a_long_session_stays_in_the_next_generation_without_rejoining() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let mut r = static_req("", "i");
    r.session_timeout_ms = 60_000;
    let ts = parked(g.join(r, uuid(1), c.at(0)).0);
    let td = first_join(&mut g, "d", 2, c.at(0));
    let effects = settle(&mut g, c.at(0));
    let (s, d) = (
        join_answer(&effects, ts).member_id,
        join_answer(&effects, td).member_id,
    );
    parked(g.sync(sync_req(&s, 1, &[]), c.at(0)).0);
    now(g.sync(sync_req(&d, 1, &[]), c.at(0)).0);
    let td = parked(g.join(req(&d, &[("range", "new")]), uuid(0), c.at(1_000)).0);
    for ms in (5_000..=30_000).step_by(5_000) {
        assert!(g.tick(c.at(ms)).is_empty());
        g.heartbeat(&d, None, 1, c.at(ms));
    }
    let effects = g.tick(c.at(1_000 + REBALANCE as u64));
    let answer = join_answer(&effects, td);
    assert_eq!(answer.generation, 2);
    assert_eq!(answer.leader, d, "the leader must be one that rejoined");
    let members: Vec<_> = answer.members.iter().map(|m| m.member_id.clone()).collect();
    assert_eq!(members, vec![s.clone(), d.clone()]);
    assert_eq!(
        g.heartbeat(&s, Some("i"), 1, c.at(31_001)),
        ErrorCode::IllegalGeneration
    );
}

#[test]
fn leave_by_instance_id_alone() {
    let c = clock();
    let (mut g, _member) = stable_static(&c);
    assert_eq!(
        g.leave(vec![(String::new(), Some("other".into()))], c.at(1))
            .0,
        Ok(vec![ErrorCode::UnknownMemberId])
    );
    let (codes, effects) = g.leave(vec![(String::new(), Some("i".into()))], c.at(1));
    assert_eq!(codes, Ok(vec![ErrorCode::None]));
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(records(&effects).len(), 1);
    // The instance id is free again: a new member takes it.
    let t = parked(g.join(static_req("", "i"), uuid(9), c.at(2)).0);
    let effects = g.tick(c.at(2));
    assert_eq!(join_answer(&effects, t).member_id, format!("i-{}", uuid(9)));
}

// ----- protocol selection ---------------------------------------------------------------------

#[test]
fn the_protocol_with_most_first_choices_wins_ties_go_to_the_leader() {
    let c = clock();
    let mut g = Group::new(settings(0));
    let ta = parked(
        g.join(req("", &[("range", ""), ("sticky", "")]), uuid(1), c.at(0))
            .0,
    );
    g.join(req("", &[("sticky", ""), ("range", "")]), uuid(2), c.at(0));
    g.join(req("", &[("sticky", ""), ("range", "")]), uuid(3), c.at(0));
    g.tick(c.at(0));
    let effects = g.tick(c.at(0));
    assert_eq!(
        join_answer(&effects, ta).protocol_name.as_deref(),
        Some("sticky")
    );

    let mut g = Group::new(settings(0));
    let ta = parked(
        g.join(req("", &[("range", ""), ("sticky", "")]), uuid(1), c.at(0))
            .0,
    );
    g.join(req("", &[("sticky", ""), ("range", "")]), uuid(2), c.at(0));
    g.tick(c.at(0));
    let effects = g.tick(c.at(0));
    assert_eq!(
        join_answer(&effects, ta).protocol_name.as_deref(),
        Some("range")
    );

    // Only protocols every member supports count.
    let mut g = Group::new(settings(0));
    let ta = parked(g.join(req("", &[("a", ""), ("b", "")]), uuid(1), c.at(0)).0);
    g.join(req("", &[("b", ""), ("a", "")]), uuid(2), c.at(0));
    g.join(req("", &[("c", ""), ("b", "")]), uuid(3), c.at(0));
    g.tick(c.at(0));
    let effects = g.tick(c.at(0));
    assert_eq!(
        join_answer(&effects, ta).protocol_name.as_deref(),
        Some("b")
    );
    assert_eq!(join_answer(&effects, ta).members.len(), 3);
}

// ----- commits, describe, delete, restore ------------------------------------------------------

#[test]
fn commit_checks() {
    let c = clock();
    let mut g = Group::new(settings(0));
    // A simple consumer or the admin client commits into an empty group.
    assert_eq!(g.validate_commit("", None, -1, c.at(0)), ErrorCode::None);
    assert_eq!(
        g.validate_commit("x", None, 1, c.at(0)),
        ErrorCode::UnknownMemberId
    );
    first_join(&mut g, "a", 1, c.at(0));
    g.tick(c.at(0));
    let a = id("a", 1);
    assert_eq!(
        g.validate_commit(&a, None, 1, c.at(1)),
        ErrorCode::RebalanceInProgress,
        "no commits between join and sync"
    );
    assert_eq!(
        g.validate_commit(&a, None, 0, c.at(1)),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        g.validate_commit("", None, -1, c.at(1)),
        ErrorCode::UnknownMemberId,
        "a group with members takes no simple commits"
    );
    parked(g.sync(sync_req(&a, 1, &[]), c.at(1)).0);
    assert_eq!(g.validate_commit(&a, None, 1, c.at(2)), ErrorCode::None);
}

#[test]
fn describe_shows_metadata_and_assignments_only_when_stable() {
    let c = clock();
    let mut g = Group::new(settings(0));
    first_join(&mut g, "a", 1, c.at(0));
    g.tick(c.at(0));
    let d = g.describe();
    assert_eq!(d.state, GroupState::CompletingRebalance);
    assert_eq!(d.protocol_type, "consumer");
    assert_eq!(d.protocol_data, "");
    assert_eq!(d.members[0].metadata, Bytes::new());
    let (g, a, _b) = stable_pair(&c);
    let d = g.describe();
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.protocol_data, "range");
    assert_eq!(d.members[0].member_id, a);
    assert_eq!(d.members[0].client_id, "a");
    assert_eq!(d.members[0].client_host, "/127.0.0.1");
    assert_eq!(d.members[0].metadata, "sub");
    assert_eq!(d.members[0].assignment, "A");
}

#[test]
fn only_an_empty_group_is_deleted_and_a_dead_group_refuses_everything() {
    let c = clock();
    let (mut g, a, _b) = stable_pair(&c);
    assert_eq!(g.delete_if_empty(), Err(ErrorCode::NonEmptyGroup));
    let mut g = Group::new(settings(0));
    assert_eq!(g.delete_if_empty(), Ok(()));
    assert_eq!(g.state(), GroupState::Dead);
    assert_eq!(g.delete_if_empty(), Err(ErrorCode::GroupIdNotFound));
    let unavailable = ErrorCode::CoordinatorNotAvailable;
    assert_eq!(
        now(g.join(req("", &range()), uuid(1), c.at(0)).0).error,
        unavailable
    );
    assert_eq!(
        now(g.sync(sync_req(&a, 1, &[]), c.at(0)).0).error,
        unavailable
    );
    assert_eq!(g.heartbeat(&a, None, 1, c.at(0)), unavailable);
    assert_eq!(g.validate_commit(&a, None, 1, c.at(0)), unavailable);
    assert_eq!(g.next_deadline(), None);
}

#[test]
fn a_restored_group_is_stable_and_its_sessions_start_over() {
    let c = clock();
    let (g, a, b) = stable_pair(&c);
    let mut record = g.record();
    // A session below today's minimum is raised to it.
    record.members[1].session_timeout_ms = 1_000;
    let mut g = Group::restore(settings(0), record.clone(), c.at(50_000));
    assert_eq!(g.state(), GroupState::Stable);
    assert_eq!(g.generation(), 1);
    assert_eq!(g.leader(), Some(a.as_str()));
    assert_eq!(g.member_count(), 2);
    assert_eq!(g.next_deadline(), Some(c.at(56_000)));
    assert_eq!(g.heartbeat(&b, None, 1, c.at(50_001)), ErrorCode::None);
    let sync = now(g.sync(sync_req(&b, 1, &[]), c.at(50_001)).0);
    assert_eq!(sync.assignment, "B");
    assert_eq!(g.describe().members[1].metadata, "sub");

    // A leader missing from the members: the first member leads.
    record.leader = Some("gone".into());
    let g = Group::restore(settings(0), record.clone(), c.at(0));
    assert_eq!(g.leader(), Some(a.as_str()));

    // A record without members restores the generation and protocol type only.
    record.members.clear();
    let g = Group::restore(settings(0), record, c.at(0));
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.generation(), 1);
    assert_eq!(g.protocol_type(), "consumer");
    assert_eq!(g.next_deadline(), None);
}

#[test]
fn a_restored_static_member_is_known_by_its_instance() {
    let c = clock();
    let (g, old) = stable_static(&c);
    let mut g = Group::restore(settings(0), g.record(), c.at(0));
    let (reply, effects) = g.join(static_req("", "i"), uuid(4), c.at(1));
    let answer = join_answer(&effects, parked(reply));
    assert_eq!(answer.generation, 1);
    assert_eq!(answer.leader, old);
    assert_eq!(
        g.heartbeat(&old, Some("i"), 1, c.at(2)),
        ErrorCode::FencedInstanceId
    );
}
