//! Crash safety of the real binary: customers keep checking out while the server process is
//! killed with SIGKILL at a random moment, several times over. After every kill the
//! database passes `integrity_check`, every order answered with 201 is there, no stock went
//! negative, and every unit sold is accounted for (stock + units ordered = initial stock).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};

use crate::cli::{Process, markethub};

const ROUNDS: usize = 5;
const BUYERS: u32 = 6;
const PASSWORD: &str = markethub::demo::DEMO_PASSWORD;

fn server(dir: &Path) -> Process {
    let mut cmd = markethub(dir);
    cmd.env("MARKETHUB_LISTEN", "127.0.0.1:0")
        .env("MARKETHUB_RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE", "100000")
        .env(
            "MARKETHUB_RATE_LIMIT__LOGIN_PER_ACCOUNT_PER_MINUTE",
            "100000",
        );
    Process::spawn(cmd)
}

fn open(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("data").join("markethub.db")).expect("open database")
}

/// A product id → number map from a two-column query.
fn per_product(db: &rusqlite::Connection, sql: &str) -> HashMap<String, i64> {
    let mut stmt = db.prepare(sql).expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn stock_by_product(db: &rusqlite::Connection) -> HashMap<String, i64> {
    per_product(db, "SELECT id, stock FROM products")
}

fn ordered_by_product(db: &rusqlite::Connection) -> HashMap<String, i64> {
    per_product(
        db,
        "SELECT product_id, SUM(quantity) FROM order_items GROUP BY product_id",
    )
}

/// One buyer: signs in, then adds a product and checks out until the server goes away.
async fn buy_until_killed(
    client: reqwest::Client,
    base: String,
    email: String,
    hub: String,
    products: Vec<String>,
    acknowledged: Arc<Mutex<Vec<String>>>,
) {
    let login = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await;
    let Ok(login) = login else { return };
    let Ok(body) = login.json::<Value>().await else {
        return;
    };
    let token = body["access_token"].as_str().unwrap_or("").to_owned();
    let mut n = 0usize;
    loop {
        n += 1;
        let product = &products[n % products.len()];
        let Ok(add) = client
            .post(format!("{base}/cart/items"))
            .bearer_auth(&token)
            .json(&json!({"product_id": product, "quantity": 1 + n % 2}))
            .send()
            .await
        else {
            return;
        };
        if add.status() != 201 {
            let _ = client
                .delete(format!("{base}/cart/clear"))
                .bearer_auth(&token)
                .send()
                .await;
            continue;
        }
        let Ok(resp) = client
            .post(format!("{base}/orders"))
            .bearer_auth(&token)
            .json(
                &json!({"payment_method": "cod", "hub_id": hub, "phone": "0712345678",
                          "delivery_address": "Apartment 4B, Riverside Drive, Nairobi"}),
            )
            .send()
            .await
        else {
            return;
        };
        let status = resp.status().as_u16();
        let Ok(body) = resp.json::<Value>().await else {
            return;
        };
        if status == 201 {
            if let Some(id) = body["id"].as_str() {
                acknowledged.lock().expect("lock").push(id.to_owned());
            }
        } else if client
            .delete(format!("{base}/cart/clear"))
            .bearer_auth(&token)
            .send()
            .await
            .is_err()
        {
            return;
        }
    }
}

#[test]
fn sigkill_under_checkout_load_loses_no_acknowledged_order() {
    if crate::common::sqlite_only("the SQLite file after SIGKILL") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let seeded = markethub(dir.path())
        .args(["demo", "--products", "24", "--merchants", "3"])
        .args(["--customers", &BUYERS.to_string(), "--orders", "0"])
        .output()
        .expect("demo");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let initial = stock_by_product(&open(dir.path()));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let _inside = rt.enter();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut rng = rand::rng();

    for round in 1..=ROUNDS {
        let mut srv = server(dir.path());
        let base = format!("http://{}/api/v1", srv.address());
        let (hub, products) = rt.block_on(async {
            let hubs: Value = client
                .get(format!("{base}/hubs"))
                .send()
                .await
                .expect("hubs")
                .json()
                .await
                .expect("json");
            let hub = hubs["items"][0]["id"].as_str().expect("a hub").to_owned();
            let listed: Value = client
                .get(format!("{base}/products?per_page=50&in_stock=true"))
                .send()
                .await
                .expect("products")
                .json()
                .await
                .expect("json");
            let products: Vec<String> = listed["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["stock"].as_i64().unwrap_or(0) > 0)
                .filter_map(|p| p["id"].as_str().map(str::to_owned))
                .collect();
            (hub, products)
        });
        assert!(!products.is_empty(), "round {round}: stock left to sell");
        let before = acknowledged.lock().expect("lock").len();
        let buyers: Vec<_> = (1..=BUYERS)
            .map(|i| {
                rt.spawn(buy_until_killed(
                    client.clone(),
                    base.clone(),
                    format!("customer{i}@{}", markethub::demo::EMAIL_DOMAIN),
                    hub.clone(),
                    products.clone(),
                    acknowledged.clone(),
                ))
            })
            .collect();
        // Under load (some orders acknowledged this round), wait a random moment, then kill.
        rt.block_on(async {
            for _ in 0..1000 {
                if acknowledged.lock().map(|v| v.len()).unwrap_or(0) >= before + 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let moment = rng.random_range(0..400);
            tokio::time::sleep(Duration::from_millis(moment)).await;
        });
        srv.child.kill().expect("SIGKILL");
        let status = srv.wait_exit();
        assert!(!status.success(), "killed, not exited");
        rt.block_on(async {
            for b in buyers {
                b.await.expect("buyer");
            }
        });

        let acked = acknowledged.lock().expect("lock").clone();
        assert!(acked.len() > before, "round {round} ran under load");
        eprintln!(
            "round {round}: {} orders acknowledged before the kill",
            acked.len() - before
        );
        let db = open(dir.path());
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check");
        assert_eq!(check, "ok", "round {round}");
        let mut missing = Vec::new();
        for id in &acked {
            let n: i64 = db
                .query_row("SELECT COUNT(*) FROM orders WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .expect("query");
            if n != 1 {
                missing.push(id.clone());
            }
        }
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged orders lost: {missing:?}"
        );
        let negative: i64 = db
            .query_row("SELECT COUNT(*) FROM products WHERE stock < 0", [], |r| {
                r.get(0)
            })
            .expect("query");
        assert_eq!(negative, 0, "round {round}: stock went negative");
        let (stock, ordered) = (stock_by_product(&db), ordered_by_product(&db));
        for (product, start) in &initial {
            let now = stock.get(product).copied().unwrap_or(0);
            let sold = ordered.get(product).copied().unwrap_or(0);
            assert_eq!(now + sold, *start, "round {round}: units of {product}");
        }
    }

    // The last restart serves, with every order.
    let srv = server(dir.path());
    let base = format!("http://{}", srv.address());
    let ready = rt
        .block_on(client.get(format!("{base}/readyz")).send())
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let orders: i64 = open(dir.path())
        .query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0))
        .expect("count");
    assert!(orders >= i64::try_from(acknowledged.lock().expect("lock").len()).unwrap_or(0));
}
