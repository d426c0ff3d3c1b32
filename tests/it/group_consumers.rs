//! librdkafka group consumers (the `rdkafka` crate) against sluice: partitions shared by a
//! group and taken over when a member leaves; a consumer restarted from committed offsets
//! continues with no loss and no duplicates, across a broker restart too.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::TopicPartitionList;

fn broker(partitions: u32) -> TestBroker {
    TestBroker::start_with(&[
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        &format!("num.partitions={partitions}"),
    ])
}

fn consumer_config(broker: &TestBroker, group: &str, client_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("client.id", client_id)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // Long sessions: a takeover within them can only come from a LeaveGroup.
        .set("session.timeout.ms", "30000")
        .set("heartbeat.interval.ms", "300")
        .set("partition.assignment.strategy", "range")
        .set("topic.metadata.refresh.interval.ms", "1000");
    c
}

/// A consumer polled on its own thread; its current assignment is published.
struct Member {
    stop: Arc<AtomicBool>,
    assignment: Arc<Mutex<BTreeSet<i32>>>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn spawn(config: ClientConfig, topic: &str) -> Member {
        let consumer: BaseConsumer = config.create().expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(BTreeSet::new()));
        let (s, a) = (stop.clone(), assignment.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: the test stops every member long before this.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                let _ = consumer.poll(Duration::from_millis(50));
                if let Ok(tpl) = consumer.assignment() {
                    let now: BTreeSet<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                    *a.lock().expect("lock") = now;
                }
            }
            // Dropping the consumer closes it: LeaveGroup.
            drop(consumer);
        });
        Member {
            stop,
            assignment,
            thread: Some(thread),
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.assignment.lock().expect("lock").clone()
    }

    fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("consumer thread");
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.close();
    }
}

/// Waits (bounded) until the members' assignments are disjoint, cover `0..partitions` and
/// have the sizes `sizes` (in any order). Returns the assignments.
fn wait_for_split(
    members: &[&Member],
    partitions: i32,
    sizes: &[usize],
    timeout: Duration,
) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + timeout;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = members.iter().map(|m| m.assignment()).collect::<Vec<_>>();
        let mut got: Vec<usize> = last.iter().map(BTreeSet::len).collect();
        got.sort_unstable();
        let mut want = sizes.to_vec();
        want.sort_unstable();
        let union: BTreeSet<i32> = last.iter().flatten().copied().collect();
        let total: usize = last.iter().map(BTreeSet::len).sum();
        if got == want && total == union.len() && union == (0..partitions).collect() {
            return last;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("assignments never became {sizes:?} over {partitions} partitions: {last:?}");
}

#[test]
fn three_consumers_share_six_partitions_and_two_take_over_when_one_leaves() {
    share_and_take_over("range");
}

/// The same with incremental cooperative rebalancing (client-side; the broker protocol is the
/// same classic one).
#[test]
fn cooperative_sticky_consumers_share_and_take_over() {
    share_and_take_over("cooperative-sticky");
}

fn share_and_take_over(strategy: &str) {
    let broker = broker(6);
    broker.connect().create_topic("shared");
    let config = |id: &str| {
        let mut c = consumer_config(&broker, "trio", id);
        c.set("partition.assignment.strategy", strategy);
        c
    };
    let a = Member::spawn(config("c-a"), "shared");
    let b = Member::spawn(config("c-b"), "shared");
    let mut c = Member::spawn(config("c-c"), "shared");
    let split = wait_for_split(&[&a, &b, &c], 6, &[2, 2, 2], Duration::from_secs(45));
    assert!(split.iter().all(|s| s.len() == 2));

    // One member closes (LeaveGroup): the other two take over all six partitions, well
    // within the 30 s session timeout, so it was the leave that did it.
    let left_at = Instant::now();
    c.close();
    let split = wait_for_split(&[&a, &b], 6, &[3, 3], Duration::from_secs(20));
    let took = left_at.elapsed();
    assert!(took < Duration::from_secs(20), "takeover took {took:?}");
    assert_eq!(split.iter().map(BTreeSet::len).sum::<usize>(), 6);
    assert!(broker.wait_for_log("member left the group", Duration::from_secs(5)));
    println!("{strategy}: takeover after LeaveGroup: {took:?}");
}

fn produce(
    broker: &TestBroker,
    topic: &str,
    partitions: i32,
    per_partition: usize,
) -> BTreeSet<String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut sent = BTreeSet::new();
    for p in 0..partitions {
        for i in 0..per_partition {
            let value = format!("p{p}-{i:04}");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match producer.send(
                    BaseRecord::<(), str>::to(topic)
                        .partition(p)
                        .payload(&value),
                ) {
                    Ok(()) => break,
                    Err((e, _)) => {
                        assert!(Instant::now() < deadline, "produce: {e}");
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
            sent.insert(value);
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    sent
}

/// Polls until `want` more messages arrived (bounded), returning their values.
fn consume(consumer: &BaseConsumer, want: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("message");
            got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    got
}

/// Nothing more arrives within `quiet` (the log is drained).
fn assert_drained(consumer: &BaseConsumer, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            panic!(
                "unexpected extra message {:?} at {}:{}",
                String::from_utf8_lossy(m.payload().unwrap_or_default()),
                m.partition(),
                m.offset()
            );
        }
    }
}

fn resume_from_committed_offsets(restart_between: bool) {
    let mut broker = broker(3);
    let topic = "orders";
    broker.connect().create_topic(topic);
    let sent = produce(&broker, topic, 3, 30);
    let group = "resume";

    let first: BaseConsumer = consumer_config(&broker, group, "first")
        .create()
        .expect("consumer");
    first.subscribe(&[topic]).expect("subscribe");
    let part1 = consume(&first, 40, Duration::from_secs(30));
    assert_eq!(part1.len(), 40);
    first
        .commit_consumer_state(CommitMode::Sync)
        .expect("sync commit");
    // What the group committed is exactly what was consumed: per partition, the next offset.
    let mut consumed_per_partition: BTreeMap<i32, i64> = BTreeMap::new();
    for v in &part1 {
        let p: i32 = v[1..2].parse().expect("partition");
        *consumed_per_partition.entry(p).or_default() += 1;
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(topic, p);
    }
    let committed = first
        .committed_offsets(tpl.clone(), Duration::from_secs(10))
        .expect("committed");
    for e in committed.elements() {
        let want = consumed_per_partition
            .get(&e.partition())
            .copied()
            .unwrap_or(0);
        match e.offset() {
            rdkafka::Offset::Offset(o) => assert_eq!(o, want, "partition {}", e.partition()),
            other => assert_eq!(want, 0, "partition {} committed {other:?}", e.partition()),
        }
    }
    drop(first);

    if restart_between {
        broker.restart();
    }

    let second: BaseConsumer = consumer_config(&broker, group, "second")
        .create()
        .expect("consumer");
    second.subscribe(&[topic]).expect("subscribe");
    let part2 = consume(&second, sent.len() - part1.len(), Duration::from_secs(30));
    assert_drained(&second, Duration::from_secs(2));
    second
        .commit_consumer_state(CommitMode::Sync)
        .expect("sync commit");
    let end = second
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed");
    let ends: Vec<_> = end.elements().iter().map(|e| e.offset()).collect();
    assert_eq!(ends, vec![rdkafka::Offset::Offset(30); 3]);
    drop(second);

    let a: BTreeSet<String> = part1.iter().cloned().collect();
    let b: BTreeSet<String> = part2.iter().cloned().collect();
    assert_eq!(
        a.len(),
        part1.len(),
        "no duplicates within the first consumer"
    );
    assert_eq!(
        b.len(),
        part2.len(),
        "no duplicates within the second consumer"
    );
    assert!(
        a.is_disjoint(&b),
        "the second consumer re-read committed records"
    );
    let all: BTreeSet<String> = a.union(&b).cloned().collect();
    assert_eq!(all, sent, "nothing lost");
}

#[test]
fn a_restarted_consumer_continues_from_its_committed_offsets() {
    resume_from_committed_offsets(false);
}

#[test]
fn committed_offsets_survive_a_broker_restart_between_consumers() {
    resume_from_committed_offsets(true);
}

/// A consumer that stays up while the broker restarts: the group comes back from the offsets
/// log with its members, so the consumer's heartbeats are still good, nothing rebalances and it
/// carries on where it was (no record read twice, none lost).
#[test]
fn a_live_consumer_carries_on_across_a_broker_restart() {
    let mut broker = broker(3);
    let topic = "survivor";
    broker.connect().create_topic(topic);
    let sent = produce(&broker, topic, 3, 30);
    let live: BaseConsumer = consumer_config(&broker, "survivors", "live")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .expect("consumer");
    live.subscribe(&[topic]).expect("subscribe");
    let before = consume(&live, 40, Duration::from_secs(30));
    assert_eq!(before.len(), 40);
    live.commit_consumer_state(CommitMode::Sync)
        .expect("sync commit");

    let restarted_at = Instant::now();
    broker.restart();
    let after = consume(&live, sent.len() - before.len(), Duration::from_secs(60));
    let resumed_in = restarted_at.elapsed();
    assert_drained(&live, Duration::from_secs(2));
    assert!(broker
        .log_lines()
        .iter()
        .any(|l| l.contains("group restored from the offsets log")));
    let rebalances: Vec<String> = broker
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("preparing to rebalance"))
        .collect();
    assert!(
        rebalances.is_empty(),
        "rebalanced after the restart: {rebalances:?}"
    );
    drop(live);

    let a: BTreeSet<String> = before.iter().cloned().collect();
    let b: BTreeSet<String> = after.iter().cloned().collect();
    assert_eq!(
        (a.len(), b.len()),
        (before.len(), after.len()),
        "no duplicates"
    );
    assert!(a.is_disjoint(&b), "committed records were read again");
    assert_eq!(
        a.union(&b).cloned().collect::<BTreeSet<_>>(),
        sent,
        "nothing lost"
    );
    println!("resumed after restart in {resumed_in:?}");
}
