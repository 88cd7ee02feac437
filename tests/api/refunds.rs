//! Refunds: requests with evidence for delivered orders, one open per sub-order, never more
//! than was paid, admin decisions with mail, manual payouts and restocking.

use serde_json::json;

use crate::common::TestServer;
use crate::images::{PNG, upload_to};
use crate::market::Market;

fn item_of(order: &serde_json::Value, sub: &str) -> String {
    order["sub_orders"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["id"] == sub))
        .and_then(|s| s["items"][0]["id"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// The picture at `url` reaches the customer who asked, the merchant of the sub-order and
/// admins (privately cached); nobody else, and never through `/media/`.
async fn evidence_is_private(srv: &TestServer, m: &Market, url: &str) {
    let fetch = |token: Option<String>| {
        let mut req = srv.client.get(srv.raw(url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.expect("fetch the picture") }
    };
    for (who, token) in [
        ("the customer", &m.customer.access),
        ("the merchant", &m.merchant_a.access),
        ("an admin", &m.admin.access),
    ] {
        let r = fetch(Some(token.clone())).await;
        assert_eq!(r.status(), 200, "{who}");
        let cache = r
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(cache.starts_with("private"), "{who}: {cache}");
        assert_eq!(r.bytes().await.expect("bytes").as_ref(), PNG, "{who}");
    }
    assert_eq!(fetch(None).await.status(), 401, "anonymous");
    for (who, token) in [
        ("another customer", &m.other_customer.access),
        ("another merchant", &m.merchant_b.access),
        ("hub staff", &m.staff.access),
    ] {
        assert_eq!(fetch(Some(token.clone())).await.status(), 404, "{who}");
    }
    let id = url.rsplit('/').next().unwrap_or("");
    for path in [
        format!("/media/evidence/{id}.png"),
        format!("/media/evidence/{id}.jpg"),
    ] {
        assert_eq!(
            srv.client
                .get(srv.raw(&path))
                .send()
                .await
                .expect("get")
                .status(),
            404,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_refund_with_evidence_is_approved_paid_by_hand_and_restocks() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.delivered(&srv, "cod").await;
    let sub = Market::sub_of(&order, &m.merchant_a);
    assert_eq!(m.stock(&srv, &m.tea).await, 8);

    let r = srv
        .post("/refunds", json!({"sub_order_id": sub, "reason": "damaged", "description": "Both packets arrived torn open."}), Some(&m.customer.access))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(
        r.body["amount_cents"], 2_000,
        "defaults to what is left to refund"
    );
    let id = r.body["id"].as_str().unwrap_or("").to_owned();

    let ev = upload_to(
        &srv,
        &m.customer,
        &format!("/refunds/{id}/evidence"),
        PNG.to_vec(),
        "torn.png",
        "image/png",
    )
    .await;
    assert_eq!(ev.status, 201, "{:?}", ev.body);
    let picture = ev.body["url"].as_str().unwrap_or("").to_owned();
    assert_eq!(
        picture,
        format!(
            "/api/v1/refunds/{id}/evidence/{}",
            ev.body["id"].as_str().unwrap_or("")
        )
    );
    evidence_is_private(&srv, &m, &picture).await;
    let forged = upload_to(
        &srv,
        &m.customer,
        &format!("/refunds/{id}/evidence"),
        b"%PDF-1.4".to_vec(),
        "x.png",
        "image/png",
    )
    .await;
    assert_eq!(forged.status, 415);
    let theirs = upload_to(
        &srv,
        &m.other_customer,
        &format!("/refunds/{id}/evidence"),
        PNG.to_vec(),
        "a.png",
        "image/png",
    )
    .await;
    assert_eq!(theirs.status, 404);

    let again = srv
        .post("/refunds", json!({"sub_order_id": sub, "reason": "damaged", "description": "Asking a second time."}), Some(&m.customer.access))
        .await;
    assert_eq!((again.status, again.code()), (409, "refund_open"));

    let queue = srv
        .get("/admin/refunds?status=pending", Some(&m.admin.access))
        .await;
    assert_eq!(queue.body["total"], 1);
    assert_eq!(
        queue.body["items"][0]["evidence"].as_array().map(Vec::len),
        Some(1)
    );

    let ok = srv
        .put(
            &format!("/admin/refunds/{id}/approve"),
            json!({"note": "Sorry about that", "goods_returned": true}),
            Some(&m.admin.access),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["status"], "approved");
    assert_eq!(ok.body["payout_method"], "manual");
    assert_eq!(ok.body["payout_status"], "recorded");
    assert_eq!(
        m.stock(&srv, &m.tea).await,
        10,
        "returned goods go back to stock"
    );
    let twice = srv
        .put(
            &format!("/admin/refunds/{id}/approve"),
            json!({}),
            Some(&m.admin.access),
        )
        .await;
    assert_eq!(twice.status, 409);
    let late = upload_to(
        &srv,
        &m.customer,
        &format!("/refunds/{id}/evidence"),
        PNG.to_vec(),
        "b.png",
        "image/png",
    )
    .await;
    assert_eq!(late.status, 409);

    let mine = srv.get("/refunds", Some(&m.customer.access)).await;
    assert_eq!(mine.body["items"][0]["status"], "approved");
    assert_eq!(
        srv.get(&format!("/refunds/{id}"), Some(&m.other_customer.access))
            .await
            .status,
        404
    );
    let mails = srv.mail_to(&m.admin, "buyer@example.com").await;
    assert!(mails.iter().any(|x| x["kind"] == "refund_approved"
        && x["body"].as_str().unwrap_or("").contains("KES 20.00")));
}

#[tokio::test]
async fn refunds_never_exceed_what_was_paid() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.delivered(&srv, "cod").await;
    let sub = Market::sub_of(&order, &m.merchant_a);
    let tea_item = item_of(&order, &sub);
    let ask = |body: serde_json::Value| {
        let token = m.customer.access.clone();
        let srv = &srv;
        async move { srv.post("/refunds", body, Some(&token)).await }
    };
    let base = json!({"sub_order_id": sub, "reason": "not_as_described", "description": "Not the blend in the picture."});

    let mut too_much = base.clone();
    too_much["amount_cents"] = json!(2_001);
    let r = ask(too_much).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["error"]["details"]["max_amount_cents"], 2_000);

    // One of the two packets.
    let mut one = base.clone();
    one["items"] = json!([{"order_item_id": tea_item, "quantity": 1}]);
    let r = ask(one).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["amount_cents"], 1_000, "priced from the item");
    let id = r.body["id"].as_str().unwrap_or("").to_owned();
    assert_eq!(
        srv.put(
            &format!("/admin/refunds/{id}/approve"),
            json!({}),
            Some(&m.admin.access)
        )
        .await
        .status,
        200
    );

    let mut two = base.clone();
    two["items"] = json!([{"order_item_id": tea_item, "quantity": 2}]);
    let r = ask(two).await;
    assert_eq!(r.status, 422, "only one packet is left to refund");
    let mut rest = base.clone();
    rest["amount_cents"] = json!(1_500);
    assert_eq!(ask(rest).await.status, 422, "only 1 000 is left");
    let r = ask(base.clone()).await;
    assert_eq!(r.body["amount_cents"], 1_000);
    let id = r.body["id"].as_str().unwrap_or("").to_owned();
    assert_eq!(
        srv.put(
            &format!("/admin/refunds/{id}/approve"),
            json!({}),
            Some(&m.admin.access)
        )
        .await
        .status,
        200
    );
    let done = ask(base).await;
    assert_eq!((done.status, done.code()), (409, "fully_refunded"));
}

#[tokio::test]
async fn requests_need_a_paid_delivered_order_of_ones_own() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let fresh = m.order(&srv, "cod").await;
    let body = |sub: &str| json!({"sub_order_id": sub, "reason": "damaged", "description": "It broke on the way."});
    let early = srv
        .post(
            "/refunds",
            body(&Market::sub_of(&fresh, &m.merchant_a)),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!((early.status, early.code()), (409, "not_delivered"));

    let order = m.delivered(&srv, "cod").await;
    let sub = Market::sub_of(&order, &m.merchant_b);
    assert_eq!(
        srv.post("/refunds", body(&sub), Some(&m.other_customer.access))
            .await
            .status,
        404
    );
    let bad = srv
        .post(
            "/refunds",
            json!({"sub_order_id": sub, "reason": "changed_mind", "description": "short"}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body["error"]["fields"]["reason"].is_string()
            && bad.body["error"]["fields"]["description"].is_string()
    );

    let r = srv
        .post("/refunds", body(&sub), Some(&m.customer.access))
        .await;
    let id = r.body["id"].as_str().unwrap_or("").to_owned();
    let no_note = srv
        .put(
            &format!("/admin/refunds/{id}/deny"),
            json!({}),
            Some(&m.admin.access),
        )
        .await;
    assert_eq!(no_note.status, 422);
    let denied = srv
        .put(
            &format!("/admin/refunds/{id}/deny"),
            json!({"note": "The photos show no damage."}),
            Some(&m.admin.access),
        )
        .await;
    assert_eq!(denied.status, 200);
    assert_eq!(denied.body["status"], "denied");
    assert_eq!(denied.body["payout_method"], serde_json::Value::Null);
    let mails = srv.mail_to(&m.admin, "buyer@example.com").await;
    assert!(mails.iter().any(|x| x["kind"] == "refund_denied"));
    assert_eq!(
        srv.put(
            &format!("/admin/refunds/{id}/approve"),
            json!({}),
            Some(&m.admin.access)
        )
        .await
        .status,
        409
    );
    assert_eq!(
        srv.get("/admin/refunds", Some(&m.customer.access))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.get("/admin/refunds?status=lost", Some(&m.admin.access))
            .await
            .status,
        400
    );
}
