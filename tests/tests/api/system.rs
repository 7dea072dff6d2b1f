//! System, as docs/services.md ("System") specifies what needs no operator:
//! the public configuration, the validation of `GET /api/system/app-version`
//! and its 404 for an app never published, and the token the announcement
//! listing needs. Releases and announcements themselves need `beaver-admin`
//! and are tested in tests/admin/services.rs. Written from the spec alone.

use crate::helpers::{unique, Answer, Api};
use crate::ws::percent;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn the_public_config_names_version_limits_and_disabled_features_and_may_be_cached_a_minute() {
    let api = Api::new();
    // Public: no token.
    let resp = api.raw(Method::GET, "/api/system/config").send().await.expect("gateway unreachable: is the stack up (deploy/up)?");
    let status = resp.status();
    let cache = resp.headers().get("cache-control").map(|v| v.to_str().unwrap_or_default().to_owned());
    let text = resp.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    let a = Answer { status, body }.expect(200);
    assert_eq!(cache.as_deref(), Some("public, max-age=60"), "Cache-Control of the config answer");
    let d = a.data();
    assert_eq!(d["server_version"], env!("CARGO_PKG_VERSION"), "the workspace's version: {}", a.body);
    assert_eq!(d["api_version"], 1, "{}", a.body);
    assert_eq!(
        d["limits"],
        json!({ "max_message_bytes": 8192, "max_group_members": 2000, "track_batch_events": 100, "feedback_per_day": 10 }),
        "{}",
        a.body
    );
    assert_eq!(
        d["features"],
        json!({ "calls": true, "moments": true, "uploads": true, "emoji": true, "notifications": true }),
        "uploads and emoji are built; calls, moments and notifications not yet: {}",
        a.body
    );
    // The same with a token.
    let (_, token, _) = api.signed_up(&unique("syscfg")).await;
    let b = api.get("/api/system/config", Some(&token)).await.expect(200);
    assert_eq!(b.data(), d);
}

/// `GET /api/system/app-version` with `params` (already encoded).
async fn app_version(api: &Api, params: &[(&str, String)]) -> Answer {
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    api.get(&format!("/api/system/app-version?{}", q.join("&")), None).await
}

fn query(app: &str, platform: &str, version: &str, device: &str) -> Vec<(&'static str, String)> {
    vec![("app_id", percent(app)), ("platform", percent(platform)), ("version", percent(version)), ("device_id", percent(device))]
}

#[tokio::test]
async fn app_version_names_each_missing_or_malformed_parameter_in_a_422() {
    let api = Api::new();
    let (app, device) = (unique("app"), unique("dev"));
    // Each parameter missing, the others fine.
    for field in ["app_id", "platform", "version", "device_id"] {
        let params: Vec<(&str, String)> = query(&app, "ios", "1.0.0", &device).into_iter().filter(|(k, _)| *k != field).collect();
        let a = app_version(&api, &params).await.expect(422);
        assert_eq!(a.error_kind(), "invalid_field", "without {field}: {}", a.body);
        assert_eq!(a.data()["field"], field, "without {field}: {}", a.body);
    }
    let long_device = "d".repeat(129);
    let long_app = "a".repeat(65);
    let bad: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("app_id", query("", "ios", "1.0.0", &device)),
        ("app_id", query("My App", "ios", "1.0.0", &device)),
        ("app_id", query("UPPER", "ios", "1.0.0", &device)),
        ("app_id", query("a/b", "ios", "1.0.0", &device)),
        ("app_id", query("a:b", "ios", "1.0.0", &device)),
        ("app_id", query(&long_app, "ios", "1.0.0", &device)),
        ("platform", query(&app, "tv", "1.0.0", &device)),
        ("platform", query(&app, "IOS", "1.0.0", &device)),
        ("platform", query(&app, "", "1.0.0", &device)),
        ("version", query(&app, "ios", "", &device)),
        ("version", query(&app, "ios", "1.2", &device)),
        ("version", query(&app, "ios", "v1.2.3", &device)),
        ("version", query(&app, "ios", "1.2.3.4", &device)),
        ("version", query(&app, "ios", "latest", &device)),
        ("device_id", query(&app, "ios", "1.0.0", "")),
        ("device_id", query(&app, "ios", "1.0.0", "my phone")),
        ("device_id", query(&app, "ios", "1.0.0", "a/b")),
        ("device_id", query(&app, "ios", "1.0.0", &long_device)),
    ];
    for (field, params) in bad {
        let a = app_version(&api, &params).await.expect(422);
        assert_eq!(a.error_kind(), "invalid_field", "{params:?}: {}", a.body);
        assert_eq!(a.data()["field"], field, "{params:?}: {}", a.body);
    }
}

#[tokio::test]
async fn app_version_of_an_app_never_published_is_404_at_the_edges_of_every_rule() {
    let api = Api::new();
    let app = unique("app");
    let a = app_version(&api, &query(&app, "ios", "1.0.0", &unique("dev"))).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);
    // The longest app id and device id, every allowed character, a pre-release with build metadata: valid, so 404.
    let longest_app = format!("a.b_c-{}", unique("x").replace('_', "-")).chars().chain(std::iter::repeat('z')).take(64).collect::<String>();
    let longest_device = format!("Az09._-{}", "x".repeat(121));
    assert_eq!((longest_app.len(), longest_device.len()), (64, 128));
    for platform in ["ios", "android", "web", "desktop", "mac", "windows"] {
        let a = app_version(&api, &query(&longest_app, platform, "2.0.0-rc.1+build.5", &longest_device)).await;
        assert_eq!(a.status.as_u16(), 404, "{platform}: {}", a.body);
        a.expect(404);
    }
}

#[tokio::test]
async fn the_announcement_listing_needs_a_valid_token() {
    let api = Api::new();
    for token in [None, Some("not-a-token")] {
        let a = api.get("/api/system/announcements", token).await.expect(401);
        assert_eq!(a.error_kind(), "unauthorized", "{}", a.body);
        api.get("/api/system/announcements?platform=ios", token).await.expect(401);
    }
    let (_, token, _) = api.signed_up(&unique("sysann")).await;
    let a = api.get("/api/system/announcements", Some(&token)).await.expect(200);
    let list = a.data()["announcements"].as_array().unwrap_or_else(|| panic!("an announcements list: {}", a.body));
    for e in list {
        for key in ["announcement_id", "title", "body", "platforms", "starts_at", "ends_at"] {
            assert!(e.get(key).is_some(), "{key} in every entry: {e}");
        }
    }
}
