//! Stock clients pointed at a data directory shaped like Apache Kafka 4.0's (the metadata log of
//! `common::fixtures::kafka4`, with transactions, registrations, control batches, removed and
//! re-created topics) see exactly the topics, ids and partitions Kafka would report for it:
//! kafka-python's `describe_topics` / `describe_cluster`, confluent-kafka's `list_topics` and
//! `describe_topics` (tests/python/list_topics.py).

use crate::common;

use std::time::Duration;

use common::clients::{python, run_script};
use common::fixtures::kafka4::{kafka_4_log, SURVIVING};
use common::fixtures::CLUSTER_ID;
use common::requests::start_with_metadata;
use serde_json::{json, Map, Value};

#[test]
fn stock_clients_see_the_topics_of_a_kafka_4_data_directory() {
    let python = python(&["confluent_kafka", "kafka"]);
    let broker = start_with_metadata(&kafka_4_log(), &[]);
    let ran = run_script(
        &python,
        "tests/python/list_topics.py",
        &["--bootstrap", &broker.bootstrap()],
        Duration::from_secs(90),
        "kafka_python_topics",
    );
    let seen: Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "list_topics.py printed no JSON ({e}):\n{}\n{}",
            ran.stdout, ran.stderr
        )
    });

    println!("{}", ran.stdout.trim());

    // What Kafka reports for this directory: three topics (`doomed` removed, `phoenix` at its
    // second id), every partition led by broker 1 with replicas [1] and ISR [1].
    let partitions = |n: i32| -> Value {
        (0..n)
            .map(|p| json!([p, 1, [1], [1]]))
            .collect::<Vec<_>>()
            .into()
    };
    let mut kafka_python = Map::new();
    let mut listed = Map::new();
    let mut described = Map::new();
    for (name, id, n) in SURVIVING {
        kafka_python.insert(
            name.into(),
            json!({"error_code": 0, "is_internal": false, "partitions": partitions(n)}),
        );
        listed.insert(
            name.into(),
            json!({"error": null, "partitions": partitions(n)}),
        );
        described.insert(
            name.into(),
            json!({
                "topic_id": id.simple().to_string(),
                "is_internal": false,
                "partitions": partitions(n),
            }),
        );
    }
    let cluster = json!({
        "cluster_id": CLUSTER_ID,
        "controller_id": 1,
        "brokers": [[1, broker.addr.ip().to_string(), broker.addr.port()]],
    });

    assert_eq!(
        seen["kafka_python_topics"],
        Value::Object(kafka_python),
        "kafka-python describe_topics"
    );
    assert_eq!(
        seen["kafka_python_cluster"], cluster,
        "kafka-python describe_cluster"
    );
    assert_eq!(
        seen["confluent_topics"],
        Value::Object(listed),
        "confluent-kafka list_topics"
    );
    assert_eq!(
        seen["confluent_cluster"], cluster,
        "confluent-kafka list_topics"
    );
    assert_eq!(
        seen["confluent_described"],
        Value::Object(described),
        "confluent-kafka describe_topics"
    );
}
