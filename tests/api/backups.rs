//! Online backups over HTTP: admin-only listing, taking and downloading; a backup taken
//! while customers keep checking out is complete and consistent; the daily schedule catches
//! a missed slot at start-up and applies retention.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::common::{Session, TestServer};
use crate::market::Market;

/// Downloads backup `name` into `dir` and opens the decompressed database.
async fn fetch(srv: &TestServer, admin: &Session, name: &str, dir: &Path) -> rusqlite::Connection {
    let resp = srv
        .client
        .get(srv.url(&format!("/admin/backups/{name}")))
        .bearer_auth(&admin.access)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/gzip")
    );
    assert!(
        resp.headers().get("content-encoding").is_none(),
        "a gzip file is not compressed twice"
    );
    let bytes = resp.bytes().await.expect("body");
    let gz = dir.join(name);
    std::fs::write(&gz, &bytes).expect("write download");
    let db = dir.join(format!("{name}.db"));
    markethub::backups::unpack(&gz, &db, markethub::backups::SizeCap::NONE)
        .expect("a valid gzip file");
    markethub::db::snapshot::verify_file(&db).expect("integrity_check ok");
    rusqlite::Connection::open(&db).expect("open backup")
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

#[tokio::test]
async fn admins_take_list_and_download_backups() {
    if crate::common::sqlite_only("backups of the SQLite file") {
        return;
    }
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "cod").await;

    for who in [None, Some(m.customer.access.as_str())] {
        let expected = if who.is_some() { 403 } else { 401 };
        assert_eq!(srv.get("/admin/backups", who).await.status, expected);
        assert_eq!(
            srv.post("/admin/backups", json!({}), who).await.status,
            expected
        );
    }

    let empty = srv.get("/admin/backups", Some(&m.admin.access)).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["items"], json!([]));
    assert_eq!(empty.body["last_backup_age_secs"], Value::Null);

    let made = srv
        .post("/admin/backups", json!({}), Some(&m.admin.access))
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let name = made.body["name"].as_str().expect("name").to_owned();
    assert!(
        name.starts_with("markethub-") && name.ends_with("Z.db.gz"),
        "{name}"
    );
    assert!(made.body["size_bytes"].as_u64().unwrap_or(0) > 0);

    let listed = srv.get("/admin/backups", Some(&m.admin.access)).await;
    assert_eq!(listed.body["items"][0]["name"], name.as_str());
    assert!(listed.body["last_backup_age_secs"].as_i64().is_some());

    let scratch = tempfile::tempdir().expect("tempdir");
    let copy = fetch(&srv, &m.admin, &name, scratch.path()).await;
    let id = order["id"].as_str().expect("order id");
    let found: i64 = copy
        .query_row("SELECT COUNT(*) FROM orders WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .expect("query");
    assert_eq!(found, 1, "the order is in the backup");

    let customer_download = srv
        .get(&format!("/admin/backups/{name}"), Some(&m.customer.access))
        .await;
    assert_eq!(customer_download.status, 403);
    for bad in [
        "markethub.db",
        "..%2Fmarkethub.db",
        "markethub-20200101T000000Z.db.gz",
        "jwt_secret",
    ] {
        let r = srv
            .get(&format!("/admin/backups/{bad}"), Some(&m.admin.access))
            .await;
        assert_eq!(r.status, 404, "{bad}: {:?}", r.body);
        assert_eq!(r.code(), "not_found");
    }
}

/// Customers keep checking out while three backups are taken: every backup finishes, passes
/// `integrity_check` and its foreign keys, holds whole orders only, and holds every order
/// acknowledged before it was asked for.
#[tokio::test]
async fn backups_complete_and_stay_consistent_under_checkout_load() {
    if crate::common::sqlite_only("backups of the SQLite file") {
        return;
    }
    let srv = Arc::new(TestServer::start().await);
    let m = Market::new(&srv).await;
    let cat = srv.category(&m.admin, "Bulk", None).await;
    let rice = srv
        .product(
            &m.merchant_a,
            json!({"name": "Pishori rice 1kg", "price_cents": 300, "stock": 100000, "category_id": cat}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for i in 0..4 {
        let buyer = srv.register(&format!("load{i}@example.com")).await;
        let (srv, rice, hub) = (srv.clone(), rice.clone(), m.hub.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let add = srv
                    .post(
                        "/cart/items",
                        json!({"product_id": rice, "quantity": 1}),
                        Some(&buyer.access),
                    )
                    .await;
                assert_eq!(add.status, 201, "{:?}", add.body);
                let r = srv
                    .post(
                        "/orders",
                        json!({"payment_method": "cod", "hub_id": hub, "phone": "0712345678",
                               "delivery_address": "Apartment 4B, Riverside Drive, Nairobi"}),
                        Some(&buyer.access),
                    )
                    .await;
                assert_eq!(r.status, 201, "{:?}", r.body);
                let id = r.body["id"].as_str().expect("id").to_owned();
                acknowledged.lock().expect("lock").push(id);
            }
        }));
    }

    let scratch = tempfile::tempdir().expect("tempdir");
    let mut sizes = Vec::new();
    for _ in 0..3 {
        // Let some orders in first, so each backup has something new to hold.
        let seen = acknowledged.lock().expect("lock").len();
        srv.eventually("more orders", || {
            let n = acknowledged.lock().map(|v| v.len()).unwrap_or(0);
            async move { (n >= seen + 5).then_some(()) }
        })
        .await;
        let before: Vec<String> = acknowledged.lock().expect("lock").clone();
        let made = srv
            .post("/admin/backups", json!({}), Some(&m.admin.access))
            .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let name = made.body["name"].as_str().expect("name").to_owned();
        let copy = fetch(&srv, &m.admin, &name, scratch.path()).await;
        let broken_links = count(&copy, "SELECT COUNT(*) FROM pragma_foreign_key_check");
        assert_eq!(broken_links, 0);
        let partial = count(
            &copy,
            "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM sub_orders s WHERE s.order_id = o.id)
                OR NOT EXISTS (SELECT 1 FROM order_items i JOIN sub_orders s ON s.id = i.sub_order_id WHERE s.order_id = o.id)",
        );
        assert_eq!(partial, 0, "orders are never half in a backup");
        let mut missing = 0;
        for id in &before {
            let n: i64 = copy
                .query_row("SELECT COUNT(*) FROM orders WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .expect("query");
            if n != 1 {
                missing += 1;
            }
        }
        assert_eq!(
            missing, 0,
            "orders acknowledged before the backup are in it"
        );
        sizes.push(count(&copy, "SELECT COUNT(*) FROM orders"));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    let listed = srv.get("/admin/backups", Some(&m.admin.access)).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn the_daily_backup_catches_a_missed_slot_at_start_and_prunes_old_ones() {
    if crate::common::sqlite_only("backups of the SQLite file") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = crate::common::test_config(&dir);
    config.backup.enabled = true;
    // Midnight has always passed today: with no backup since, one is due at once.
    config.backup.daily_at = "00:00".into();
    config.backup.keep_days = 30;
    config.backup.keep_files = 3;
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).expect("mkdir");
    let now = markethub::clock::now_ms();
    let day = 86_400_000;
    let old = markethub::backups::file_name(now - 40 * day);
    let recent: Vec<String> = (1..=3)
        .map(|d| markethub::backups::file_name(now - d * day))
        .collect();
    for name in recent.iter().chain([&old]) {
        std::fs::write(backups.join(name), b"old backup").expect("write");
    }
    let srv = TestServer::start_in(dir, config).await;
    let admin = srv.admin().await;
    let items = srv
        .eventually("the scheduled backup and pruning", || {
            let srv = &srv;
            let admin = &admin;
            async move {
                let r = srv.get("/admin/backups", Some(&admin.access)).await;
                let items = r.body["items"].as_array().cloned().unwrap_or_default();
                let fresh = items
                    .first()
                    .and_then(|b| b["size_bytes"].as_u64())
                    .is_some_and(|s| s > 100);
                (fresh && items.len() == 3).then_some(items)
            }
        })
        .await;
    let names: Vec<&str> = items.iter().filter_map(|b| b["name"].as_str()).collect();
    assert!(!names.contains(&old.as_str()), "older than keep_days");
    assert!(
        !names.contains(&recent[2].as_str()),
        "beyond keep_files: {names:?}"
    );
    assert_eq!(&names[1..], &[recent[0].as_str(), recent[1].as_str()]);
}
