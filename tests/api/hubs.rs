//! Hubs: admin-managed, listed publicly while active.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn admins_manage_hubs_and_customers_see_active_ones() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let r = srv
        .post(
            "/admin/hubs",
            json!({"name": "Westlands Hub", "location": "Waiyaki Way", "phone": "0700 100 200"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["phone"], "0700100200");
    assert_eq!(r.body["is_active"], true);
    let id = r.body["id"].as_str().unwrap_or("").to_owned();

    let dup = srv
        .post(
            "/admin/hubs",
            json!({"name": "westlands hub", "location": "x", "phone": "0700100201"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!((dup.status, dup.code()), (409, "hub_exists"));
    let bad = srv
        .post("/admin/hubs", json!({"name": "W"}), Some(&admin.access))
        .await;
    assert_eq!(bad.status, 422);
    for f in ["name", "location", "phone"] {
        assert!(bad.body["error"]["fields"][f].is_string(), "{f}");
    }

    srv.post(
        "/admin/hubs",
        json!({"name": "Kisumu Hub", "location": "Oginga Odinga St", "phone": "0700100203"}),
        Some(&admin.access),
    )
    .await;
    assert_eq!(
        srv.get("/hubs", None).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let off = srv
        .put(
            &format!("/admin/hubs/{id}"),
            json!({"is_active": false, "location": "Moved"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(off.status, 200);
    assert_eq!(off.body["location"], "Moved");
    assert_eq!(off.body["name"], "Westlands Hub");
    let public = srv.get("/hubs", None).await;
    assert_eq!(
        public.body["items"].as_array().map(Vec::len),
        Some(1),
        "inactive hubs are hidden"
    );
    let all = srv.get("/admin/hubs", Some(&admin.access)).await;
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        srv.get(&format!("/admin/hubs/{id}"), Some(&admin.access))
            .await
            .body["is_active"],
        false
    );

    let clash = srv
        .put(
            &format!("/admin/hubs/{id}"),
            json!({"name": "KISUMU HUB"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(clash.status, 409);
    let missing = srv
        .put(
            "/admin/hubs/01900000-0000-7000-8000-000000000000",
            json!({"is_active": true}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(missing.status, 404);
    let customer = srv.register("c@example.com").await;
    assert_eq!(
        srv.post("/admin/hubs", json!({}), Some(&customer.access))
            .await
            .status,
        403
    );
    assert_eq!(srv.get("/admin/hubs", None).await.status, 401);
}
