//! `markethub demo`: a working shop in one command, reproducible from its seed.

use std::path::Path;

use markethub::demo::DEMO_PASSWORD;
use reqwest::header;

use crate::cli::markethub;
use crate::common::{TestServer, test_config};

fn run_demo(dir: &Path, args: &[&str]) -> std::process::Output {
    markethub(dir)
        .arg("demo")
        .args(args)
        .output()
        .expect("run demo")
}

/// A server on the data directory the CLI seeded in `dir`.
async fn serve(dir: &Path) -> TestServer {
    let holder = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(&holder);
    config.data_dir = dir.join("data");
    config.database.url = String::new(); // the SQLite file the CLI seeded
    TestServer::start_in(holder, config).await
}

#[tokio::test]
async fn the_demo_shop_is_browsable_and_its_logins_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_demo(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("admin@demo.markethub.test"), "{stdout}");
    assert!(stdout.contains(DEMO_PASSWORD), "{stdout}");

    let srv = serve(dir.path()).await;
    let products = srv.get("/products?per_page=100", None).await;
    let total = products.body["total"].as_i64().unwrap_or(0);
    assert!(
        (50..=60).contains(&total),
        "about 60 products, a few inactive: {total}"
    );
    let categories = srv.get("/categories", None).await;
    assert!(categories.body["items"].as_array().map_or(0, Vec::len) >= 10);
    let first = &products.body["items"][0];
    assert!(
        !first["merchant"]["business_name"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
    let url = first["images"][0]["url"]
        .as_str()
        .expect("every product has a picture")
        .to_owned();
    let img = srv.client.get(srv.raw(&url)).send().await.expect("image");
    assert_eq!(img.status(), 200);
    assert_eq!(img.headers()[header::CONTENT_TYPE], "image/png");

    for (email, role) in [
        ("admin@demo.markethub.test", "admin"),
        ("merchant1@demo.markethub.test", "merchant"),
        ("customer1@demo.markethub.test", "customer"),
    ] {
        let r = srv.login(email, DEMO_PASSWORD).await;
        assert_eq!(r.status, 200, "{email}: {:?}", r.body);
        assert_eq!(r.body["user"]["role"], role);
    }
    let merchant = crate::common::Session::from(
        &srv.login("merchant1@demo.markethub.test", DEMO_PASSWORD)
            .await
            .body,
    );
    let own = srv.get("/merchant/products", Some(&merchant.access)).await;
    assert!(own.body["total"].as_i64().unwrap_or(0) > 0);
    let hubs = srv.get("/hubs", None).await;
    assert!(
        hubs.body["items"].as_array().map_or(0, Vec::len) >= 2,
        "hubs to deliver through"
    );
    let search = srv.get("/products?q=solar", None).await;
    assert_eq!(search.status, 200);

    let again = run_demo(dir.path(), &[]);
    assert!(!again.status.success(), "seeding twice is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already present"));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_shop() {
    let args = [
        "--products",
        "800",
        "--merchants",
        "12",
        "--customers",
        "30",
        "--seed",
        "7",
    ];
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let c = tempfile::tempdir().expect("tempdir");
    for (dir, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let mut args = args.to_vec();
        args[7] = seed;
        let out = run_demo(dir.path(), &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let page = "/products?per_page=100&sort=price_asc&page=3";
    let (sa, sb, sc) = (
        serve(a.path()).await,
        serve(b.path()).await,
        serve(c.path()).await,
    );
    let (pa, pb, pc) = (
        sa.get(page, None).await,
        sb.get(page, None).await,
        sc.get(page, None).await,
    );
    assert!(pa.body["total"].as_i64().unwrap_or(0) > 700);
    assert_eq!(pa.body, pb.body, "same seed, same products, ids and prices");
    assert_ne!(
        pa.body["items"], pc.body["items"],
        "another seed, another shop"
    );
    // Large shops share one picture per category.
    let files = std::fs::read_dir(a.path().join("data/uploads/products"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(files <= 12, "{files} picture files");
}

#[test]
fn the_demo_refuses_a_shop_with_its_category_names_in_a_sentence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let migrated = markethub(dir.path())
        .arg("migrate")
        .output()
        .expect("migrate");
    assert!(migrated.status.success(), "{migrated:?}");
    rusqlite::Connection::open(dir.path().join("data").join("markethub.db"))
        .and_then(|c| {
            c.execute_batch(
                "INSERT INTO categories (id, name, parent_id, created_at, updated_at)
                 VALUES ('0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a', 'ELECTRONICS', NULL, 0, 0)",
            )
        })
        .expect("a category of the operator's");
    let out = run_demo(dir.path(), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("this shop already has the category \"Electronics\"")
            && err.contains("run it on a fresh data directory"),
        "{err}"
    );
    assert!(!err.contains("UNIQUE constraint"), "{err}");
    let users: i64 = rusqlite::Connection::open(dir.path().join("data").join("markethub.db"))
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)))
        .expect("count");
    assert_eq!(users, 0, "nothing was seeded");
}
