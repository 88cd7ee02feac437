//! M-Pesa through the built-in simulator: STK push, the callback handler (also hit directly
//! with forged, duplicate and out-of-order bodies), failures, release after the grace period,
//! and reconciliation after a restart.

use serde_json::{Value, json};

use crate::common::{CALLBACK_SECRET, Resp, TestServer, test_config};
use crate::market::Market;

async fn initiate(srv: &TestServer, m: &Market, order: &Value) -> Resp {
    srv.post(
        "/payments/mpesa/initiate",
        json!({"order_id": order["id"], "phone": "0712 345 678"}),
        Some(&m.customer.access),
    )
    .await
}

async fn order_status(srv: &TestServer, m: &Market, order: &Value) -> (String, String) {
    let r = srv
        .get(
            &format!("/orders/{}", order["id"].as_str().unwrap_or("")),
            Some(&m.customer.access),
        )
        .await;
    (
        r.body["status"].as_str().unwrap_or("").to_owned(),
        r.body["payment_status"].as_str().unwrap_or("").to_owned(),
    )
}

async fn wait_payment(srv: &TestServer, m: &Market, order: &Value, want: &str) {
    srv.eventually(&format!("payment {want}"), || async {
        (order_status(srv, m, order).await.1 == want).then_some(())
    })
    .await;
}

fn callback(checkout: &str, code: i64, amount: f64, receipt: &str, phone: i64) -> Value {
    let mut cb = json!({"MerchantRequestID": "1-2-3", "CheckoutRequestID": checkout, "ResultCode": code,
                        "ResultDesc": if code == 0 { "The service request is processed successfully." } else { "Request cancelled by user" }});
    if code == 0 {
        cb["CallbackMetadata"] = json!({"Item": [
            {"Name": "Amount", "Value": amount}, {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20261130101010_i64}, {"Name": "PhoneNumber", "Value": phone}]});
    }
    json!({"Body": {"stkCallback": cb}})
}

async fn post_callback(srv: &TestServer, secret: &str, body: &Value) -> Resp {
    srv.post(
        &format!("/payments/mpesa/callback/{secret}"),
        body.clone(),
        None,
    )
    .await
}

#[tokio::test]
async fn the_simulator_completes_a_push_through_the_callback_handler() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    assert_eq!(
        order_status(&srv, &m, &order).await,
        ("awaiting_payment".into(), "pending".into())
    );

    let r = initiate(&srv, &m, &order).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["amount"], 70, "whole shillings");
    assert_eq!(r.body["phone"], "254712345678");
    assert!(
        r.body["checkout_request_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("ws_CO_")
    );

    wait_payment(&srv, &m, &order, "paid").await;
    assert_eq!(
        order_status(&srv, &m, &order).await.0,
        "pending",
        "now waiting for the merchants"
    );
    let pay = srv
        .get(
            &format!("/payments/{}", order["id"].as_str().unwrap_or("")),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(pay.body["payment"]["collected_cents"], 7_000);
    assert_eq!(pay.body["amount_due_cents"], 0);
    let mails = srv.mail_to(&m.admin, "buyer@example.com").await;
    assert!(mails.iter().any(|x| x["kind"] == "payment_received"));

    let again = initiate(&srv, &m, &order).await;
    assert_eq!((again.status, again.code()), (409, "already_paid"));
    let cancel = srv
        .post(
            &format!("/orders/{}/cancel", order["id"].as_str().unwrap_or("")),
            json!({}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!((cancel.status, cancel.code()), (409, "order_paid"));
}

#[tokio::test]
async fn initiation_rules() {
    let srv = TestServer::with(|c| c.payments.simulator_delay_ms = 60_000).await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    let bad_phone = srv
        .post(
            "/payments/mpesa/initiate",
            json!({"order_id": order["id"], "phone": "0212345678"}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(bad_phone.status, 422);
    let theirs = srv
        .post(
            "/payments/mpesa/initiate",
            json!({"order_id": order["id"], "phone": "0712345678"}),
            Some(&m.other_customer.access),
        )
        .await;
    assert_eq!(theirs.status, 404);
    assert_eq!(initiate(&srv, &m, &order).await.status, 200);
    let twice = initiate(&srv, &m, &order).await;
    assert_eq!((twice.status, twice.code()), (409, "payment_in_progress"));
    let cod = m.order(&srv, "cod").await;
    assert_eq!(initiate(&srv, &m, &cod).await.status, 409);
    let missing = srv
        .post(
            "/payments/mpesa/initiate",
            json!({}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(missing.status, 422);
}

#[tokio::test]
async fn forged_duplicate_and_out_of_order_callbacks_change_nothing() {
    // The simulator never answers by itself here: the test plays Daraja.
    let srv = TestServer::with(|c| c.payments.simulator_delay_ms = 600_000).await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    let checkout = initiate(&srv, &m, &order).await.body["checkout_request_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let ok = callback(&checkout, 0, 70.0, "QKX1234ABC", 254712345678);
    let ack = json!({"ResultCode": 0, "ResultDesc": "Accepted"});

    let wrong_secret = post_callback(&srv, "guessed-secret", &ok).await;
    assert_eq!(wrong_secret.status, 404);
    assert_eq!(order_status(&srv, &m, &order).await.1, "pending");

    let unknown = post_callback(
        &srv,
        CALLBACK_SECRET,
        &callback("ws_CO_forged", 0, 70.0, "QKX0000000", 254712345678),
    )
    .await;
    assert_eq!(
        (unknown.status, &unknown.body),
        (200, &ack),
        "acknowledged, stored, ignored"
    );
    let short = post_callback(
        &srv,
        CALLBACK_SECRET,
        &callback(&checkout, 0, 1.0, "QKX1111111", 254712345678),
    )
    .await;
    assert_eq!(short.status, 200);
    assert_eq!(
        order_status(&srv, &m, &order).await.1,
        "pending",
        "a wrong amount never pays"
    );

    // The wrong amount settled that push as rejected; a new push and a correct answer pay.
    let checkout = initiate(&srv, &m, &order).await.body["checkout_request_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let wrong_phone = post_callback(
        &srv,
        CALLBACK_SECRET,
        &callback(&checkout, 0, 70.0, "QKX2222222", 254799999999),
    )
    .await;
    assert_eq!(wrong_phone.status, 200);
    assert_eq!(
        order_status(&srv, &m, &order).await.1,
        "pending",
        "another phone never pays"
    );
    let checkout = initiate(&srv, &m, &order).await.body["checkout_request_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let good = callback(&checkout, 0, 70.0, "QKX1234ABC", 254712345678);
    assert_eq!(post_callback(&srv, CALLBACK_SECRET, &good).await.body, ack);
    assert_eq!(order_status(&srv, &m, &order).await.1, "paid");

    // Replays and a late failure for the same push change nothing.
    assert_eq!(post_callback(&srv, CALLBACK_SECRET, &good).await.body, ack);
    assert_eq!(
        post_callback(
            &srv,
            CALLBACK_SECRET,
            &callback(&checkout, 1032, 0.0, "", 0)
        )
        .await
        .body,
        ack
    );
    assert_eq!(order_status(&srv, &m, &order).await.1, "paid");
    let pay = srv
        .get(
            &format!("/payments/{}", order["id"].as_str().unwrap_or("")),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(pay.body["payment"]["collected_cents"], 7_000);

    // The same receipt cannot pay a second order.
    let second = m.order(&srv, "mpesa").await;
    let checkout2 = initiate(&srv, &m, &second).await.body["checkout_request_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    post_callback(
        &srv,
        CALLBACK_SECRET,
        &callback(&checkout2, 0, 70.0, "QKX1234ABC", 254712345678),
    )
    .await;
    assert_eq!(
        order_status(&srv, &m, &second).await.1,
        "pending",
        "a reused receipt never pays"
    );

    let garbage = srv
        .send(
            srv.client
                .post(srv.url(&format!("/payments/mpesa/callback/{CALLBACK_SECRET}")))
                .body("not json"),
        )
        .await;
    assert_eq!(garbage.status, 400);
}

#[tokio::test]
async fn a_failed_payment_can_be_retried_and_otherwise_releases_the_order() {
    let srv = TestServer::with(|c| {
        c.payments.simulator_result_code = 1032;
        c.payments.release_after_secs = 1;
        c.payments.reconcile_interval_secs = 1;
    })
    .await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    assert_eq!(m.stock(&srv, &m.tea).await, 8);
    assert_eq!(initiate(&srv, &m, &order).await.status, 200);
    wait_payment(&srv, &m, &order, "failed").await;
    assert_eq!(order_status(&srv, &m, &order).await.0, "awaiting_payment");
    let mails = srv.mail_to(&m.admin, "buyer@example.com").await;
    assert!(mails.iter().any(|x| x["kind"] == "payment_failed"));

    // Once the grace period is over the order is released and its stock sold again.
    srv.eventually("the order to be released", || async {
        (order_status(&srv, &m, &order).await.0 == "cancelled").then_some(())
    })
    .await;
    assert_eq!(order_status(&srv, &m, &order).await.1, "cancelled");
    assert_eq!(m.stock(&srv, &m.tea).await, 10);
    assert_eq!(m.stock(&srv, &m.kettle).await, 5);
    let detail = srv
        .get(
            &format!("/orders/{}", order["id"].as_str().unwrap_or("")),
            Some(&m.customer.access),
        )
        .await;
    let last = &detail.body["sub_orders"][0]["history"]
        .as_array()
        .and_then(|h| h.last().cloned())
        .unwrap_or_default();
    assert_eq!(last["actor_role"], "system");
    assert_eq!(last["actor_id"], Value::Null);
    assert_eq!(
        initiate(&srv, &m, &order).await.status,
        409,
        "a released order cannot be paid"
    );
}

#[tokio::test]
async fn a_retry_after_a_failure_is_allowed() {
    let srv = TestServer::with(|c| c.payments.simulator_delay_ms = 600_000).await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    let first = initiate(&srv, &m, &order).await.body["checkout_request_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    post_callback(&srv, CALLBACK_SECRET, &callback(&first, 2001, 0.0, "", 0)).await;
    assert_eq!(order_status(&srv, &m, &order).await.1, "failed");
    let retry = initiate(&srv, &m, &order).await;
    assert_eq!(retry.status, 200);
    assert_eq!(
        order_status(&srv, &m, &order).await.1,
        "pending",
        "the retry reopens the payment"
    );
    let second = retry.body["checkout_request_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    post_callback(
        &srv,
        CALLBACK_SECRET,
        &callback(&second, 0, 70.0, "RTY0000001", 254712345678),
    )
    .await;
    assert_eq!(order_status(&srv, &m, &order).await.1, "paid");
}

#[tokio::test]
async fn reconciliation_settles_a_lost_callback_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let holder_a = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(&holder_a);
    config.data_dir = data.clone();
    config.payments.simulator_delay_ms = 600_000; // the answer never comes before the stop
    let database = config.database.url.clone(); // the same database after the restart
    let srv = TestServer::start_in(holder_a, config).await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    assert_eq!(initiate(&srv, &m, &order).await.status, 200);
    srv.stop().await; // the simulated callback is lost with the server

    let holder_b = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(&holder_b);
    config.data_dir = data;
    config.database.url = database;
    // After the restart the simulator has answered long ago, and queries are due at once.
    config.payments.simulator_delay_ms = 0;
    config.payments.reconcile_after_secs = 1;
    config.payments.reconcile_interval_secs = 1;
    let srv = TestServer::start_in(holder_b, config).await;
    wait_payment(&srv, &m, &order, "paid").await;
}

#[tokio::test]
async fn a_disabled_gateway_offers_cash_on_delivery_only() {
    let srv =
        TestServer::with(|c| c.payments.gateway = markethub::config::GatewayKind::Disabled).await;
    let m = Market::new(&srv).await;
    m.add(&srv, &m.customer, &m.tea, 1).await;
    let r = srv
        .post("/orders", m.order_body("mpesa"), Some(&m.customer.access))
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body["error"]["fields"]["payment_method"].is_string());
    assert_eq!(
        srv.post("/orders", m.order_body("cod"), Some(&m.customer.access))
            .await
            .status,
        201
    );
}
