//! Admin user management: list/search/filter, role changes, (de)activation.

use serde_json::json;

use crate::common::{ADMIN_EMAIL, PASSWORD, TestServer};

#[tokio::test]
async fn list_filters_searches_and_paginates() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    for i in 0..7 {
        srv.register(&format!("shopper{i}@example.com")).await;
    }
    srv.register("odd_one%@example.org").await;

    let all = srv
        .get("/admin/users?per_page=3&page=2", Some(&admin.access))
        .await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["total"], 9);
    assert_eq!(all.body["page"], 2);
    assert_eq!(all.body["per_page"], 3);
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(3));

    let admins = srv
        .get("/admin/users?role=admin", Some(&admin.access))
        .await;
    assert_eq!(admins.body["total"], 1);
    assert_eq!(admins.body["items"][0]["email"], ADMIN_EMAIL);

    let search = srv
        .get("/admin/users?q=SHOPPER3", Some(&admin.access))
        .await;
    assert_eq!(search.body["total"], 1);
    assert_eq!(search.body["items"][0]["email"], "shopper3@example.com");

    let wildcard = srv.get("/admin/users?q=%25", Some(&admin.access)).await;
    assert_eq!(wildcard.body["total"], 1, "% is matched literally");

    for bad in [
        "?role=king",
        "?per_page=1000",
        "?page=0",
        "?page=x",
        "?is_active=maybe",
    ] {
        let r = srv
            .get(&format!("/admin/users{bad}"), Some(&admin.access))
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }
}

#[tokio::test]
async fn role_changes_take_effect_at_once() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let user = srv.register("promote@example.com").await;
    assert_eq!(
        srv.get("/admin/users", Some(&user.access)).await.status,
        403
    );

    let r = srv
        .put(
            &format!("/admin/users/{}/role", user.user_id),
            json!({"role": "admin"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["role"], "admin");
    assert_eq!(
        srv.get("/admin/users", Some(&user.access)).await.status,
        200,
        "same token, new role"
    );

    let bad = srv
        .put(
            &format!("/admin/users/{}/role", user.user_id),
            json!({"role": "king"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(bad.status, 422);
    let missing = srv
        .put(
            "/admin/users/01900000-0000-7000-8000-000000000000/role",
            json!({"role": "merchant"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(missing.status, 404);
    let not_uuid = srv
        .put(
            "/admin/users/xyz/role",
            json!({"role": "merchant"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(not_uuid.status, 404);
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_deactivated() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let demote = srv
        .put(
            &format!("/admin/users/{}/role", admin.user_id),
            json!({"role": "customer"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!((demote.status, demote.code()), (409, "last_admin"));
    let off = srv
        .put(
            &format!("/admin/users/{}/active", admin.user_id),
            json!({"is_active": false}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(off.status, 409);
}

#[tokio::test]
async fn deactivation_blocks_login_and_existing_tokens() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let user = srv.register("gone@example.com").await;

    let r = srv
        .put(
            &format!("/admin/users/{}/active", user.user_id),
            json!({"is_active": false}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["is_active"], false);

    let me = srv.get("/auth/me", Some(&user.access)).await;
    assert_eq!(me.status, 401);
    let refresh = srv
        .post(
            "/auth/refresh",
            json!({"refresh_token": user.refresh}),
            None,
        )
        .await;
    assert_eq!(refresh.status, 401);
    let login = srv.login("gone@example.com", PASSWORD).await;
    assert_eq!((login.status, login.code()), (403, "account_disabled"));
    let wrong = srv.login("gone@example.com", "Wrong-Password-1").await;
    assert_eq!(
        wrong.status, 401,
        "a wrong password still says nothing about the account"
    );

    let filtered = srv
        .get("/admin/users?is_active=false", Some(&admin.access))
        .await;
    assert_eq!(filtered.body["total"], 1);

    let back = srv
        .put(
            &format!("/admin/users/{}/active", user.user_id),
            json!({"is_active": true}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(back.status, 200);
    assert_eq!(srv.login("gone@example.com", PASSWORD).await.status, 200);
    let bad = srv
        .put(
            &format!("/admin/users/{}/active", user.user_id),
            json!({"is_active": "yes"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(bad.status, 422);
}
