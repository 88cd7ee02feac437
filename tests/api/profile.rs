//! The caller's own profile.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn profile_read_update_and_validation() {
    let srv = TestServer::start().await;
    let s = srv.register("me@example.com").await;

    let p = srv.get("/profile", Some(&s.access)).await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["email"], "me@example.com");
    assert_eq!(p.body["active_sessions"], 1);
    assert_eq!(p.body["is_active"], true);

    let r = srv
        .put(
            "/profile",
            json!({"full_name": "  Jane Q  ", "phone": "0712 345 678"}),
            Some(&s.access),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["full_name"], "Jane Q");
    assert_eq!(r.body["phone"], "0712345678");

    let r = srv
        .put("/profile", json!({"full_name": "Jane R"}), Some(&s.access))
        .await;
    assert_eq!(
        r.body["phone"], "0712345678",
        "absent fields are left alone"
    );
    let r = srv
        .put("/profile", json!({"phone": null}), Some(&s.access))
        .await;
    assert_eq!(
        r.body["phone"],
        serde_json::Value::Null,
        "null clears the phone"
    );
    assert_eq!(r.body["full_name"], "Jane R");

    let bad = srv
        .put(
            "/profile",
            json!({"full_name": "", "phone": "abc"}),
            Some(&s.access),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body["error"]["fields"]["full_name"].is_string());
    assert!(bad.body["error"]["fields"]["phone"].is_string());
    let unchanged = srv.get("/profile", Some(&s.access)).await;
    assert_eq!(
        unchanged.body["full_name"], "Jane R",
        "a refused update changes nothing"
    );

    assert_eq!(srv.get("/profile", None).await.status, 401);
}
