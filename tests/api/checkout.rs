//! Checkout: one transaction from cart to master order + per-merchant sub-orders, all or
//! nothing, idempotent with a key, and no overselling under concurrent checkouts.

use serde_json::json;

use crate::common::TestServer;
use crate::market::Market;

#[tokio::test]
async fn checkout_splits_the_order_per_merchant_and_takes_stock() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "cod").await;

    assert_eq!(order["status"], "pending");
    assert_eq!(order["payment_method"], "cod");
    assert_eq!(order["payment_status"], "pending");
    assert_eq!(order["total_cents"], 7_000);
    assert_eq!(order["amount_due_cents"], 7_000);
    assert_eq!(order["hub_id"], m.hub.as_str());
    assert_eq!(order["phone"], "0712345678");
    let subs = order["sub_orders"].as_array().cloned().unwrap_or_default();
    assert_eq!(subs.len(), 2);
    let a = subs
        .iter()
        .find(|s| s["merchant"]["id"] == m.merchant_a.user_id.as_str())
        .expect("A");
    assert_eq!(a["merchant"]["business_name"], "Chai Corner");
    assert_eq!(a["subtotal_cents"], 2_000);
    assert_eq!(a["status"], "pending");
    assert_eq!(a["items"][0]["name"], "Kericho tea 500g");
    assert_eq!(a["items"][0]["unit_price_cents"], 1_000);
    assert_eq!(a["items"][0]["quantity"], 2);
    assert_eq!(a["history"][0]["to_status"], "pending");
    assert_eq!(a["history"][0]["actor_role"], "customer");

    assert_eq!(m.stock(&srv, &m.tea).await, 8);
    assert_eq!(m.stock(&srv, &m.kettle).await, 4);
    assert_eq!(
        srv.get("/cart", Some(&m.customer.access)).await.body["items"],
        json!([])
    );

    // The price snapshot does not follow later price changes.
    srv.put(
        &format!("/merchant/products/{}", m.tea),
        json!({"price_cents": 9_999}),
        Some(&m.merchant_a.access),
    )
    .await;
    let id = order["id"].as_str().unwrap_or("");
    let again = srv
        .get(&format!("/orders/{id}"), Some(&m.customer.access))
        .await;
    assert_eq!(again.body["total_cents"], 7_000);

    // Mail through the outbox: the customer, and each merchant.
    let mails = srv.mail_to(&m.admin, "buyer@example.com").await;
    assert!(
        mails.iter().any(|x| x["kind"] == "order_placed"
            && x["body"].as_str().unwrap_or("").contains("KES 70.00"))
    );
    for merchant in ["a@shop.test", "b@shop.test"] {
        let mails = srv.mail_to(&m.admin, merchant).await;
        assert!(
            mails.iter().any(|x| x["kind"] == "merchant_new_order"),
            "{merchant}"
        );
    }
}

#[tokio::test]
async fn a_failed_checkout_leaves_nothing_behind() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let c = &m.customer;

    let empty = srv
        .post("/orders", m.order_body("cod"), Some(&c.access))
        .await;
    assert_eq!((empty.status, empty.code()), (409, "cart_empty"));

    m.add(&srv, c, &m.tea, 2).await;
    m.add(&srv, c, &m.mug, 3).await;
    m.add(&srv, c, &m.kettle, 1).await;
    // Stock runs short and a product is withdrawn after they were put in the cart.
    srv.put(
        &format!("/merchant/products/{}", m.mug),
        json!({"stock": 1}),
        Some(&m.merchant_a.access),
    )
    .await;
    srv.put(
        &format!("/merchant/products/{}", m.kettle),
        json!({"is_active": false}),
        Some(&m.merchant_b.access),
    )
    .await;

    let r = srv
        .post("/orders", m.order_body("cod"), Some(&c.access))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "cart_unavailable"),
        "{:?}",
        r.body
    );
    let items = r.body["error"]["details"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 2, "every offending item is named: {items:?}");
    let mug = items
        .iter()
        .find(|i| i["product_id"] == m.mug.as_str())
        .expect("mug named");
    assert_eq!(mug["problem"], "insufficient_stock");
    assert_eq!(mug["available"], 1);
    assert!(
        items
            .iter()
            .any(|i| i["product_id"] == m.kettle.as_str() && i["problem"] == "unavailable")
    );

    assert_eq!(m.stock(&srv, &m.tea).await, 10, "no stock taken");
    assert_eq!(
        srv.get("/orders", Some(&c.access)).await.body["total"],
        0,
        "no order"
    );
    assert_eq!(
        srv.get("/cart", Some(&c.access)).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "cart intact"
    );

    let mut bad_hub = m.order_body("cod");
    bad_hub["hub_id"] = json!("01900000-0000-7000-8000-000000000000");
    let r = srv.post("/orders", bad_hub, Some(&c.access)).await;
    assert_eq!(r.status, 422);
    assert!(r.body["error"]["fields"]["hub_id"].is_string());

    srv.put(
        &format!("/admin/hubs/{}", m.other_hub),
        json!({"is_active": false}),
        Some(&m.admin.access),
    )
    .await;
    let mut closed = m.order_body("cod");
    closed["hub_id"] = json!(m.other_hub);
    assert_eq!(
        srv.post("/orders", closed, Some(&c.access)).await.status,
        422,
        "inactive hub"
    );

    let r = srv
        .post(
            "/orders",
            json!({"payment_method": "bitcoin", "delivery_address": "x", "phone": "1"}),
            Some(&c.access),
        )
        .await;
    assert_eq!(r.status, 422);
    for f in ["payment_method", "hub_id", "delivery_address", "phone"] {
        assert!(
            r.body["error"]["fields"][f].is_string(),
            "{f}: {:?}",
            r.body
        );
    }
    assert_eq!(
        srv.post("/orders", m.order_body("cod"), Some(&m.merchant_a.access))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_return_the_first_order() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let c = &m.customer;
    m.add(&srv, c, &m.tea, 1).await;
    let send = |body: serde_json::Value, key: &'static str| {
        srv.client
            .post(srv.url("/orders"))
            .bearer_auth(&c.access)
            .header("idempotency-key", key)
            .json(&body)
    };
    let first = srv.send(send(m.order_body("cod"), "checkout-123")).await;
    assert_eq!(first.status, 201);
    let retry = srv.send(send(m.order_body("cod"), "checkout-123")).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotency-replayed"), Some("true"));
    assert_eq!(retry.body["id"], first.body["id"]);
    assert_eq!(
        srv.get("/orders", Some(&c.access)).await.body["total"],
        1,
        "one order only"
    );
    assert_eq!(m.stock(&srv, &m.tea).await, 9, "stock taken once");

    let other_body = srv.send(send(m.order_body("mpesa"), "checkout-123")).await;
    assert_eq!(
        (other_body.status, other_body.code()),
        (422, "idempotency_key_reused")
    );
    let bad_key = srv.send(send(m.order_body("cod"), "   ")).await;
    assert_eq!(bad_key.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkouts_never_oversell() {
    const BUYERS: usize = 30;
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    // Five kettles left; thirty customers each want one.
    let mut buyers = Vec::new();
    for i in 0..BUYERS {
        let s = srv.register(&format!("rush{i}@example.com")).await;
        assert_eq!(m.add(&srv, &s, &m.kettle, 1).await.status, 201);
        buyers.push(s);
    }
    let tasks: Vec<_> = buyers
        .iter()
        .map(|s| {
            let req = srv
                .client
                .post(srv.url("/orders"))
                .bearer_auth(&s.access)
                .json(&m.order_body("cod"));
            tokio::spawn(async move {
                let r = req.send().await.expect("request");
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                (
                    status,
                    body["error"]["code"].as_str().unwrap_or("").to_owned(),
                )
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.expect("join") {
            (201, _) => created += 1,
            (409, code) if code == "cart_unavailable" => refused += 1,
            other => panic!("unexpected answer {other:?} (a busy database must never show)"),
        }
    }
    assert_eq!(created, 5, "exactly the units in stock are sold");
    assert_eq!(refused, BUYERS - 5);
    assert_eq!(m.stock(&srv, &m.kettle).await, 0);
    let all = srv.get("/admin/orders", Some(&m.admin.access)).await;
    assert_eq!(all.body["total"], 5);
}
