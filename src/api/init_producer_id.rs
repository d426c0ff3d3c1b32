//! InitProducerId (22): a producer id and epoch for an idempotent producer, from the metadata
//! actor (see [`crate::metadata::producer_ids`] for how ids stay unique across restarts and how
//! epochs are bumped).
//!
//! Transactions are not supported: sluice has no transaction coordinator. A request with a
//! transactional id is refused with INVALID_REQUEST (42), whose client-side text says the broker
//! is incompatible and to see its log, where a line names the transactional id. Kafka would
//! answer COORDINATOR_NOT_AVAILABLE (15) while its coordinator is down, but clients retry that
//! until their own timeout, so a transactional producer would hang instead of failing at once.
//! An empty transactional id, or a producer id without an epoch (or the reverse), is
//! INVALID_REQUEST as in Kafka.

use tracing::warn;

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::producer_ids::InitProducerId;
use crate::protocol::messages::init_producer_id_request::InitProducerIdRequest;
use crate::protocol::messages::init_producer_id_response::InitProducerIdResponse;
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    match grant(ctx, &req).await {
        Ok((producer_id, producer_epoch)) => InitProducerIdResponse {
            ongoing_txn_producer_id: -1,
            ongoing_txn_producer_epoch: -1,
            throttle_time_ms: 0,
            error_code: 0,
            producer_id,
            producer_epoch,
        },
        Err(code) => InitProducerIdResponse {
            ongoing_txn_producer_id: -1,
            ongoing_txn_producer_epoch: -1,
            throttle_time_ms: 0,
            error_code: code.code(),
            producer_id: -1,
            producer_epoch: -1,
        },
    }
}

async fn grant(ctx: &RequestContext, req: &InitProducerIdRequest) -> Result<(i64, i16), ErrorCode> {
    if let Some(id) = &req.transactional_id {
        if !id.is_empty() {
            warn!(
                transactional_id = %id,
                peer = %ctx.peer,
                "transactional producers are not supported: InitProducerId refused with INVALID_REQUEST"
            );
        }
        return Err(ErrorCode::InvalidRequest);
    }
    let current = match (req.producer_id, req.producer_epoch) {
        (-1, -1) => None,
        (-1, _) | (_, -1) => return Err(ErrorCode::InvalidRequest),
        (id, epoch) => Some((id, epoch)),
    };
    ctx.broker
        .send_metadata(InitProducerId { current })
        .await
        .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable))
}
