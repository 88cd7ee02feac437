//! A small marketplace for the commerce tests: two merchants, three products, two hubs with a
//! staff member each, two customers.

use serde_json::{Value, json};

use crate::common::{Resp, Session, TestServer};

pub struct Market {
    pub admin: Session,
    pub merchant_a: Session,
    pub merchant_b: Session,
    pub customer: Session,
    pub other_customer: Session,
    pub hub: String,
    pub other_hub: String,
    pub staff: Session,
    pub other_staff: Session,
    /// Merchant A, 1 000 cents, 10 in stock.
    pub tea: String,
    /// Merchant A, 2 500 cents, 3 in stock.
    pub mug: String,
    /// Merchant B, 5 000 cents, 5 in stock.
    pub kettle: String,
}

impl Market {
    pub async fn new(srv: &TestServer) -> Market {
        let admin = srv.admin().await;
        let merchant_a = srv.merchant(&admin, "a@shop.test", "Chai Corner").await;
        let merchant_b = srv.merchant(&admin, "b@shop.test", "Kitchen Plus").await;
        let cat = srv.category(&admin, "Kitchen", None).await;
        let product = |who: &Session, name: &str, price: i64, stock: i64| {
            let body =
                json!({"name": name, "price_cents": price, "stock": stock, "category_id": cat});
            let who = who.clone();
            async move {
                srv.product(&who, body).await["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            }
        };
        let tea = product(&merchant_a, "Kericho tea 500g", 1_000, 10).await;
        let mug = product(&merchant_a, "Enamel mug", 2_500, 3).await;
        let kettle = product(&merchant_b, "Electric kettle", 5_000, 5).await;
        let hub = make_hub(srv, &admin, "Westlands Hub").await;
        let other_hub = make_hub(srv, &admin, "Kisumu Hub").await;
        let staff = make_staff(srv, &admin, "staff@hub.test", &hub).await;
        let other_staff = make_staff(srv, &admin, "staff@other.test", &other_hub).await;
        let customer = srv.register("buyer@example.com").await;
        let other_customer = srv.register("other@example.com").await;
        Market {
            admin,
            merchant_a,
            merchant_b,
            customer,
            other_customer,
            hub,
            other_hub,
            staff,
            other_staff,
            tea,
            mug,
            kettle,
        }
    }

    pub async fn add(&self, srv: &TestServer, who: &Session, product: &str, quantity: i64) -> Resp {
        srv.post(
            "/cart/items",
            json!({"product_id": product, "quantity": quantity}),
            Some(&who.access),
        )
        .await
    }

    pub fn order_body(&self, method: &str) -> Value {
        json!({"payment_method": method, "hub_id": self.hub, "delivery_address": "Apartment 4B, Riverside Drive, Nairobi",
               "phone": "0712345678"})
    }

    /// Puts tea ×2 (merchant A) and a kettle (merchant B) in the cart and checks out.
    pub async fn order(&self, srv: &TestServer, method: &str) -> Value {
        assert_eq!(
            self.add(srv, &self.customer, &self.tea, 2).await.status,
            201
        );
        assert_eq!(
            self.add(srv, &self.customer, &self.kettle, 1).await.status,
            201
        );
        let r = srv
            .post(
                "/orders",
                self.order_body(method),
                Some(&self.customer.access),
            )
            .await;
        assert_eq!(r.status, 201, "checkout: {:?}", r.body);
        r.body
    }

    /// The sub-order of `merchant` in an order.
    pub fn sub_of(order: &Value, merchant: &Session) -> String {
        order["sub_orders"]
            .as_array()
            .and_then(|subs| {
                subs.iter()
                    .find(|s| s["merchant"]["id"] == merchant.user_id.as_str())
            })
            .and_then(|s| s["id"].as_str())
            .expect("sub-order of merchant")
            .to_owned()
    }

    pub async fn stock(&self, srv: &TestServer, product: &str) -> i64 {
        let owner = if product == self.kettle {
            &self.merchant_b
        } else {
            &self.merchant_a
        };
        let r = srv
            .get(
                &format!("/merchant/products/{product}"),
                Some(&owner.access),
            )
            .await;
        r.body["stock"].as_i64().expect("stock")
    }

    pub async fn merchant_move(
        &self,
        srv: &TestServer,
        merchant: &Session,
        sub: &str,
        status: &str,
    ) -> Resp {
        srv.put(
            &format!("/merchant/orders/{sub}/status"),
            json!({"status": status}),
            Some(&merchant.access),
        )
        .await
    }

    pub async fn hub_move(
        &self,
        srv: &TestServer,
        staff: &Session,
        sub: &str,
        body: Value,
    ) -> Resp {
        srv.put(
            &format!("/hub/orders/{sub}/status"),
            body,
            Some(&staff.access),
        )
        .await
    }

    /// A rider of the main hub.
    pub async fn rider(&self, srv: &TestServer) -> String {
        let r = srv
            .post(
                "/hub/delivery-partners",
                json!({"name": "Otieno Rider", "phone": "0722000111", "vehicle": "motorbike"}),
                Some(&self.staff.access),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["id"].as_str().unwrap_or("").to_owned()
    }

    /// Moves a sub-order from pending to shipped_to_hub as its merchant.
    pub async fn ship(&self, srv: &TestServer, merchant: &Session, sub: &str) {
        for step in ["confirmed", "processing", "shipped_to_hub"] {
            let r = self.merchant_move(srv, merchant, sub, step).await;
            assert_eq!(r.status, 200, "{step}: {:?}", r.body);
        }
    }

    /// An order of tea ×2 (A) and a kettle (B), paid and delivered. COD is confirmed at the
    /// door; M-Pesa is paid through the simulator before shipping.
    pub async fn delivered(&self, srv: &TestServer, method: &str) -> Value {
        let order = self.order(srv, method).await;
        let id = order["id"].as_str().unwrap_or("").to_owned();
        if method == "mpesa" {
            let r = srv
                .post(
                    "/payments/mpesa/initiate",
                    json!({"order_id": id, "phone": "0712345678"}),
                    Some(&self.customer.access),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            srv.eventually("the simulated payment", || async {
                let p = srv
                    .get(&format!("/payments/{id}"), Some(&self.customer.access))
                    .await;
                (p.body["payment"]["status"] == "paid").then_some(())
            })
            .await;
        }
        self.deliver_all(srv, &order, method == "cod").await
    }

    /// Ships and delivers both parts of `order`, confirming the cash at the door if asked.
    pub async fn deliver_all(&self, srv: &TestServer, order: &Value, collect_cash: bool) -> Value {
        let id = order["id"].as_str().unwrap_or("").to_owned();
        let rider = self.rider(srv).await;
        let subs = [
            Self::sub_of(order, &self.merchant_a),
            Self::sub_of(order, &self.merchant_b),
        ];
        for (merchant, sub) in [(&self.merchant_a, &subs[0]), (&self.merchant_b, &subs[1])] {
            self.ship(srv, merchant, sub).await;
            self.hub_move(srv, &self.staff, sub, json!({"status": "at_hub"}))
                .await;
            self.hub_move(
                srv,
                &self.staff,
                sub,
                json!({"status": "out_for_delivery", "delivery_partner_id": rider}),
            )
            .await;
        }
        if collect_cash {
            let r = srv
                .post(
                    "/payments/cod/confirm",
                    json!({"order_id": id, "amount_cents": 7_000}),
                    Some(&self.staff.access),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        for sub in &subs {
            let r = self
                .hub_move(srv, &self.staff, sub, json!({"status": "delivered"}))
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        srv.get(&format!("/orders/{id}"), Some(&self.customer.access))
            .await
            .body
    }

    /// Moves a shipped sub-order through the hub to delivered.
    pub async fn deliver(&self, srv: &TestServer, sub: &str, rider: &str) {
        for body in [
            json!({"status": "at_hub"}),
            json!({"status": "out_for_delivery", "delivery_partner_id": rider}),
            json!({"status": "delivered"}),
        ] {
            let r = self.hub_move(srv, &self.staff, sub, body.clone()).await;
            assert_eq!(r.status, 200, "{body}: {:?}", r.body);
        }
    }
}

async fn make_hub(srv: &TestServer, admin: &Session, name: &str) -> String {
    let r = srv
        .post(
            "/admin/hubs",
            json!({"name": name, "location": "Somewhere", "phone": "0700000000"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap_or("").to_owned()
}

async fn make_staff(srv: &TestServer, admin: &Session, email: &str, hub: &str) -> Session {
    let s = srv.register(email).await;
    let r = srv
        .post(
            "/admin/hub-staff",
            json!({"user_id": s.user_id, "hub_id": hub}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    s
}
