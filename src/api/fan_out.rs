//! The per-partition fan-out of the requests that name partitions (Produce, Fetch, ListOffsets,
//! DeleteRecords): every partition is asked at once, each by its own actor, and the answers come
//! back in request order, whatever order the actors answer in.
//!
//! A partition that cannot be asked is answered with an error code instead: one this broker
//! does not have ([`partition`]: UNKNOWN_TOPIC_OR_PARTITION), or whatever the handler refuses
//! before asking. A message whose actor never answers (its mailbox closed: the partition went
//! away meanwhile) is answered with the code the caller names for that.

use actix::dev::ToEnvelope;
use actix::{Handler, Message};
use futures_util::future::join_all;

use crate::error::ErrorCode;
use crate::partition::{PartitionActor, PartitionHandle, PartitionRegistry};

/// What to do for one partition.
pub enum Ask<M: Message> {
    /// Send `M` to the partition's actor and wait for its answer.
    Send(PartitionHandle, M),
    /// The answer is already known (from what the partition publishes): no message.
    Ready(M::Result),
}

/// The partition's handle, or UNKNOWN_TOPIC_OR_PARTITION when this broker has no such partition.
pub fn partition(
    partitions: &PartitionRegistry,
    topic: &str,
    index: i32,
) -> Result<PartitionHandle, ErrorCode> {
    partitions
        .get(topic, index)
        .ok_or(ErrorCode::UnknownTopicOrPartition)
}

/// Asks every partition of a request at once. `topics` are the request's topics in order, each
/// with its partitions; `ask` says for each partition what to do, or (`Err`) the error code that
/// answers it unasked, and may take what the message needs out of the partition's data. A
/// message that gets no answer from the actor is answered `lost`.
///
/// Returns the same topics and partitions in the same order, each partition with its answer.
pub async fn fan_out<T, P, M>(
    topics: impl IntoIterator<Item = (T, Vec<P>)>,
    mut ask: impl FnMut(&T, &mut P) -> Result<Ask<M>, ErrorCode>,
    lost: ErrorCode,
) -> Vec<(T, Vec<(P, Result<M::Result, ErrorCode>)>)>
where
    M: Message + Send + 'static,
    M::Result: Send,
    PartitionActor: Handler<M>,
    <PartitionActor as actix::Actor>::Context: ToEnvelope<PartitionActor, M>,
{
    let mut asks = Vec::new();
    let topics: Vec<(T, Vec<P>)> = topics
        .into_iter()
        .map(|(topic, mut partitions)| {
            asks.extend(partitions.iter_mut().map(|p| ask(&topic, p)));
            (topic, partitions)
        })
        .collect();
    let mut answers = ask_all(asks, lost).await.into_iter();
    topics
        .into_iter()
        .map(|(topic, partitions)| {
            let answered = partitions.into_iter().zip(answers.by_ref()).collect();
            (topic, answered)
        })
        .collect()
}

/// [`fan_out`] over a flat list: the answers to `asks`, asked at once, in the same order.
pub async fn ask_all<M>(
    asks: impl IntoIterator<Item = Result<Ask<M>, ErrorCode>>,
    lost: ErrorCode,
) -> Vec<Result<M::Result, ErrorCode>>
where
    M: Message + Send + 'static,
    M::Result: Send,
    PartitionActor: Handler<M>,
    <PartitionActor as actix::Actor>::Context: ToEnvelope<PartitionActor, M>,
{
    join_all(asks.into_iter().map(|a| ask_one(a, lost))).await
}

/// The answer to one [`Ask`]; `lost` if the actor gives none.
pub async fn ask_one<M>(
    ask: Result<Ask<M>, ErrorCode>,
    lost: ErrorCode,
) -> Result<M::Result, ErrorCode>
where
    M: Message + Send + 'static,
    M::Result: Send,
    PartitionActor: Handler<M>,
    <PartitionActor as actix::Actor>::Context: ToEnvelope<PartitionActor, M>,
{
    match ask? {
        Ask::Send(partition, msg) => partition.send(msg).await.map_err(|_| lost),
        Ask::Ready(answer) => Ok(answer),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use actix::prelude::*;
    use tokio::sync::watch;

    use super::*;
    use crate::actor::{ActorRegistry, Identity, PARTITION_MAILBOX_CAPACITY};
    use crate::partition::{ListOffset, Offsets, EARLIEST_TIMESTAMP};
    use crate::storage::{LogConfig, OpenHints};

    /// A partition and the offset it answered, or its error code.
    type Answered = (i32, Result<i64, ErrorCode>);

    /// A partition actor on an empty log in `dir`, started on `arbiter`.
    fn start(arbiter: &ArbiterHandle, dir: &std::path::Path, index: i32) -> PartitionHandle {
        let (tx, rx) = watch::channel(Offsets::default());
        let identity = Identity::Partition {
            topic: "t".into(),
            partition: index,
            log: Default::default(),
        };
        let stats = ActorRegistry::default().register(identity, PARTITION_MAILBOX_CAPACITY);
        let actor_stats = stats.clone();
        let dir = dir.join(format!("t-{index}"));
        let addr = PartitionActor::start_in_arbiter(arbiter, move |_| {
            let config = LogConfig::default();
            let hints = OpenHints::default();
            let check = Duration::from_secs(300);
            PartitionActor::build(
                "t".into(),
                index,
                dir,
                config,
                crate::partition::Opening::Open(hints),
                check,
                tx,
            )
            .with_stats(actor_stats)
        });
        PartitionHandle::new(addr, rx, stats)
    }

    #[actix_rt::test]
    async fn answers_come_in_request_order_with_the_error_codes_of_the_unasked_and_the_lost() {
        let dir = tempfile::tempdir().expect("temp dir");
        let partitions = PartitionRegistry::default();
        let live = Arbiter::new();
        partitions.insert(Arc::from("t"), 0, start(&live.handle(), dir.path(), 0));
        // A partition whose actor is gone: its arbiter stopped, its mailbox closed.
        let gone = Arbiter::new();
        partitions.insert(Arc::from("t"), 1, start(&gone.handle(), dir.path(), 1));
        gone.stop();
        let _ = gone.join();

        let topics = vec![
            ("t".to_string(), vec![1, 7, 0]),
            ("missing".to_string(), vec![0]),
            ("empty".to_string(), vec![]),
            ("t".to_string(), vec![0, 2]),
        ];
        let answers = fan_out(
            topics,
            |topic, &mut index| {
                if index == 2 {
                    return Err(ErrorCode::InvalidRequest); // refused before any lookup
                }
                let handle = partition(&partitions, topic, index)?;
                Ok(Ask::Send(
                    handle,
                    ListOffset {
                        timestamp: EARLIEST_TIMESTAMP,
                    },
                ))
            },
            ErrorCode::RequestTimedOut, // a code no actor answers, to tell the lost apart
        )
        .await;
        let got: Vec<(String, Vec<Answered>)> = answers
            .into_iter()
            .map(|(topic, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|(index, answer)| {
                        (index, answer.and_then(|a| a).map(|(offset, _)| offset))
                    })
                    .collect();
                (topic, partitions)
            })
            .collect();
        let unknown = Err(ErrorCode::UnknownTopicOrPartition);
        assert_eq!(
            got,
            vec![
                (
                    "t".to_string(),
                    vec![
                        (1, Err(ErrorCode::RequestTimedOut)),
                        (7, unknown),
                        (0, Ok(0))
                    ]
                ),
                ("missing".to_string(), vec![(0, unknown)]),
                ("empty".to_string(), vec![]),
                (
                    "t".to_string(),
                    vec![(0, Ok(0)), (2, Err(ErrorCode::InvalidRequest))]
                ),
            ]
        );
        live.stop();
    }

    #[actix_rt::test]
    async fn a_ready_answer_needs_no_actor() {
        let answers = ask_all(
            [
                Ok(Ask::<ListOffset>::Ready(Ok((5, 6)))),
                Err(ErrorCode::UnknownTopicId),
            ],
            ErrorCode::KafkaStorageError,
        )
        .await;
        assert_eq!(
            answers,
            vec![Ok(Ok((5, 6))), Err(ErrorCode::UnknownTopicId)]
        );
    }
}
