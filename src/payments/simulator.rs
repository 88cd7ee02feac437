//! The built-in M-Pesa simulator (default build): accepts every well-formed push and
//! "answers" after a configurable delay with a configurable ResultCode, by handing a
//! Daraja-shaped callback body to the same handler real callbacks go through. The outcome
//! and the push time are encoded in the CheckoutRequestID, so an STK query gives the same
//! answer after a restart.

use std::time::Duration;

use rand::RngCore as _;
use serde_json::json;

use super::gateway::{GatewayError, MpesaGateway, StkAccepted, StkPush, StkQuery};
use crate::clock::now_ms;

pub struct Simulator {
    pub delay: Duration,
    pub result_code: i64,
}

const PREFIX: &str = "ws_CO_SIM_";

/// Daraja's wording for the result codes the simulator can produce.
pub fn result_desc(code: i64) -> &'static str {
    match code {
        0 => "The service request is processed successfully.",
        1 => "The balance is insufficient for the transaction.",
        1032 => "Request cancelled by user",
        1037 => "DS timeout user cannot be reached",
        1019 => "Transaction has expired",
        2001 => "The initiator information is invalid.",
        _ => "The transaction could not be completed.",
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// (result code, push time in ms) encoded in a simulator CheckoutRequestID.
fn decode(id: &str) -> Option<(i64, i64)> {
    let mut parts = id.strip_prefix(PREFIX)?.split('_');
    let code = parts.next()?.parse().ok()?;
    let at = parts.next()?.parse().ok()?;
    Some((code, at))
}

impl MpesaGateway for Simulator {
    fn stk_push(&self, push: &StkPush) -> Result<StkAccepted, GatewayError> {
        if push.phone.len() != 12 || !push.phone.starts_with("254") {
            return Err(GatewayError::Rejected(
                "Bad Request - Invalid PhoneNumber".into(),
            ));
        }
        if push.amount <= 0 {
            return Err(GatewayError::Rejected(
                "Bad Request - Invalid Amount".into(),
            ));
        }
        Ok(StkAccepted {
            merchant_request_id: format!("SIM-{}", random_hex(6)),
            checkout_request_id: format!(
                "{PREFIX}{}_{}_{}",
                self.result_code.max(0),
                now_ms(),
                random_hex(8)
            ),
        })
    }

    fn stk_query(&self, checkout_request_id: &str) -> Result<StkQuery, GatewayError> {
        let (code, at) = decode(checkout_request_id)
            .ok_or_else(|| GatewayError::Rejected("Invalid CheckoutRequestID".into()))?;
        let ready = at.saturating_add(i64::try_from(self.delay.as_millis()).unwrap_or(i64::MAX));
        if now_ms() < ready {
            return Ok(StkQuery::Pending);
        }
        Ok(StkQuery::Completed {
            result_code: code,
            result_desc: result_desc(code).to_owned(),
        })
    }

    fn simulated_callback(
        &self,
        accepted: &StkAccepted,
        push: &StkPush,
    ) -> Option<(Duration, String)> {
        let (code, _) = decode(&accepted.checkout_request_id)?;
        let mut callback = json!({
            "MerchantRequestID": accepted.merchant_request_id,
            "CheckoutRequestID": accepted.checkout_request_id,
            "ResultCode": code,
            "ResultDesc": result_desc(code),
        });
        if code == 0 {
            let receipt = format!("SIM{}", random_hex(4).to_uppercase());
            callback["CallbackMetadata"] = json!({"Item": [
                {"Name": "Amount", "Value": push.amount},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": super::gateway::timestamp(now_ms()).parse::<i64>().unwrap_or(0)},
                {"Name": "PhoneNumber", "Value": push.phone.parse::<i64>().unwrap_or(0)},
            ]});
        }
        Some((
            self.delay,
            json!({"Body": {"stkCallback": callback}}).to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> StkPush {
        StkPush {
            phone: "254712345678".into(),
            amount: 70,
            account_reference: "ORDER".into(),
            description: "Order".into(),
            callback_url: "http://x/cb".into(),
        }
    }

    #[test]
    fn outcomes_are_encoded_so_queries_agree_after_a_restart() {
        let sim = Simulator {
            delay: Duration::ZERO,
            result_code: 1032,
        };
        let accepted = sim.stk_push(&push()).expect("accepted");
        let fresh = Simulator {
            delay: Duration::ZERO,
            result_code: 0,
        };
        assert_eq!(
            fresh.stk_query(&accepted.checkout_request_id).ok(),
            Some(StkQuery::Completed {
                result_code: 1032,
                result_desc: "Request cancelled by user".into()
            })
        );
        let slow = Simulator {
            delay: Duration::from_secs(3600),
            result_code: 0,
        };
        let pending = slow.stk_push(&push()).expect("accepted");
        assert_eq!(
            slow.stk_query(&pending.checkout_request_id).ok(),
            Some(StkQuery::Pending)
        );
        assert!(sim.stk_query("ws_CO_real").is_err());
    }

    #[test]
    fn the_simulated_callback_is_daraja_shaped() {
        let sim = Simulator {
            delay: Duration::from_millis(5),
            result_code: 0,
        };
        let accepted = sim.stk_push(&push()).expect("accepted");
        let (delay, body) = sim
            .simulated_callback(&accepted, &push())
            .expect("callback");
        assert_eq!(delay, Duration::from_millis(5));
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let cb = &v["Body"]["stkCallback"];
        assert_eq!(cb["ResultCode"], 0);
        assert_eq!(
            cb["CheckoutRequestID"],
            accepted.checkout_request_id.as_str()
        );
        let items = cb["CallbackMetadata"]["Item"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            items
                .iter()
                .any(|i| i["Name"] == "Amount" && i["Value"] == 70)
        );
        assert!(
            sim.stk_push(&StkPush {
                phone: "0712".into(),
                ..push()
            })
            .is_err()
        );
    }
}
