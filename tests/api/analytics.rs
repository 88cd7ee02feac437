//! Analytics over HTTP: wiring, defaults, validation, roles and the CSV export. The figures
//! themselves are checked to the cent (with zone edges) by the unit tests in
//! `src/analytics/exact.rs`, which can place orders at chosen instants.

use serde_json::Value;

use crate::common::TestServer;
use crate::market::Market;

fn today() -> String {
    // The analytics zone is UTC+3; "today" there.
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+3));
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

#[tokio::test]
async fn dashboards_for_admins_and_merchants() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    m.delivered(&srv, "cod").await; // 7 000, paid
    m.order(&srv, "mpesa").await; // 7 000, awaiting payment

    let a = srv.get("/admin/analytics", Some(&m.admin.access)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let t = &a.body["totals"];
    assert_eq!(
        (t["orders"].as_i64(), t["gmv_cents"].as_i64()),
        (Some(2), Some(14_000))
    );
    assert_eq!(
        (t["paid_orders"].as_i64(), t["net_revenue_cents"].as_i64()),
        (Some(1), Some(7_000))
    );
    assert_eq!(t["average_order_value_cents"], 7_000);
    assert_eq!(
        a.body["series"].as_array().map(Vec::len),
        Some(30),
        "the last 30 days by default"
    );
    assert_eq!(a.body["range"]["to"], today().as_str());
    assert_eq!(a.body["range"]["time_zone"], "UTC+03:00");
    assert_eq!(a.body["orders_by_status"]["delivered"], 1);
    assert_eq!(a.body["orders_by_status"]["awaiting_payment"], 1);
    assert_eq!(a.body["payment_methods"]["cod"]["orders"], 1);
    assert_eq!(a.body["top_products"][0]["product_id"], m.kettle.as_str());
    assert_eq!(
        a.body["top_merchants"][0]["merchant_id"],
        m.merchant_b.user_id.as_str()
    );
    assert!(a.body["new_users"]["customer"].as_i64().unwrap_or(0) >= 2);
    assert_eq!(a.body["hubs"][0]["delivered"], 2);

    let month = srv
        .get(
            &format!(
                "/admin/analytics?from={}&to={}&granularity=month",
                today(),
                today()
            ),
            Some(&m.admin.access),
        )
        .await;
    assert_eq!(month.body["series"].as_array().map(Vec::len), Some(1));
    assert_eq!(month.body["series"][0]["gmv_cents"], 14_000);

    let mine = srv
        .get(
            "/merchant/analytics?granularity=week",
            Some(&m.merchant_a.access),
        )
        .await;
    assert_eq!(mine.status, 200);
    assert_eq!(
        mine.body["totals"]["gmv_cents"], 4_000,
        "only merchant A's parts"
    );
    assert_eq!(mine.body["products"][0]["product_id"], m.tea.as_str());
    assert_eq!(mine.body["products"][0]["units"], 4);
    let low: Vec<Value> = mine.body["low_stock"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        low.iter().any(|l| l["product_id"] == m.mug.as_str()),
        "3 mugs is low stock: {low:?}"
    );

    assert_eq!(
        srv.get("/admin/analytics", Some(&m.merchant_a.access))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.get("/merchant/analytics", Some(&m.customer.access))
            .await
            .status,
        403
    );
    for bad in [
        "?from=2026-12-01&to=2026-11-01",
        "?from=yesterday",
        "?granularity=hour",
        "?from=2020-01-01&to=2026-01-01",
    ] {
        let r = srv
            .get(&format!("/admin/analytics{bad}"), Some(&m.admin.access))
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn the_series_and_top_lists_export_as_csv() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    m.delivered(&srv, "cod").await;
    let r = srv
        .client
        .get(srv.url("/admin/analytics/export?format=csv&granularity=week"))
        .bearer_auth(&m.admin.access)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap_or("")
            .contains("attachment")
    );
    let text = r.text().await.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("section,key,label"));
    assert!(lines.iter().any(|l| l.starts_with("series,")));
    assert!(lines.iter().any(|l| l.starts_with("top_product,")
        && l.contains("Electric kettle")
        && l.ends_with(",5000")));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("top_merchant,") && l.contains("Kitchen Plus"))
    );
    let xml = srv
        .get("/admin/analytics/export?format=xml", Some(&m.admin.access))
        .await;
    assert_eq!(xml.status, 400);
}
