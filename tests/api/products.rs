//! Merchant product management: validation, ownership, partial updates, soft delete.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn create_validates_every_field() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let m = srv.merchant(&admin, "m@example.com", "Shop").await;
    let cat = srv.category(&admin, "Food", None).await;

    let empty = srv
        .post("/merchant/products", json!({}), Some(&m.access))
        .await;
    assert_eq!(empty.status, 422);
    for f in ["name", "price_cents", "category_id"] {
        assert_eq!(empty.body["error"]["fields"][f], "is required", "{f}");
    }
    let bad = srv
        .post(
            "/merchant/products",
            json!({"name": "X", "price_cents": 0, "stock": -1, "category_id": cat,
                   "description": "d".repeat(5001)}),
            Some(&m.access),
        )
        .await;
    assert_eq!(bad.status, 422);
    for f in ["name", "price_cents", "stock", "description"] {
        assert!(
            bad.body["error"]["fields"][f].is_string(),
            "{f}: {:?}",
            bad.body
        );
    }
    let no_cat = srv
        .post(
            "/merchant/products",
            json!({"name": "Rice", "price_cents": 100, "category_id": "01900000-0000-7000-8000-000000000000"}),
            Some(&m.access),
        )
        .await;
    assert_eq!(no_cat.status, 422);
    assert_eq!(
        no_cat.body["error"]["fields"]["category_id"],
        "does not exist"
    );
    let float = srv
        .post(
            "/merchant/products",
            json!({"name": "Rice", "price_cents": 1.5, "category_id": cat}),
            Some(&m.access),
        )
        .await;
    assert_eq!(float.status, 422, "money is integer cents");

    let ok = srv
        .product(
            &m,
            json!({"name": "  Pishori Rice 2kg ", "description": "Aromatic", "price_cents": 45000,
                             "stock": 12, "category_id": cat}),
        )
        .await;
    assert_eq!(ok["name"], "Pishori Rice 2kg");
    assert_eq!(ok["currency"], "KES");
    assert_eq!(ok["is_active"], true);
    assert_eq!(ok["in_stock"], true);
    assert_eq!(ok["merchant_id"], m.user_id);
    assert_eq!(ok["images"], json!([]));
    assert_eq!(ok["rating_count"], 0);

    let mine = srv.get("/merchant/products", Some(&m.access)).await;
    assert_eq!(mine.body["total"], 1);
}

#[tokio::test]
async fn merchants_touch_only_their_own_products() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let a = srv.merchant(&admin, "a@example.com", "Shop A").await;
    let b = srv.merchant(&admin, "b@example.com", "Shop B").await;
    let cat = srv.category(&admin, "Tools", None).await;
    let p = srv
        .product(
            &a,
            json!({"name": "Hammer", "price_cents": 1500, "stock": 4, "category_id": cat}),
        )
        .await;
    let path = format!("/merchant/products/{}", p["id"].as_str().unwrap_or(""));

    assert_eq!(srv.get(&path, Some(&b.access)).await.status, 404);
    let put = srv
        .put(&path, json!({"price_cents": 1}), Some(&b.access))
        .await;
    assert_eq!(put.status, 404);
    assert_eq!(srv.delete(&path, Some(&b.access)).await.status, 404);
    let img = srv
        .send(
            srv.client
                .post(srv.url(&format!("{path}/images")))
                .bearer_auth(&b.access)
                .multipart(
                    reqwest::multipart::Form::new().part(
                        "file",
                        reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\nrest".to_vec())
                            .file_name("x.png"),
                    ),
                ),
        )
        .await;
    assert_eq!(img.status, 404);

    let unchanged = srv.get(&path, Some(&a.access)).await;
    assert_eq!(unchanged.body["price_cents"], 1500, "nothing changed");
    assert_eq!(unchanged.body["images"], json!([]));
    assert_eq!(
        srv.get("/merchant/products", Some(&b.access)).await.body["total"],
        0
    );

    let customer = srv.register("c@example.com").await;
    assert_eq!(
        srv.put(&path, json!({"price_cents": 1}), Some(&customer.access))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.put(&path, json!({"price_cents": 1}), None).await.status,
        401
    );
}

#[tokio::test]
async fn partial_update_and_soft_delete() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let m = srv.merchant(&admin, "m@example.com", "Shop").await;
    let cat = srv.category(&admin, "Drinks", None).await;
    let other = srv.category(&admin, "Snacks", None).await;
    let p = srv
        .product(&m, json!({"name": "Chai", "description": "Spiced tea", "price_cents": 300, "stock": 5, "category_id": cat}))
        .await;
    let id = p["id"].as_str().unwrap_or("").to_owned();
    let path = format!("/merchant/products/{id}");

    let r = srv
        .put(
            &path,
            json!({"price_cents": 350, "stock": 0, "category_id": other}),
            Some(&m.access),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["price_cents"], 350);
    assert_eq!(r.body["stock"], 0);
    assert_eq!(r.body["in_stock"], false);
    assert_eq!(r.body["category_id"], other.as_str());
    assert_eq!(r.body["name"], "Chai", "absent fields are kept");
    assert_eq!(r.body["description"], "Spiced tea");
    assert!(r.body["updated_at"].as_str() >= p["updated_at"].as_str());

    let bad = srv
        .put(
            &path,
            json!({"price_cents": -3, "name": ""}),
            Some(&m.access),
        )
        .await;
    assert_eq!(bad.status, 422);
    let bad_cat = srv
        .put(
            &path,
            json!({"category_id": "not-a-category"}),
            Some(&m.access),
        )
        .await;
    assert_eq!(bad_cat.status, 422);
    assert_eq!(
        srv.get(&path, Some(&m.access)).await.body["price_cents"],
        350,
        "refused updates change nothing"
    );

    let hidden = srv
        .put(&path, json!({"is_active": false}), Some(&m.access))
        .await;
    assert_eq!(hidden.body["is_active"], false);
    assert_eq!(
        srv.get(&format!("/products/{id}"), None).await.status,
        404,
        "inactive is not public"
    );
    srv.put(&path, json!({"is_active": true}), Some(&m.access))
        .await;
    assert_eq!(srv.get(&format!("/products/{id}"), None).await.status, 200);

    assert_eq!(srv.delete(&path, Some(&m.access)).await.status, 204);
    assert_eq!(srv.get(&format!("/products/{id}"), None).await.status, 404);
    assert_eq!(srv.get(&path, Some(&m.access)).await.status, 404);
    assert_eq!(srv.delete(&path, Some(&m.access)).await.status, 404);
    assert_eq!(
        srv.get("/merchant/products", Some(&m.access)).await.body["total"],
        0
    );
}

#[tokio::test]
async fn a_merchant_role_without_a_profile_cannot_sell() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let u = srv.register("shortcut@example.com").await;
    srv.put(
        &format!("/admin/users/{}/role", u.user_id),
        json!({"role": "merchant"}),
        Some(&admin.access),
    )
    .await;
    let cat = srv.category(&admin, "Misc", None).await;
    let r = srv
        .post(
            "/merchant/products",
            json!({"name": "Thing", "price_cents": 100, "category_id": cat}),
            Some(&u.access),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "merchant_profile_missing"));
}

#[tokio::test]
async fn deleting_is_hard_for_never_ordered_products_and_soft_for_ordered_ones() {
    let srv = TestServer::start().await;
    let m = crate::market::Market::new(&srv).await;
    // The mug was never ordered: it goes completely, with its picture and cart lines.
    let img = crate::images::upload(
        &srv,
        &m.merchant_a,
        &m.mug,
        crate::images::PNG.to_vec(),
        "mug.png",
        "image/png",
    )
    .await;
    let key = img.body["url"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches("/media/")
        .to_owned();
    assert!(srv.dir.path().join("uploads").join(&key).exists());
    m.add(&srv, &m.other_customer, &m.mug, 1).await;
    let r = srv
        .delete(
            &format!("/merchant/products/{}", m.mug),
            Some(&m.merchant_a.access),
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(
        !srv.dir.path().join("uploads").join(&key).exists(),
        "its picture is removed"
    );
    assert_eq!(
        srv.get("/cart", Some(&m.other_customer.access)).await.body["items"],
        json!([])
    );

    // The tea was ordered: it is hidden but the order keeps showing it.
    let order = m.order(&srv, "cod").await;
    let r = srv
        .delete(
            &format!("/merchant/products/{}", m.tea),
            Some(&m.merchant_a.access),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        srv.get(&format!("/products/{}", m.tea), None).await.status,
        404
    );
    let id = order["id"].as_str().unwrap_or("");
    let seen = srv
        .get(&format!("/orders/{id}"), Some(&m.customer.access))
        .await;
    assert_eq!(seen.status, 200);
    let names: Vec<String> = seen.body["sub_orders"]
        .as_array()
        .map(|subs| {
            subs.iter()
                .flat_map(|s| s["items"].as_array().cloned().unwrap_or_default())
                .map(|i| i["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(names.contains(&"Kericho tea 500g".to_owned()));
}
