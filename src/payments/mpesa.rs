//! M-Pesa flows: initiating an STK push for an order, applying callbacks (idempotent on
//! CheckoutRequestID and receipt; unknown ids, wrong amounts, reused receipts and failures
//! never mark an order paid), reconciling stale pushes with STK queries, and releasing
//! orders whose payment failed once the grace period is over.

use std::time::Duration;

use serde_json::Value;

use super::gateway::{
    GatewayError, MpesaGateway, StkAccepted, StkPush, StkQuery, normalize_msisdn, shillings_for,
};
use super::store;
use crate::auth::store as users;
use crate::clock::now_ms;
use crate::db::{Conn, DbError};
use crate::http::{AppError, AuthUser};
use crate::mail::{self, templates};
use crate::money;
use crate::orders::service::{self as orders, Mover};
use crate::orders::store as order_store;
use crate::orders::{Actor, PaymentMethod, PaymentStatus, SubStatus};
use crate::state::AppState;

/// The parts of an STK callback MarketHub uses, read by name (never by position).
#[derive(Debug, Clone, PartialEq)]
pub struct StkCallback {
    pub checkout_request_id: String,
    pub result_code: i64,
    pub result_desc: String,
    pub amount: Option<f64>,
    pub receipt: Option<String>,
    pub phone: Option<String>,
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a Daraja STK callback body.
pub fn parse_stk_callback(body: &str) -> Result<StkCallback, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let cb = &v["Body"]["stkCallback"];
    let checkout_request_id = cb["CheckoutRequestID"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("Body.stkCallback.CheckoutRequestID is missing")?
        .to_owned();
    let result_code = as_i64(&cb["ResultCode"]).ok_or("Body.stkCallback.ResultCode is missing")?;
    let items = cb["CallbackMetadata"]["Item"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let item = |name: &str| {
        items
            .iter()
            .find(|i| i["Name"] == name)
            .map(|i| i["Value"].clone())
    };
    Ok(StkCallback {
        checkout_request_id,
        result_code,
        result_desc: cb["ResultDesc"].as_str().unwrap_or("").to_owned(),
        amount: item("Amount").as_ref().and_then(as_f64),
        receipt: item("MpesaReceiptNumber")
            .as_ref()
            .and_then(as_text)
            .filter(|s| !s.is_empty()),
        phone: item("PhoneNumber").as_ref().and_then(as_text),
    })
}

/// What applying a callback (or a query result) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Paid,
    Failed,
    /// The request was already settled: nothing changed.
    Duplicate,
    /// No such request (yet): kept in the log, nothing changed.
    Unknown,
    /// A success that did not check out (amount, receipt, phone): not paid.
    Rejected(&'static str),
}

impl Applied {
    pub fn as_str(self) -> &'static str {
        match self {
            Applied::Paid => "paid",
            Applied::Failed => "failed",
            Applied::Duplicate => "duplicate",
            Applied::Unknown => "unknown",
            Applied::Rejected(r) => r,
        }
    }
}

/// Applies a parsed callback inside the caller's transaction.
pub fn apply_stk(c: &dyn Conn, cb: &StkCallback, now: i64) -> Result<Applied, DbError> {
    let Some(req) = store::find_request(c, &cb.checkout_request_id)? else {
        return Ok(Applied::Unknown);
    };
    if req.status != "pending" {
        return Ok(Applied::Duplicate);
    }
    if cb.result_code != 0 {
        store::settle_request(
            c,
            &req.checkout_request_id,
            "failed",
            Some(cb.result_code),
            &cb.result_desc,
            None,
            now,
        )?;
        payment_failed(c, &req, &cb.result_desc, now)?;
        return Ok(Applied::Failed);
    }
    let paid_cents = cb.amount.map(|a| (a * 100.0).round() as i64);
    let problem = if paid_cents != Some(req.amount * 100) {
        Some("amount_mismatch")
    } else if cb.receipt.is_none() {
        Some("missing_receipt")
    } else if store::receipt_used(c, cb.receipt.as_deref().unwrap_or(""))? {
        Some("duplicate_receipt")
    } else if cb.phone.as_deref().is_some_and(|p| p != req.phone) {
        Some("phone_mismatch")
    } else {
        None
    };
    if let Some(reason) = problem {
        tracing::warn!(checkout_request_id = %req.checkout_request_id, reason, "M-Pesa success refused");
        store::settle_request(
            c,
            &req.checkout_request_id,
            "rejected",
            Some(0),
            reason,
            None,
            now,
        )?;
        return Ok(Applied::Rejected(reason));
    }
    store::settle_request(
        c,
        &req.checkout_request_id,
        "succeeded",
        Some(0),
        &cb.result_desc,
        cb.receipt.as_deref(),
        now,
    )?;
    payment_received(c, &req, cb.receipt.as_deref(), now)?;
    Ok(Applied::Paid)
}

fn payment_received(
    c: &dyn Conn,
    req: &store::Request,
    receipt: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    if !store::mark_paid(c, &req.order_id, req.amount * 100, receipt, now)? {
        tracing::warn!(order_id = %req.order_id, "a second M-Pesa payment arrived for a settled order; refund it by hand");
        return Ok(());
    }
    orders::recompute(c, &req.order_id, now)?;
    if let Some(head) = order_store::order_head(c, &req.order_id)?
        && let Some(customer) = users::find_user(c, &head.customer_id)?
    {
        let amount = money::format(req.amount * 100, &head.currency);
        mail::enqueue(
            c,
            &templates::payment_received(
                &customer.email,
                &customer.full_name,
                &req.order_id,
                &amount,
                receipt,
            ),
            now,
        )?;
    }
    Ok(())
}

fn payment_failed(c: &dyn Conn, req: &store::Request, why: &str, now: i64) -> Result<(), DbError> {
    if !store::mark_failed(c, &req.order_id, now)? {
        return Ok(());
    }
    orders::recompute(c, &req.order_id, now)?;
    if let Some(head) = order_store::order_head(c, &req.order_id)?
        && let Some(customer) = users::find_user(c, &head.customer_id)?
    {
        mail::enqueue(
            c,
            &templates::payment_failed(&customer.email, &customer.full_name, &req.order_id, why),
            now,
        )?;
    }
    Ok(())
}

/// Stores a raw STK callback and applies it, in one transaction. Returns what happened.
pub async fn handle_stk_callback(state: &AppState, body: String) -> Result<Applied, AppError> {
    let cb = parse_stk_callback(&body).map_err(|e| AppError::bad_request("invalid_callback", e))?;
    let applied = state
        .db
        .write(move |c| {
            let now = now_ms();
            let log_id = store::log_callback(c, "stk", Some(&cb.checkout_request_id), &body, now)?;
            let applied = apply_stk(c, &cb, now)?;
            if applied != Applied::Unknown {
                store::mark_callback(c, &log_id, applied.as_str())?;
            }
            Ok::<_, DbError>(applied)
        })
        .await?;
    tracing::info!(outcome = applied.as_str(), "M-Pesa callback");
    state.mail.wake();
    Ok(applied)
}

fn gateway(state: &AppState) -> Result<std::sync::Arc<dyn MpesaGateway>, AppError> {
    state.mpesa.clone().ok_or_else(|| {
        AppError::unavailable(
            "mpesa_unavailable",
            "M-Pesa payments are not enabled here",
            3600,
        )
    })
}

fn gateway_error(e: GatewayError) -> AppError {
    match e {
        GatewayError::Rejected(msg) => AppError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "mpesa_rejected",
            msg,
        ),
        other => {
            tracing::warn!(error = %other, "M-Pesa call failed");
            AppError::unavailable(
                "mpesa_unavailable",
                "M-Pesa could not be reached; try again shortly",
                10,
            )
        }
    }
}

/// The answer to `POST /payments/mpesa/initiate`.
#[derive(Debug, serde::Serialize)]
pub struct Initiated {
    pub checkout_request_id: String,
    pub status: &'static str,
    /// Whole shillings asked for (the amount due rounded up to the next shilling).
    pub amount: i64,
    pub phone: String,
}

/// Sends an STK push for the caller's order and records it.
pub async fn initiate(
    state: &AppState,
    caller: &AuthUser,
    order_id: String,
    phone: &str,
) -> Result<Initiated, AppError> {
    let gw = gateway(state)?;
    let phone = normalize_msisdn(phone).map_err(|p| AppError::invalid_field("phone", p))?;
    let reconcile_after =
        i64::try_from(state.config.payments.reconcile_after_secs * 1000).unwrap_or(i64::MAX);
    let customer_id = caller.id.clone();
    let oid = order_id.clone();
    let amount = state
        .db
        .read(move |c| {
            let head = order_store::order_head(c, &oid)?
                .filter(|h| h.customer_id == customer_id)
                .ok_or_else(|| AppError::not_found("order"))?;
            if head.method != PaymentMethod::Mpesa {
                return Err(AppError::conflict(
                    "not_mpesa",
                    "this order is paid by cash on delivery",
                ));
            }
            match head.payment_status {
                PaymentStatus::Paid => {
                    return Err(AppError::conflict(
                        "already_paid",
                        "this order is already paid",
                    ));
                }
                PaymentStatus::Cancelled => {
                    return Err(AppError::conflict(
                        "payment_closed",
                        "this order was cancelled",
                    ));
                }
                PaymentStatus::Pending | PaymentStatus::Failed => {}
            }
            if let Some(p) = store::pending_request_since(c, &oid, now_ms() - reconcile_after)? {
                return Err(AppError::conflict(
                    "payment_in_progress",
                    "a payment request is already waiting on the phone; answer it or wait a moment",
                )
                .with_details(
                    serde_json::json!({ "checkout_request_id": p.checkout_request_id }),
                ));
            }
            let due = order_store::amount_due(c, &oid)?;
            if due <= 0 {
                return Err(AppError::conflict(
                    "nothing_due",
                    "nothing is due on this order",
                ));
            }
            Ok(shillings_for(due))
        })
        .await?;
    let push = StkPush {
        phone: phone.clone(),
        amount,
        account_reference: order_id
            .chars()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect(),
        description: "MarketHub".into(),
        callback_url: format!(
            "{}/api/v1/payments/mpesa/callback/{}",
            state.config.callback_base_url(),
            state.callback_secret
        ),
    };
    let (gw2, push2) = (gw.clone(), push.clone());
    let accepted: StkAccepted = tokio::task::spawn_blocking(move || gw2.stk_push(&push2))
        .await
        .map_err(AppError::internal)?
        .map_err(gateway_error)?;
    let acc = accepted.clone();
    let (oid, ph) = (order_id.clone(), phone.clone());
    state
        .db
        .write(move |c| {
            let now = now_ms();
            store::insert_request(
                c,
                &acc.checkout_request_id,
                &acc.merchant_request_id,
                &oid,
                &ph,
                amount,
                now,
            )?;
            store::reopen(c, &oid, now)?;
            orders::recompute(c, &oid, now)?;
            // A callback may have beaten us here: apply it now.
            for (log_id, body) in store::early_callbacks(c, "stk", &acc.checkout_request_id)? {
                if let Ok(cb) = parse_stk_callback(&body) {
                    let applied = apply_stk(c, &cb, now)?;
                    store::mark_callback(c, &log_id, applied.as_str())?;
                }
            }
            Ok::<_, DbError>(())
        })
        .await?;
    if let Some((delay, body)) = gw.simulated_callback(&accepted, &push) {
        let st = state.clone();
        tokio::spawn(async move {
            // A stopping server drops the simulated answer, like a callback lost in transit;
            // reconciliation settles the push after the restart.
            tokio::select! {
                () = st.shutdown.cancelled() => {}
                () = tokio::time::sleep(delay) => {
                    if let Err(e) = handle_stk_callback(&st, body).await {
                        tracing::warn!(error = %e, "simulated callback failed");
                    }
                }
            }
        });
    }
    tracing::info!(order_id = %order_id, checkout_request_id = %accepted.checkout_request_id, "STK push sent");
    Ok(Initiated {
        checkout_request_id: accepted.checkout_request_id,
        status: "pending",
        amount,
        phone,
    })
}

/// Settles pushes pending longer than `reconcile_after_secs` by STK query, then releases
/// orders whose payment failed more than `release_after_secs` ago. Returns (settled,
/// released).
pub async fn reconcile(state: &AppState) -> Result<(usize, usize), AppError> {
    let mut settled = 0;
    if let Some(gw) = state.mpesa.clone() {
        let after =
            i64::try_from(state.config.payments.reconcile_after_secs * 1000).unwrap_or(i64::MAX);
        let stale = state
            .db
            .read(move |c| store::stale_requests(c, now_ms() - after, 50))
            .await?;
        for req in stale {
            let (g, id) = (gw.clone(), req.checkout_request_id.clone());
            let answer = match tokio::task::spawn_blocking(move || g.stk_query(&id)).await {
                Ok(Ok(a)) => a,
                Ok(Err(e)) => {
                    tracing::warn!(checkout_request_id = %req.checkout_request_id, error = %e, "STK query failed");
                    continue;
                }
                Err(e) => return Err(AppError::internal(e)),
            };
            let StkQuery::Completed {
                result_code,
                result_desc,
            } = answer
            else {
                continue;
            };
            let applied = state
                .db
                .write(move |c| apply_query_result(c, &req, result_code, &result_desc, now_ms()))
                .await?;
            if applied != Applied::Duplicate {
                settled += 1;
            }
        }
    }
    let grace = i64::try_from(state.config.payments.release_after_secs * 1000).unwrap_or(i64::MAX);
    let released = state
        .db
        .write(move |c| {
            let mut n = 0;
            for order_id in store::orders_to_release(c, now_ms() - grace, 50)? {
                release(c, &order_id)?;
                n += 1;
            }
            Ok::<_, AppError>(n)
        })
        .await?;
    if settled > 0 || released > 0 {
        state.mail.wake();
        tracing::info!(settled, released, "M-Pesa reconciliation");
    }
    Ok((settled, released))
}

/// An STK query's final answer: like a callback, minus receipt and metadata.
fn apply_query_result(
    c: &dyn Conn,
    req: &store::Request,
    code: i64,
    desc: &str,
    now: i64,
) -> Result<Applied, DbError> {
    if !store::settle_request(
        c,
        &req.checkout_request_id,
        if code == 0 { "succeeded" } else { "failed" },
        Some(code),
        desc,
        None,
        now,
    )? {
        return Ok(Applied::Duplicate);
    }
    if code == 0 {
        payment_received(c, req, None, now)?;
        Ok(Applied::Paid)
    } else {
        payment_failed(c, req, desc, now)?;
        Ok(Applied::Failed)
    }
}

/// Cancels what is left of an unpaid order (by the system) so its stock is sold again.
fn release(c: &dyn Conn, order_id: &str) -> Result<(), AppError> {
    let mover = Mover {
        actor_id: None,
        actor: Actor::System,
        notify_customer: false,
        early_receive: false,
    };
    for sub in order_store::sub_rows_of_order(c, order_id)? {
        if sub.status.is_cancellable() {
            orders::transition(
                c,
                &sub,
                SubStatus::Cancelled,
                None,
                Some("payment failed; order released"),
                &mover,
            )?;
        }
    }
    if let Some(head) = order_store::order_head(c, order_id)?
        && let Some(customer) = users::find_user(c, &head.customer_id)?
    {
        mail::enqueue(
            c,
            &templates::order_released(&customer.email, &customer.full_name, order_id),
            now_ms(),
        )?;
    }
    tracing::info!(order_id, "unpaid order released");
    Ok(())
}

/// Runs reconciliation every `reconcile_interval_secs` until shutdown.
/// Reconciles every `reconcile_interval_secs` while this instance holds `lease`.
pub async fn run(
    state: AppState,
    lease: crate::jobs::lease::Lease,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let every = Duration::from_secs(state.config.payments.reconcile_interval_secs);
    loop {
        if lease.hold().await
            && let Err(e) = reconcile(&state).await
        {
            tracing::warn!(error = %e, "M-Pesa reconciliation failed");
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
    lease.release().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_read_by_name_in_either_form() {
        let success = r#"{"Body":{"stkCallback":{"MerchantRequestID":"19465-780693-1","CheckoutRequestID":"ws_CO_27072017154747416",
          "ResultCode":0,"ResultDesc":"The service request is processed successfully.",
          "CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.00},{"Name":"MpesaReceiptNumber","Value":"LGR7OWQX0R"},
          {"Name":"Balance"},{"Name":"TransactionDate","Value":20170727154800},{"Name":"PhoneNumber","Value":254721566839}]}}}}"#;
        let cb = parse_stk_callback(success).expect("parses");
        assert_eq!(cb.result_code, 0);
        assert_eq!(cb.amount, Some(1.0));
        assert_eq!(cb.receipt.as_deref(), Some("LGR7OWQX0R"));
        assert_eq!(cb.phone.as_deref(), Some("254721566839"));

        let failure = r#"{"Body":{"stkCallback":{"MerchantRequestID":"68441-128341933-1","CheckoutRequestID":"ws_CO_1","ResultCode":"1032","ResultDesc":"Request cancelled by user"}}}"#;
        let cb = parse_stk_callback(failure).expect("parses");
        assert_eq!(cb.result_code, 1032);
        assert_eq!(cb.amount, None);

        assert!(parse_stk_callback("{}").is_err());
        assert!(parse_stk_callback("not json").is_err());
        assert!(
            parse_stk_callback(r#"{"Body":{"stkCallback":{"CheckoutRequestID":"x"}}}"#).is_err()
        );
    }
}
