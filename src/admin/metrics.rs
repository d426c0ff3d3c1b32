//! The broker-wide counters ([`crate::metrics`]) rendered in the Prometheus (OpenMetrics) text
//! format. Rendering (on a scrape) walks those atomics and the actor registry and hands the values to
//! `prometheus-client`'s text encoder through a [`Collector`], so the exposition format is the
//! crate's, not ours.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::actor::{ActorRegistry, Identity};
use crate::metrics::{Metrics, BUCKETS_US};
use crate::partition::cleaner::PartitionCleaning;

/// Values a scrape needs besides [`Metrics`].
pub struct Snapshot {
    pub metrics: Arc<Metrics>,
    pub actors: Arc<ActorRegistry>,
    pub open_connections: usize,
    /// The log cleaner's figures per `(topic, partition)` (empty when it is off).
    pub cleaner: BTreeMap<(String, i32), PartitionCleaning>,
}

/// Renders the OpenMetrics text exposition (which Prometheus scrapes natively).
pub fn render(snapshot: Snapshot) -> String {
    let mut registry = Registry::with_prefix("sluice");
    registry.register_collector(Box::new(BrokerCollector(snapshot)));
    let mut out = String::with_capacity(16 * 1024);
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

struct BrokerCollector(Snapshot);

impl std::fmt::Debug for BrokerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerCollector")
    }
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    m.encode_counter::<NoLabelSet, u64, u64>(&value, None)
}

/// A counter of seconds (a float, unlike [`counter`]).
fn seconds_counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: std::time::Duration,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    m.encode_counter::<NoLabelSet, f64, u64>(&value.as_secs_f64(), None)
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    m.encode_gauge(&value)
}

impl Collector for BrokerCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let m = &s.metrics;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);

        // Requests, per API and version.
        let used = || {
            m.apis.iter().flat_map(|api| {
                api.versions
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.count.load(Ordering::Relaxed) > 0)
                    .map(move |(v, r)| (api.key, v as i64, r))
            })
        };
        {
            let mut family = enc.encode_descriptor(
                "requests",
                "Requests answered, by API and version.",
                None,
                MetricType::Counter,
            )?;
            for (key, version, r) in used() {
                let labels = ([("api", key.name())], [("version", version)]);
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, u64, u64>(&load(&r.count), None)?;
            }
        }
        {
            let mut family = enc.encode_descriptor(
                "request_duration_seconds",
                "Time from reading a request to its response being ready, by API and version.",
                None,
                MetricType::Histogram,
            )?;
            for (key, version, r) in used() {
                let labels = ([("api", key.name())], [("version", version)]);
                let mut buckets: Vec<(f64, u64)> = BUCKETS_US
                    .iter()
                    .zip(&r.buckets)
                    .map(|(&bound, n)| (bound as f64 / 1e6, load(n)))
                    .collect();
                buckets.push((f64::INFINITY, load(&r.buckets[BUCKETS_US.len()])));
                let count = buckets.iter().map(|(_, n)| n).sum();
                family
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(
                        load(&r.sum_us) as f64 / 1e6,
                        count,
                        &buckets,
                        None,
                    )?;
            }
        }
        counter(
            &mut enc,
            "received_bytes",
            "Request bytes read (whole frames, size prefix included).",
            load(&m.bytes_received),
        )?;
        counter(
            &mut enc,
            "sent_bytes",
            "Response bytes written (size prefix included).",
            load(&m.bytes_sent),
        )?;
        seconds_counter(
            &mut enc,
            "log_append_write_seconds",
            "Time appends spent in the writes that put batches into segment files (mostly the \
             kernel copying them into the page cache).",
            crate::storage::append_write_time(),
        )?;
        seconds_counter(
            &mut enc,
            "fetch_sendfile_seconds",
            "Time Fetch responses spent in sendfile calls sending record bytes (the kernel's TCP \
             send path; over loopback it also runs the receiving socket's side).",
            crate::metrics::sendfile_time(),
        )?;
        gauge(
            &mut enc,
            "requests_inflight",
            "Requests read and not yet answered, over all connections.",
            m.requests_inflight.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut enc,
            "connections",
            "Open client connections.",
            s.open_connections as i64,
        )?;
        counter(
            &mut enc,
            "connections_accepted",
            "Client connections accepted.",
            load(&m.connections_accepted),
        )?;
        counter(
            &mut enc,
            "connections_moved",
            "Connections moved to the worker thread of the partitions their requests go to.",
            load(&m.connections_moved),
        )?;
        {
            let mut family = enc.encode_descriptor(
                "connections_refused",
                "Client connections refused at accept time, by the limit that refused them.",
                None,
                MetricType::Counter,
            )?;
            for (reason, n) in [
                ("max.connections", load(&m.refused_max)),
                ("max.connections.per.ip", load(&m.refused_per_ip)),
            ] {
                family
                    .encode_family(&[("limit", reason)])?
                    .encode_counter::<NoLabelSet, u64, u64>(&n, None)?;
            }
        }
        gauge(
            &mut enc,
            "groups",
            "Consumer groups held by the group coordinator.",
            m.groups.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut enc,
            "group_members",
            "Members over all consumer groups.",
            m.group_members.load(Ordering::Relaxed),
        )?;

        // Per actor. Connections are left out here (one series per socket would make an
        // unbounded label set); they are in `/actors` and summed in the gauges above.
        let actors: Vec<_> = s
            .actors
            .live()
            .into_iter()
            .filter(|a| !matches!(a.identity, Identity::Connection { .. }))
            .collect();
        let label = |a: &crate::actor::ActorStats| {
            [
                ("kind", a.identity.kind().to_owned()),
                ("actor", a.identity.name()),
            ]
        };
        {
            let mut family = enc.encode_descriptor(
                "actor_mailbox_depth",
                "Messages sent to the actor and not answered yet (queued plus in progress).",
                None,
                MetricType::Gauge,
            )?;
            for a in &actors {
                family.encode_family(&label(a))?.encode_gauge(&a.depth())?;
            }
        }
        {
            let mut family = enc.encode_descriptor(
                "actor_messages_handled",
                "Messages the actor has answered.",
                None,
                MetricType::Counter,
            )?;
            for a in &actors {
                family
                    .encode_family(&label(a))?
                    .encode_counter::<NoLabelSet, u64, u64>(&a.handled(), None)?;
            }
        }

        // Per partition.
        type Field = fn(&crate::actor::PartitionGauges) -> i64;
        let partition_gauges: [(&str, &str, Field); 5] = [
            (
                "partition_log_start_offset",
                "First offset still in the log.",
                |g| g.log_start_offset.load(Ordering::Relaxed),
            ),
            (
                "partition_log_end_offset",
                "Offset the next record will get.",
                |g| g.log_end_offset.load(Ordering::Relaxed),
            ),
            (
                "partition_high_watermark",
                "Last offset visible to consumers, plus one.",
                |g| g.high_watermark.load(Ordering::Relaxed),
            ),
            (
                "partition_size_bytes",
                "Bytes in the partition's segment files.",
                |g| g.size_bytes.load(Ordering::Relaxed) as i64,
            ),
            (
                "partition_segments",
                "Segments in the partition's log.",
                |g| g.segments.load(Ordering::Relaxed) as i64,
            ),
        ];
        for (name, help, field) in partition_gauges {
            let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for a in &actors {
                if let Identity::Partition {
                    topic,
                    partition,
                    log,
                } = &a.identity
                {
                    let labels = ([("topic", topic.to_string())], [("partition", *partition)]);
                    family.encode_family(&labels)?.encode_gauge(&field(log))?;
                }
            }
        }

        // The log cleaner, per compacted partition it has looked at.
        type Figure = fn(&PartitionCleaning) -> f64;
        let cleaner_figures: [(&str, &str, MetricType, Figure); 6] = [
            (
                "cleaner_dirty_ratio",
                "Dirty bytes over cleanable bytes when the cleaner last looked.",
                MetricType::Gauge,
                |f| f.dirty_ratio,
            ),
            (
                "cleaner_last_clean_timestamp_ms",
                "When the last clean of the partition finished (ms since the epoch; 0 = never).",
                MetricType::Gauge,
                |f| f.last_clean_ms as f64,
            ),
            (
                "cleaner_cleans",
                "Cleans of the partition.",
                MetricType::Counter,
                |f| f.cleans as f64,
            ),
            (
                "cleaner_read_bytes",
                "Bytes the cleaner read from the partition's segments.",
                MetricType::Counter,
                |f| f.bytes_read as f64,
            ),
            (
                "cleaner_written_bytes",
                "Bytes of cleaned segments the cleaner wrote.",
                MetricType::Counter,
                |f| f.bytes_written as f64,
            ),
            (
                "cleaner_removed_records",
                "Records the cleaner removed (superseded, expired tombstones, keyless).",
                MetricType::Counter,
                |f| f.records_removed as f64,
            ),
        ];
        for (name, help, kind, field) in cleaner_figures {
            let mut family = enc.encode_descriptor(name, help, None, kind)?;
            for ((topic, partition), f) in &s.cleaner {
                let labels = ([("topic", topic.clone())], [("partition", *partition)]);
                let mut m = family.encode_family(&labels)?;
                if matches!(kind, MetricType::Counter) {
                    m.encode_counter::<NoLabelSet, f64, u64>(&field(f), None)?;
                } else {
                    m.encode_gauge(&field(f))?;
                }
            }
        }
        {
            let mut family = enc.encode_descriptor(
                "cleaner_uncleanable",
                "1 for a partition the cleaner gave up on until restart (corrupt bytes, disk error).",
                None,
                MetricType::Gauge,
            )?;
            for ((topic, partition), f) in &s.cleaner {
                let labels = ([("topic", topic.clone())], [("partition", *partition)]);
                family
                    .encode_family(&labels)?
                    .encode_gauge(&i64::from(f.uncleanable))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::api_table::ApiKey;
    use std::time::Duration;

    #[test]
    fn renders_requests_histograms_and_partitions() {
        let metrics = Arc::new(Metrics::new());
        metrics.record_request(ApiKey::Produce, 9, Duration::from_micros(300));
        metrics.record_request(ApiKey::Produce, 9, Duration::from_secs(20));
        metrics.record_request(ApiKey::Produce, 999, Duration::from_micros(1));
        let actors = Arc::new(ActorRegistry::default());
        let p = actors.register(
            Identity::Partition {
                topic: Arc::from("orders"),
                partition: 3,
                log: Default::default(),
            },
            8,
        );
        if let Some(g) = p.partition_gauges() {
            g.log_end_offset.store(42, Ordering::Relaxed);
        }
        let mut cleaner = BTreeMap::new();
        cleaner.insert(
            ("compacted".to_string(), 0),
            PartitionCleaning {
                dirty_ratio: 0.25,
                cleans: 3,
                records_removed: 80,
                ..PartitionCleaning::default()
            },
        );
        let text = render(Snapshot {
            metrics,
            actors,
            open_connections: 2,
            cleaner,
        });
        assert!(
            text.contains("sluice_cleaner_dirty_ratio{topic=\"compacted\",partition=\"0\"} 0.25"),
            "{text}"
        );
        assert!(
            text.contains(
                "sluice_cleaner_removed_records_total{topic=\"compacted\",partition=\"0\"} 80"
            ),
            "{text}"
        );
        assert!(
            text.contains("sluice_requests_total{api=\"Produce\",version=\"9\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("sluice_log_append_write_seconds_total "),
            "{text}"
        );
        assert!(text.contains(
            "sluice_request_duration_seconds_bucket{le=\"0.0005\",api=\"Produce\",version=\"9\"} 1"
        ));
        assert!(text.contains(
            "sluice_request_duration_seconds_bucket{le=\"+Inf\",api=\"Produce\",version=\"9\"} 2"
        ));
        assert!(
            text.contains("sluice_partition_log_end_offset{topic=\"orders\",partition=\"3\"} 42")
        );
        assert!(text.contains("sluice_connections 2"), "{text}");
        assert!(text.ends_with("# EOF\n"));
        assert!(!text.contains("version=\"999\""));
    }
}
