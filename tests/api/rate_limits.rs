//! Rate limits on login, register and forgot-password: per client IP and per account,
//! 429 with Retry-After, client IP from X-Forwarded-For only behind a trusted proxy.

use serde_json::json;

use crate::common::{PASSWORD, TestServer};

fn retry_after(r: &crate::common::Resp) -> u64 {
    r.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn login_is_limited_per_ip() {
    let srv = TestServer::with(|c| c.rate_limit.login_per_ip_per_minute = 3).await;
    for i in 0..3 {
        let r = srv.login(&format!("u{i}@example.com"), PASSWORD).await;
        assert_eq!(r.status, 401);
    }
    let r = srv.login("u9@example.com", PASSWORD).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert!((1..=60).contains(&retry_after(&r)), "{:?}", r.headers);
}

#[tokio::test]
async fn login_is_limited_per_account_across_ips_behind_a_trusted_proxy() {
    let srv = TestServer::with(|c| {
        c.rate_limit.login_per_account_per_minute = 2;
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    srv.register("target@example.com").await;
    let attempt = |ip: &'static str, email: &'static str| {
        srv.client
            .post(srv.url("/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": "Wrong-Password-1"}))
    };
    assert_eq!(
        srv.send(attempt("198.51.100.1", "target@example.com"))
            .await
            .status,
        401
    );
    assert_eq!(
        srv.send(attempt("198.51.100.2", "TARGET@example.com"))
            .await
            .status,
        401
    );
    let r = srv
        .send(attempt("198.51.100.3", "target@example.com"))
        .await;
    assert_eq!(
        r.status, 429,
        "the account limit holds whatever the address"
    );
    assert!(retry_after(&r) >= 1);
    assert_eq!(
        srv.send(attempt("198.51.100.3", "other@example.com"))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn forwarded_for_is_ignored_without_a_trusted_proxy() {
    let srv = TestServer::with(|c| c.rate_limit.register_per_ip_per_hour = 2).await;
    let register = |n: u32| {
        srv.client
            .post(srv.url("/auth/register"))
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .json(&json!({"email": format!("r{n}@example.com"), "password": PASSWORD, "full_name": "R"}))
    };
    assert_eq!(srv.send(register(1)).await.status, 201);
    assert_eq!(srv.send(register(2)).await.status, 201);
    let r = srv.send(register(3)).await;
    assert_eq!(r.status, 429, "a spoofed header does not buy a fresh limit");
    assert!(retry_after(&r) >= 1);
}

#[tokio::test]
async fn forgot_password_is_limited_per_account() {
    let srv = TestServer::with(|c| c.rate_limit.forgot_per_account_per_hour = 2).await;
    for _ in 0..2 {
        let r = srv
            .post(
                "/auth/forgot-password",
                json!({"email": "x@example.com"}),
                None,
            )
            .await;
        assert_eq!(r.status, 202);
    }
    let r = srv
        .post(
            "/auth/forgot-password",
            json!({"email": "X@example.com"}),
            None,
        )
        .await;
    assert_eq!(r.status, 429);
    let other = srv
        .post(
            "/auth/forgot-password",
            json!({"email": "y@example.com"}),
            None,
        )
        .await;
    assert_eq!(other.status, 202);
}

#[tokio::test]
async fn register_is_limited_per_account() {
    let srv = TestServer::with(|c| {
        c.rate_limit.register_per_account_per_hour = 2;
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let register = |n: u32| {
        srv.client
            .post(srv.url("/auth/register"))
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .json(&json!({"email": "same@example.com", "password": PASSWORD, "full_name": "S"}))
    };
    assert_eq!(srv.send(register(1)).await.status, 201);
    assert_eq!(srv.send(register(2)).await.status, 409);
    let r = srv.send(register(3)).await;
    assert_eq!(
        r.status, 429,
        "probing one address is limited whatever the source IP"
    );
}
