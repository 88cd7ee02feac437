//! The cart: merging, stock checks, live prices, flagged lines, ownership.

use serde_json::json;

use crate::common::TestServer;
use crate::market::Market;

#[tokio::test]
async fn lines_merge_respect_stock_and_show_live_prices() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let c = &m.customer;

    let r = m.add(&srv, c, &m.tea, 2).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = m.add(&srv, c, &m.tea, 3).await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(1),
        "same product merges"
    );
    assert_eq!(r.body["items"][0]["quantity"], 5);
    assert_eq!(r.body["total_cents"], 5_000);

    let too_many = m.add(&srv, c, &m.tea, 6).await;
    assert_eq!(
        (too_many.status, too_many.code()),
        (409, "insufficient_stock")
    );
    let r = m.add(&srv, c, &m.kettle, 1).await;
    assert_eq!(r.body["total_cents"], 10_000);
    assert_eq!(r.body["item_count"], 6);
    assert_eq!(r.body["currency"], "KES");

    // The merchant changes the price: the cart shows the new one.
    srv.put(
        &format!("/merchant/products/{}", m.kettle),
        json!({"price_cents": 6_000}),
        Some(&m.merchant_b.access),
    )
    .await;
    let cart = srv.get("/cart", Some(&c.access)).await;
    assert_eq!(cart.body["total_cents"], 11_000);
    let kettle_line = cart.body["items"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|i| i["product"]["id"] == m.kettle.as_str())
                .cloned()
        })
        .expect("line");
    assert_eq!(kettle_line["line_total_cents"], 6_000);

    let line = kettle_line["id"].as_str().unwrap_or("").to_owned();
    let r = srv
        .put(
            &format!("/cart/items/{line}"),
            json!({"quantity": 4}),
            Some(&c.access),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = srv
        .put(
            &format!("/cart/items/{line}"),
            json!({"quantity": 9}),
            Some(&c.access),
        )
        .await;
    assert_eq!(r.status, 409, "only 5 kettles");
    for bad in [
        json!({"quantity": 0}),
        json!({"quantity": -2}),
        json!({}),
        json!({"quantity": 1.5}),
    ] {
        let r = srv
            .put(&format!("/cart/items/{line}"), bad.clone(), Some(&c.access))
            .await;
        assert_eq!(r.status, 422, "{bad}");
    }

    // Someone else's line is not there for them.
    let other = &m.other_customer;
    assert_eq!(
        srv.put(
            &format!("/cart/items/{line}"),
            json!({"quantity": 1}),
            Some(&other.access)
        )
        .await
        .status,
        404
    );
    assert_eq!(
        srv.delete(&format!("/cart/items/{line}"), Some(&other.access))
            .await
            .status,
        404
    );
    assert_eq!(
        srv.get("/cart", Some(&other.access)).await.body["items"],
        json!([])
    );

    assert_eq!(
        srv.delete(&format!("/cart/items/{line}"), Some(&c.access))
            .await
            .status,
        204
    );
    assert_eq!(
        srv.get("/cart", Some(&c.access)).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(srv.delete("/cart/clear", Some(&c.access)).await.status, 204);
    assert_eq!(
        srv.get("/cart", Some(&c.access)).await.body["total_cents"],
        0
    );
}

#[tokio::test]
async fn unavailable_lines_are_flagged_not_dropped() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let c = &m.customer;
    m.add(&srv, c, &m.tea, 2).await;
    m.add(&srv, c, &m.mug, 2).await;
    m.add(&srv, c, &m.kettle, 1).await;

    srv.put(
        &format!("/merchant/products/{}", m.tea),
        json!({"is_active": false}),
        Some(&m.merchant_a.access),
    )
    .await;
    srv.put(
        &format!("/merchant/products/{}", m.mug),
        json!({"stock": 1}),
        Some(&m.merchant_a.access),
    )
    .await;
    srv.put(
        &format!("/merchant/products/{}", m.kettle),
        json!({"stock": 0}),
        Some(&m.merchant_b.access),
    )
    .await;

    let cart = srv.get("/cart", Some(&c.access)).await;
    let items = cart.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "nothing silently dropped");
    let problem = |id: &str| {
        items
            .iter()
            .find(|i| i["product"]["id"] == id)
            .map(|i| i["problem"].clone())
    };
    assert_eq!(problem(&m.tea), Some(json!("unavailable")));
    assert_eq!(problem(&m.mug), Some(json!("insufficient_stock")));
    assert_eq!(problem(&m.kettle), Some(json!("out_of_stock")));
    assert_eq!(cart.body["has_problems"], true);
    assert_eq!(cart.body["total_cents"], 0, "only buyable lines count");
}

#[tokio::test]
async fn cart_input_and_roles() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let missing = m
        .add(&srv, &m.customer, "01900000-0000-7000-8000-000000000000", 1)
        .await;
    assert_eq!(missing.status, 404);
    let garbage = m.add(&srv, &m.customer, "nope", 1).await;
    assert_eq!(garbage.status, 404);
    let r = srv
        .post(
            "/cart/items",
            json!({"quantity": 1}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        srv.get("/cart", Some(&m.merchant_a.access)).await.status,
        403
    );
    assert_eq!(srv.get("/cart", None).await.status, 401);
    srv.put(
        &format!("/merchant/products/{}", m.tea),
        json!({"is_active": false}),
        Some(&m.merchant_a.access),
    )
    .await;
    assert_eq!(
        m.add(&srv, &m.customer, &m.tea, 1).await.status,
        404,
        "inactive products cannot be added"
    );
}
