//! The sub-order lifecycle: each step owned by one role, illegal moves refused with the
//! allowed ones, history recorded, master status derived, cancellations returning stock,
//! status mail to the customer, and ownership across merchants, customers and hubs.

use serde_json::json;

use crate::common::TestServer;
use crate::market::Market;

const ALL: [&str; 9] = [
    "pending",
    "confirmed",
    "processing",
    "shipped_to_hub",
    "at_hub",
    "out_for_delivery",
    "delivered",
    "cancelled",
    "returned",
];

#[tokio::test]
async fn a_parcel_goes_from_merchant_through_the_hub_to_the_customer() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "cod").await;
    let order_id = order["id"].as_str().unwrap_or("").to_owned();
    let sub_a = Market::sub_of(&order, &m.merchant_a);
    let sub_b = Market::sub_of(&order, &m.merchant_b);
    let status = |srv: &TestServer| {
        let path = format!("/orders/{order_id}");
        let token = m.customer.access.clone();
        let req = srv.client.get(srv.url(&path)).bearer_auth(token);
        async move {
            let r = req.send().await.expect("request");
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            body["status"].as_str().unwrap_or("").to_owned()
        }
    };

    let r = m
        .merchant_move(&srv, &m.merchant_a, &sub_a, "confirmed")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "confirmed");
    assert_eq!(status(&srv).await, "pending", "B has not moved yet");
    m.merchant_move(&srv, &m.merchant_b, &sub_b, "confirmed")
        .await;
    assert_eq!(status(&srv).await, "processing");

    for (merchant, sub) in [(&m.merchant_a, &sub_a), (&m.merchant_b, &sub_b)] {
        for step in ["processing", "shipped_to_hub"] {
            assert_eq!(
                m.merchant_move(&srv, merchant, sub, step).await.status,
                200,
                "{step}"
            );
        }
    }
    assert_eq!(status(&srv).await, "shipping");

    // The merchant's part ends at the hub's door.
    let r = m.merchant_move(&srv, &m.merchant_a, &sub_a, "at_hub").await;
    assert_eq!((r.status, r.code()), (409, "illegal_transition"));
    assert_eq!(r.body["error"]["details"]["allowed"], json!([]));

    let rider = m.rider(&srv).await;
    let r = m
        .hub_move(&srv, &m.staff, &sub_a, json!({"status": "at_hub"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = m
        .hub_move(
            &srv,
            &m.staff,
            &sub_a,
            json!({"status": "out_for_delivery"}),
        )
        .await;
    assert_eq!(r.status, 422, "a rider is needed first");
    let r = m
        .hub_move(
            &srv,
            &m.staff,
            &sub_a,
            json!({"status": "out_for_delivery", "delivery_partner_id": rider}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["delivery_partner"]["name"], "Otieno Rider");
    assert_eq!(r.body["customer_phone"], "0712345678");
    assert_eq!(r.body["order_amount_due_cents"], 7_000);
    let r = m
        .hub_move(&srv, &m.staff, &sub_a, json!({"status": "delivered"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(status(&srv).await, "shipping", "B is still on its way");
    m.deliver(&srv, &sub_b, &rider).await;
    assert_eq!(status(&srv).await, "delivered");

    let detail = srv
        .get(&format!("/orders/{order_id}"), Some(&m.customer.access))
        .await;
    let a = detail.body["sub_orders"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["id"] == sub_a.as_str()).cloned())
        .expect("a");
    let steps: Vec<(String, String)> = a["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|e| {
                    (
                        e["to_status"].as_str().unwrap_or("").to_owned(),
                        e["actor_role"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let expected: Vec<(String, String)> = [
        ("pending", "customer"),
        ("confirmed", "merchant"),
        ("processing", "merchant"),
        ("shipped_to_hub", "merchant"),
        ("at_hub", "hub_staff"),
        ("out_for_delivery", "hub_staff"),
        ("delivered", "hub_staff"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(steps, expected, "every step recorded with who");
    assert!(
        a["history"][1]["actor_id"] == m.merchant_a.user_id.as_str()
            && a["history"][1]["at"].is_string()
    );

    // Returned after delivery, by the hub.
    let r = m
        .hub_move(&srv, &m.staff, &sub_a, json!({"status": "returned"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(status(&srv).await, "delivered", "one part still delivered");

    // The customer heard about each step.
    let mails = srv.mail_to(&m.admin, "buyer@example.com").await;
    let updates = mails.iter().filter(|x| x["kind"] == "order_status").count();
    assert!(updates >= 13, "{updates} status mails");
}

#[tokio::test]
async fn every_illegal_move_is_refused_with_the_allowed_ones() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "cod").await;
    let sub = Market::sub_of(&order, &m.merchant_a);

    // From pending, the merchant may only confirm or cancel.
    for to in ALL
        .iter()
        .filter(|s| !["confirmed", "cancelled"].contains(s))
    {
        let r = m.merchant_move(&srv, &m.merchant_a, &sub, to).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "illegal_transition"),
            "pending -> {to}"
        );
        assert_eq!(
            r.body["error"]["details"]["allowed"],
            json!(["confirmed", "cancelled"]),
            "{to}"
        );
    }
    // Hub staff cannot touch a parcel that has not reached them (nor a merchant's steps).
    for to in ALL {
        let r = m
            .hub_move(&srv, &m.staff, &sub, json!({"status": to}))
            .await;
        assert_eq!(r.status, 409, "hub staff: pending -> {to}");
    }
    m.ship(&srv, &m.merchant_a, &sub).await;
    for to in ALL.iter().filter(|s| **s != "at_hub") {
        let r = m
            .hub_move(&srv, &m.staff, &sub, json!({"status": to}))
            .await;
        assert_eq!(r.status, 409, "shipped_to_hub -> {to}");
        assert_eq!(r.body["error"]["details"]["allowed"], json!(["at_hub"]));
    }
    let cancel = m
        .merchant_move(&srv, &m.merchant_a, &sub, "cancelled")
        .await;
    assert_eq!(cancel.status, 409, "no cancelling once shipped");
    let bogus = m
        .merchant_move(&srv, &m.merchant_a, &sub, "teleported")
        .await;
    assert_eq!(bogus.status, 422);
    let partner_too_early = m
        .hub_move(&srv, &m.staff, &sub, json!({"status": "delivered", "delivery_partner_id": "01900000-0000-7000-8000-000000000000"}))
        .await;
    assert!(partner_too_early.status == 409 || partner_too_early.status == 422);
}

#[tokio::test]
async fn cancellations_return_stock_and_stop_once_shipped() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "cod").await;
    let id = order["id"].as_str().unwrap_or("").to_owned();
    assert_eq!(
        (m.stock(&srv, &m.tea).await, m.stock(&srv, &m.kettle).await),
        (8, 4)
    );

    // A merchant cancels its own part: its stock comes back, the rest of the order stands.
    let sub_b = Market::sub_of(&order, &m.merchant_b);
    let r = m
        .merchant_move(&srv, &m.merchant_b, &sub_b, "cancelled")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(m.stock(&srv, &m.kettle).await, 5);
    let o = srv
        .get(&format!("/orders/{id}"), Some(&m.customer.access))
        .await;
    assert_eq!(o.body["status"], "pending");
    assert_eq!(
        o.body["amount_due_cents"], 2_000,
        "the cancelled part is not due"
    );

    // The customer cancels what is left.
    let r = srv
        .post(
            &format!("/orders/{id}/cancel"),
            json!({}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["payment_status"], "cancelled");
    assert_eq!(m.stock(&srv, &m.tea).await, 10);
    let again = srv
        .post(
            &format!("/orders/{id}/cancel"),
            json!({}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(again.status, 409);

    // Once part of an order has shipped, the customer can no longer cancel it.
    let second = m.order(&srv, "cod").await;
    let sid = second["id"].as_str().unwrap_or("").to_owned();
    m.ship(&srv, &m.merchant_a, &Market::sub_of(&second, &m.merchant_a))
        .await;
    let r = srv
        .post(
            &format!("/orders/{sid}/cancel"),
            json!({}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "already_shipped"));
    let other = srv
        .post(
            &format!("/orders/{sid}/cancel"),
            json!({}),
            Some(&m.other_customer.access),
        )
        .await;
    assert_eq!(other.status, 404, "not their order");
}

#[tokio::test]
async fn nobody_sees_or_moves_what_is_not_theirs() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "cod").await;
    let id = order["id"].as_str().unwrap_or("").to_owned();
    let sub_a = Market::sub_of(&order, &m.merchant_a);

    assert_eq!(
        srv.get(&format!("/orders/{id}"), Some(&m.other_customer.access))
            .await
            .status,
        404
    );
    assert_eq!(
        srv.get("/orders", Some(&m.other_customer.access))
            .await
            .body["total"],
        0
    );
    assert_eq!(
        srv.get(
            &format!("/merchant/orders/{sub_a}"),
            Some(&m.merchant_b.access)
        )
        .await
        .status,
        404
    );
    assert_eq!(
        m.merchant_move(&srv, &m.merchant_b, &sub_a, "confirmed")
            .await
            .status,
        404
    );
    let mine = srv
        .get("/merchant/orders", Some(&m.merchant_b.access))
        .await;
    assert_eq!(mine.body["total"], 1);
    assert!(mine.body["items"][0]["id"] != sub_a.as_str());

    m.ship(&srv, &m.merchant_a, &sub_a).await;
    assert_eq!(
        srv.get(&format!("/hub/orders/{sub_a}"), Some(&m.other_staff.access))
            .await
            .status,
        404
    );
    assert_eq!(
        m.hub_move(&srv, &m.other_staff, &sub_a, json!({"status": "at_hub"}))
            .await
            .status,
        404
    );
    assert_eq!(
        srv.get("/hub/orders", Some(&m.other_staff.access))
            .await
            .body["total"],
        0
    );
    assert_eq!(
        srv.get("/hub/orders", Some(&m.staff.access)).await.body["total"],
        2
    );
    assert_eq!(
        srv.get(&format!("/hub/orders/{sub_a}"), Some(&m.staff.access))
            .await
            .status,
        200
    );

    // Roles: a customer cannot use merchant or hub endpoints.
    assert_eq!(
        srv.get("/merchant/orders", Some(&m.customer.access))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.get("/hub/orders", Some(&m.customer.access))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.get(&format!("/admin/orders/{id}"), Some(&m.customer.access))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.get(&format!("/admin/orders/{id}"), Some(&m.admin.access))
            .await
            .status,
        200
    );
}
