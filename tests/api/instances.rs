//! Several instances on one PostgreSQL database (runs when `TEST_POSTGRES_URL` is set): a
//! second server process — the real binary, with its own data directory — shares the test
//! server's database. Mail queued through either instance is delivered exactly once although
//! both run the mail sender, and checkouts through both never sell more than the stock.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{Process, markethub};
use crate::common::smtp::SmtpStub;
use crate::common::{CALLBACK_SECRET, PASSWORD, Session, TEST_SECRET, TestServer};
use crate::market::Market;

const BUYERS: usize = 12;

/// The second instance: same database, secrets and SMTP server as `a`.
fn second_instance(a: &TestServer, smtp: &str, dir: &std::path::Path) -> Process {
    let mut cmd = markethub(dir);
    cmd.env("MARKETHUB_LISTEN", "127.0.0.1:0")
        .env("MARKETHUB_DATABASE__URL", &a.config.database.url)
        .env("MARKETHUB_AUTH__JWT_SECRET", TEST_SECRET)
        .env("MARKETHUB_PAYMENTS__CALLBACK_SECRET", CALLBACK_SECRET)
        .env("MARKETHUB_MAIL__SMTP_URL", smtp)
        .env("MARKETHUB_BACKUP__ENABLED", "false");
    for limit in [
        "LOGIN_PER_IP_PER_MINUTE",
        "LOGIN_PER_ACCOUNT_PER_MINUTE",
        "REGISTER_PER_IP_PER_HOUR",
        "REGISTER_PER_ACCOUNT_PER_HOUR",
    ] {
        cmd.env(format!("MARKETHUB_RATE_LIMIT__{limit}"), "100000");
    }
    Process::spawn(cmd)
}

async fn post(
    client: &reqwest::Client,
    url: String,
    body: Value,
    token: Option<&str>,
) -> (u16, Value) {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_send_each_mail_once_and_never_oversell() {
    if crate::common::postgres_base().is_none() {
        eprintln!("skipped: several instances share a PostgreSQL database (set TEST_POSTGRES_URL)");
        return;
    }
    let mut stub = SmtpStub::start(0).await;
    let smtp = stub.url();
    let a = TestServer::with(|c| c.mail.smtp_url = smtp.clone()).await;
    let m = Market::new(&a).await;
    let dir_b = tempfile::tempdir().expect("tempdir");
    let b = tokio::task::block_in_place(|| {
        let p = second_instance(&a, &smtp, dir_b.path());
        let addr = p.address();
        (p, format!("http://{addr}/api/v1"))
    });
    let (_b_process, base_b) = b;
    let bases = [a.url(""), base_b.clone()];
    let client = &a.client;

    // Customers sign up through both instances: each sign-up queues a verification mail.
    let mut buyers = Vec::new();
    for i in 0..BUYERS {
        let email = format!("both{i}@example.com");
        let (status, body) = post(
            client,
            format!("{}/auth/register", bases[i % 2]),
            json!({"email": email, "password": PASSWORD, "full_name": "Two Instances"}),
            None,
        )
        .await;
        assert_eq!(status, 201, "{body:?}");
        buyers.push(Session::from(&body));
    }

    // Every buyer wants one of the five kettles; carts and checkouts alternate instances.
    for (i, s) in buyers.iter().enumerate() {
        let (status, body) = post(
            client,
            format!("{}/cart/items", bases[(i + 1) % 2]),
            json!({"product_id": m.kettle, "quantity": 1}),
            Some(&s.access),
        )
        .await;
        assert_eq!(status, 201, "{body:?}");
    }
    let tasks: Vec<_> = buyers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (client, url, token, body) = (
                client.clone(),
                format!("{}/orders", bases[i % 2]),
                s.access.clone(),
                m.order_body("cod"),
            );
            tokio::spawn(async move { post(&client, url, body, Some(&token)).await })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.expect("join") {
            (201, _) => created += 1,
            (409, body) if body["error"]["code"] == "cart_unavailable" => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(
        created, 5,
        "exactly the units in stock are sold across both instances"
    );
    assert_eq!(m.stock(&a, &m.kettle).await, 0);
    let orders = a.get("/admin/orders", Some(&m.admin.access)).await;
    assert_eq!(orders.body["total"], 5);

    // Every verification mail reaches the SMTP server; wait until the outbox says each was
    // sent (a message is marked sent only after its SMTP transaction), then nothing more may
    // arrive: no message went out twice.
    // Messages are told apart by recipient, subject and text (each carries its own token or
    // order number), so a repeated key is a message delivered twice.
    let mut received: HashMap<(String, String, String), usize> = HashMap::new();
    let mut count = |msg: crate::common::smtp::Received| {
        let (subject, text) = (msg.subject(), msg.body_text());
        for to in msg.to {
            *received
                .entry((to, subject.clone(), text.clone()))
                .or_default() += 1;
        }
    };
    let wanted: Vec<String> = (0..BUYERS)
        .map(|i| format!("both{i}@example.com"))
        .collect();
    let mut verified = std::collections::HashSet::new();
    while verified.len() < wanted.len() {
        let msg = stub.next().await;
        verified.extend(msg.to.iter().filter(|t| wanted.contains(t)).cloned());
        count(msg);
    }
    for to in &wanted {
        a.eventually("the outbox to record the delivery", || async {
            let items = a.mail_to(&m.admin, to).await;
            items.iter().all(|i| i["status"] == "sent").then_some(())
        })
        .await;
    }
    while let Ok(msg) = stub.received.try_recv() {
        count(msg);
    }
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "mail sent more than once: {twice:?}");
    tokio::time::timeout(Duration::from_secs(20), a.stop())
        .await
        .expect("stops");
}
