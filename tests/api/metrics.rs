//! `GET /metrics`: Prometheus text with request counts and latency by route template and
//! status, write-transaction timings, pool, outbox, payments and backup gauges; and the
//! optional bearer token.

use serde_json::json;

use crate::common::TestServer;

async fn scrape(srv: &TestServer, token: Option<&str>) -> (u16, String) {
    let mut req = srv.client.get(srv.raw("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("scrape");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("text"))
}

/// The value of the sample whose line starts with `prefix` (labels included).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_report_the_shop_state() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let id = "0190a000-0000-7000-8000-000000000000";
    for _ in 0..3 {
        assert_eq!(srv.get(&format!("/products/{id}"), None).await.status, 404);
    }
    let made = srv
        .post("/admin/backups", json!({}), Some(&admin.access))
        .await;
    // PostgreSQL installs back up with pg_dump: the API says so instead of pretending.
    let on_postgres = crate::common::postgres_base().is_some();
    if on_postgres {
        assert_eq!((made.status, made.code()), (409, "backups_external"));
    } else {
        assert_eq!(made.status, 201);
    }

    let (status, text) = scrape(&srv, None).await;
    assert_eq!(status, 200);
    // Route templates, not raw paths: ids never explode the label set.
    let requests = sample(
        &text,
        "markethub_http_requests_total{method=\"GET\",route=\"/api/v1/products/{id}\",status=\"404\"}",
    )
    .expect("request counter by route template");
    assert!(requests >= 3.0, "{requests}");
    assert!(!text.contains(id), "raw paths are not labels");
    assert!(
        sample(
            &text,
            "markethub_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/products/{id}\"}"
        )
        .is_some_and(|n| n >= 3.0)
    );
    assert!(text.contains("markethub_http_request_duration_seconds_bucket{"));
    assert!(sample(&text, "markethub_db_write_duration_seconds_count").is_some_and(|n| n >= 1.0));
    assert!(sample(&text, "markethub_db_write_wait_seconds_count").is_some_and(|n| n >= 1.0));
    assert!(sample(&text, "markethub_db_read_connections_open").is_some_and(|n| n >= 1.0));
    if !on_postgres {
        assert!(sample(&text, "markethub_backups_total").is_some_and(|n| n >= 1.0));
        assert!(sample(&text, "markethub_last_backup_file_bytes").is_some_and(|n| n > 0.0));
        assert!(sample(&text, "markethub_last_backup_age_seconds").is_some_and(|n| n >= 0.0));
    }
    assert_eq!(sample(&text, "markethub_payments_pending"), Some(0.0));
    assert!(sample(&text, "markethub_mail_outbox_backlog").is_some());
}

#[tokio::test]
async fn a_configured_token_protects_the_metrics() {
    let token = "scrape-me-please-0123456789";
    let srv = TestServer::with(|c| c.metrics.token = token.into()).await;
    let (status, text) = scrape(&srv, None).await;
    assert_eq!(status, 401);
    assert!(!text.contains("markethub_http_requests_total"));
    assert_eq!(scrape(&srv, Some("wrong-token")).await.0, 401);
    let (status, text) = scrape(&srv, Some(token)).await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE markethub_http_requests_total counter"));
}
