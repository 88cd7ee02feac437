//! Verified reviews: only after delivery, one per customer and product (editable), the
//! product rating kept in step, histogram, merchant replies.

use serde_json::json;

use crate::common::TestServer;
use crate::market::Market;

#[tokio::test]
async fn only_buyers_review_and_the_rating_follows() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let review = |who: &crate::common::Session, rating: i64, comment: &str| {
        let body = json!({"product_id": m.tea, "rating": rating, "comment": comment});
        let token = who.access.clone();
        let srv = &srv;
        async move { srv.post("/reviews", body, Some(&token)).await }
    };
    let r = review(&m.customer, 5, "Lovely tea").await;
    assert_eq!(
        (r.status, r.code()),
        (403, "not_eligible"),
        "not delivered yet"
    );

    m.delivered(&srv, "cod").await;
    let r = review(&m.customer, 4, "Lovely tea, strong and fresh").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["reviewer"], "Test U.");
    let id = r.body["id"].as_str().unwrap_or("").to_owned();
    let p = srv.get(&format!("/products/{}", m.tea), None).await;
    assert_eq!(
        (
            p.body["rating_avg"].as_f64(),
            p.body["rating_count"].as_i64()
        ),
        (Some(4.0), Some(1))
    );

    // Posting again edits the same review.
    let r = review(&m.customer, 2, "Changed my mind: too strong").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], id.as_str());
    let p = srv.get(&format!("/products/{}", m.tea), None).await;
    assert_eq!(
        (
            p.body["rating_avg"].as_f64(),
            p.body["rating_count"].as_i64()
        ),
        (Some(2.0), Some(1))
    );

    assert_eq!(
        review(&m.other_customer, 5, "Never bought it").await.status,
        403
    );
    assert_eq!(review(&m.customer, 6, "Off the scale").await.status, 422);
    assert_eq!(review(&m.customer, 3, "").await.status, 422);
    let no_product = srv
        .post("/reviews", json!({"product_id": "01900000-0000-7000-8000-000000000000", "rating": 3, "comment": "hm"}), Some(&m.customer.access))
        .await;
    assert_eq!(no_product.status, 404);

    let edited = srv
        .put(
            &format!("/reviews/{id}"),
            json!({"rating": 3}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(edited.status, 200);
    assert_eq!(edited.body["comment"], "Changed my mind: too strong");
    assert_eq!(
        srv.put(
            &format!("/reviews/{id}"),
            json!({"rating": 1}),
            Some(&m.other_customer.access)
        )
        .await
        .status,
        404
    );

    let list = srv.get(&format!("/products/{}/reviews", m.tea), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["summary"]["rating_count"], 1);
    assert_eq!(list.body["summary"]["rating_avg"], 3.0);
    assert_eq!(
        list.body["summary"]["histogram"],
        json!({"1": 0, "2": 0, "3": 1, "4": 0, "5": 0})
    );
}

#[tokio::test]
async fn merchants_see_and_answer_reviews_of_their_products() {
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    m.delivered(&srv, "cod").await;
    let r = srv
        .post(
            "/reviews",
            json!({"product_id": m.kettle, "rating": 5, "comment": "Boils fast"}),
            Some(&m.customer.access),
        )
        .await;
    let id = r.body["id"].as_str().unwrap_or("").to_owned();

    assert_eq!(
        srv.get("/merchant/reviews", Some(&m.merchant_b.access))
            .await
            .body["total"],
        1
    );
    assert_eq!(
        srv.get("/merchant/reviews", Some(&m.merchant_a.access))
            .await
            .body["total"],
        0
    );
    let not_theirs = srv
        .post(
            &format!("/merchant/reviews/{id}/reply"),
            json!({"reply": "Thanks!"}),
            Some(&m.merchant_a.access),
        )
        .await;
    assert_eq!(not_theirs.status, 404);
    let reply = srv
        .post(
            &format!("/merchant/reviews/{id}/reply"),
            json!({"reply": "Thank you, enjoy!"}),
            Some(&m.merchant_b.access),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body["reply"], "Thank you, enjoy!");
    let again = srv
        .post(
            &format!("/merchant/reviews/{id}/reply"),
            json!({"reply": "Again"}),
            Some(&m.merchant_b.access),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "reply_exists"));
    let public = srv
        .get(&format!("/products/{}/reviews", m.kettle), None)
        .await;
    assert_eq!(public.body["items"][0]["reply"], "Thank you, enjoy!");
    let rated = srv.get("/products?sort=rating", None).await;
    assert_eq!(
        rated.body["items"][0]["id"],
        m.kettle.as_str(),
        "the best-rated product first"
    );
}
