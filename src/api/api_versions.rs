//! ApiVersions (18): the versions we serve, straight from the generated allow-list table.

use crate::error::ErrorCode;
use crate::protocol::api_table::{ApiKey, API_TABLE};
use crate::protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};

pub fn handle(_version: i16) -> ApiVersionsResponse {
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
/// v0 layout every client can read.
pub fn unsupported() -> ApiVersionsResponse {
    let own = crate::protocol::api_table::support(ApiKey::ApiVersions);
    ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: vec![ApiVersion {
            api_key: ApiKey::ApiVersions as i16,
            min_version: own.advertised_min,
            max_version: own.advertised_max,
        }],
        ..ApiVersionsResponse::default()
    }
}
