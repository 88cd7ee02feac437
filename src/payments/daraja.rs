//! The Safaricom Daraja client (feature `mpesa`), blocking, over ureq: OAuth token cached
//! until shortly before it expires (refreshed once on "Invalid Access Token"), STK push,
//! STK query and B2C payouts. The timestamp and password are built once per request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::gateway::{
    B2cRequest, GatewayError, MpesaGateway, StkAccepted, StkPush, StkQuery, password, timestamp,
};
use crate::clock::now_ms;
use crate::config::MpesaConfig;

pub struct Daraja {
    cfg: MpesaConfig,
    agent: ureq::Agent,
    token: Mutex<Option<(String, Instant)>>,
}

/// Daraja's error envelope: `{"requestId","errorCode","errorMessage"}`.
fn error_of(body: &Value) -> Option<(String, String)> {
    let code = body["errorCode"].as_str()?.to_owned();
    Some((code, body["errorMessage"].as_str().unwrap_or("").to_owned()))
}

impl Daraja {
    pub fn new(cfg: &MpesaConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(cfg.timeout_secs)))
            .http_status_as_error(false)
            .build()
            .into();
        Daraja {
            cfg: cfg.clone(),
            agent,
            token: Mutex::new(None),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url.trim_end_matches('/'))
    }

    /// A cached token, or a fresh one when there is none or it is about to expire.
    fn token(&self, force: bool) -> Result<String, GatewayError> {
        let mut slot = self
            .token
            .lock()
            .map_err(|_| GatewayError::Unavailable("token cache poisoned".into()))?;
        if !force
            && let Some((token, expires)) = slot.as_ref()
            && Instant::now() < *expires
        {
            return Ok(token.clone());
        }
        let basic = STANDARD.encode(format!(
            "{}:{}",
            self.cfg.consumer_key, self.cfg.consumer_secret
        ));
        let resp = self
            .agent
            .get(&self.url("/oauth/v1/generate?grant_type=client_credentials"))
            .header("Authorization", &format!("Basic {basic}"))
            .call()
            .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let (status, body) = read(resp)?;
        if status != 200 {
            let msg = error_of(&body)
                .map_or_else(|| format!("HTTP {status}"), |(c, m)| format!("{c} {m}"));
            return Err(GatewayError::Unavailable(format!("OAuth refused: {msg}")));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| GatewayError::Unavailable("OAuth answer without access_token".into()))?
            .to_owned();
        // `expires_in` is a string ("3599"); accept a number too. Renew a minute early.
        let secs = body["expires_in"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .or_else(|| body["expires_in"].as_u64())
            .unwrap_or(3599);
        *slot = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(secs.saturating_sub(60).max(1)),
        ));
        Ok(token)
    }

    /// POSTs JSON with the bearer token; on "Invalid Access Token" refreshes it once.
    fn post(&self, path: &str, payload: &Value) -> Result<(u16, Value), GatewayError> {
        let mut force = false;
        loop {
            let token = self.token(force)?;
            let resp = self
                .agent
                .post(&self.url(path))
                .header("Authorization", &format!("Bearer {token}"))
                .send_json(payload)
                .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
            let (status, body) = read(resp)?;
            let invalid_token = error_of(&body).is_some_and(|(c, m)| {
                c.starts_with("404.001.03") || m.contains("Invalid Access Token")
            });
            if invalid_token && !force {
                force = true;
                continue;
            }
            return Ok((status, body));
        }
    }
}

fn read(resp: ureq::http::Response<ureq::Body>) -> Result<(u16, Value), GatewayError> {
    let status = resp.status().as_u16();
    let text = resp
        .into_body()
        .read_to_string()
        .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok((status, body))
}

fn field<T: DeserializeOwned>(body: &Value, name: &str) -> Result<T, GatewayError> {
    serde_json::from_value(body[name].clone())
        .map_err(|_| GatewayError::Unavailable(format!("answer without {name}")))
}

impl MpesaGateway for Daraja {
    fn stk_push(&self, push: &StkPush) -> Result<StkAccepted, GatewayError> {
        let ts = timestamp(now_ms());
        let party_b = &self.cfg.shortcode;
        let payload = json!({
            "BusinessShortCode": self.cfg.shortcode,
            "Password": password(&self.cfg.shortcode, &self.cfg.passkey, &ts),
            "Timestamp": ts,
            "TransactionType": self.cfg.transaction_type,
            "Amount": push.amount.to_string(),
            "PartyA": push.phone,
            "PartyB": party_b,
            "PhoneNumber": push.phone,
            "CallBackURL": push.callback_url,
            "AccountReference": push.account_reference.chars().take(12).collect::<String>(),
            "TransactionDesc": push.description.chars().take(13).collect::<String>(),
        });
        let (status, body) = self.post("/mpesa/stkpush/v1/processrequest", &payload)?;
        if let Some((code, message)) = error_of(&body) {
            return Err(if status >= 500 {
                GatewayError::Unavailable(format!("{code} {message}"))
            } else {
                GatewayError::Rejected(format!("{code} {message}"))
            });
        }
        if status != 200 || body["ResponseCode"].as_str() != Some("0") {
            return Err(GatewayError::Rejected(
                body["ResponseDescription"]
                    .as_str()
                    .unwrap_or("push refused")
                    .to_owned(),
            ));
        }
        Ok(StkAccepted {
            merchant_request_id: field(&body, "MerchantRequestID")?,
            checkout_request_id: field(&body, "CheckoutRequestID")?,
        })
    }

    fn stk_query(&self, checkout_request_id: &str) -> Result<StkQuery, GatewayError> {
        let ts = timestamp(now_ms());
        let payload = json!({
            "BusinessShortCode": self.cfg.shortcode,
            "Password": password(&self.cfg.shortcode, &self.cfg.passkey, &ts),
            "Timestamp": ts,
            "CheckoutRequestID": checkout_request_id,
        });
        let (status, body) = self.post("/mpesa/stkpushquery/v1/query", &payload)?;
        if let Some((code, message)) = error_of(&body) {
            // "The transaction is being processed" is pending, not failed.
            if code == "500.001.1001" || message.to_lowercase().contains("being processed") {
                return Ok(StkQuery::Pending);
            }
            return Err(GatewayError::Unavailable(format!("{code} {message}")));
        }
        if status != 200 {
            return Err(GatewayError::Unavailable(format!("HTTP {status}")));
        }
        let code = body["ResultCode"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .or_else(|| body["ResultCode"].as_i64())
            .ok_or_else(|| GatewayError::Unavailable("query answer without ResultCode".into()))?;
        Ok(StkQuery::Completed {
            result_code: code,
            result_desc: body["ResultDesc"].as_str().unwrap_or("").to_owned(),
        })
    }

    fn supports_b2c(&self) -> bool {
        !self.cfg.initiator_name.is_empty() && !self.cfg.security_credential.is_empty()
    }

    fn b2c(&self, req: &B2cRequest) -> Result<(), GatewayError> {
        let payload = json!({
            "OriginatorConversationID": req.originator_conversation_id,
            "InitiatorName": self.cfg.initiator_name,
            "SecurityCredential": self.cfg.security_credential,
            "CommandID": "BusinessPayment",
            "Amount": req.amount.to_string(),
            "PartyA": self.cfg.shortcode,
            "PartyB": req.phone,
            "Remarks": req.remarks.chars().take(100).collect::<String>(),
            "QueueTimeOutURL": req.timeout_url,
            "ResultURL": req.result_url,
            "Occassion": "Refund",
        });
        let (status, body) = self.post("/mpesa/b2c/v3/paymentrequest", &payload)?;
        if let Some((code, message)) = error_of(&body) {
            return Err(GatewayError::Rejected(format!("{code} {message}")));
        }
        if status != 200 || body["ResponseCode"].as_str() != Some("0") {
            return Err(GatewayError::Rejected(
                body["ResponseDescription"]
                    .as_str()
                    .unwrap_or("payout refused")
                    .to_owned(),
            ));
        }
        Ok(())
    }
}
