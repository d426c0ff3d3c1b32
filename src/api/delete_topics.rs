//! DeleteTopics (20): by name (v0–v5 `topic_names`, v6 `topics[].name`) or by id (v6). Each
//! deletion is recorded in the metadata log; the answer comes once the partitions' directories
//! are gone.

use uuid::Uuid;

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::topics::{ask, DeleteTopic, TopicRef};
use crate::protocol::messages::delete_topics_request::DeleteTopicsRequest;
use crate::protocol::messages::delete_topics_response::{
    DeletableTopicResult, DeleteTopicsResponse,
};
use crate::protocol::messages::RequestHeader;

/// A v6 entry that names neither or both: (name, id, why).
type BadEntry = (Option<String>, Uuid, String);

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let version = header.request_api_version;
    let targets: Vec<Result<TopicRef, BadEntry>> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| match (t.name, t.topic_id.is_nil()) {
                (Some(name), true) => Ok(TopicRef::Name(name)),
                (None, false) => Ok(TopicRef::Id(t.topic_id)),
                (Some(name), false) => Err((
                    Some(name),
                    t.topic_id,
                    "You may not specify both topic name and topic id.".into(),
                )),
                (None, true) => Err((
                    None,
                    t.topic_id,
                    "Neither topic name nor id were specified.".into(),
                )),
            })
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| Ok(TopicRef::Name(n)))
            .collect()
    };
    let mut responses: Vec<DeletableTopicResult> = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        let result = match target {
            Err((name, id, message)) => DeletableTopicResult {
                name: name.clone(),
                topic_id: *id,
                error_code: ErrorCode::InvalidRequest.code(),
                error_message: Some(message.clone()),
            },
            Ok(topic) if targets[..i].iter().any(|t| t.as_ref().ok() == Some(topic)) => {
                // Named twice: the first entry already answered for it.
                continue;
            }
            Ok(topic)
                if targets
                    .iter()
                    .filter(|t| t.as_ref().ok() == Some(topic))
                    .count()
                    > 1 =>
            {
                // As Kafka: a topic named twice is refused, not deleted.
                let (name, topic_id, message) = match topic {
                    TopicRef::Name(n) => (Some(n.clone()), Uuid::nil(), "Duplicate topic name."),
                    TopicRef::Id(id) => (None, *id, "Duplicate topic id."),
                };
                DeletableTopicResult {
                    name,
                    topic_id,
                    error_code: ErrorCode::InvalidRequest.code(),
                    error_message: Some(message.into()),
                }
            }
            Ok(topic) => match ask(
                ctx.broker.metadata(),
                DeleteTopic {
                    topic: topic.clone(),
                },
            )
            .await
            {
                Ok(deleted) => DeletableTopicResult {
                    name: Some(deleted.name),
                    topic_id: deleted.id,
                    error_code: ErrorCode::None.code(),
                    error_message: None,
                },
                Err((code, message)) => {
                    let (name, topic_id) = match topic {
                        TopicRef::Name(n) => (Some(n.clone()), Uuid::nil()),
                        TopicRef::Id(id) => (None, *id),
                    };
                    DeletableTopicResult {
                        name,
                        topic_id,
                        error_code: code.code(),
                        error_message: Some(message),
                    }
                }
            },
        };
        responses.push(result);
    }
    DeleteTopicsResponse {
        throttle_time_ms: 0,
        responses,
    }
}
