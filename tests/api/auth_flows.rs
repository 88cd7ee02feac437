//! Register, sign in, tokens (expired, forged, revoked), refresh rotation with reuse
//! detection, sign out, roles.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use crate::common::{PASSWORD, Session, TEST_SECRET, TestServer};

#[tokio::test]
async fn register_creates_a_customer_and_signs_in() {
    let srv = TestServer::start().await;
    let r = srv
        .post(
            "/auth/register",
            json!({"email": "  Jane.Doe@Example.COM ", "password": PASSWORD,
                   "full_name": " Jane Doe ", "phone": "+254 712 345 678", "role": "admin"}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let user = &r.body["user"];
    assert_eq!(user["email"], "jane.doe@example.com");
    assert_eq!(user["full_name"], "Jane Doe");
    assert_eq!(user["phone"], "+254712345678");
    assert_eq!(user["role"], "customer", "the role in the body is ignored");
    assert_eq!(user["email_verified"], false);
    assert!(user.get("password_hash").is_none());
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["expires_in"].as_i64().unwrap_or(0) > 0);

    let s = Session::from(&r.body);
    let me = srv.get("/auth/me", Some(&s.access)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], s.user_id);
    assert_eq!(me.body["email"], "jane.doe@example.com");
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_its_case() {
    let srv = TestServer::start().await;
    srv.register("dup@example.com").await;
    let r = srv
        .post(
            "/auth/register",
            json!({"email": "DUP@example.com ", "password": PASSWORD, "full_name": "X"}),
            None,
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "email_taken");
}

/// Registration says when an address is taken (the contract signs a new customer in at
/// once, which cannot be hidden), so the owner hears of every attempt (one mail an hour),
/// and the per-IP limit answers new and taken addresses alike once reached.
#[tokio::test]
async fn a_taken_email_warns_its_owner_and_probing_is_rate_limited() {
    let srv = TestServer::with(|c| c.rate_limit.register_per_ip_per_hour = 4).await;
    let admin = srv.admin().await;
    let attempt = |email: &str| {
        srv.post(
            "/auth/register",
            json!({"email": email, "password": PASSWORD, "full_name": "Somebody"}),
            None,
        )
    };
    assert_eq!(attempt("owner@example.com").await.status, 201);
    for _ in 0..2 {
        let r = attempt("Owner@example.com").await;
        assert_eq!((r.status, r.code()), (409, "email_taken"), "{:?}", r.body);
    }
    let warnings: Vec<_> = srv
        .mail_to(&admin, "owner@example.com")
        .await
        .into_iter()
        .filter(|m| m["kind"] == "registration_attempt")
        .collect();
    assert_eq!(warnings.len(), 1, "one warning an hour: {warnings:?}");
    let body = warnings[0]["body"].as_str().unwrap_or_default();
    assert!(body.contains("already"), "{body}");
    assert_eq!(attempt("fresh@example.com").await.status, 201);
    for email in ["owner@example.com", "another@example.com"] {
        let r = attempt(email).await;
        assert_eq!((r.status, r.code()), (429, "rate_limited"), "{email}");
    }
}

#[tokio::test]
async fn register_validation_names_every_bad_field() {
    let srv = TestServer::start().await;
    let r = srv
        .post(
            "/auth/register",
            json!({"email": "not-an-email", "password": "short", "full_name": "  ", "phone": "12"}),
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let f = &r.body["error"]["fields"];
    for field in ["email", "password", "full_name", "phone"] {
        assert!(f[field].is_string(), "{field} missing in {f:?}");
    }
    let common = srv
        .post(
            "/auth/register",
            json!({"email": "c@example.com", "password": "Password123", "full_name": "C"}),
            None,
        )
        .await;
    assert_eq!(common.status, 422);
    assert!(
        common.body["error"]["fields"]["password"]
            .as_str()
            .unwrap_or("")
            .contains("common")
    );
    // Nothing was created by the refused attempts.
    let ok = srv
        .post(
            "/auth/register",
            json!({"email": "c@example.com", "password": PASSWORD, "full_name": "C"}),
            None,
        )
        .await;
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn login_success_and_failures_do_not_reveal_accounts() {
    let srv = TestServer::start().await;
    srv.register("login@example.com").await;
    let ok = srv.login("LOGIN@example.com", PASSWORD).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert!(ok.body["user"]["last_login_at"].is_string());

    let wrong = srv.login("login@example.com", "Wrong-Password-1").await;
    let unknown = srv.login("nobody@example.com", PASSWORD).await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.code(), "invalid_credentials");
    assert_eq!(
        wrong.body, unknown.body,
        "same answer for unknown account and wrong password"
    );

    let empty = srv
        .post("/auth/login", json!({"email": "", "password": ""}), None)
        .await;
    assert_eq!(empty.status, 422);
}

#[tokio::test]
async fn missing_garbage_forged_and_expired_tokens_are_401() {
    let srv = TestServer::start().await;
    let s = srv.register("tok@example.com").await;

    let none = srv.get("/auth/me", None).await;
    assert_eq!((none.status, none.code()), (401, "missing_token"));
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));

    let garbage = srv.get("/auth/me", Some("not-a-jwt")).await;
    assert_eq!((garbage.status, garbage.code()), (401, "invalid_token"));

    let basic = srv
        .send(
            srv.client
                .get(srv.url("/auth/me"))
                .basic_auth("u", Some("p")),
        )
        .await;
    assert_eq!(basic.status, 401);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let claims = |iat: i64, exp: i64| {
        json!({"sub": s.user_id, "sid": session_id(&s.access), "iat": iat, "exp": exp,
               "iss": "markethub", "typ": "access"})
    };
    let sign = |secret: &str, c: serde_json::Value| {
        let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
        jsonwebtoken::encode(&Header::default(), &c, &key).expect("sign")
    };

    let forged = sign(
        "some-other-secret-some-other-secret!!",
        claims(now, now + 600),
    );
    let r = srv.get("/auth/me", Some(&forged)).await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));

    let expired = sign(TEST_SECRET, claims(now - 7200, now - 3600));
    let r = srv.get("/auth/me", Some(&expired)).await;
    assert_eq!((r.status, r.code()), (401, "token_expired"));

    let refresh_as_access = srv.get("/auth/me", Some(&s.refresh)).await;
    assert_eq!(refresh_as_access.status, 401);

    // Correctly signed but naming a session that does not exist.
    let mut c = claims(now, now + 600);
    c["sid"] = json!("01900000-0000-7000-8000-000000000000");
    let r = srv.get("/auth/me", Some(&sign(TEST_SECRET, c))).await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));

    let good = sign(TEST_SECRET, claims(now, now + 600));
    assert_eq!(srv.get("/auth/me", Some(&good)).await.status, 200);
}

/// The `sid` claim of an access token (payload decoded without verification).
fn session_id(access: &str) -> String {
    use base64::Engine as _;
    let payload = access.split('.').nth(1).expect("jwt payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let srv = TestServer::start().await;
    let first = srv.register("rot@example.com").await;

    let r = srv
        .post(
            "/auth/refresh",
            json!({"refresh_token": first.refresh}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let second = Session::from(&r.body);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(srv.get("/auth/me", Some(&second.access)).await.status, 200);

    // Presenting the already-used token again is theft or replay: the session dies.
    let replay = srv
        .post(
            "/auth/refresh",
            json!({"refresh_token": first.refresh}),
            None,
        )
        .await;
    assert_eq!((replay.status, replay.code()), (401, "token_reused"));
    let next = srv
        .post(
            "/auth/refresh",
            json!({"refresh_token": second.refresh}),
            None,
        )
        .await;
    assert_eq!((next.status, next.code()), (401, "session_revoked"));
    let me = srv.get("/auth/me", Some(&second.access)).await;
    assert_eq!((me.status, me.code()), (401, "session_revoked"));

    // Another session of the same user is not affected.
    let other = srv.login("rot@example.com", PASSWORD).await;
    assert_eq!(other.status, 200);

    let unknown = srv
        .post("/auth/refresh", json!({"refresh_token": "nope"}), None)
        .await;
    assert_eq!((unknown.status, unknown.code()), (401, "invalid_token"));
    let missing = srv.post("/auth/refresh", json!({}), None).await;
    assert_eq!(missing.status, 422);
}

#[tokio::test]
async fn logout_revokes_this_session_or_all() {
    let srv = TestServer::start().await;
    let a = srv.register("out@example.com").await;
    let b = Session::from(&srv.login("out@example.com", PASSWORD).await.body);
    let c = Session::from(&srv.login("out@example.com", PASSWORD).await.body);

    let r = srv
        .send(
            srv.client
                .post(srv.url("/auth/logout"))
                .bearer_auth(&a.access),
        )
        .await;
    assert_eq!(r.status, 200, "logout without a body: {:?}", r.body);
    assert_eq!(srv.get("/auth/me", Some(&a.access)).await.status, 401);
    let refresh = srv
        .post("/auth/refresh", json!({"refresh_token": a.refresh}), None)
        .await;
    assert_eq!(refresh.status, 401);
    assert_eq!(
        srv.get("/auth/me", Some(&b.access)).await.status,
        200,
        "b is untouched"
    );

    let r = srv
        .post("/auth/logout", json!({"all": true}), Some(&b.access))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["sessions_revoked"], 2);
    assert_eq!(srv.get("/auth/me", Some(&b.access)).await.status, 401);
    assert_eq!(srv.get("/auth/me", Some(&c.access)).await.status, 401);
    assert_eq!(srv.post("/auth/logout", json!({}), None).await.status, 401);
}

#[tokio::test]
async fn roles_are_enforced() {
    let srv = TestServer::start().await;
    let customer = srv.register("cust@example.com").await;
    let r = srv.get("/admin/users", Some(&customer.access)).await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = srv.get("/admin/users", None).await;
    assert_eq!(r.status, 401, "no token is 401 before any role check");
    let admin = srv.admin().await;
    assert_eq!(
        srv.get("/admin/users", Some(&admin.access)).await.status,
        200
    );
}

#[tokio::test]
async fn a_login_flood_does_not_stall_other_requests() {
    // One hashing slot: logins queue for it, while requests that need no hash go through.
    let srv = TestServer::with(|c| c.auth.hash_concurrency = 1).await;
    let s = srv.register("flood@example.com").await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let logins: Vec<_> = (0..16)
        .map(|_| {
            let client = srv.client.clone();
            let url = srv.url("/auth/login");
            let done = done.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({"email": "flood@example.com", "password": PASSWORD}))
                    .send()
                    .await;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                r.map(|r| r.status().as_u16()).unwrap_or(0)
            })
        })
        .collect();
    // Wait until the flood is under way (at least one login answered) ...
    srv.eventually("the first login", || {
        let n = done.load(std::sync::atomic::Ordering::SeqCst);
        async move { (n >= 1).then_some(()) }
    })
    .await;
    // ... then an authenticated read must complete while logins are still queued.
    let me = srv.get("/auth/me", Some(&s.access)).await;
    let finished = done.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(me.status, 200);
    assert!(
        finished < 16,
        "the read waited for the whole flood ({finished} logins done)"
    );
    for l in logins {
        assert_eq!(l.await.unwrap_or(0), 200);
    }
}
