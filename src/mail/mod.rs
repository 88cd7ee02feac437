//! Mail: messages are written to the `mail_outbox` table inside the same transaction as
//! the change that causes them ([`enqueue`]), then delivered by the background sender
//! (`sender.rs`): over SMTP when `mail.smtp_url` is set, otherwise logged and kept in the
//! outbox where an admin (or a demo) can read them at `GET /api/v1/admin/mail`.
//!
//! A message with a one-time link (verification, password reset) is stored with
//! [`LINK_SECRET`] where the token goes and a random nonce beside it; the sender recomputes
//! the token from the nonce with the server's key ([`crate::signing`]) as it sends, and the
//! nonce is cleared once the message is sent, logged or given up. Neither the outbox, the
//! admin mail view nor a backup holds a usable token.

pub mod routes;
pub mod sender;
pub mod store;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::db::{Conn, DbError};

/// A message ready to be queued.
#[derive(Debug, Clone)]
pub struct Mail {
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    /// The text; [`LINK_SECRET`] stands where a one-time token goes.
    pub body: String,
    /// The nonce the one-time token is computed from at send time, if the body has one.
    pub secret_ref: Option<String>,
}

/// What stands in a stored body where the one-time token goes.
pub const LINK_SECRET: &str = "[redacted]";

/// The text to send: `body` with its one-time token, computed from `secret_ref`.
pub fn render(body: &str, secret_ref: Option<&str>, signer: &crate::signing::Signer) -> String {
    match secret_ref {
        Some(nonce) => body.replace(
            LINK_SECRET,
            &signer.sign(crate::signing::Purpose::MailLink, nonce),
        ),
        None => body.to_owned(),
    }
}

/// A fresh one-time token for a mailed link: the nonce to store with the message, and the
/// token itself (whose hash is stored with the account; the token is not kept anywhere).
pub fn link_token(signer: &crate::signing::Signer) -> (String, String) {
    let nonce = crate::signing::nonce();
    let token = signer.sign(crate::signing::Purpose::MailLink, &nonce);
    (nonce, token)
}

/// Queues `mail` in the caller's transaction: it is sent only if that transaction commits.
pub fn enqueue(c: &dyn Conn, mail: &Mail, now: i64) -> Result<(), DbError> {
    store::insert(c, mail, now)
}

/// Wakes the sender after a transaction that queued mail has committed.
#[derive(Clone, Default)]
pub struct MailSignal(Arc<Notify>);

impl MailSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.0.notified().await;
    }
}

/// The messages MarketHub sends. Plain text: readable everywhere, nothing to render.
pub mod templates {
    use super::Mail;

    pub fn verify_email(to: &str, name: &str, nonce: &str, base_url: &str, hours: u64) -> Mail {
        let token = super::LINK_SECRET;
        Mail {
            secret_ref: Some(nonce.to_owned()),
            kind: "verify_email",
            to: to.to_owned(),
            subject: "Confirm your MarketHub email address".into(),
            body: format!(
                "Hello {name},\n\n\
                 Please confirm your email address by opening this link:\n\
                 {base_url}/verify-email?token={token}\n\n\
                 Or send this code to POST /api/v1/auth/verify-email: {token}\n\n\
                 The link expires in {hours} hours. If you did not create an account, ignore this message.\n"
            ),
        }
    }

    pub fn reset_password(to: &str, name: &str, nonce: &str, base_url: &str, minutes: u64) -> Mail {
        let token = super::LINK_SECRET;
        Mail {
            secret_ref: Some(nonce.to_owned()),
            kind: "reset_password",
            to: to.to_owned(),
            subject: "Reset your MarketHub password".into(),
            body: format!(
                "Hello {name},\n\n\
                 Someone asked to reset the password of this MarketHub account. To choose a new one, open:\n\
                 {base_url}/reset-password?token={token}\n\n\
                 Or send this code to POST /api/v1/auth/reset-password: {token}\n\n\
                 The link works once and expires in {minutes} minutes. If it was not you, ignore this message;\n\
                 your password stays unchanged.\n"
            ),
        }
    }

    pub fn merchant_approved(
        to: &str,
        name: &str,
        business: &str,
        note: Option<&str>,
        base_url: &str,
    ) -> Mail {
        let note = note
            .map(|n| format!("\nNote from the MarketHub team:\n{n}\n"))
            .unwrap_or_default();
        Mail {
            secret_ref: None,
            kind: "merchant_approved",
            to: to.to_owned(),
            subject: format!("{business} is now a MarketHub merchant"),
            body: format!(
                "Hello {name},\n\n\
                 Your application to sell on MarketHub as \"{business}\" was approved.\n\
                 Sign in again to start adding products: {base_url}\n{note}"
            ),
        }
    }

    pub fn merchant_rejected(to: &str, name: &str, business: &str, note: &str) -> Mail {
        Mail {
            secret_ref: None,
            kind: "merchant_rejected",
            to: to.to_owned(),
            subject: format!("Your MarketHub merchant application for {business}"),
            body: format!(
                "Hello {name},\n\n\
                 Your application to sell on MarketHub as \"{business}\" was not approved.\n\n\
                 Reason:\n{note}\n\n\
                 You are welcome to apply again once the points above are addressed.\n"
            ),
        }
    }

    /// `lines`: (product name, quantity).
    pub fn order_placed(
        to: &str,
        name: &str,
        order_id: &str,
        total: &str,
        lines: &[(String, i64)],
    ) -> Mail {
        let list: String = lines
            .iter()
            .map(|(n, q)| format!("  - {q} × {n}\n"))
            .collect();
        Mail {
            secret_ref: None,
            kind: "order_placed",
            to: to.to_owned(),
            subject: format!("Your MarketHub order {}", short(order_id)),
            body: format!(
                "Hello {name},\n\nThank you for your order {order_id}.\n\n{list}\nTotal: {total}\n\n\
                 We will tell you as each seller prepares and ships your items.\n"
            ),
        }
    }

    pub fn merchant_new_order(
        to: &str,
        business: &str,
        sub_order_id: &str,
        subtotal: &str,
        lines: &[(String, i64)],
    ) -> Mail {
        let list: String = lines
            .iter()
            .map(|(n, q)| format!("  - {q} × {n}\n"))
            .collect();
        Mail {
            secret_ref: None,
            kind: "merchant_new_order",
            to: to.to_owned(),
            subject: format!("New order {} for {business}", short(sub_order_id)),
            body: format!(
                "Hello {business},\n\nYou have a new order ({sub_order_id}):\n\n{list}\nSubtotal: {subtotal}\n\n\
                 Please confirm it and ship it to the hub.\n"
            ),
        }
    }

    pub fn order_status(
        to: &str,
        name: &str,
        order_id: &str,
        business: &str,
        status: &str,
    ) -> Mail {
        let what = status.replace('_', " ");
        Mail {
            secret_ref: None,
            kind: "order_status",
            to: to.to_owned(),
            subject: format!("Order {}: {what}", short(order_id)),
            body: format!(
                "Hello {name},\n\nThe items from {business} in your order {order_id} are now: {what}.\n"
            ),
        }
    }

    pub fn order_cancelled(to: &str, name: &str, order_id: &str) -> Mail {
        Mail {
            secret_ref: None,
            kind: "order_cancelled",
            to: to.to_owned(),
            subject: format!("Order {} cancelled", short(order_id)),
            body: format!(
                "Hello {name},\n\nYour order {order_id} has been cancelled as you asked.\n"
            ),
        }
    }

    pub fn payment_received(
        to: &str,
        name: &str,
        order_id: &str,
        amount: &str,
        receipt: Option<&str>,
    ) -> Mail {
        let receipt = receipt
            .map(|r| format!(" (M-Pesa receipt {r})"))
            .unwrap_or_default();
        Mail {
            secret_ref: None,
            kind: "payment_received",
            to: to.to_owned(),
            subject: format!("Payment received for order {}", short(order_id)),
            body: format!(
                "Hello {name},\n\nWe received {amount}{receipt} for your order {order_id}. Thank you!\n"
            ),
        }
    }

    pub fn payment_failed(to: &str, name: &str, order_id: &str, why: &str) -> Mail {
        Mail {
            secret_ref: None,
            kind: "payment_failed",
            to: to.to_owned(),
            subject: format!("Payment for order {} did not go through", short(order_id)),
            body: format!(
                "Hello {name},\n\nThe M-Pesa payment for your order {order_id} did not go through ({why}).\n\
                 You can try again from your order; unpaid orders are released after a while.\n"
            ),
        }
    }

    pub fn order_released(to: &str, name: &str, order_id: &str) -> Mail {
        Mail {
            secret_ref: None,
            kind: "order_released",
            to: to.to_owned(),
            subject: format!("Order {} released", short(order_id)),
            body: format!(
                "Hello {name},\n\nYour order {order_id} was not paid in time and has been released.\n"
            ),
        }
    }

    pub fn refund_approved(
        to: &str,
        name: &str,
        order_id: &str,
        amount: &str,
        note: Option<&str>,
    ) -> Mail {
        let note = note.map(|n| format!("\nNote: {n}\n")).unwrap_or_default();
        Mail {
            secret_ref: None,
            kind: "refund_approved",
            to: to.to_owned(),
            subject: format!("Refund approved for order {}", short(order_id)),
            body: format!(
                "Hello {name},\n\nYour refund of {amount} for order {order_id} was approved.\n{note}"
            ),
        }
    }

    pub fn refund_denied(to: &str, name: &str, order_id: &str, note: &str) -> Mail {
        Mail {
            secret_ref: None,
            kind: "refund_denied",
            to: to.to_owned(),
            subject: format!("Refund request for order {}", short(order_id)),
            body: format!(
                "Hello {name},\n\nYour refund request for order {order_id} was not approved.\n\nReason:\n{note}\n"
            ),
        }
    }

    /// The last 8 characters of an id, for subjects.
    fn short(id: &str) -> &str {
        &id[id.len().saturating_sub(8)..]
    }

    pub fn registration_attempt(to: &str, name: &str, base_url: &str) -> Mail {
        Mail {
            secret_ref: None,
            kind: "registration_attempt",
            to: to.to_owned(),
            subject: "Someone tried to open a MarketHub account with your address".into(),
            body: format!(
                "Hello {name},\n\n\
                 Someone just tried to create a new MarketHub account with this email address, which already\n\
                 has one. If it was you, sign in instead; if you forgot your password, ask for a reset link at\n\
                 {base_url}/reset-password (or POST /api/v1/auth/forgot-password).\n\n\
                 If it was not you, nothing changed and you need not do anything.\n"
            ),
        }
    }

    pub fn password_changed(to: &str, name: &str) -> Mail {
        Mail {
            secret_ref: None,
            kind: "password_changed",
            to: to.to_owned(),
            subject: "Your MarketHub password was changed".into(),
            body: format!(
                "Hello {name},\n\n\
                 The password of your MarketHub account was just changed and your other sessions were signed out.\n\
                 If this was not you, reset your password at once and contact support.\n"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Signer;

    #[test]
    fn links_are_rendered_from_the_nonce_at_send_time_only() {
        let signer = Signer::new("a server secret a server secret !!");
        let (nonce, token) = link_token(&signer);
        let m = templates::reset_password("a@b.test", "A", &nonce, "https://shop.test", 60);
        assert!(!m.body.contains(&token));
        assert!(m.body.contains("/reset-password?token=[redacted]"));
        let sent = render(&m.body, m.secret_ref.as_deref(), &signer);
        assert!(sent.contains(&format!("/reset-password?token={token}")));
        assert!(!sent.contains(LINK_SECRET));
        let other = Signer::new("another secret another secret !!!!");
        assert!(!render(&m.body, m.secret_ref.as_deref(), &other).contains(&token));
    }

    #[test]
    fn the_upgrade_removes_tokens_from_messages_written_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        crate::db::old_database(&path, 9).expect("a version 9 database");
        let conn = rusqlite::Connection::open(&path).expect("open");
        for (id, kind, status) in [
            ("m1", "reset_password", "pending"),
            ("m2", "verify_email", "sent"),
            ("m3", "order_placed", "sent"),
        ] {
            conn.execute(
                "INSERT INTO mail_outbox (id, kind, to_addr, subject, body_text, status,
                                          next_attempt_at, created_at)
                 VALUES (?1, ?2, 'a@b.test', 's', 'link ?token=SECRET123', ?3, 0, 0)",
                rusqlite::params![id, kind, status],
            )
            .expect("insert");
        }
        drop(conn);
        let mut conn = rusqlite::Connection::open(&path).expect("open");
        crate::db::migrate_connection(&mut conn).expect("upgrade");
        let rows: Vec<(String, String, String)> = conn
            .prepare("SELECT id, status, body_text FROM mail_outbox ORDER BY id")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .expect("rows");
        assert_eq!(rows[0].1, "failed", "an unsent link is withdrawn");
        assert_eq!(rows[1].1, "sent");
        for (id, _, body) in &rows[..2] {
            assert!(!body.contains("SECRET123"), "{id}: {body}");
        }
        assert!(rows[2].2.contains("SECRET123"), "other mail is left alone");
    }
}
