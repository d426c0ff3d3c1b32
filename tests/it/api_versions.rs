//! ApiVersions over a real socket: the advertised table, and KIP-511's answer to an unknown
//! version.

use crate::common;

use common::TestBroker;
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::api_versions_request::ApiVersionsRequest;
use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;

#[test]
fn advertises_the_table_and_answers_unknown_versions_with_error_35() {
    let broker = TestBroker::start();
    let mut client = broker.connect();
    for version in 0..=4 {
        let resp = client.request(
            ApiKey::ApiVersions,
            version,
            |b| ApiVersionsRequest::default().encode(b, version),
            ApiVersionsResponse::decode,
        );
        assert_eq!(resp.error_code, 0);
        let entry = |k: i16| resp.api_keys.iter().find(|a| a.api_key == k).copied_range();
        assert_eq!(entry(18), Some((0, 4)));
        assert_eq!(entry(0), Some((3, 11)));
        assert_eq!(entry(1), Some((4, 16)));
        assert_eq!(entry(75), Some((0, 0)));
    }
    // A version from the future: error 35 in a v0 body listing our ApiVersions range.
    let (_, mut body) = client.call(ApiKey::ApiVersions, 1234, |b| {
        ApiVersionsRequest::default().encode(b, 4)
    });
    let resp = ApiVersionsResponse::decode(&mut body, 0).expect("v0 body");
    assert_eq!(resp.error_code, 35);
    assert_eq!(resp.api_keys.len(), 1);
    assert_eq!(
        (
            resp.api_keys[0].api_key,
            resp.api_keys[0].min_version,
            resp.api_keys[0].max_version
        ),
        (18, 0, 4)
    );
}

trait CopiedRange {
    fn copied_range(self) -> Option<(i16, i16)>;
}

impl CopiedRange for Option<&sluice::protocol::messages::api_versions_response::ApiVersion> {
    fn copied_range(self) -> Option<(i16, i16)> {
        self.map(|a| (a.min_version, a.max_version))
    }
}
