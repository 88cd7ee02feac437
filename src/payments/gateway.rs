//! The M-Pesa gateway seam: one trait with a built-in simulator and the real Daraja client
//! (feature `mpesa`), plus the protocol rules both share: phone numbers, whole-shilling
//! amounts, the Daraja timestamp and password.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// An STK push to send.
#[derive(Debug, Clone)]
pub struct StkPush {
    /// `2547XXXXXXXX` or `2541XXXXXXXX`.
    pub phone: String,
    /// Whole shillings.
    pub amount: i64,
    /// ≤ 12 characters, shown on the customer's phone.
    pub account_reference: String,
    /// ≤ 13 characters.
    pub description: String,
    pub callback_url: String,
}

/// Daraja accepted the push; the outcome arrives later.
#[derive(Debug, Clone)]
pub struct StkAccepted {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
}

/// What an STK query says about a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StkQuery {
    /// "The transaction is being processed": leave it pending.
    Pending,
    Completed {
        result_code: i64,
        result_desc: String,
    },
}

/// A B2C payout (refund) to send.
#[derive(Debug, Clone)]
pub struct B2cRequest {
    pub originator_conversation_id: String,
    pub phone: String,
    pub amount: i64,
    pub remarks: String,
    pub result_url: String,
    pub timeout_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Daraja refused the request itself (bad phone, locked subscriber…).
    #[error("M-Pesa refused the request: {0}")]
    Rejected(String),
    /// Daraja could not be reached or answered nonsense.
    #[error("M-Pesa is unavailable: {0}")]
    Unavailable(String),
    #[error("this gateway cannot send payouts")]
    Unsupported,
}

/// What MarketHub needs from M-Pesa. Calls block (network): run them on the blocking pool.
pub trait MpesaGateway: Send + Sync {
    fn stk_push(&self, push: &StkPush) -> Result<StkAccepted, GatewayError>;
    fn stk_query(&self, checkout_request_id: &str) -> Result<StkQuery, GatewayError>;
    /// Whether approved refunds can be paid back through B2C.
    fn supports_b2c(&self) -> bool {
        false
    }
    fn b2c(&self, _req: &B2cRequest) -> Result<(), GatewayError> {
        Err(GatewayError::Unsupported)
    }
    /// A callback body this gateway will deliver itself after a delay (the simulator);
    /// real gateways return `None` because Daraja posts the callback.
    fn simulated_callback(
        &self,
        _accepted: &StkAccepted,
        _push: &StkPush,
    ) -> Option<(Duration, String)> {
        None
    }
}

/// Normalises a Kenyan mobile number to Daraja's 12-digit form (`2547…`/`2541…`).
/// Accepts `07…`, `01…`, `+2547…`, `2547…`, `7…`, with spaces or dashes.
pub fn normalize_msisdn(raw: &str) -> Result<String, String> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("must be a Kenyan mobile number like 0712345678".into());
    }
    let national = if let Some(rest) = digits.strip_prefix("254") {
        rest
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest
    } else {
        digits
    };
    if national.len() == 9 && (national.starts_with('7') || national.starts_with('1')) {
        Ok(format!("254{national}"))
    } else {
        Err("must be a Kenyan mobile number like 0712345678".into())
    }
}

/// M-Pesa takes whole shillings: the amount due is rounded up to the next shilling.
pub fn shillings_for(cents: i64) -> i64 {
    (cents + 99).div_euclid(100)
}

/// `YYYYMMDDHHmmss` in East Africa Time (UTC+3), as Daraja expects.
pub fn timestamp(now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+3));
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// base64(ShortCode + Passkey + Timestamp), with the same timestamp sent alongside.
pub fn password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    STANDARD.encode(format!("{shortcode}{passkey}{timestamp}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised() {
        for raw in [
            "0712345678",
            "+254712345678",
            "254712345678",
            "712345678",
            "0712 345 678",
            "0712-345-678",
        ] {
            assert_eq!(
                normalize_msisdn(raw).as_deref(),
                Ok("254712345678"),
                "{raw}"
            );
        }
        assert_eq!(
            normalize_msisdn("0110345678").as_deref(),
            Ok("254110345678")
        );
        for bad in [
            "0212345678",
            "12345",
            "07123456789",
            "+1 555 0100",
            "07abc45678",
            "",
        ] {
            assert!(normalize_msisdn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn whole_shillings_round_up() {
        assert_eq!(shillings_for(100), 1);
        assert_eq!(shillings_for(101), 2);
        assert_eq!(shillings_for(7_000), 70);
        assert_eq!(shillings_for(1), 1);
    }

    #[test]
    fn password_and_timestamp_follow_daraja() {
        assert_eq!(
            password(
                "174379",
                "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
                "20160216165627"
            ),
            "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
        );
        // 2016-02-16T13:56:27Z is 16:56:27 in Nairobi.
        assert_eq!(timestamp(1_455_630_987_000), "20160216165627");
    }
}
