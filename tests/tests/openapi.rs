//! `api-spec/openapi.json` is generated from the code; this fails when the committed copy drifts.
//! Regenerate with `cargo run -p broker -- openapi --output api-spec/openapi.json`.

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../api-spec/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = broker::openapi::render();
    assert!(
        committed == generated,
        "api-spec/openapi.json is stale: run `cargo run -p broker -- openapi --output api-spec/openapi.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v2/catalog",
        "/v2/service_instances/{instance_id}",
        "/v2/service_instances/{instance_id}/last_operation",
        "/v2/service_instances/{instance_id}/service_bindings/{binding_id}",
        "/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation",
    ] {
        assert!(paths.contains_key(path), "{path} documented");
    }
    let tagged = |tag: &str| {
        paths
            .values()
            .flat_map(|p| p.as_object().unwrap().values())
            .filter(|op| op["tags"][0] == tag)
            .count()
    };
    assert_eq!(tagged("osb"), 10, "all ten OSB endpoints");
    assert_eq!(tagged("osb-topics"), 4, "the topic extension");
    assert_eq!(
        tagged("platform"),
        32,
        "the platform API (4 of them a Kafka add-on's topics, 4 an app's domains)"
    );
    assert_eq!(
        tagged("dynos"),
        20,
        "builds (and their output stream), slugs, buildpack installations, formation, dynos (and attaching to them) and logs"
    );
    assert_eq!(
        tagged("git"),
        3,
        "git's smart HTTP: info/refs, upload-pack, receive-pack"
    );
    assert_eq!(tagged("admin"), 12, "providers, instances, operations, tokens");
    assert_eq!(tagged("access"), 15, "account, tokens, teams, members, collaborators");
    assert_eq!(tagged("provider"), 4, "manifests and the three callbacks");
}
