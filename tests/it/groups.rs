//! The group coordinator over the raw wire: FindCoordinator, the JoinGroup/SyncGroup/Heartbeat/
//! LeaveGroup state machine (MEMBER_ID_REQUIRED, static membership, session expiry),
//! OffsetCommit/OffsetFetch (durable across a restart), ListGroups, DescribeGroups and
//! DeleteGroups.

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::groups::{commit, create_topics, fast_broker, fetch_offsets};
use common::{TestBroker, WireClient};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::delete_groups_request::DeleteGroupsRequest;
use sluice::protocol::messages::delete_groups_response::DeleteGroupsResponse;
use sluice::protocol::messages::describe_groups_request::DescribeGroupsRequest;
use sluice::protocol::messages::describe_groups_response::DescribeGroupsResponse;
use sluice::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use sluice::protocol::messages::find_coordinator_response::FindCoordinatorResponse;
use sluice::protocol::messages::heartbeat_request::HeartbeatRequest;
use sluice::protocol::messages::heartbeat_response::HeartbeatResponse;
use sluice::protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use sluice::protocol::messages::join_group_response::JoinGroupResponse;
use sluice::protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use sluice::protocol::messages::leave_group_response::LeaveGroupResponse;
use sluice::protocol::messages::list_groups_request::ListGroupsRequest;
use sluice::protocol::messages::list_groups_response::ListGroupsResponse;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use sluice::protocol::messages::offset_fetch_response::OffsetFetchResponse;
use sluice::protocol::messages::sync_group_request::{
    SyncGroupRequest, SyncGroupRequestAssignment,
};
use sluice::protocol::messages::sync_group_response::SyncGroupResponse;

const MEMBER_ID_REQUIRED: i16 = 79;
const UNKNOWN_MEMBER_ID: i16 = 25;
const ILLEGAL_GENERATION: i16 = 22;
const REBALANCE_IN_PROGRESS: i16 = 27;
const FENCED_INSTANCE_ID: i16 = 82;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REQUEST: i16 = 42;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;

fn join_request(
    member_id: &str,
    instance: Option<&str>,
    session_ms: i32,
    meta: &[u8],
) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: String::new(),
        session_timeout_ms: session_ms,
        rebalance_timeout_ms: 30_000,
        member_id: member_id.into(),
        group_instance_id: instance.map(str::to_string),
        protocol_type: "consumer".into(),
        protocols: vec![
            JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: Bytes::copy_from_slice(meta),
            },
            JoinGroupRequestProtocol {
                name: "roundrobin".into(),
                metadata: Bytes::copy_from_slice(meta),
            },
        ],
        reason: None,
    }
}

fn join(
    client: &mut WireClient,
    version: i16,
    group: &str,
    mut req: JoinGroupRequest,
) -> JoinGroupResponse {
    req.group_id = group.into();
    client.request(
        ApiKey::JoinGroup,
        version,
        |b| req.encode(b, version),
        JoinGroupResponse::decode,
    )
}

fn sync(
    client: &mut WireClient,
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
    instance: Option<&str>,
    assignments: &[(&str, &[u8])],
) -> SyncGroupResponse {
    let req = SyncGroupRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: instance.map(str::to_string),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: assignments
            .iter()
            .map(|(m, a)| SyncGroupRequestAssignment {
                member_id: m.to_string(),
                assignment: Bytes::copy_from_slice(a),
            })
            .collect(),
    };
    client.request(
        ApiKey::SyncGroup,
        version,
        |b| req.encode(b, version),
        SyncGroupResponse::decode,
    )
}

fn heartbeat(
    client: &mut WireClient,
    group: &str,
    generation: i32,
    member: &str,
    instance: Option<&str>,
) -> i16 {
    let req = HeartbeatRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: instance.map(str::to_string),
    };
    client
        .request(
            ApiKey::Heartbeat,
            4,
            |b| req.encode(b, 4),
            HeartbeatResponse::decode,
        )
        .error_code
}

fn describe(client: &mut WireClient, version: i16, groups: &[&str]) -> DescribeGroupsResponse {
    let req = DescribeGroupsRequest {
        groups: groups.iter().map(|g| g.to_string()).collect(),
        include_authorized_operations: false,
    };
    client.request(
        ApiKey::DescribeGroups,
        version,
        |b| req.encode(b, version),
        DescribeGroupsResponse::decode,
    )
}

fn list(
    client: &mut WireClient,
    version: i16,
    states: &[&str],
    types: &[&str],
) -> Vec<(String, String, String)> {
    let req = ListGroupsRequest {
        states_filter: states.iter().map(|s| s.to_string()).collect(),
        types_filter: types.iter().map(|s| s.to_string()).collect(),
    };
    let resp = client.request(
        ApiKey::ListGroups,
        version,
        |b| req.encode(b, version),
        ListGroupsResponse::decode,
    );
    assert_eq!(resp.error_code, 0);
    let mut groups: Vec<_> = resp
        .groups
        .into_iter()
        .map(|g| (g.group_id, g.protocol_type, g.group_state))
        .collect();
    groups.sort();
    groups
}

fn delete_groups(client: &mut WireClient, version: i16, groups: &[&str]) -> Vec<(String, i16)> {
    let req = DeleteGroupsRequest {
        groups_names: groups.iter().map(|g| g.to_string()).collect(),
    };
    client
        .request(
            ApiKey::DeleteGroups,
            version,
            |b| req.encode(b, version),
            DeleteGroupsResponse::decode,
        )
        .results
        .into_iter()
        .map(|r| (r.group_id, r.error_code))
        .collect()
}

/// A single member forms generation 1 and syncs its own assignment: (member id, generation).
fn form_single_member_group(client: &mut WireClient, group: &str) -> (String, i32) {
    let first = join(client, 5, group, join_request("", None, 10_000, b"meta-a"));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let joined = join(
        client,
        5,
        group,
        join_request(&first.member_id, None, 10_000, b"meta-a"),
    );
    assert_eq!(joined.error_code, 0);
    let synced = sync(
        client,
        5,
        group,
        joined.generation_id,
        &joined.member_id,
        None,
        &[(&joined.member_id, b"asg-a")],
    );
    assert_eq!(synced.error_code, 0);
    (joined.member_id, joined.generation_id)
}

#[test]
fn find_coordinator_names_this_broker_in_every_version() {
    let broker = TestBroker::start();
    let mut client = broker.connect();
    let port = i32::from(broker.addr.port());
    for version in 0..=3 {
        let req = FindCoordinatorRequest {
            key: "g".into(),
            key_type: if version == 0 { 0 } else { 1 },
            coordinator_keys: Vec::new(),
        };
        let resp = client.request(
            ApiKey::FindCoordinator,
            version,
            |b| req.encode(b, version),
            FindCoordinatorResponse::decode,
        );
        assert_eq!(resp.error_code, 0, "v{version}");
        assert_eq!(
            (resp.node_id, resp.host.as_str(), resp.port),
            (1, "127.0.0.1", port),
            "v{version}"
        );
    }
    for version in 4..=6 {
        let req = FindCoordinatorRequest {
            key: String::new(),
            key_type: 0,
            coordinator_keys: vec!["a".into(), "b".into()],
        };
        let resp = client.request(
            ApiKey::FindCoordinator,
            version,
            |b| req.encode(b, version),
            FindCoordinatorResponse::decode,
        );
        let keys: Vec<_> = resp
            .coordinators
            .iter()
            .map(|c| {
                (
                    c.key.as_str(),
                    c.node_id,
                    c.host.as_str(),
                    c.port,
                    c.error_code,
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                ("a", 1, "127.0.0.1", port, 0),
                ("b", 1, "127.0.0.1", port, 0)
            ]
        );
    }
    // Share-group keys (type 2) are not coordinated here.
    let req = FindCoordinatorRequest {
        key: String::new(),
        key_type: 2,
        coordinator_keys: vec!["s".into()],
    };
    let resp = client.request(
        ApiKey::FindCoordinator,
        6,
        |b| req.encode(b, 6),
        FindCoordinatorResponse::decode,
    );
    assert_eq!(resp.coordinators[0].error_code, INVALID_REQUEST);
}

#[test]
fn member_id_required_then_join_sync_heartbeat_commit_and_leave() {
    let broker = fast_broker(&["--set", "num.partitions=2"]);
    let mut client = broker.connect();
    create_topics(&mut client, &["t"]);
    let group = "g1";

    // v4+: a join without member id is handed one and must come back with it.
    let first = join(&mut client, 4, group, join_request("", None, 10_000, b"m"));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    assert!(
        first.member_id.starts_with("sluice-test-"),
        "{}",
        first.member_id
    );
    let joined = join(
        &mut client,
        4,
        group,
        join_request(&first.member_id, None, 10_000, b"m"),
    );
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.member_id, first.member_id);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata.as_ref(), b"m");
    let member = joined.member_id.clone();

    // Session timeouts outside the configured bounds are refused.
    let bad = join(
        &mut client,
        4,
        group,
        join_request(&member, None, 100, b"m"),
    );
    assert_eq!(bad.error_code, INVALID_SESSION_TIMEOUT);
    // A protocol type the group does not speak is refused.
    let mut other = join_request("", None, 10_000, b"m");
    other.protocol_type = "connect".into();
    assert_eq!(
        join(&mut client, 3, group, other).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );

    // Before the leader syncs the group is completing its rebalance: commits wait for it.
    let early = commit(&mut client, 8, group, 1, &member, &[("t", 0, 5, None)]);
    assert_eq!(early[0].2, REBALANCE_IN_PROGRESS);

    let synced = sync(
        &mut client,
        5,
        group,
        1,
        &member,
        None,
        &[(&member, b"assignment")],
    );
    assert_eq!(synced.error_code, 0);
    assert_eq!(synced.assignment.as_ref(), b"assignment");
    assert_eq!(synced.protocol_name.as_deref(), Some("range"));
    // A SyncGroup with a protocol name that is not the group's (v5 check).
    let mut wrong = SyncGroupRequest {
        group_id: group.into(),
        generation_id: 1,
        member_id: member.clone(),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("roundrobin".into()),
        ..SyncGroupRequest::default()
    };
    let resp = client.request(
        ApiKey::SyncGroup,
        5,
        |b| wrong.encode(b, 5),
        SyncGroupResponse::decode,
    );
    assert_eq!(resp.error_code, INCONSISTENT_GROUP_PROTOCOL);
    wrong.generation_id = 7;
    let resp = client.request(
        ApiKey::SyncGroup,
        5,
        |b| wrong.encode(b, 5),
        SyncGroupResponse::decode,
    );
    assert_eq!(resp.error_code, ILLEGAL_GENERATION);

    assert_eq!(heartbeat(&mut client, group, 1, &member, None), 0);
    assert_eq!(
        heartbeat(&mut client, group, 2, &member, None),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        heartbeat(&mut client, group, 1, "nobody", None),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        heartbeat(&mut client, "no-such-group", 1, &member, None),
        UNKNOWN_MEMBER_ID
    );

    // Commits are checked against the generation and the member.
    let ok = commit(
        &mut client,
        8,
        group,
        1,
        &member,
        &[("t", 0, 5, Some("m0")), ("t", 1, 7, None)],
    );
    assert_eq!(ok, vec![("t".into(), 0, 0), ("t".into(), 1, 0)]);
    assert_eq!(
        commit(&mut client, 8, group, 3, &member, &[("t", 0, 6, None)])[0].2,
        ILLEGAL_GENERATION
    );
    assert_eq!(
        commit(&mut client, 8, group, 1, "nobody", &[("t", 0, 6, None)])[0].2,
        UNKNOWN_MEMBER_ID
    );
    // A simple commit while the group has members is refused.
    assert_eq!(
        commit(&mut client, 8, group, -1, "", &[("t", 0, 6, None)])[0].2,
        UNKNOWN_MEMBER_ID
    );
    // Unknown partitions are refused one by one.
    let mixed = commit(
        &mut client,
        8,
        group,
        1,
        &member,
        &[("t", 9, 1, None), ("nope", 0, 1, None)],
    );
    assert!(
        mixed.iter().all(|r| r.2 == UNKNOWN_TOPIC_OR_PARTITION),
        "{mixed:?}"
    );
    // An unknown group with a generation: ILLEGAL_GENERATION before v9, GROUP_ID_NOT_FOUND in v9.
    assert_eq!(
        commit(&mut client, 8, "ghost", 1, "m", &[("t", 0, 1, None)])[0].2,
        ILLEGAL_GENERATION
    );
    assert_eq!(
        commit(&mut client, 9, "ghost", 1, "m", &[("t", 0, 1, None)])[0].2,
        GROUP_ID_NOT_FOUND
    );

    let (err, rows) = fetch_offsets(&mut client, 5, group, Some(&[("t", &[0, 1])]));
    assert_eq!(err, 0);
    assert_eq!(
        rows,
        vec![
            ("t".into(), 0, 5, Some("m0".into()), 0),
            ("t".into(), 1, 7, Some(String::new()), 0)
        ]
    );

    // LeaveGroup v3 (several members at once; one unknown) empties the group.
    let req = LeaveGroupRequest {
        group_id: group.into(),
        member_id: String::new(),
        members: vec![
            MemberIdentity {
                member_id: member.clone(),
                ..MemberIdentity::default()
            },
            MemberIdentity {
                member_id: "nobody".into(),
                ..MemberIdentity::default()
            },
        ],
    };
    let resp = client.request(
        ApiKey::LeaveGroup,
        3,
        |b| req.encode(b, 3),
        LeaveGroupResponse::decode,
    );
    assert_eq!(resp.error_code, 0);
    let codes: Vec<_> = resp
        .members
        .iter()
        .map(|m| (m.member_id.as_str(), m.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![(member.as_str(), 0), ("nobody", UNKNOWN_MEMBER_ID)]
    );
    let d = describe(&mut client, 5, &[group]);
    assert_eq!(d.groups[0].group_state, "Empty");
    assert!(d.groups[0].members.is_empty());
    // LeaveGroup v0: the one member's error is the top-level error.
    let req = LeaveGroupRequest {
        group_id: group.into(),
        member_id: member.clone(),
        members: Vec::new(),
    };
    let resp = client.request(
        ApiKey::LeaveGroup,
        0,
        |b| req.encode(b, 0),
        LeaveGroupResponse::decode,
    );
    assert_eq!(resp.error_code, UNKNOWN_MEMBER_ID);
    // Now that it is empty, a simple commit is accepted.
    assert_eq!(
        commit(&mut client, 8, group, -1, "", &[("t", 0, 6, None)])[0].2,
        0
    );
}

#[test]
fn a_silent_member_is_evicted_after_its_session_timeout() {
    let broker = fast_broker(&[]);
    let group = "evict";
    let mut a = broker.connect();
    // A joins alone (v3: no member id round trip) with a 1 s session, and syncs.
    let ja = join(&mut a, 3, group, join_request("", None, 1_000, b"a"));
    assert_eq!(ja.error_code, 0);
    assert_eq!(
        sync(
            &mut a,
            3,
            group,
            ja.generation_id,
            &ja.member_id,
            None,
            &[(&ja.member_id, b"x")]
        )
        .error_code,
        0
    );

    // B joins: the group prepares a rebalance and B's join waits for A to rejoin.
    let addr = broker.addr;
    let b_thread = std::thread::spawn(move || {
        let mut b = WireClient::connect(addr);
        let started = Instant::now();
        let jb = join(&mut b, 3, group, join_request("", None, 10_000, b"b"));
        (jb, started.elapsed())
    });
    // A hears about the rebalance on its heartbeat (bounded wait for B's join to land)...
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut code = 0;
    while Instant::now() < deadline {
        code = heartbeat(&mut a, group, ja.generation_id, &ja.member_id, None);
        if code != 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(code, REBALANCE_IN_PROGRESS);
    // ...then goes silent. Its session (1 s) runs out and B's join completes without it.
    let (jb, waited) = b_thread.join().expect("B thread");
    assert_eq!(jb.error_code, 0);
    assert_eq!(jb.generation_id, ja.generation_id + 1);
    assert_eq!(jb.leader, jb.member_id);
    let ids: Vec<_> = jb.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids, vec![jb.member_id.as_str()]);
    assert!(
        waited >= Duration::from_millis(800),
        "B waited {waited:?}: A must be given its session"
    );
    assert!(
        waited < Duration::from_secs(10),
        "B waited {waited:?}: eviction, not the rebalance timeout"
    );
    assert_eq!(
        heartbeat(&mut a, group, ja.generation_id, &ja.member_id, None),
        UNKNOWN_MEMBER_ID
    );
    assert!(broker.wait_for_log("member session expired", Duration::from_secs(5)));
}

#[test]
fn the_rebalance_timeout_evicts_members_that_do_not_rejoin() {
    let broker = fast_broker(&[]);
    let group = "laggard";
    let mut a = broker.connect();
    let mut req_a = join_request("", None, 30_000, b"a");
    req_a.rebalance_timeout_ms = 1_000;
    let ja = join(&mut a, 3, group, req_a);
    assert_eq!(
        sync(&mut a, 3, group, ja.generation_id, &ja.member_id, None, &[]).error_code,
        0
    );
    // A keeps heartbeating (its session stays alive) but never rejoins: after the rebalance
    // timeout (1 s, A's) the join phase completes without it.
    let addr = broker.addr;
    let b_thread = std::thread::spawn(move || {
        let mut b = WireClient::connect(addr);
        let mut req_b = join_request("", None, 30_000, b"b");
        req_b.rebalance_timeout_ms = 1_000;
        let started = Instant::now();
        (join(&mut b, 3, group, req_b), started.elapsed())
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut evicted = false;
    while Instant::now() < deadline && !b_thread.is_finished() {
        let code = heartbeat(&mut a, group, ja.generation_id, &ja.member_id, None);
        if code == UNKNOWN_MEMBER_ID {
            evicted = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (jb, waited) = b_thread.join().expect("B thread");
    assert_eq!(jb.error_code, 0);
    assert_eq!(jb.members.len(), 1);
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    assert!(
        evicted
            || heartbeat(&mut a, group, ja.generation_id, &ja.member_id, None) == UNKNOWN_MEMBER_ID
    );
}

#[test]
fn static_member_rejoins_without_a_rebalance_and_fences_its_old_id() {
    let broker = fast_broker(&[]);
    let group = "static";
    let mut c = broker.connect();
    // A static member gets its id at once (no MEMBER_ID_REQUIRED) and leads.
    let j1 = join(
        &mut c,
        5,
        group,
        join_request("", Some("inst-1"), 10_000, b"s"),
    );
    assert_eq!(j1.error_code, 0);
    assert!(j1.member_id.starts_with("inst-1-"), "{}", j1.member_id);
    let s1 = sync(
        &mut c,
        5,
        group,
        j1.generation_id,
        &j1.member_id,
        Some("inst-1"),
        &[(&j1.member_id, b"mine")],
    );
    assert_eq!(s1.error_code, 0);

    // The process restarts: same instance id, no member id. It gets a new id in the same
    // generation; the leader id stays the old one so it does not re-run the assignment.
    let j2 = join(
        &mut c,
        5,
        group,
        join_request("", Some("inst-1"), 10_000, b"s"),
    );
    assert_eq!(j2.error_code, 0);
    assert_ne!(j2.member_id, j1.member_id);
    assert_eq!(j2.generation_id, j1.generation_id, "no rebalance");
    assert_eq!(j2.leader, j1.member_id);
    assert!(j2.members.is_empty());
    // Its assignment is still there.
    let s2 = sync(
        &mut c,
        5,
        group,
        j2.generation_id,
        &j2.member_id,
        Some("inst-1"),
        &[],
    );
    assert_eq!(s2.error_code, 0);
    assert_eq!(s2.assignment.as_ref(), b"mine");
    // The old member id is fenced.
    assert_eq!(
        heartbeat(
            &mut c,
            group,
            j1.generation_id,
            &j1.member_id,
            Some("inst-1")
        ),
        FENCED_INSTANCE_ID
    );
    assert_eq!(
        heartbeat(
            &mut c,
            group,
            j2.generation_id,
            &j2.member_id,
            Some("inst-1")
        ),
        0
    );
    let fenced = join(
        &mut c,
        5,
        group,
        join_request(&j1.member_id, Some("inst-1"), 10_000, b"s"),
    );
    assert_eq!(fenced.error_code, FENCED_INSTANCE_ID);
    let d = describe(&mut c, 5, &[group]);
    assert_eq!(d.groups[0].group_state, "Stable");
    assert_eq!(d.groups[0].members.len(), 1);
    assert_eq!(
        d.groups[0].members[0].group_instance_id.as_deref(),
        Some("inst-1")
    );
    assert_eq!(d.groups[0].members[0].member_id, j2.member_id);
    // LeaveGroup v3 by instance id alone removes it.
    let req = LeaveGroupRequest {
        group_id: group.into(),
        member_id: String::new(),
        members: vec![MemberIdentity {
            member_id: String::new(),
            group_instance_id: Some("inst-1".into()),
            reason: None,
        }],
    };
    let resp = client_leave(&mut c, req);
    assert_eq!(resp.members[0].error_code, 0);
    assert_eq!(describe(&mut c, 5, &[group]).groups[0].group_state, "Empty");
}

fn client_leave(c: &mut WireClient, req: LeaveGroupRequest) -> LeaveGroupResponse {
    c.request(
        ApiKey::LeaveGroup,
        5,
        |b| req.encode(b, 5),
        LeaveGroupResponse::decode,
    )
}

#[test]
fn list_describe_and_delete_groups() {
    let broker = fast_broker(&["--set", "num.partitions=1"]);
    let mut c = broker.connect();
    create_topics(&mut c, &["lt"]);
    let (member, generation) = form_single_member_group(&mut c, "busy");
    // A simple consumer's commit creates an Empty group that only stores offsets.
    assert_eq!(
        commit(&mut c, 2, "offsets-only", -1, "", &[("lt", 0, 3, None)])[0].2,
        0
    );

    for version in 0..=3 {
        let groups = list(&mut c, version, &[], &[]);
        let ids: Vec<_> = groups
            .iter()
            .map(|g| (g.0.as_str(), g.1.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec![("busy", "consumer"), ("offsets-only", "")],
            "v{version}"
        );
    }
    let all = list(&mut c, 4, &[], &[]);
    assert_eq!(
        all,
        vec![
            ("busy".into(), "consumer".into(), "Stable".into()),
            ("offsets-only".into(), "".into(), "Empty".into())
        ]
    );
    assert_eq!(list(&mut c, 4, &["stable"], &[]).len(), 1);
    assert_eq!(
        list(&mut c, 5, &["Empty"], &["classic"])[0].0,
        "offsets-only"
    );
    assert!(list(&mut c, 5, &[], &["consumer"]).is_empty());

    for version in 0..=5 {
        let d = describe(&mut c, version, &["busy", "missing"]);
        let busy = &d.groups[0];
        assert_eq!(
            (busy.error_code, busy.group_state.as_str()),
            (0, "Stable"),
            "v{version}"
        );
        assert_eq!(
            (busy.protocol_type.as_str(), busy.protocol_data.as_str()),
            ("consumer", "range")
        );
        assert_eq!(busy.members.len(), 1);
        let m = &busy.members[0];
        assert_eq!(m.member_id, member);
        assert_eq!(m.client_id, "sluice-test");
        assert_eq!(m.client_host, "/127.0.0.1");
        assert_eq!(m.member_metadata.as_ref(), b"meta-a");
        assert_eq!(m.member_assignment.as_ref(), b"asg-a");
        let missing = &d.groups[1];
        assert_eq!(
            (missing.error_code, missing.group_state.as_str()),
            (0, "Dead")
        );
    }

    for version in 0..=2 {
        let results = delete_groups(&mut c, version, &["busy", "never-existed"]);
        assert_eq!(
            results,
            vec![
                ("busy".into(), NON_EMPTY_GROUP),
                ("never-existed".into(), GROUP_ID_NOT_FOUND)
            ]
        );
    }
    assert_eq!(
        delete_groups(&mut c, 2, &["offsets-only"]),
        vec![("offsets-only".into(), 0)]
    );
    let (_, rows) = fetch_offsets(&mut c, 3, "offsets-only", Some(&[("lt", &[0])]));
    assert_eq!(
        rows,
        vec![("lt".into(), 0, -1, Some(String::new()), 0)],
        "offsets deleted with the group"
    );
    assert_eq!(list(&mut c, 4, &[], &[]).len(), 1);
    assert_eq!(generation, 1);
    // Once its member leaves, "busy" can go too.
    let req = LeaveGroupRequest {
        group_id: "busy".into(),
        member_id: member,
        members: Vec::new(),
    };
    let resp = c.request(
        ApiKey::LeaveGroup,
        1,
        |b| req.encode(b, 1),
        LeaveGroupResponse::decode,
    );
    assert_eq!(resp.error_code, 0);
    assert_eq!(
        delete_groups(&mut c, 1, &["busy"]),
        vec![("busy".into(), 0)]
    );
    assert!(list(&mut c, 4, &[], &[]).is_empty());
}

#[test]
fn committed_offsets_survive_a_restart_and_are_fetched_in_every_version() {
    let mut broker = fast_broker(&["--set", "num.partitions=3"]);
    let mut c = broker.connect();
    create_topics(&mut c, &["a", "b"]);
    let results = commit(
        &mut c,
        2,
        "durable",
        -1,
        "",
        &[
            ("a", 0, 10, Some("meta-a0")),
            ("a", 2, 12, None),
            ("b", 1, 21, Some("x")),
        ],
    );
    assert!(results.iter().all(|r| r.2 == 0), "{results:?}");
    // A later commit of the same partition replaces the earlier one.
    assert_eq!(
        commit(
            &mut c,
            8,
            "durable",
            -1,
            "",
            &[("a", 0, 11, Some("meta-a0'"))]
        )[0]
        .2,
        0
    );
    assert_eq!(
        commit(&mut c, 2, "other", -1, "", &[("b", 0, 99, None)])[0].2,
        0
    );
    drop(c);

    broker.restart();
    let mut c = broker.connect();
    // v1 (the oldest Kafka 4 serves): the partitions asked for; nothing committed is -1 with
    // no error.
    for version in 1..=1 {
        let (_, rows) = fetch_offsets(&mut c, version, "durable", Some(&[("a", &[0, 1, 2])]));
        assert_eq!(
            rows,
            vec![
                ("a".into(), 0, 11, Some("meta-a0'".into()), 0),
                ("a".into(), 1, -1, Some(String::new()), 0),
                ("a".into(), 2, 12, Some(String::new()), 0)
            ],
            "v{version}"
        );
    }
    // v2–v7: topics null means every committed partition of the group.
    for version in 2..=7 {
        let (err, rows) = fetch_offsets(&mut c, version, "durable", None);
        assert_eq!(err, 0);
        let got: Vec<_> = rows.iter().map(|r| (r.0.as_str(), r.1, r.2)).collect();
        assert_eq!(
            got,
            vec![("a", 0, 11), ("a", 2, 12), ("b", 1, 21)],
            "v{version}"
        );
    }
    // v8+: several groups in one request.
    for version in 8..=9 {
        let req = OffsetFetchRequest {
            groups: vec![
                OffsetFetchRequestGroup {
                    group_id: "durable".into(),
                    topics: Some(vec![OffsetFetchRequestTopics {
                        topic_id: Default::default(),
                        name: "b".into(),
                        partition_indexes: vec![1],
                    }]),
                    ..OffsetFetchRequestGroup::default()
                },
                OffsetFetchRequestGroup {
                    group_id: "other".into(),
                    topics: None,
                    ..OffsetFetchRequestGroup::default()
                },
                OffsetFetchRequestGroup {
                    group_id: "unknown".into(),
                    topics: None,
                    ..OffsetFetchRequestGroup::default()
                },
            ],
            require_stable: true,
            ..OffsetFetchRequest::default()
        };
        let resp = c.request(
            ApiKey::OffsetFetch,
            version,
            |b| req.encode(b, version),
            OffsetFetchResponse::decode,
        );
        let got: Vec<_> = resp
            .groups
            .iter()
            .map(|g| {
                let rows: Vec<_> = g
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(move |p| (t.name.clone(), p.partition_index, p.committed_offset))
                    })
                    .collect();
                (g.group_id.clone(), g.error_code, rows)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("durable".into(), 0, vec![("b".into(), 1, 21)]),
                ("other".into(), 0, vec![("b".into(), 0, 99)]),
                ("unknown".into(), 0, vec![])
            ],
            "v{version}"
        );
    }
    // The groups are known after the restart (Empty: members are not kept).
    let groups = list(&mut c, 4, &[], &[]);
    assert_eq!(
        groups,
        vec![
            ("durable".into(), "".into(), "Empty".into()),
            ("other".into(), "".into(), "Empty".into())
        ]
    );
    // An unclean stop keeps acknowledged commits too (they were fsynced before the answer).
    assert_eq!(
        commit(&mut c, 8, "durable", -1, "", &[("b", 2, 222, None)])[0].2,
        0
    );
    broker.kill();
    broker.start_again();
    let mut c = broker.connect();
    let (_, rows) = fetch_offsets(&mut c, 5, "durable", Some(&[("b", &[2])]));
    assert_eq!(rows[0].2, 222);
    // In the group's partition of __consumer_offsets ("durable": Java hashCode % 50).
    let durable = "durable"
        .encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32));
    let dir = format!("__consumer_offsets-{}", durable.unsigned_abs() % 50);
    assert!(broker.data_dir.join(dir).is_dir());
}

#[test]
fn membership_survives_a_clean_restart_and_silent_members_then_expire() {
    let mut broker = fast_broker(&[]);
    let group = "kept";
    let mut c = broker.connect();
    let first = join(&mut c, 5, group, join_request("", None, 1_500, b"meta"));
    let joined = join(
        &mut c,
        5,
        group,
        join_request(&first.member_id, None, 1_500, b"meta"),
    );
    assert_eq!(joined.error_code, 0);
    let member = joined.member_id.clone();
    let s = sync(
        &mut c,
        5,
        group,
        joined.generation_id,
        &member,
        None,
        &[(&member, b"asg")],
    );
    assert_eq!(s.error_code, 0);
    drop(c);

    broker.restart();
    let mut c = broker.connect();
    // Same member, same generation: still in the group, with its assignment.
    assert_eq!(
        heartbeat(&mut c, group, joined.generation_id, &member, None),
        0
    );
    let d = describe(&mut c, 5, &[group]);
    assert_eq!(d.groups[0].group_state, "Stable");
    assert_eq!(d.groups[0].members[0].member_id, member);
    assert_eq!(d.groups[0].members[0].member_assignment.as_ref(), b"asg");
    let resync = sync(&mut c, 5, group, joined.generation_id, &member, None, &[]);
    assert_eq!(resync.assignment.as_ref(), b"asg");
    // Now silent: the restored session (1.5 s) runs out and the group empties.
    let silent_since = Instant::now();
    let deadline = silent_since + Duration::from_secs(10);
    let mut state = String::new();
    while Instant::now() < deadline {
        state = describe(&mut c, 5, &[group]).groups[0].group_state.clone();
        if state == "Empty" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(state, "Empty");
    assert!(
        silent_since.elapsed() >= Duration::from_millis(1_200),
        "{:?}",
        silent_since.elapsed()
    );
    assert_eq!(
        heartbeat(&mut c, group, joined.generation_id, &member, None),
        UNKNOWN_MEMBER_ID
    );
}

#[test]
fn every_version_of_join_sync_heartbeat_and_leave() {
    let broker = fast_broker(&[]);
    let mut c = broker.connect();
    for version in 0..=9i16 {
        let group = format!("v{version}");
        let mut joined = join(
            &mut c,
            version,
            &group,
            join_request("", None, 10_000, b"md"),
        );
        if version >= 4 {
            assert_eq!(joined.error_code, MEMBER_ID_REQUIRED, "v{version}");
            joined = join(
                &mut c,
                version,
                &group,
                join_request(&joined.member_id, None, 10_000, b"md"),
            );
        }
        assert_eq!(joined.error_code, 0, "join v{version}");
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        if version >= 7 {
            assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
        }
        let member = joined.member_id.clone();
        let sync_version = version.min(5);
        let s = sync(
            &mut c,
            sync_version,
            &group,
            1,
            &member,
            None,
            &[(&member, b"a")],
        );
        assert_eq!(
            (s.error_code, s.assignment.as_ref()),
            (0, &b"a"[..]),
            "sync v{sync_version}"
        );
        let hb_version = version.min(4);
        let req = HeartbeatRequest {
            group_id: group.clone(),
            generation_id: 1,
            member_id: member.clone(),
            group_instance_id: None,
        };
        let hb = c.request(
            ApiKey::Heartbeat,
            hb_version,
            |b| req.encode(b, hb_version),
            HeartbeatResponse::decode,
        );
        assert_eq!(hb.error_code, 0, "heartbeat v{hb_version}");
        let leave_version = version.min(5);
        let req = LeaveGroupRequest {
            group_id: group.clone(),
            member_id: member.clone(),
            members: vec![MemberIdentity {
                member_id: member.clone(),
                ..MemberIdentity::default()
            }],
        };
        let left = c.request(
            ApiKey::LeaveGroup,
            leave_version,
            |b| req.encode(b, leave_version),
            LeaveGroupResponse::decode,
        );
        assert_eq!(left.error_code, 0, "leave v{leave_version}");
        assert_eq!(
            describe(&mut c, 5, &[&group]).groups[0].group_state,
            "Empty"
        );
    }
}

#[test]
fn no_topic_can_take_the_offsets_log_directory() {
    let broker = fast_broker(&["--set", "num.partitions=1"]);
    let mut c = broker.connect();
    create_topics(&mut c, &["real"]);
    assert_eq!(
        commit(&mut c, 8, "g", -1, "", &[("real", 0, 4, None)])[0].2,
        0
    );
    // __consumer_offsets is the coordinator's topic now (created by the commit above, listed
    // as internal); the old layout's name stays reserved.
    {
        let name = "__sluice_consumer_offsets";
        let req = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(name.into()),
                ..MetadataRequestTopic::default()
            }]),
            allow_auto_topic_creation: true,
            ..MetadataRequest::default()
        };
        let resp = c.request(
            ApiKey::Metadata,
            12,
            |b| req.encode(b, 12),
            MetadataResponse::decode,
        );
        assert_eq!(resp.topics[0].error_code, 17, "{name}");
    }
    assert_eq!(
        commit(&mut c, 8, "g", -1, "", &[("real", 0, 5, None)])[0].2,
        0
    );
    let (_, rows) = fetch_offsets(&mut c, 5, "g", None);
    assert_eq!(rows[0].2, 5);
}

/// Issue 6 item 2: offsets of a deleted topic are dropped, so a topic re-created under the same
/// name starts with no committed offsets — also after a restart.
#[test]
fn deleting_a_topic_drops_its_committed_offsets() {
    use sluice::protocol::messages::delete_topics_request::DeleteTopicsRequest;
    use sluice::protocol::messages::delete_topics_response::DeleteTopicsResponse;

    let mut broker = fast_broker(&[]);
    let mut client = broker.connect();
    create_topics(&mut client, &["doomed", "kept"]);
    let committed = commit(
        &mut client,
        7,
        "standalone",
        -1,
        "",
        &[("doomed", 0, 42, None), ("kept", 0, 7, None)],
    );
    assert!(committed.iter().all(|(_, _, e)| *e == 0), "{committed:?}");

    let deleted = client.request(
        ApiKey::DeleteTopics,
        5,
        |b| {
            DeleteTopicsRequest {
                topic_names: vec!["doomed".into()],
                timeout_ms: 30_000,
                ..Default::default()
            }
            .encode(b, 5)
        },
        DeleteTopicsResponse::decode,
    );
    assert_eq!(deleted.responses[0].error_code, 0);
    create_topics(&mut client, &["doomed"]);

    let wanted: &[(&str, &[i32])] = &[("doomed", &[0]), ("kept", &[0])];
    let offsets = |c: &mut WireClient| {
        let (error, rows) = fetch_offsets(c, 7, "standalone", Some(wanted));
        assert_eq!(error, 0);
        rows.into_iter()
            .map(|(t, _, o, _, _)| (t, o))
            .collect::<Vec<_>>()
    };
    let expected = vec![("doomed".to_string(), -1), ("kept".to_string(), 7)];
    assert_eq!(offsets(&mut client), expected);
    broker.restart();
    let mut client = broker.connect();
    assert_eq!(offsets(&mut client), expected, "after a restart too");
}

/// Group actors are in the actor registry (`/actors`, with their messages counted) and the
/// `sluice_groups` / `sluice_group_members` gauges follow joins, leaves and deletions.
#[test]
fn group_actors_are_listed_and_counted() {
    let broker = TestBroker::start_with_admin(&[
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        "group.min.session.timeout.ms=200",
    ]);
    let mut c = broker.connect();
    let before = broker.admin_get("/metrics");
    assert_eq!(common::metric(&before, "sluice_groups"), Some(0.0));
    assert_eq!(common::metric(&before, "sluice_group_members"), Some(0.0));

    let mut members = Vec::new();
    for group in ["listed-a", "listed-b"] {
        let r = join(&mut c, 3, group, join_request("", None, 10_000, b"m"));
        assert_eq!(r.error_code, 0, "{group}");
        let s = sync(&mut c, 3, group, r.generation_id, &r.member_id, None, &[]);
        assert_eq!(s.error_code, 0, "{group}");
        members.push((group, r.member_id));
    }
    let metrics = broker.admin_get("/metrics");
    assert_eq!(common::metric(&metrics, "sluice_groups"), Some(2.0));
    assert_eq!(common::metric(&metrics, "sluice_group_members"), Some(2.0));
    assert_eq!(
        common::metric(
            &metrics,
            r#"sluice_actor_messages_handled_total{kind="group",actor="listed-a"}"#
        ),
        Some(2.0),
        "JoinGroup + SyncGroup\n{metrics}"
    );
    let actors: serde_json::Value =
        serde_json::from_str(&broker.admin_get("/actors")).expect("JSON");
    let mut listed: Vec<&str> = actors["actors"]
        .as_array()
        .expect("actors array")
        .iter()
        .filter(|a| a["kind"] == "group")
        .filter_map(|a| a["group_id"].as_str())
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["listed-a", "listed-b"]);

    // The member of listed-b leaves: one member left, both groups still held (one Empty).
    let (group, member) = &members[1];
    let leave = LeaveGroupRequest {
        group_id: group.to_string(),
        members: vec![MemberIdentity {
            member_id: member.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = c.request(
        ApiKey::LeaveGroup,
        3,
        |b| leave.encode(b, 3),
        LeaveGroupResponse::decode,
    );
    assert_eq!(r.error_code, 0);
    let metrics = broker.admin_get("/metrics");
    assert_eq!(common::metric(&metrics, "sluice_groups"), Some(2.0));
    assert_eq!(common::metric(&metrics, "sluice_group_members"), Some(1.0));

    // Deleting the empty group takes it out of the count.
    assert_eq!(
        delete_groups(&mut c, 2, &["listed-b"]),
        vec![("listed-b".to_string(), 0)]
    );
    let metrics = broker.admin_get("/metrics");
    assert_eq!(common::metric(&metrics, "sluice_groups"), Some(1.0));
    assert_eq!(common::metric(&metrics, "sluice_group_members"), Some(1.0));
}
