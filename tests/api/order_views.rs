//! Order lists for customers, merchants and admins: filters and pagination.

use serde_json::json;

use crate::common::TestServer;
use crate::market::Market;

#[tokio::test]
async fn lists_filter_and_paginate() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let first = m.order(&srv, "cod").await;
    let second = m.order(&srv, "mpesa").await;
    // A third order, only from merchant A, through the other hub.
    m.add(&srv, &m.other_customer, &m.mug, 1).await;
    let mut body = m.order_body("cod");
    body["hub_id"] = json!(m.other_hub);
    let third = srv
        .post("/orders", body, Some(&m.other_customer.access))
        .await;
    assert_eq!(third.status, 201);

    let mine = srv
        .get("/orders?per_page=1", Some(&m.customer.access))
        .await;
    assert_eq!(mine.body["total"], 2);
    assert_eq!(mine.body["items"][0]["id"], second["id"], "newest first");
    assert_eq!(
        mine.body["items"][0]["sub_orders"].as_array().map(Vec::len),
        Some(2)
    );

    let admin = |q: &str| {
        let url = format!("/admin/orders{q}");
        let token = m.admin.access.clone();
        let srv = &srv;
        async move { srv.get(&url, Some(&token)).await }
    };
    assert_eq!(admin("").await.body["total"], 3);
    assert_eq!(admin("?status=awaiting_payment").await.body["total"], 1);
    assert_eq!(admin("?status=pending").await.body["total"], 2);
    assert_eq!(
        admin(&format!("?merchant_id={}", m.merchant_b.user_id))
            .await
            .body["total"],
        2
    );
    assert_eq!(
        admin(&format!("?hub_id={}", m.other_hub)).await.body["total"],
        1
    );
    assert_eq!(
        admin(&format!("?customer_id={}", m.customer.user_id))
            .await
            .body["total"],
        2
    );
    assert_eq!(
        admin("?from=2000-01-01&to=2999-12-31").await.body["total"],
        3
    );
    assert_eq!(admin("?to=2000-01-01").await.body["total"], 0);
    for bad in [
        "?status=lost",
        "?from=yesterday",
        "?merchant_id=x",
        "?from=2026-02-02&to=2026-01-01",
    ] {
        assert_eq!(admin(bad).await.status, 400, "{bad}");
    }

    let sub = Market::sub_of(&first, &m.merchant_a);
    m.merchant_move(&srv, &m.merchant_a, &sub, "confirmed")
        .await;
    let merchant = |q: &str| {
        let url = format!("/merchant/orders{q}");
        let token = m.merchant_a.access.clone();
        let srv = &srv;
        async move { srv.get(&url, Some(&token)).await }
    };
    assert_eq!(merchant("").await.body["total"], 3);
    assert_eq!(merchant("?status=confirmed").await.body["total"], 1);
    assert_eq!(
        merchant("?status=pending&per_page=1&page=2").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(merchant("?status=nope").await.status, 400);
    let detail = srv
        .get(
            &format!("/merchant/orders/{sub}"),
            Some(&m.merchant_a.access),
        )
        .await;
    assert_eq!(detail.body["status"], "confirmed");
    assert_eq!(detail.body["history"].as_array().map(Vec::len), Some(2));
}
