//! Merchant applications: apply, one pending at a time, admin approval (role + profile +
//! mail) or rejection with a note, and the merchant's profile on products.

use serde_json::json;

use crate::common::TestServer;

fn application() -> serde_json::Value {
    json!({"business_name": "Mama Mboga Fresh", "business_description": "Fresh vegetables from Limuru",
           "phone": "0712 345 678", "location": "Nairobi, Westlands"})
}

#[tokio::test]
async fn apply_then_approve_makes_a_merchant_with_a_profile() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let c = srv.register("seller@example.com").await;

    let r = srv
        .post("/merchant-applications", application(), Some(&c.access))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["phone"], "0712345678");
    let id = r.body["id"].as_str().expect("id").to_owned();

    let again = srv
        .post("/merchant-applications", application(), Some(&c.access))
        .await;
    assert_eq!((again.status, again.code()), (409, "application_pending"));

    let mine = srv.get("/merchant-applications/me", Some(&c.access)).await;
    assert_eq!(mine.body["items"].as_array().map(Vec::len), Some(1));

    let queue = srv
        .get(
            "/admin/merchant-applications?status=pending",
            Some(&admin.access),
        )
        .await;
    assert_eq!(queue.body["total"], 1);
    assert_eq!(
        queue.body["items"][0]["applicant_email"],
        "seller@example.com"
    );

    // Not yet a merchant.
    let early = srv
        .post("/merchant/products", json!({}), Some(&c.access))
        .await;
    assert_eq!(early.status, 403);

    let ok = srv
        .put(
            &format!("/admin/merchant-applications/{id}"),
            json!({"decision": "approve", "note": "Welcome!"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["status"], "approved");
    assert_eq!(ok.body["decision_note"], "Welcome!");

    let me = srv.get("/auth/me", Some(&c.access)).await;
    assert_eq!(
        me.body["role"], "merchant",
        "the same token now carries the new role"
    );
    let profile = srv.get("/merchant/profile", Some(&c.access)).await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.body["business_name"], "Mama Mboga Fresh");
    assert_eq!(profile.body["id"], c.user_id);

    let mails = srv.mail_to(&admin, "seller@example.com").await;
    let approved = mails
        .iter()
        .find(|m| m["kind"] == "merchant_approved")
        .expect("decision mailed");
    assert!(approved["body"].as_str().unwrap_or("").contains("Welcome!"));

    let twice = srv
        .put(
            &format!("/admin/merchant-applications/{id}"),
            json!({"decision": "reject", "note": "x"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "already_decided"));

    // The profile shows on products.
    let cat = srv.category(&admin, "Vegetables", None).await;
    let p = srv
        .product(
            &c,
            json!({"name": "Sukuma wiki", "price_cents": 5000, "stock": 10, "category_id": cat}),
        )
        .await;
    let public = srv
        .get(
            &format!("/products/{}", p["id"].as_str().unwrap_or("")),
            None,
        )
        .await;
    assert_eq!(public.body["merchant"]["id"], c.user_id);
    assert_eq!(public.body["merchant"]["business_name"], "Mama Mboga Fresh");
}

#[tokio::test]
async fn rejection_needs_a_note_is_mailed_and_allows_a_new_application() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let c = srv.register("hopeful@example.com").await;
    let id = srv
        .post("/merchant-applications", application(), Some(&c.access))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/admin/merchant-applications/{id}");

    let no_note = srv
        .put(&path, json!({"decision": "reject"}), Some(&admin.access))
        .await;
    assert_eq!(no_note.status, 422);
    assert!(no_note.body["error"]["fields"]["note"].is_string());
    let bad = srv
        .put(&path, json!({"decision": "maybe"}), Some(&admin.access))
        .await;
    assert_eq!(bad.status, 422);

    let r = srv
        .put(
            &path,
            json!({"decision": "reject", "note": "Please add a business permit number."}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(
        srv.get("/auth/me", Some(&c.access)).await.body["role"],
        "customer"
    );
    let mails = srv.mail_to(&admin, "hopeful@example.com").await;
    let m = mails
        .iter()
        .find(|m| m["kind"] == "merchant_rejected")
        .expect("mailed");
    assert!(m["body"].as_str().unwrap_or("").contains("business permit"));

    let retry = srv
        .post("/merchant-applications", application(), Some(&c.access))
        .await;
    assert_eq!(retry.status, 201, "a rejected applicant may apply again");
    let rejected = srv
        .get(
            "/admin/merchant-applications?status=rejected",
            Some(&admin.access),
        )
        .await;
    assert_eq!(rejected.body["total"], 1);
}

#[tokio::test]
async fn application_validation_and_permissions() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let c = srv.register("v@example.com").await;
    let r = srv
        .post(
            "/merchant-applications",
            json!({"business_name": "X", "business_description": "short", "phone": "abc", "location": ""}),
            Some(&c.access),
        )
        .await;
    assert_eq!(r.status, 422);
    let f = &r.body["error"]["fields"];
    for field in ["business_name", "business_description", "phone", "location"] {
        assert!(f[field].is_string(), "{field}: {f:?}");
    }
    assert_eq!(
        srv.post("/merchant-applications", application(), None)
            .await
            .status,
        401
    );
    assert_eq!(
        srv.post("/merchant-applications", application(), Some(&admin.access))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.get("/admin/merchant-applications", Some(&c.access))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.get(
            "/admin/merchant-applications?status=maybe",
            Some(&admin.access)
        )
        .await
        .status,
        400
    );
    let missing = srv
        .put(
            "/admin/merchant-applications/01900000-0000-7000-8000-000000000000",
            json!({"decision": "approve"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        srv.get("/merchant/profile", Some(&c.access)).await.status,
        403
    );
}

#[tokio::test]
async fn only_an_active_customer_can_be_approved() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let c = srv.register("later-staff@example.com").await;
    let id = srv
        .post("/merchant-applications", application(), Some(&c.access))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    srv.put(
        &format!("/admin/users/{}/role", c.user_id),
        json!({"role": "hub_staff"}),
        Some(&admin.access),
    )
    .await;
    let r = srv
        .put(
            &format!("/admin/merchant-applications/{id}"),
            json!({"decision": "approve"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "applicant_not_eligible"));
    let still = srv
        .get(
            "/admin/merchant-applications?status=pending",
            Some(&admin.access),
        )
        .await;
    assert_eq!(still.body["total"], 1, "a refused decision changes nothing");
}
