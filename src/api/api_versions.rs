//! ApiVersions (18): the versions we serve, straight from the generated allow-list table.

use crate::api::{InVersion, RequestContext};
use crate::error::ErrorCode;
use crate::protocol::api_table::{ApiKey, API_TABLE};
use crate::protocol::messages::api_versions_request::ApiVersionsRequest;
use crate::protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    _ctx: &RequestContext,
    _header: &RequestHeader,
    _req: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::None.code(),
        api_keys: API_TABLE
            .iter()
            .filter(|s| s.advertised)
            .map(|s| ApiVersion {
                api_key: s.key as i16,
                min_version: s.advertised_min,
                max_version: s.advertised_max,
            })
            .collect(),
        throttle_time_ms: 0,
        ..ApiVersionsResponse::default()
    }
}

/// The answer to a version we do not know (KIP-511): error 35 and our ApiVersions range, in the
/// v0 layout every client can read. (A version we do not decode has no body to hand over.)
pub async fn unsupported(
    _ctx: &RequestContext,
    _header: &RequestHeader,
    _req: (),
) -> InVersion<ApiVersionsResponse> {
    let own = crate::protocol::api_table::support(ApiKey::ApiVersions);
    let body = ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: vec![ApiVersion {
            api_key: ApiKey::ApiVersions as i16,
            min_version: own.advertised_min,
            max_version: own.advertised_max,
        }],
        ..ApiVersionsResponse::default()
    };
    InVersion { version: 0, body }
}
