//! Every unique constraint a request body can reach answers a clean 4xx that names the
//! problem, never a 500 from the database: refund items listed twice (422 naming `items`), a
//! second open refund, sibling category names (create, rename, move), hub names (create,
//! rename), a hub's rider phones (create, edit), registration with a taken email, a second
//! pending merchant application; a product added to the cart twice becomes one line.

use serde_json::{Value, json};

use crate::common::{Resp, TestServer};
use crate::market::Market;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or("").to_owned()
}

fn expect(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{what}: {:?}", r.body);
}

#[tokio::test]
async fn duplicates_from_request_bodies_are_clean_client_errors() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let admin = &m.admin.access;

    // Refunds: an item twice is one request naming `items`; nothing is written.
    let order = m.delivered(&srv, "cod").await;
    let sub = Market::sub_of(&order, &m.merchant_a);
    let shown = srv
        .get(&format!("/orders/{}", id(&order)), Some(&m.customer.access))
        .await;
    let item = shown.body["sub_orders"]
        .as_array()
        .and_then(|subs| subs.iter().find(|s| s["id"] == sub.as_str()))
        .and_then(|s| s["items"][0]["id"].as_str())
        .expect("an item of the sub-order")
        .to_owned();
    let twice = srv
        .post(
            "/refunds",
            json!({"sub_order_id": sub, "reason": "damaged", "description": "Both packets arrived torn open.",
                   "items": [{"order_item_id": item, "quantity": 1}, {"order_item_id": item, "quantity": 1}]}),
            Some(&m.customer.access),
        )
        .await;
    expect(&twice, 422, "validation_failed", "an item listed twice");
    let why = twice.body["error"]["fields"]["items"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("is listed twice"), "{why}");
    let mine = srv.get("/refunds", Some(&m.customer.access)).await;
    assert_eq!(mine.body["total"], 0, "nothing was written");
    let once = srv
        .post(
            "/refunds",
            json!({"sub_order_id": sub, "reason": "damaged", "description": "Both packets arrived torn open.",
                   "items": [{"order_item_id": item, "quantity": 2}]}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(once.status, 201, "{:?}", once.body);
    let again = srv
        .post(
            "/refunds",
            json!({"sub_order_id": sub, "reason": "damaged", "description": "Asking a second time now."}),
            Some(&m.customer.access),
        )
        .await;
    expect(&again, 409, "refund_open", "a second open refund");

    // Categories: names are unique among siblings, whatever the case.
    let home = srv.category(&m.admin, "Home", None).await;
    let garden = srv.category(&m.admin, "Garden", None).await;
    let lamps = srv.category(&m.admin, "Lamps", Some(&home)).await;
    srv.category(&m.admin, "Lamps", Some(&garden)).await;
    let r = srv
        .post(
            "/admin/categories",
            json!({"name": "HOME", "parent_id": null}),
            Some(admin),
        )
        .await;
    expect(&r, 409, "category_exists", "a top-level name again");
    let r = srv
        .put(
            &format!("/admin/categories/{garden}"),
            json!({"name": "home"}),
            Some(admin),
        )
        .await;
    expect(&r, 409, "category_exists", "a rename onto a sibling");
    let r = srv
        .put(
            &format!("/admin/categories/{lamps}"),
            json!({"parent_id": garden}),
            Some(admin),
        )
        .await;
    expect(&r, 409, "category_exists", "a move next to a namesake");

    // Hubs.
    let r = srv
        .post(
            "/admin/hubs",
            json!({"name": "westlands hub", "location": "Elsewhere", "phone": "0700000001"}),
            Some(admin),
        )
        .await;
    expect(&r, 409, "hub_exists", "a hub name again");
    let r = srv
        .put(
            &format!("/admin/hubs/{}", m.other_hub),
            json!({"name": "Westlands Hub"}),
            Some(admin),
        )
        .await;
    expect(&r, 409, "hub_exists", "a hub renamed onto another");

    // Riders: one phone per hub.
    let rider =
        |name: &str, phone: &str| json!({"name": name, "phone": phone, "vehicle": "bicycle"});
    let second = srv
        .post(
            "/hub/delivery-partners",
            rider("Wanjiru Rider", "0733111222"),
            Some(&m.staff.access),
        )
        .await;
    assert_eq!(second.status, 201, "{:?}", second.body);
    let r = srv
        .post(
            "/hub/delivery-partners",
            rider("Another Rider", "0722 000 111"),
            Some(&m.staff.access),
        )
        .await;
    expect(&r, 409, "partner_exists", "a rider phone again");
    let r = srv
        .put(
            &format!("/hub/delivery-partners/{}", id(&second.body)),
            json!({"phone": "0722000111"}),
            Some(&m.staff.access),
        )
        .await;
    expect(
        &r,
        409,
        "partner_exists",
        "a rider phone edited onto another",
    );

    // Accounts and merchant applications.
    let r = srv
        .post(
            "/auth/register",
            json!({"email": "BUYER@example.com", "password": "Otter-Lantern-93", "full_name": "Buyer Again"}),
            None,
        )
        .await;
    expect(&r, 409, "email_taken", "a taken email");
    let application = json!({"business_name": "Second Shop", "business_description": "We sell good things at fair prices",
                             "phone": "+254700000002", "location": "Nairobi"});
    let first = srv
        .post(
            "/merchant-applications",
            application.clone(),
            Some(&m.other_customer.access),
        )
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let r = srv
        .post(
            "/merchant-applications",
            application,
            Some(&m.other_customer.access),
        )
        .await;
    expect(
        &r,
        409,
        "application_pending",
        "a second pending application",
    );

    // The cart: the same product twice is one line.
    for _ in 0..2 {
        let r = m.add(&srv, &m.other_customer, &m.tea, 1).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let cart = srv.get("/cart", Some(&m.other_customer.access)).await;
    let lines = cart.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["quantity"], 2);
}
