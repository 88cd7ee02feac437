//! HTTP conventions: health endpoints, the JSON error envelope for bad requests, request
//! ids, gzip, CORS, body limits and embedded assets.

use reqwest::header;
use serde_json::json;

use crate::common::{CALLBACK_SECRET, PASSWORD, TestServer};

#[tokio::test]
async fn health_and_readiness() {
    let srv = TestServer::start().await;
    let r = srv.send(srv.client.get(srv.raw("/healthz"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    let r = srv.send(srv.client.get(srv.raw("/readyz"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ready");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json_errors() {
    let srv = TestServer::start().await;
    let r = srv.get("/no/such/route", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_found");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("/api/v1/no/such/route")
    );

    let r = srv.send(srv.client.delete(srv.url("/auth/login"))).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.code(), "method_not_allowed");
}

#[tokio::test]
async fn malformed_json_wrong_type_and_missing_fields() {
    let srv = TestServer::start().await;
    let bad = srv
        .send(
            srv.client
                .post(srv.url("/auth/login"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{\"email\": "),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.code(), "malformed_json");

    let wrong_ct = srv
        .send(
            srv.client
                .post(srv.url("/auth/login"))
                .header(header::CONTENT_TYPE, "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(wrong_ct.status, 415);
    assert_eq!(wrong_ct.code(), "unsupported_media_type");

    let wrong_type = srv
        .post("/auth/login", json!({"email": 5, "password": "x"}), None)
        .await;
    assert_eq!(wrong_type.status, 422);
    assert!(
        wrong_type.body["error"]["fields"]["email"].is_string(),
        "{:?}",
        wrong_type.body
    );

    let missing = srv
        .post("/auth/register", json!({"email": "a@b.co"}), None)
        .await;
    assert_eq!(missing.status, 422);
    let fields = &missing.body["error"]["fields"];
    assert_eq!(fields["password"], "is required");
    assert_eq!(fields["full_name"], "is required");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let srv = TestServer::with(|c| c.http.body_limit_bytes = 2048).await;
    let big = json!({"email": "a@b.co", "password": "x".repeat(5000)});
    let r = srv.post("/auth/login", big, None).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.code(), "payload_too_large");
}

/// Webhooks read raw bodies; too large still answers the JSON envelope (as documented).
#[tokio::test]
async fn oversized_webhook_body_is_a_json_413() {
    let srv = TestServer::with(|c| c.http.body_limit_bytes = 2048).await;
    let big = json!({"Body": {"stkCallback": {"ResultDesc": "x".repeat(5000)}}});
    for path in [
        format!("/payments/mpesa/callback/{CALLBACK_SECRET}"),
        format!("/payments/mpesa/b2c/result/{CALLBACK_SECRET}"),
    ] {
        let r = srv.post(&path, big.clone(), None).await;
        assert_eq!(r.status, 413, "{path}");
        assert_eq!(r.code(), "payload_too_large", "{path}");
    }
}

/// A path segment that is not UTF-8 is a 400 with the JSON envelope, not a plain-text body.
#[tokio::test]
async fn non_utf8_path_segment_is_a_json_400() {
    let srv = TestServer::start().await;
    for path in ["/products/%FF", "/products/%C3%28/reviews"] {
        let r = srv.get(path, None).await;
        assert_eq!(r.status, 400, "{path}: {:?}", r.body);
        assert_eq!(r.code(), "invalid_path", "{path}");
    }
    let r = srv.send(srv.client.get(srv.raw("/media/%FF.png"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "invalid_path");
}

#[tokio::test]
async fn request_ids_are_generated_or_propagated() {
    let srv = TestServer::start().await;
    let r = srv.send(srv.client.get(srv.raw("/healthz"))).await;
    let generated = r.header("x-request-id").expect("x-request-id");
    assert_eq!(generated.len(), 36);
    let r = srv
        .send(
            srv.client
                .get(srv.raw("/healthz"))
                .header("x-request-id", "trace-me-42"),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-me-42"));
}

#[tokio::test]
async fn responses_are_gzipped_when_asked() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    for i in 0..5 {
        srv.register(&format!("gzip{i}@example.com")).await;
    }
    let resp = srv
        .client
        .get(srv.url("/admin/users"))
        .bearer_auth(&admin.access)
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let bytes = resp.bytes().await.expect("body");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let srv = TestServer::with(|c| c.http.cors_origins = vec!["https://shop.example".into()]).await;
    let preflight = |origin: &'static str| {
        srv.client
            .request(reqwest::Method::OPTIONS, srv.url("/auth/login"))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
    };
    let ok = srv.send(preflight("https://shop.example")).await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    let other = srv.send(preflight("https://evil.example")).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn admin_assets_are_embedded_with_etags() {
    let srv = TestServer::start().await;
    let r = srv
        .client
        .get(srv.raw("/admin/"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let etag = r.headers().get(header::ETAG).cloned().expect("etag");
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    assert!(r.text().await.unwrap_or_default().contains("MarketHub"));
    let again = srv
        .client
        .get(srv.raw("/admin/"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
    let missing = srv.send(srv.client.get(srv.raw("/admin/nope.js"))).await;
    assert_eq!(missing.status, 404);
}

/// NUL characters are refused with a 400 on every backend alike (PostgreSQL cannot store
/// them), in JSON bodies, query strings and paths.
#[tokio::test]
async fn nul_characters_are_refused_everywhere() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let r = srv
        .post(
            "/auth/register",
            json!({"email": "nul@example.com", "password": PASSWORD, "full_name": "a\u{0}b"}),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_text"), "{:?}", r.body);
    let r = srv.get("/admin/users?q=a%00b", Some(&admin.access)).await;
    assert_eq!((r.status, r.code()), (400, "invalid_text"), "{:?}", r.body);
    let r = srv.get("/products?q=%00", None).await;
    assert_eq!((r.status, r.code()), (400, "invalid_text"), "{:?}", r.body);
    let r = srv.get("/products/a%00b", None).await;
    assert_eq!((r.status, r.code()), (400, "invalid_text"), "{:?}", r.body);
    // The six characters `\u0000` as text are fine.
    let r = srv.get("/products?q=%5Cu0000", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
