//! Forgotten passwords, reset tokens, email verification, password change.

use serde_json::json;

use crate::common::{PASSWORD, Session, TestServer};

const NEW_PASSWORD: &str = "Otter-Lantern-93";

#[tokio::test]
async fn forgot_password_answers_the_same_for_unknown_accounts() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    srv.register("known@example.com").await;
    let known = srv
        .post(
            "/auth/forgot-password",
            json!({"email": "Known@example.com"}),
            None,
        )
        .await;
    let unknown = srv
        .post(
            "/auth/forgot-password",
            json!({"email": "ghost@example.com"}),
            None,
        )
        .await;
    assert_eq!((known.status, unknown.status), (202, 202));
    assert_eq!(known.body, unknown.body);
    assert_eq!(srv.mail_to(&admin, "ghost@example.com").await.len(), 0);
    let mails = srv.mail_to(&admin, "known@example.com").await;
    assert!(mails.iter().any(|m| m["kind"] == "reset_password"));
    let bad = srv
        .post("/auth/forgot-password", json!({"email": "nope"}), None)
        .await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn reset_password_is_single_use_and_signs_out_everywhere() {
    let (srv, mut stub) = TestServer::with_mail().await;
    let admin = srv.admin().await;
    let s = srv.register("reset@example.com").await;
    srv.post(
        "/auth/forgot-password",
        json!({"email": "reset@example.com"}),
        None,
    )
    .await;
    let token = stub.token_for("reset@example.com", "Reset").await;

    let weak = srv
        .post(
            "/auth/reset-password",
            json!({"token": token, "password": "short"}),
            None,
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.body["error"]["fields"]["password"].is_string());

    let ok = srv
        .post(
            "/auth/reset-password",
            json!({"token": token, "password": NEW_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let again = srv
        .post(
            "/auth/reset-password",
            json!({"token": token, "password": "Another-Pass-77"}),
            None,
        )
        .await;
    assert_eq!((again.status, again.code()), (400, "invalid_token"));

    assert_eq!(srv.login("reset@example.com", PASSWORD).await.status, 401);
    assert_eq!(
        srv.login("reset@example.com", NEW_PASSWORD).await.status,
        200
    );
    assert_eq!(
        srv.get("/auth/me", Some(&s.access)).await.status,
        401,
        "old sessions revoked"
    );
    let kinds: Vec<_> = srv
        .mail_to(&admin, "reset@example.com")
        .await
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(kinds.contains(&"password_changed".to_owned()), "{kinds:?}");
}

#[tokio::test]
async fn only_the_latest_reset_link_works() {
    let (srv, mut stub) = TestServer::with_mail().await;
    srv.register("twice@example.com").await;
    srv.post(
        "/auth/forgot-password",
        json!({"email": "twice@example.com"}),
        None,
    )
    .await;
    let first = stub.token_for("twice@example.com", "Reset").await;
    srv.post(
        "/auth/forgot-password",
        json!({"email": "twice@example.com"}),
        None,
    )
    .await;
    let second = stub.token_for("twice@example.com", "Reset").await;
    assert_ne!(first, second);
    let old = srv
        .post(
            "/auth/reset-password",
            json!({"token": first, "password": NEW_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(old.status, 400);
    let new = srv
        .post(
            "/auth/reset-password",
            json!({"token": second, "password": NEW_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(new.status, 200);
    let forged = srv
        .post(
            "/auth/reset-password",
            json!({"token": "made-up", "password": NEW_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(forged.status, 400);
}

#[tokio::test]
async fn email_verification_flow() {
    let (srv, mut stub) = TestServer::with_mail().await;
    let s = srv.register("verify@example.com").await;
    let first = stub.token_for("verify@example.com", "Confirm").await;

    let resent = srv
        .post("/auth/resend-verification", json!({}), Some(&s.access))
        .await;
    assert_eq!(resent.status, 202);
    let second = stub.token_for("verify@example.com", "Confirm").await;
    assert_ne!(first, second);
    let stale = srv
        .post("/auth/verify-email", json!({"token": first}), None)
        .await;
    assert_eq!((stale.status, stale.code()), (400, "invalid_token"));

    let ok = srv
        .post("/auth/verify-email", json!({"token": second}), None)
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["user"]["email_verified"], true);
    let me = srv.get("/auth/me", Some(&s.access)).await;
    assert_eq!(me.body["email_verified"], true);

    let reuse = srv
        .post("/auth/verify-email", json!({"token": second}), None)
        .await;
    assert_eq!(reuse.status, 400);
    let done = srv
        .post("/auth/resend-verification", json!({}), Some(&s.access))
        .await;
    assert_eq!((done.status, done.code()), (409, "already_verified"));
    assert_eq!(
        srv.post("/auth/resend-verification", json!({}), None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn password_change_checks_the_current_one_and_signs_out_other_sessions() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let here = srv.register("change@example.com").await;
    let elsewhere = Session::from(&srv.login("change@example.com", PASSWORD).await.body);

    let wrong = srv
        .put(
            "/profile/password",
            json!({"current_password": "Not-The-One-11", "new_password": NEW_PASSWORD}),
            Some(&here.access),
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert_eq!(
        wrong.body["error"]["fields"]["current_password"],
        "is incorrect"
    );

    let weak = srv
        .put(
            "/profile/password",
            json!({"current_password": PASSWORD, "new_password": "qwertyuiop"}),
            Some(&here.access),
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.body["error"]["fields"]["new_password"].is_string());

    let same = srv
        .put(
            "/profile/password",
            json!({"current_password": PASSWORD, "new_password": PASSWORD}),
            Some(&here.access),
        )
        .await;
    assert_eq!(same.status, 422);

    let ok = srv
        .put(
            "/profile/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            Some(&here.access),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["sessions_revoked"], 1);
    assert_eq!(
        srv.get("/auth/me", Some(&here.access)).await.status,
        200,
        "this session stays"
    );
    assert_eq!(
        srv.get("/auth/me", Some(&elsewhere.access)).await.status,
        401
    );
    let refresh = srv
        .post(
            "/auth/refresh",
            json!({"refresh_token": elsewhere.refresh}),
            None,
        )
        .await;
    assert_eq!(refresh.status, 401);
    assert_eq!(srv.login("change@example.com", PASSWORD).await.status, 401);
    assert_eq!(
        srv.login("change@example.com", NEW_PASSWORD).await.status,
        200
    );
    let mails = srv.mail_to(&admin, "change@example.com").await;
    assert!(mails.iter().any(|m| m["kind"] == "password_changed"));
}
