//! The OpenAPI document: served as generated, committed copy current, and in step with the
//! live router (every route documented, every documented operation routed).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::TestServer;

/// Routes that are not part of the HTTP API: the embedded web console's files.
const NOT_API: [&str; 3] = ["/admin", "/admin/", "/admin/{path}"];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

#[tokio::test]
async fn served_document_is_the_generated_one_and_openapi_3_1() {
    let s = TestServer::start().await;
    let resp = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let text = resp.text().await.expect("body");
    assert_eq!(text, markethub::http::openapi::document_json());
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["type"],
        "http"
    );
    // Operations that need a token say so; public ones do not.
    assert_eq!(
        doc["paths"]["/api/v1/cart"]["get"]["security"][0]["bearer"],
        serde_json::json!([])
    );
    assert!(doc["paths"]["/api/v1/products"]["get"]["security"].is_null());
    // Every operation documents its errors with the envelope.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|k| k.starts_with('2') || k == "304"),
                "{method} {path} documents no success response"
            );
            let busy = &op["responses"]["503"];
            let busy = match busy["$ref"].as_str() {
                Some(r) => &doc["components"]["responses"][r.rsplit('/').next().unwrap_or("")],
                None => busy,
            };
            assert_eq!(
                busy["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                "{method} {path}"
            );
            assert!(
                op["summary"].is_string(),
                "{method} {path} has no summary (a doc comment on the handler)"
            );
        }
    }
    s.stop().await;
}

/// `docs/openapi.json` is what the code generates. Regenerate it with
/// `cargo run -- openapi > docs/openapi.json` (or run this test with `UPDATE_OPENAPI=1`).
#[test]
fn committed_copy_in_docs_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let generated = markethub::http::openapi::document_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, generated).expect("writing docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json` \
         (or this test with UPDATE_OPENAPI=1) and commit it"
    );
}

/// `{*rest}` (axum's catch-all) and `{rest}` (OpenAPI) name the same parameter.
fn normalize(path: &str) -> String {
    path.replace("{*", "{")
}

/// The paths the live router holds, read from its `Debug` output (axum has no other way to
/// enumerate them): `Router { path_router: PathRouter { …, node: Node { paths: {RouteId(0):
/// "/api/v1/…", …} } }, fallback_router: … }`. Only the path router counts; the fallback
/// router holds the 404 fallback.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    const MARKER: &str = "node: Node { paths: {";
    let debug = format!("{router:?}");
    let mut paths = BTreeSet::new();
    let Some(start) = debug.find(MARKER) else {
        return paths;
    };
    let mut rest = &debug[start + MARKER.len()..];
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if !rest.starts_with("RouteId(") {
            break;
        }
        let Some(q) = rest.find('"') else { break };
        let after = &rest[q + 1..];
        let Some(end) = after.find('"') else { break };
        paths.insert(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    paths
}

/// A concrete URL for a route template: each parameter gets a placeholder value.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('}') else { break };
        out.push('x');
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// Walks the live router: every path it holds is asked which methods it allows (a request
/// with a method no route uses answers 405 with `Allow`), giving the set of routed
/// operations; the document's operations must be exactly that set.
#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let s = TestServer::start().await;
    let router = markethub::app(s.state().clone());
    let paths = router_paths(&router);
    assert!(
        paths.contains("/api/v1/products/{id}") && paths.len() > 50,
        "could not read the router's paths (did axum's Debug output change?): {paths:?}"
    );

    let mut routed = BTreeSet::new();
    for path in &paths {
        let resp = s
            .client
            .request(
                reqwest::Method::from_bytes(b"TRACE").expect("method"),
                s.raw(&concrete(path)),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 405, "TRACE {path}");
        let allow = resp
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let methods: Vec<&str> = allow
            .split(',')
            .map(str::trim)
            .filter(|m| METHODS.contains(m))
            .collect();
        assert!(!methods.is_empty(), "{path} allows no method: {allow:?}");
        for m in methods {
            routed.insert((m.to_owned(), normalize(path)));
        }
    }

    let doc: Value = serde_json::from_str(markethub::http::openapi::document_json()).expect("JSON");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let m = method.to_ascii_uppercase();
            if METHODS.contains(&m.as_str()) {
                documented.insert((m, path.clone()));
            }
        }
    }

    let undocumented: Vec<_> = routed
        .iter()
        .filter(|(_, p)| !NOT_API.contains(&p.as_str()))
        .filter(|op| !documented.contains(*op))
        .collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}\n\
         documented operations the router does not have: {unrouted:?}"
    );
    s.stop().await;
}

/// The readable reference is embedded, linked from the console, and loads only our own
/// script (the console's CSP forbids inline script and other origins).
#[tokio::test]
async fn api_reference_page_is_embedded_and_linked_from_the_console() {
    let s = TestServer::start().await;
    let index = s
        .client
        .get(s.raw("/admin/"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(index.contains("href=\"/admin/api.html\""), "{index}");

    let page = s
        .client
        .get(s.raw("/admin/api.html"))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.text().await.expect("body");
    assert!(html.contains("<script type=\"module\" src=\"/admin/api.js\"></script>"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN: {html}"
    );

    let js = s
        .client
        .get(s.raw("/admin/api.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(js.status(), 200);
    let ct = js
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.contains("javascript"), "{ct}");
    let js = js.text().await.expect("body");
    assert!(js.contains("fetch(\"/api/v1/openapi.json\")"));
    assert!(!js.contains("http://") && !js.contains("https://"));
    s.stop().await;
}

/// The conformance check every suite response goes through rejects what the document does
/// not allow (so the suite passing means its responses match the document).
#[tokio::test]
async fn conformance_check_rejects_responses_outside_the_document() {
    use crate::common::conformance::check;
    let json = "application/json";
    // Wrong type, missing required fields.
    let err = check("GET", "/api/v1/products/x", 200, json, br#"{"id": 5}"#).unwrap_err();
    assert!(
        err.contains("$.id: expected") && err.contains("required field"),
        "{err}"
    );
    // A status the operation does not document.
    let err = check("GET", "/api/v1/products", 418, json, b"{}").unwrap_err();
    assert!(err.contains("not documented"), "{err}");
    // An undocumented content type.
    let err = check("GET", "/api/v1/cart", 200, "text/html", b"<p>").unwrap_err();
    assert!(err.contains("content type"), "{err}");
    // A bad format inside a nested list.
    let err = check(
        "GET",
        "/api/v1/categories",
        200,
        json,
        br#"{"items": [{"id": "nope", "name": "A", "slug": "a", "parent_id": null, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}]}"#,
    )
    .unwrap_err();
    assert!(
        err.contains("$.items[0].id: \"nope\" is not a uuid"),
        "{err}"
    );

    // A real response passes.
    let s = TestServer::start().await;
    let resp = s
        .client
        .get(s.url("/categories"))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    check("GET", "/api/v1/categories", status, json, &bytes).expect("conforms");
    s.stop().await;
}
