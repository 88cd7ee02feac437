//! The real Daraja client (feature `mpesa`) against a stub of Daraja on loopback that
//! enforces `../shared/reference/daraja.md`: Basic-auth OAuth with a string `expires_in`,
//! bearer tokens, the password built from shortcode + passkey + timestamp, whole-shilling
//! string amounts, 12-digit phones, STK query "still processing" as a 500, and B2C.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{Session, TestServer};
use crate::market::Market;

pub const KEY: &str = "consumer-key";
pub const SECRET: &str = "consumer-secret";
pub const SHORTCODE: &str = "174379";
pub const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

#[derive(Default)]
pub struct Inner {
    pub oauth_calls: usize,
    pub tokens: Vec<String>,
    /// Answer the next push with "Invalid Access Token" once.
    pub reject_next_token: bool,
    pub pushes: Vec<Value>,
    /// CheckoutRequestID → final ResultCode; absent means "still processing".
    pub query_results: HashMap<String, i64>,
    pub queries: usize,
    pub payouts: Vec<Value>,
}

#[derive(Clone, Default)]
pub struct Stub(pub Arc<Mutex<Inner>>);

impl Stub {
    pub fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().expect("stub lock"))
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"requestId": "stub-1", "errorCode": code, "errorMessage": message})),
    )
}

type Answer = Result<Json<Value>, (StatusCode, Json<Value>)>;

async fn oauth(State(stub): State<Stub>, headers: HeaderMap) -> Answer {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "400.008.01",
            "Invalid Authentication passed",
        ));
    }
    let token = stub.with(|s| {
        s.oauth_calls += 1;
        let t = format!("token-{}", s.oauth_calls);
        s.tokens.push(t.clone());
        t
    });
    Ok(Json(json!({"access_token": token, "expires_in": "3599"})))
}

fn check_bearer(stub: &Stub, headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = stub.with(|s| {
        let valid = s
            .tokens
            .last()
            .is_some_and(|t| given == format!("Bearer {t}"));
        if valid && s.reject_next_token {
            s.reject_next_token = false;
            return false;
        }
        valid
    });
    if ok {
        Ok(())
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            "404.001.03",
            "Invalid Access Token",
        ))
    }
}

fn check_password(body: &Value) -> Result<(), (StatusCode, Json<Value>)> {
    let ts = body["Timestamp"].as_str().unwrap_or("");
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{SHORTCODE}{PASSKEY}{ts}"));
    if ts.len() != 14
        || !ts.chars().all(|c| c.is_ascii_digit())
        || body["Password"].as_str() != Some(&expected)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid Password",
        ));
    }
    if body["BusinessShortCode"].as_str() != Some(SHORTCODE) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid BusinessShortCode",
        ));
    }
    Ok(())
}

fn is_msisdn(v: &Value) -> bool {
    v.as_str().is_some_and(|p| {
        p.len() == 12
            && (p.starts_with("2547") || p.starts_with("2541"))
            && p.chars().all(|c| c.is_ascii_digit())
    })
}

async fn stk_push(State(stub): State<Stub>, headers: HeaderMap, Json(body): Json<Value>) -> Answer {
    check_bearer(&stub, &headers)?;
    check_password(&body)?;
    let amount_ok = body["Amount"]
        .as_str()
        .and_then(|a| a.parse::<i64>().ok())
        .is_some_and(|a| a > 0);
    if !amount_ok {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid Amount",
        ));
    }
    if !is_msisdn(&body["PhoneNumber"])
        || body["PartyA"] != body["PhoneNumber"]
        || body["PartyB"].as_str() != Some(SHORTCODE)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid PhoneNumber",
        ));
    }
    let type_ok = matches!(
        body["TransactionType"].as_str(),
        Some("CustomerPayBillOnline" | "CustomerBuyGoodsOnline")
    );
    let refs_ok = body["AccountReference"]
        .as_str()
        .is_some_and(|r| !r.is_empty() && r.len() <= 12)
        && body["TransactionDesc"]
            .as_str()
            .is_some_and(|d| !d.is_empty() && d.len() <= 13)
        && body["CallBackURL"]
            .as_str()
            .is_some_and(|u| u.starts_with("http"));
    if !type_ok || !refs_ok {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid request",
        ));
    }
    let n = stub.with(|s| {
        s.pushes.push(body.clone());
        s.pushes.len()
    });
    Ok(Json(json!({
        "MerchantRequestID": format!("6093-85819535-{n}"),
        "CheckoutRequestID": format!("ws_CO_STUB_{n}"),
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing"
    })))
}

async fn stk_query(
    State(stub): State<Stub>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    check_bearer(&stub, &headers)?;
    check_password(&body)?;
    let id = body["CheckoutRequestID"].as_str().unwrap_or("").to_owned();
    let result = stub.with(|s| {
        s.queries += 1;
        s.query_results.get(&id).copied()
    });
    match result {
        None => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "The transaction is being processed",
        )),
        Some(code) => Ok(Json(json!({
            "ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": "1-1-1", "CheckoutRequestID": id, "ResultCode": code.to_string(),
            "ResultDesc": if code == 0 { "The service request is processed successfully." } else { "Request cancelled by user" }
        }))),
    }
}

async fn b2c(State(stub): State<Stub>, headers: HeaderMap, Json(body): Json<Value>) -> Answer {
    check_bearer(&stub, &headers)?;
    let complete = [
        "OriginatorConversationID",
        "InitiatorName",
        "SecurityCredential",
        "QueueTimeOutURL",
        "ResultURL",
    ]
    .iter()
    .all(|f| body[*f].as_str().is_some_and(|v| !v.is_empty()));
    let amount_ok = body["Amount"]
        .as_str()
        .and_then(|a| a.parse::<i64>().ok())
        .is_some_and(|a| a > 0);
    if !complete
        || !amount_ok
        || body["CommandID"] != "BusinessPayment"
        || !is_msisdn(&body["PartyB"])
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid B2C request",
        ));
    }
    stub.with(|s| s.payouts.push(body.clone()));
    Ok(Json(
        json!({"ConversationID": "AG_20261130_stub", "OriginatorConversationID": body["OriginatorConversationID"],
                   "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully."}),
    ))
}

pub async fn start_stub() -> (String, Stub) {
    let stub = Stub::default();
    let app = Router::new()
        .route("/oauth/v1/generate", get(oauth))
        .route("/mpesa/stkpush/v1/processrequest", post(stk_push))
        .route("/mpesa/stkpushquery/v1/query", post(stk_query))
        .route("/mpesa/b2c/v3/paymentrequest", post(b2c))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), stub)
}

pub async fn server(
    base: String,
    tweak: impl FnOnce(&mut markethub::config::Config),
) -> TestServer {
    TestServer::with(move |c| {
        c.payments.gateway = markethub::config::GatewayKind::Daraja;
        c.mpesa.base_url = base;
        c.mpesa.consumer_key = KEY.into();
        c.mpesa.consumer_secret = SECRET.into();
        c.mpesa.shortcode = SHORTCODE.into();
        c.mpesa.passkey = PASSKEY.into();
        c.mpesa.initiator_name = "testapi".into();
        c.mpesa.security_credential = "encrypted-credential".into();
        tweak(c);
    })
    .await
}

pub async fn pay(srv: &TestServer, customer: &Session, order: &Value) -> String {
    let r = srv
        .post(
            "/payments/mpesa/initiate",
            json!({"order_id": order["id"], "phone": "+254 712 345 678"}),
            Some(&customer.access),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["checkout_request_id"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

async fn payment_status(srv: &TestServer, m: &Market, order: &Value) -> String {
    let r = srv
        .get(
            &format!("/payments/{}", order["id"].as_str().unwrap_or("")),
            Some(&m.customer.access),
        )
        .await;
    r.body["payment"]["status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stk_push_with_a_cached_token_and_the_callback_daraja_would_send() {
    let (base, stub) = start_stub().await;
    let srv = server(base, |_| {}).await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    let checkout = pay(&srv, &m.customer, &order).await;
    assert_eq!(checkout, "ws_CO_STUB_1");
    let push = stub.with(|s| s.pushes[0].clone());
    assert_eq!(push["Amount"], "70");
    assert_eq!(push["PhoneNumber"], "254712345678");
    let callback_url = push["CallBackURL"].as_str().unwrap_or("").to_owned();
    let path = callback_url
        .split("/api/v1")
        .nth(1)
        .expect("callback under the API")
        .to_owned();
    assert!(
        path.starts_with("/payments/mpesa/callback/"),
        "{callback_url}"
    );

    // Daraja calls back (amount as a number with decimals, phone as a number).
    let body = json!({"Body": {"stkCallback": {"MerchantRequestID": "6093-85819535-1", "CheckoutRequestID": checkout,
        "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": 70.00}, {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
            {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20261130101530_i64}, {"Name": "PhoneNumber", "Value": 254712345678_i64}]}}}});
    let ack = srv.post(&path, body, None).await;
    assert_eq!(ack.body, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    assert_eq!(payment_status(&srv, &m, &order).await, "paid");

    // A second push reuses the cached token.
    let second = m.order(&srv, "mpesa").await;
    pay(&srv, &m.customer, &second).await;
    assert_eq!(stub.with(|s| s.oauth_calls), 1, "the token is cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_once_and_bad_credentials_fail_cleanly() {
    let (base, stub) = start_stub().await;
    let srv = server(base.clone(), |_| {}).await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    pay(&srv, &m.customer, &order).await;
    stub.with(|s| s.reject_next_token = true);
    let second = m.order(&srv, "mpesa").await;
    pay(&srv, &m.customer, &second).await;
    assert_eq!(
        stub.with(|s| s.oauth_calls),
        2,
        "refreshed after 'Invalid Access Token'"
    );

    let wrong = server(base, |c| c.mpesa.consumer_secret = "wrong".into()).await;
    let m2 = Market::new(&wrong).await;
    let order = m2.order(&wrong, "mpesa").await;
    let r = wrong
        .post(
            "/payments/mpesa/initiate",
            json!({"order_id": order["id"], "phone": "0712345678"}),
            Some(&m2.customer.access),
        )
        .await;
    assert_eq!((r.status, r.code()), (503, "mpesa_unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_queries_until_daraja_has_an_answer() {
    let (base, stub) = start_stub().await;
    let srv = server(base, |c| {
        c.payments.reconcile_after_secs = 1;
        c.payments.reconcile_interval_secs = 1;
    })
    .await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    let checkout = pay(&srv, &m.customer, &order).await;
    // "Still processing" keeps it pending.
    srv.eventually("a first query", || async {
        (stub.with(|s| s.queries) >= 1).then_some(())
    })
    .await;
    assert_eq!(payment_status(&srv, &m, &order).await, "pending");
    stub.with(|s| s.query_results.insert(checkout.clone(), 0));
    srv.eventually("the payment to settle", || async {
        (payment_status(&srv, &m, &order).await == "paid").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_mpesa_refunds_go_back_by_b2c_and_results_apply_once() {
    let (base, stub) = start_stub().await;
    let srv = server(base, |_| {}).await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "mpesa").await;
    let checkout = pay(&srv, &m.customer, &order).await;
    let path = stub.with(|s| {
        s.pushes[0]["CallBackURL"]
            .as_str()
            .unwrap_or("")
            .split("/api/v1")
            .nth(1)
            .unwrap_or("")
            .to_owned()
    });
    let paid = json!({"Body": {"stkCallback": {"MerchantRequestID": "1", "CheckoutRequestID": checkout, "ResultCode": 0,
        "ResultDesc": "ok", "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": 70}, {"Name": "MpesaReceiptNumber", "Value": "PAY0000001"},
        {"Name": "PhoneNumber", "Value": 254712345678_i64}]}}}});
    srv.post(&path, paid, None).await;
    let order = m.deliver_all(&srv, &order, false).await;
    let sub = Market::sub_of(&order, &m.merchant_b);
    let r = srv
        .post("/refunds", json!({"sub_order_id": sub, "reason": "wrong_item", "description": "A toaster came instead."}), Some(&m.customer.access))
        .await;
    let id = r.body["id"].as_str().unwrap_or("").to_owned();
    let approved = srv
        .put(
            &format!("/admin/refunds/{id}/approve"),
            json!({}),
            Some(&m.admin.access),
        )
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.body["payout_method"], "mpesa_b2c");
    assert_eq!(approved.body["payout_status"], "pending");

    let payout = stub
        .with(|s| s.payouts.first().cloned())
        .expect("a B2C request reached Daraja");
    assert_eq!(payout["Amount"], "50");
    assert_eq!(payout["PartyB"], "254712345678");
    let result_path = payout["ResultURL"]
        .as_str()
        .unwrap_or("")
        .split("/api/v1")
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let result = json!({"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": payout["OriginatorConversationID"], "ConversationID": "AG_1", "TransactionID": "NLJ41HAY6Q",
        "ResultParameters": {"ResultParameter": [{"Key": "TransactionAmount", "Value": 50}, {"Key": "TransactionReceipt", "Value": "NLJ41HAY6Q"}]}}});
    let ack = srv.post(&result_path, result.clone(), None).await;
    assert_eq!(ack.body, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    let refund = srv
        .get(&format!("/refunds/{id}"), Some(&m.customer.access))
        .await;
    assert_eq!(refund.body["payout_status"], "paid");
    assert_eq!(refund.body["payout_receipt"], "NLJ41HAY6Q");

    // A replayed or contradicting result changes nothing; an unknown one is acknowledged and ignored.
    let mut failed = result.clone();
    failed["Result"]["ResultCode"] = json!(2001);
    assert_eq!(srv.post(&result_path, result, None).await.status, 200);
    assert_eq!(srv.post(&result_path, failed, None).await.status, 200);
    let refund = srv
        .get(&format!("/refunds/{id}"), Some(&m.customer.access))
        .await;
    assert_eq!(refund.body["payout_status"], "paid");
    let unknown =
        json!({"Result": {"ResultType": 0, "ResultCode": 0, "OriginatorConversationID": "nobody"}});
    assert_eq!(srv.post(&result_path, unknown, None).await.status, 200);
    let wrong = srv
        .post(
            "/payments/mpesa/b2c/result/not-the-secret",
            json!({"Result": {}}),
            None,
        )
        .await;
    assert_eq!(wrong.status, 404);
}
