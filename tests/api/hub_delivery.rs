//! Hub staff and their riders; cash on delivery.

use serde_json::json;

use crate::common::TestServer;
use crate::market::Market;

#[tokio::test]
async fn admins_assign_staff_and_staff_manage_their_riders() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let staff = srv
        .get(
            &format!("/admin/hub-staff?hub_id={}", m.hub),
            Some(&m.admin.access),
        )
        .await;
    assert_eq!(staff.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        srv.get("/auth/me", Some(&m.staff.access)).await.body["role"],
        "hub_staff"
    );

    let merchant = srv
        .post(
            "/admin/hub-staff",
            json!({"user_id": m.merchant_a.user_id, "hub_id": m.hub}),
            Some(&m.admin.access),
        )
        .await;
    assert_eq!(
        (merchant.status, merchant.code()),
        (409, "user_not_eligible")
    );
    let no_hub = srv
        .post("/admin/hub-staff", json!({"user_id": m.customer.user_id, "hub_id": "01900000-0000-7000-8000-000000000000"}), Some(&m.admin.access))
        .await;
    assert_eq!(no_hub.status, 422);
    assert_eq!(
        srv.post("/admin/hub-staff", json!({}), Some(&m.admin.access))
            .await
            .status,
        422
    );
    assert_eq!(
        srv.post("/admin/hub-staff", json!({}), Some(&m.staff.access))
            .await
            .status,
        403
    );

    let rider = m.rider(&srv).await;
    let dup = srv
        .post(
            "/hub/delivery-partners",
            json!({"name": "Same Phone", "phone": "0722 000 111"}),
            Some(&m.staff.access),
        )
        .await;
    assert_eq!(dup.status, 409);
    let bad = srv
        .post(
            "/hub/delivery-partners",
            json!({"name": "X", "phone": "12"}),
            Some(&m.staff.access),
        )
        .await;
    assert_eq!(bad.status, 422);
    let r = srv
        .put(
            &format!("/hub/delivery-partners/{rider}"),
            json!({"is_active": false, "vehicle": null}),
            Some(&m.staff.access),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["vehicle"], serde_json::Value::Null);
    let cross = srv
        .put(
            &format!("/hub/delivery-partners/{rider}"),
            json!({"is_active": true}),
            Some(&m.other_staff.access),
        )
        .await;
    assert_eq!(cross.status, 404, "another hub's rider");
    assert_eq!(
        srv.get("/hub/delivery-partners", Some(&m.other_staff.access))
            .await
            .body["items"],
        json!([])
    );
    assert_eq!(
        srv.get("/hub/delivery-partners", Some(&m.staff.access))
            .await
            .body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // An inactive rider, or one of another hub, cannot take a parcel out.
    let order = m.order(&srv, "cod").await;
    let sub = Market::sub_of(&order, &m.merchant_a);
    m.ship(&srv, &m.merchant_a, &sub).await;
    m.hub_move(&srv, &m.staff, &sub, json!({"status": "at_hub"}))
        .await;
    let inactive = m
        .hub_move(
            &srv,
            &m.staff,
            &sub,
            json!({"status": "out_for_delivery", "delivery_partner_id": rider}),
        )
        .await;
    assert_eq!(inactive.status, 422);
    let theirs = srv
        .post(
            "/hub/delivery-partners",
            json!({"name": "Kisumu Rider", "phone": "0733000222"}),
            Some(&m.other_staff.access),
        )
        .await;
    let theirs_id = theirs.body["id"].as_str().unwrap_or("").to_owned();
    let foreign = m
        .hub_move(
            &srv,
            &m.staff,
            &sub,
            json!({"status": "out_for_delivery", "delivery_partner_id": theirs_id}),
        )
        .await;
    assert_eq!(foreign.status, 422);
}

#[tokio::test]
async fn cash_on_delivery_is_confirmed_once_for_the_amount_due() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "cod").await;
    let id = order["id"].as_str().unwrap_or("").to_owned();
    let (sub_a, sub_b) = (
        Market::sub_of(&order, &m.merchant_a),
        Market::sub_of(&order, &m.merchant_b),
    );
    let confirm = |who: &crate::common::Session, amount: i64| {
        let body = json!({"order_id": id, "amount_cents": amount});
        let token = who.access.clone();
        let srv = &srv;
        async move { srv.post("/payments/cod/confirm", body, Some(&token)).await }
    };

    let early = confirm(&m.staff, 7_000).await;
    assert_eq!((early.status, early.code()), (409, "not_out_for_delivery"));

    let rider = m.rider(&srv).await;
    for sub in [&sub_a, &sub_b] {
        let merchant = if sub == &sub_a {
            &m.merchant_a
        } else {
            &m.merchant_b
        };
        m.ship(&srv, merchant, sub).await;
        m.hub_move(&srv, &m.staff, sub, json!({"status": "at_hub"}))
            .await;
        m.hub_move(
            &srv,
            &m.staff,
            sub,
            json!({"status": "out_for_delivery", "delivery_partner_id": rider}),
        )
        .await;
    }
    let wrong = confirm(&m.staff, 6_999).await;
    assert_eq!(wrong.status, 422);
    assert_eq!(wrong.body["error"]["details"]["amount_due_cents"], 7_000);
    let other_hub = confirm(&m.other_staff, 7_000).await;
    assert_eq!(other_hub.status, 404, "only the order's hub collects");
    assert_eq!(confirm(&m.customer, 7_000).await.status, 403);

    let ok = confirm(&m.staff, 7_000).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["payment"]["status"], "paid");
    assert_eq!(ok.body["payment"]["collected_cents"], 7_000);
    let twice = confirm(&m.staff, 7_000).await;
    assert_eq!(twice.status, 200, "confirming twice is harmless");
    assert_eq!(
        twice.body["payment"]["paid_at"],
        ok.body["payment"]["paid_at"]
    );

    for sub in [&sub_a, &sub_b] {
        m.hub_move(&srv, &m.staff, sub, json!({"status": "delivered"}))
            .await;
    }
    let done = srv
        .get(&format!("/orders/{id}"), Some(&m.customer.access))
        .await;
    assert_eq!(done.body["status"], "delivered");
    assert_eq!(done.body["payment_status"], "paid");
    assert_eq!(done.body["amount_due_cents"], 0);
    let seen = srv
        .get(&format!("/payments/{id}"), Some(&m.customer.access))
        .await;
    assert_eq!(seen.body["payment"]["status"], "paid");
    assert_eq!(
        srv.get(&format!("/payments/{id}"), Some(&m.other_customer.access))
            .await
            .status,
        404
    );

    // An M-Pesa order is not settled in cash.
    let mpesa = m.order(&srv, "mpesa").await;
    assert_eq!(mpesa["status"], "awaiting_payment");
    let r = srv
        .post(
            "/payments/cod/confirm",
            json!({"order_id": mpesa["id"], "amount_cents": 7_000}),
            Some(&m.staff.access),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "not_cash_on_delivery"));
}
