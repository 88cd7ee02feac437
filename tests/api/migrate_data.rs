//! `markethub migrate-data` (runs when `TEST_POSTGRES_URL` is set): a demo shop seeded in
//! SQLite by the CLI is copied into a fresh PostgreSQL schema; the copy is refused a second
//! time unless `--replace` is given; a server on the copy answers exactly like a server on the
//! original, and new rows get fresh keys there.

use serde_json::{Value, json};

use crate::cli::markethub;
use crate::common::{TestServer, test_config};

const PASSWORD: &str = markethub::demo::DEMO_PASSWORD;

fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = markethub(dir).args(args).output().expect("run markethub");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn server(database_url: &str, data_dir: &std::path::Path) -> TestServer {
    let holder = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(&holder);
    config.data_dir = data_dir.to_path_buf();
    config.database.url = database_url.to_owned();
    TestServer::start_in(holder, config).await
}

async fn token(srv: &TestServer, email: &str) -> String {
    let r = srv.login(email, PASSWORD).await;
    assert_eq!(r.status, 200, "{email}: {:?}", r.body);
    r.body["access_token"].as_str().expect("token").to_owned()
}

/// The parts of a listing two servers on the same data must agree on.
fn listing(body: &Value) -> Vec<(String, i64, i64)> {
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or("").to_owned(),
                p["price_cents"].as_i64().unwrap_or(-1),
                p["stock"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_install_moves_to_postgres_verified_and_only_once() {
    let Some(base) = crate::common::postgres_base() else {
        eprintln!("skipped: migrate-data needs a PostgreSQL server (set TEST_POSTGRES_URL)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "demo",
            "--products",
            "40",
            "--merchants",
            "3",
            "--customers",
            "5",
            "--orders",
            "30",
        ],
    );
    assert!(ok, "{err}");
    let data = dir.path().join("data");
    let from = format!("sqlite:{}", data.join("markethub.db").display());
    let to = crate::common::postgres::fresh_schema(&base);

    let (ok, out, err) = tokio::task::block_in_place(|| {
        run(dir.path(), &["migrate-data", "--from", &from, "--to", &to])
    });
    assert!(ok, "{err}");
    assert!(out.contains("copied and verified"), "{out}");
    assert!(
        out.contains("order_items") && out.contains("line_total_cents sum"),
        "{out}"
    );

    // A second copy into the same database is refused, and changes nothing.
    let (ok, _, err) = tokio::task::block_in_place(|| {
        run(dir.path(), &["migrate-data", "--from", &from, "--to", &to])
    });
    assert!(!ok && err.contains("--replace"), "{err}");
    let (ok, out, err) = tokio::task::block_in_place(|| {
        run(
            dir.path(),
            &["migrate-data", "--from", &from, "--to", &to, "--replace"],
        )
    });
    assert!(ok && out.contains("copied and verified"), "{err}");
    // Backups of a PostgreSQL install are pg_dump's job: the CLI says so instead of pretending.
    let backup = markethub(dir.path())
        .env("MARKETHUB_DATABASE__URL", &to)
        .arg("backup")
        .output()
        .expect("run backup");
    let said = String::from_utf8_lossy(&backup.stderr);
    assert!(
        !backup.status.success() && said.contains("pg_dump"),
        "{said}"
    );

    let original = server("", &data).await;
    let moved_dir = tempfile::tempdir().expect("tempdir");
    let moved = server(&to, moved_dir.path()).await;
    for path in [
        "/products?per_page=100",
        "/products?per_page=100&sort=price_asc",
        "/products?per_page=100&in_stock=true",
    ] {
        let (a, b) = (original.get(path, None).await, moved.get(path, None).await);
        assert_eq!(a.status, 200);
        assert_eq!(listing(&a.body), listing(&b.body), "{path}");
        assert_eq!(a.body["total"], b.body["total"], "{path}");
    }
    assert_eq!(
        original.get("/categories", None).await.body,
        moved.get("/categories", None).await.body
    );
    // Full text: the copied products are searchable (same hits; ranking may differ).
    let word = original.get("/products?per_page=1", None).await.body["items"][0]["name"]
        .as_str()
        .and_then(|n| n.split_whitespace().next())
        .expect("a product name")
        .to_owned();
    let search = format!("/products?per_page=100&q={word}");
    let mut a = listing(&original.get(&search, None).await.body);
    let mut b = listing(&moved.get(&search, None).await.body);
    a.sort();
    b.sort();
    assert!(!a.is_empty());
    assert_eq!(a, b, "search for {word:?}");

    // The demo admin signs in on the copy and sees the same money.
    let admin = format!("admin@{}", markethub::demo::EMAIL_DOMAIN);
    let (ta, tb) = (token(&original, &admin).await, token(&moved, &admin).await);
    let period = "/admin/analytics";
    let (sa, sb) = (
        original.get(period, Some(&ta)).await,
        moved.get(period, Some(&tb)).await,
    );
    assert_eq!(sa.status, 200, "{:?}", sa.body);
    assert_eq!(sa.body["totals"], sb.body["totals"]);
    let orders = "/admin/orders?per_page=100";
    assert_eq!(
        original.get(orders, Some(&ta)).await.body["total"],
        moved.get(orders, Some(&tb)).await.body["total"]
    );

    // New rows on the copy get fresh keys (identity sequences moved past the copied ones).
    let cat = moved
        .category(
            &crate::common::Session {
                user_id: String::new(),
                access: tb.clone(),
                refresh: String::new(),
            },
            "Moved in",
            None,
        )
        .await;
    let merchant = format!("merchant1@{}", markethub::demo::EMAIL_DOMAIN);
    let tm = token(&moved, &merchant).await;
    let r = moved
        .post(
            "/merchant/products",
            json!({"name": "Quokkaware after the move", "description": "new", "price_cents": 1500,
                   "stock": 3, "category_id": cat}),
            Some(&tm),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let found = moved.get("/products?q=quokkaware", None).await;
    assert_eq!(
        found.body["items"][0]["id"], r.body["id"],
        "{:?}",
        found.body
    );
}
