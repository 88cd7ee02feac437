//! Admin-managed category tree: sibling-unique names, no cycles, bounded depth, and no
//! silent deletion of a category in use.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn tree_with_unique_sibling_names() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let electronics = srv.category(&admin, "Electronics", None).await;
    let phones = srv.category(&admin, "Phones", Some(&electronics)).await;
    srv.category(&admin, "Home", None).await;

    let dup = srv
        .post(
            "/admin/categories",
            json!({"name": "electronics"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!((dup.status, dup.code()), (409, "category_exists"));
    let dup_child = srv
        .post(
            "/admin/categories",
            json!({"name": "PHONES", "parent_id": electronics}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(dup_child.status, 409);
    // The same name is fine elsewhere in the tree.
    srv.category(&admin, "Phones", None).await;

    let list = srv.get("/categories", None).await;
    assert_eq!(list.status, 200);
    let items = list.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 4);
    let child = items
        .iter()
        .find(|c| c["id"] == phones.as_str())
        .expect("phones");
    assert_eq!(child["parent_id"], electronics.as_str());

    let bad = srv
        .post(
            "/admin/categories",
            json!({"name": "  "}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(bad.status, 422);
    let orphan = srv
        .post(
            "/admin/categories",
            json!({"name": "Orphan", "parent_id": "01900000-0000-7000-8000-000000000000"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(orphan.status, 422);

    let c = srv.register("nosy@example.com").await;
    assert_eq!(
        srv.post(
            "/admin/categories",
            json!({"name": "Mine"}),
            Some(&c.access)
        )
        .await
        .status,
        403
    );
    assert_eq!(
        srv.post("/admin/categories", json!({"name": "Mine"}), None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn moves_cannot_create_cycles_or_exceed_the_depth_limit() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let mut chain = vec![srv.category(&admin, "L1", None).await];
    for level in 2..=5 {
        let parent = chain.last().cloned();
        chain.push(
            srv.category(&admin, &format!("L{level}"), parent.as_deref())
                .await,
        );
    }
    let too_deep = srv
        .post(
            "/admin/categories",
            json!({"name": "L6", "parent_id": chain[4]}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(too_deep.status, 422, "{:?}", too_deep.body);

    let cycle = srv
        .put(
            &format!("/admin/categories/{}", chain[0]),
            json!({"parent_id": chain[3]}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(cycle.status, 422);
    let self_parent = srv
        .put(
            &format!("/admin/categories/{}", chain[2]),
            json!({"parent_id": chain[2]}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(self_parent.status, 422);

    // Moving a leaf to the top and renaming it works; null means top-level.
    let moved = srv
        .put(
            &format!("/admin/categories/{}", chain[4]),
            json!({"parent_id": null, "name": "Leaf"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["parent_id"], serde_json::Value::Null);
    assert_eq!(moved.body["name"], "Leaf");
}

#[tokio::test]
async fn a_category_in_use_is_not_deleted_silently() {
    let srv = TestServer::start().await;
    let admin = srv.admin().await;
    let m = srv.merchant(&admin, "m@example.com", "Shop").await;
    let old = srv.category(&admin, "Gadgets", None).await;
    let sub = srv.category(&admin, "Chargers", Some(&old)).await;
    let new = srv.category(&admin, "Electronics", None).await;
    let p = srv
        .product(
            &m,
            json!({"name": "Torch", "price_cents": 900, "stock": 3, "category_id": old}),
        )
        .await;

    let r = srv
        .delete(&format!("/admin/categories/{old}"), Some(&admin.access))
        .await;
    assert_eq!((r.status, r.code()), (409, "category_in_use"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("1 products")
    );

    let into_child = srv
        .delete(
            &format!("/admin/categories/{old}?reassign_to={sub}"),
            Some(&admin.access),
        )
        .await;
    assert_eq!(
        into_child.status, 400,
        "cannot reassign into its own subtree"
    );

    let r = srv
        .delete(
            &format!("/admin/categories/{old}?reassign_to={new}"),
            Some(&admin.access),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let moved = srv
        .get(
            &format!("/products/{}", p["id"].as_str().unwrap_or("")),
            None,
        )
        .await;
    assert_eq!(moved.body["category_id"], new.as_str());
    let cats = srv.get("/categories", None).await.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let charger = cats
        .iter()
        .find(|c| c["id"] == sub.as_str())
        .expect("sub-category kept");
    assert_eq!(charger["parent_id"], new.as_str());
    assert!(cats.iter().all(|c| c["id"] != old.as_str()));

    let empty = srv.category(&admin, "Empty", None).await;
    assert_eq!(
        srv.delete(&format!("/admin/categories/{empty}"), Some(&admin.access))
            .await
            .status,
        204
    );
    assert_eq!(
        srv.delete(&format!("/admin/categories/{empty}"), Some(&admin.access))
            .await
            .status,
        404
    );
}
