//! Mail delivery through the outbox: a real SMTP conversation with a listener on loopback,
//! retries after a temporary refusal, and the no-SMTP mode that keeps messages readable.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::common::smtp::SmtpStub;
use crate::common::{Session, TestServer, token_in};

async fn outbox_status(
    srv: &TestServer,
    admin: &Session,
    to: &str,
    kind: &str,
) -> Option<(String, i64)> {
    let items = srv.mail_to(admin, to).await;
    let m = items.iter().find(|m| m["kind"] == kind)?;
    Some((m["status"].as_str()?.to_owned(), m["attempts"].as_i64()?))
}

#[tokio::test]
async fn verification_mail_is_delivered_over_smtp_and_its_link_works() {
    let (srv, mut stub) = TestServer::with_mail().await;
    let s = srv.register("smtp@example.com").await;

    let msg = stub.next().await;
    assert_eq!(msg.to, vec!["smtp@example.com".to_owned()]);
    assert_eq!(msg.from, "no-reply@markethub.local");
    assert!(msg.subject().contains("Confirm"), "{}", msg.data);
    let token = token_in(&msg.body_text()).expect("token in the delivered mail");

    let r = srv
        .post("/auth/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        srv.get("/auth/me", Some(&s.access)).await.body["email_verified"],
        true
    );

    let admin = srv.admin().await;
    let status = srv
        .eventually("the outbox to record the delivery", || async {
            outbox_status(&srv, &admin, "smtp@example.com", "verify_email")
                .await
                .filter(|(st, _)| st == "sent")
        })
        .await;
    assert_eq!(status.1, 1, "delivered on the first attempt");
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_and_the_message_sent_once() {
    let mut stub = SmtpStub::start(1).await;
    let url = stub.url();
    let srv = TestServer::with(|c| {
        c.mail.smtp_url = url;
        c.mail.retry_initial_ms = 50;
    })
    .await;
    let admin = srv.admin().await;
    srv.post(
        "/auth/forgot-password",
        json!({"email": "admin@markethub.test"}),
        None,
    )
    .await;

    let msg = stub.next().await;
    assert!(msg.subject().contains("Reset"));
    assert_eq!(
        stub.refused.load(Ordering::SeqCst),
        1,
        "the first attempt was refused"
    );
    let (status, attempts) = srv
        .eventually("the outbox to record the retry", || async {
            outbox_status(&srv, &admin, "admin@markethub.test", "reset_password")
                .await
                .filter(|(st, _)| st == "sent")
        })
        .await;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
    // Exactly one copy was accepted: nothing else is waiting in the stub.
    assert!(stub.received.try_recv().is_err());
}

#[tokio::test]
async fn without_smtp_mail_is_logged_and_kept_readable_but_links_are_withheld() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    srv.register("nosmtp@example.com").await;
    let (status, _) = srv
        .eventually("the sender to log the message", || async {
            outbox_status(&srv, &admin, "nosmtp@example.com", "verify_email")
                .await
                .filter(|(st, _)| st == "logged")
        })
        .await;
    assert_eq!(status, "logged");
    let items = srv.mail_to(&admin, "nosmtp@example.com").await;
    let body = items
        .iter()
        .find(|m| m["kind"] == "verify_email")
        .and_then(|m| m["body"].as_str())
        .unwrap_or_default();
    assert!(
        body.contains("/verify-email?token=[redacted]"),
        "the admin view shows where the link goes, not its token: {body}"
    );
    assert_eq!(token_in(body), None);
    let bad = srv
        .get("/admin/mail?status=bogus", Some(&admin.access))
        .await;
    assert_eq!(bad.status, 400);
    let customer = srv.register("peek@example.com").await;
    assert_eq!(
        srv.get("/admin/mail", Some(&customer.access)).await.status,
        403
    );
}

/// Whether `needle` occurs in the file at `path` (absent files hold nothing).
fn file_holds(path: &std::path::Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or(false)
}

#[tokio::test]
async fn a_mailed_reset_token_is_in_neither_the_database_nor_a_backup() {
    if crate::common::sqlite_only("reading the database file and its backup") {
        return;
    }
    let (srv, mut stub) = TestServer::with_mail().await;
    let admin = srv.admin().await;
    srv.register("victim@example.com").await;
    let r = srv
        .post(
            "/auth/forgot-password",
            json!({"email": "victim@example.com"}),
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let token = stub.token_for("victim@example.com", "Reset").await;
    srv.eventually("the outbox to record the delivery", || async {
        outbox_status(&srv, &admin, "victim@example.com", "reset_password")
            .await
            .filter(|(st, _)| st == "sent")
    })
    .await;

    let view = srv.mail_to(&admin, "victim@example.com").await;
    let reset = view
        .iter()
        .find(|m| m["kind"] == "reset_password")
        .and_then(|m| m["body"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        reset.contains("/reset-password?token=[redacted]"),
        "{reset}"
    );
    assert!(!reset.contains(&token));

    let made = srv
        .post("/admin/backups", json!({}), Some(&admin.access))
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let name = made.body["name"].as_str().expect("backup name").to_owned();
    let bytes = srv
        .client
        .get(srv.url(&format!("/admin/backups/{name}")))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("backup bytes");
    let scratch = tempfile::tempdir().expect("tempdir");
    let gz = scratch.path().join(&name);
    std::fs::write(&gz, &bytes).expect("write");
    let copy = scratch.path().join("copy.db");
    markethub::backups::unpack(&gz, &copy, markethub::backups::SizeCap::NONE).expect("unpack");
    assert!(
        !file_holds(&copy, &token),
        "the backup holds the reset token"
    );
    let db = srv.config.data_dir.join("markethub.db");
    for file in [db.clone(), db.with_extension("db-wal")] {
        assert!(
            !file_holds(&file, &token),
            "{} holds the reset token",
            file.display()
        );
    }

    // The mailed link itself works, once.
    let r = srv
        .post(
            "/auth/reset-password",
            json!({"token": token, "password": "Otter-Lantern-93"}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
