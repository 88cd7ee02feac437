//! The background mail sender: claims due outbox messages, delivers them over SMTP (or
//! logs them when no SMTP server is configured), and records the outcome. Temporary
//! failures are retried with exponential backoff up to `mail.max_attempts`; a message is
//! marked `sent` as soon as the server accepted it, so it is not sent again.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::config::MailConfig;
use crate::db::{Db, DbError};
use crate::signing::Signer;

use super::MailSignal;
use super::store::{self, Claimed};

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// How long a claim lasts before another sender may take the message over.
const LEASE_MS: i64 = 5 * 60 * 1000;
const BATCH: i64 = 20;

/// Builds the SMTP transport for `smtp_url`; `Ok(None)` when mail is only logged.
pub fn transport(cfg: &MailConfig) -> Result<Option<Transport>, String> {
    if cfg.smtp_url.trim().is_empty() {
        return Ok(None);
    }
    let builder = Transport::from_url(cfg.smtp_url.trim()).map_err(|e| e.to_string())?;
    Ok(Some(
        builder
            .timeout(Some(Duration::from_secs(cfg.smtp_timeout_secs)))
            .build(),
    ))
}

/// Backoff before attempt `attempts + 1`: initial × 2^(attempts − 1), capped.
pub fn backoff_ms(cfg: &MailConfig, attempts: u32) -> u64 {
    let exp = attempts.saturating_sub(1).min(30);
    cfg.retry_initial_ms
        .saturating_mul(1u64 << exp)
        .min(cfg.retry_max_ms)
}

/// Runs until `shutdown` is cancelled; a message being sent is finished first.
/// What the sender needs besides the outbox: how to send, and how to render one-time links.
pub struct SenderSetup {
    pub cfg: MailConfig,
    /// Recomputes the one-time tokens of links as they are sent.
    pub signer: Signer,
    /// Without SMTP, write messages that carry a one-time link to the log in full (a
    /// development install has no other way to follow them); production logs only that a
    /// message was not sent.
    pub log_links: bool,
}

pub async fn run(db: Db, setup: SenderSetup, signal: MailSignal, shutdown: CancellationToken) {
    let SenderSetup {
        cfg,
        signer,
        log_links,
    } = setup;
    let render = Render { signer, log_links };
    let transport = match transport(&cfg) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "mail.smtp_url is unusable; mail stays queued");
            return;
        }
    };
    let from: Mailbox = match cfg.from.parse() {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "mail.from is unusable; mail stays queued");
            return;
        }
    };
    tracing::info!(smtp = transport.is_some(), "mail sender started");
    let poll = Duration::from_secs(cfg.poll_interval_secs);
    loop {
        let wait = match deliver_due(&db, &cfg, &render, transport.as_ref(), &from).await {
            Ok(Some(next)) => {
                Duration::from_millis(u64::try_from(next - now_ms()).unwrap_or(0)).min(poll)
            }
            Ok(None) => poll,
            Err(e) => {
                tracing::warn!(error = %e, "mail sender could not read the outbox");
                poll
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = signal.woken() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("mail sender stopped");
}

/// Delivers everything due now; returns when the next message falls due.
/// How a stored message becomes the text that is sent.
struct Render {
    signer: Signer,
    log_links: bool,
}

impl Render {
    fn body(&self, msg: &Claimed) -> String {
        super::render(&msg.body, msg.secret_ref.as_deref(), &self.signer)
    }
}

async fn deliver_due(
    db: &Db,
    cfg: &MailConfig,
    render: &Render,
    transport: Option<&Transport>,
    from: &Mailbox,
) -> Result<Option<i64>, DbError> {
    loop {
        let claimed_at = now_ms();
        let batch = db
            .write(move |c| store::claim_due(c, claimed_at, LEASE_MS, BATCH))
            .await?;
        if batch.is_empty() {
            return db.read(store::next_due_at).await;
        }
        if transport.is_none() {
            // Nothing leaves the machine: log them all, then record them in one write.
            for msg in &batch {
                deliver(cfg, render, None, from, msg).await;
            }
            let ids: Vec<String> = batch.into_iter().map(|m| m.id).collect();
            db.write(move |c| {
                let now = now_ms();
                ids.iter()
                    .try_for_each(|id| store::finish(c, id, "logged", None, now))
            })
            .await?;
            continue;
        }
        for msg in batch {
            // Sends take time (SMTP timeouts): renew the claim right before each one, and skip
            // a message whose claim expired meanwhile (another sender has it now).
            let (id, claimed_until) = (msg.id.clone(), claimed_at + LEASE_MS);
            let still_ours = db
                .write(move |c| store::renew_claim(c, &id, claimed_until, now_ms() + LEASE_MS))
                .await?;
            if !still_ours {
                tracing::warn!(id = %msg.id, "mail claim expired before sending; left to its new sender");
                continue;
            }
            let outcome = deliver(cfg, render, transport, from, &msg).await;
            let id = msg.id.clone();
            db.write(move |c| match outcome {
                Outcome::Sent => store::finish(c, &id, "sent", None, now_ms()),
                Outcome::Logged => store::finish(c, &id, "logged", None, now_ms()),
                Outcome::Failed(e) => store::finish(c, &id, "failed", Some(&e), now_ms()),
                Outcome::Retry(e, at) => store::retry_later(c, &id, &e, at),
            })
            .await?;
        }
    }
}

enum Outcome {
    Sent,
    Logged,
    Failed(String),
    Retry(String, i64),
}

async fn deliver(
    cfg: &MailConfig,
    render: &Render,
    transport: Option<&Transport>,
    from: &Mailbox,
    msg: &Claimed,
) -> Outcome {
    let Some(transport) = transport else {
        if msg.secret_ref.is_some() && render.log_links {
            tracing::info!(
                to = %msg.to, subject = %msg.subject, body = %render.body(msg),
                "mail not sent (no SMTP configured); its one-time link is only in this log"
            );
        } else if msg.secret_ref.is_some() {
            tracing::warn!(
                to = %msg.to, subject = %msg.subject,
                "mail with a one-time link not sent: no SMTP configured (mail.smtp_url)"
            );
        } else {
            tracing::info!(
                to = %msg.to, subject = %msg.subject,
                "mail not sent (no SMTP configured); admins read it at GET /api/v1/admin/mail"
            );
        }
        return Outcome::Logged;
    };
    let to: Mailbox = match msg.to.parse() {
        Ok(m) => m,
        Err(e) => return Outcome::Failed(format!("bad recipient: {e}")),
    };
    let message = match Message::builder()
        .from(from.clone())
        .to(to)
        .subject(msg.subject.clone())
        .body(render.body(msg))
    {
        Ok(m) => m,
        Err(e) => return Outcome::Failed(format!("could not build message: {e}")),
    };
    match transport.send(message).await {
        Ok(_) => {
            tracing::info!(to = %msg.to, subject = %msg.subject, attempts = msg.attempts, "mail sent");
            Outcome::Sent
        }
        Err(e) if e.is_permanent() => {
            tracing::warn!(to = %msg.to, error = %e, "mail refused permanently");
            Outcome::Failed(e.to_string())
        }
        Err(e) if msg.attempts >= cfg.max_attempts => {
            tracing::warn!(to = %msg.to, error = %e, attempts = msg.attempts, "mail given up");
            Outcome::Failed(e.to_string())
        }
        Err(e) => {
            let delay = backoff_ms(cfg, msg.attempts);
            tracing::info!(to = %msg.to, error = %e, retry_in_ms = delay, "mail will be retried");
            let at = now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
            Outcome::Retry(e.to_string(), at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let cfg = MailConfig {
            retry_initial_ms: 1000,
            retry_max_ms: 10_000,
            ..MailConfig::default()
        };
        assert_eq!(backoff_ms(&cfg, 1), 1000);
        assert_eq!(backoff_ms(&cfg, 2), 2000);
        assert_eq!(backoff_ms(&cfg, 4), 8000);
        assert_eq!(backoff_ms(&cfg, 5), 10_000);
        assert_eq!(backoff_ms(&cfg, 60), 10_000);
    }

    #[test]
    fn smtp_urls() {
        let mut cfg = MailConfig::default();
        assert!(matches!(transport(&cfg), Ok(None)));
        cfg.smtp_url = "smtp://127.0.0.1:2525".into();
        assert!(matches!(transport(&cfg), Ok(Some(_))));
        cfg.smtp_url = "not a url".into();
        assert!(transport(&cfg).is_err());
    }
}
