//! The web console in a real browser: headless Chromium driven over WebDriver (fantoccini and
//! Debian's chromedriver). An admin signs in, sees the dashboard chart drawn from the real
//! analytics, approves a merchant application and a refund; hub staff process a parcel from
//! arrival to cash confirmation in the hub console. Each step is checked through the API too.
//!
//! Needs `chromedriver` and `chromium` (CI installs them). Without them the tests say so and
//! pass, unless `BROWSER_TESTS=require` (set by `.ci/run`), which makes a missing
//! browser a failure. Screenshots go to `$SCREENSHOT_DIR` (the README's come from
//! `SCREENSHOT_DIR=docs/screenshots`), else to a temporary directory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};

use crate::common::{ADMIN_EMAIL, PASSWORD, TestServer};
use crate::market::Market;

const WAIT: Duration = Duration::from_secs(30);

struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A headless Chromium session, or `None` (test skipped) when no browser is installed.
async fn browser() -> Option<Browser> {
    let required = std::env::var("BROWSER_TESTS").is_ok_and(|v| v == "require");
    let (Some(driver_bin), Some(chromium)) = (
        find_program(&["chromedriver"]),
        find_program(&["chromium", "chromium-browser", "google-chrome"]),
    ) else {
        assert!(
            !required,
            "BROWSER_TESTS=require but chromedriver/chromium are not installed"
        );
        eprintln!("skipping the browser test: chromedriver and chromium are not installed");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let driver = Command::new(driver_bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=en-GB"]
        }
    }))
    .expect("capabilities");
    let url = format!("http://127.0.0.1:{port}");
    // chromedriver takes a moment to listen: poll its status until it answers.
    let deadline = std::time::Instant::now() + WAIT;
    let client = loop {
        let attempt = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(c) => break c,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot start a WebDriver session: {e}"),
        }
    };
    Some(Browser { client, driver })
}

async fn shot(c: &Client, name: &str) {
    let dir = std::env::var_os("SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    let _ = std::fs::create_dir_all(&dir);
    // Pictures of the page itself: no passing notice, from the top.
    c.execute(
        "const t = document.getElementById('toast'); \
         if (t) { t.style.transition = 'none'; t.classList.remove('show'); } \
         window.scrollTo(0, 0);",
        vec![],
    )
    .await
    .expect("tidy the page");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("writing a screenshot");
}

async fn wait_for(c: &Client, css: &str) -> Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

/// Waits until the element's text satisfies `ok` (the page re-renders after actions).
async fn wait_text(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && ok(&t)
        {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for the text of {css}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(c: &Client, srv: &TestServer, email: &str) {
    c.goto(&srv.raw("/admin/")).await.expect("open the console");
    wait_for(c, "input[name=email]")
        .await
        .send_keys(email)
        .await
        .expect("type");
    wait_for(c, "input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await
        .expect("type");
    wait_for(c, "form.login button[type=submit]")
        .await
        .click()
        .await
        .expect("click");
    wait_for(c, "#nav a[aria-current=page]").await;
}

/// Form controls on the page without a label (a `<label for>`, a wrapping label or an
/// `aria-label`): the console must have none.
async fn unlabelled_controls(c: &Client) -> Vec<String> {
    let found = c
        .execute(
            "return [...document.querySelectorAll('main input, main select, main textarea')] \
               .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label')) \
               .map(e => e.outerHTML.slice(0, 120));",
            vec![],
        )
        .await
        .expect("inspect the page");
    serde_json::from_value(found).unwrap_or_default()
}

async fn click(c: &Client, css: &str) {
    wait_for(c, css).await.click().await.expect("click");
}

#[tokio::test]
async fn admin_signs_in_reads_the_dashboard_and_decides_an_application_and_a_refund() {
    let Some(b) = browser().await else { return };
    let c = &b.client;
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    // A delivered, paid order gives the dashboard revenue and the customer a refund to ask.
    let order = m.delivered(&srv, "cod").await;
    let sub = Market::sub_of(&order, &m.merchant_a);
    let refund = srv
        .post(
            "/refunds",
            json!({"sub_order_id": sub, "reason": "damaged", "description": "The packet arrived torn."}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(refund.status, 201, "{:?}", refund.body);
    let refund_id = refund.body["id"].as_str().unwrap_or("").to_owned();
    let evidence = crate::images::upload_to(
        &srv,
        &m.customer,
        &format!("/refunds/{refund_id}/evidence"),
        crate::images::PNG.to_vec(),
        "torn.png",
        "image/png",
    )
    .await;
    assert_eq!(evidence.status, 201, "{:?}", evidence.body);
    let applicant = srv.register("new.shop@example.com").await;
    let applied = srv
        .post(
            "/merchant-applications",
            json!({"business_name": "Mama Mboga Fresh", "business_description": "Fresh vegetables from Limuru farms.", "phone": "0712345678", "location": "Limuru"}),
            Some(&applicant.access),
        )
        .await;
    assert_eq!(applied.status, 201, "{:?}", applied.body);

    sign_in(c, &srv, ADMIN_EMAIL).await;

    // Dashboard: the revenue chart and figure are the API's numbers.
    let analytics = srv.get("/admin/analytics", Some(&m.admin.access)).await;
    assert_eq!(analytics.status, 200);
    c.goto(&srv.raw("/admin/#/dashboard")).await.expect("goto");
    let chart = wait_for(c, "[data-test=revenue-chart]").await;
    let points = chart
        .find_all(Locator::Css("[data-value]"))
        .await
        .expect("chart points");
    assert!(!points.is_empty(), "the revenue chart draws points");
    let mut drawn = 0_i64;
    for p in &points {
        let v = p
            .attr("data-value")
            .await
            .expect("attr")
            .unwrap_or_default();
        drawn += v.parse::<i64>().unwrap_or(0);
    }
    let paid = analytics.body["totals"]["paid_revenue_cents"]
        .as_i64()
        .unwrap_or(0);
    assert!(
        paid > 0,
        "the delivered order is paid revenue: {:?}",
        analytics.body
    );
    assert_eq!(drawn, paid, "the chart draws the API's revenue");
    // The figure is the same amount, formatted (e.g. "KES 35.00").
    let shown = format!("{}.{:02}", paid / 100, paid % 100);
    let kpi = wait_text(c, "[data-test=kpi-revenue]", |t| !t.is_empty()).await;
    assert!(
        kpi.replace(',', "").contains(&shown),
        "revenue figure {kpi:?} shows {shown}"
    );
    wait_for(c, "[data-test=status-chart]").await;
    shot(c, "dashboard").await;

    // Merchant application: approve it in the console; the applicant becomes a merchant.
    c.goto(&srv.raw("/admin/#/applications"))
        .await
        .expect("goto");
    let row = "[data-test=application-row]";
    wait_text(c, row, |t| t.contains("Mama Mboga Fresh")).await;
    shot(c, "applications").await;
    if let Ok(note) = c
        .find(Locator::Css(&format!("{row} [data-test=decision-note]")))
        .await
    {
        note.send_keys("Welcome aboard").await.expect("type");
    }
    click(c, &format!("{row} [data-test=approve]")).await;
    srv.eventually("the application approved", || async {
        let me = srv.get("/auth/me", Some(&applicant.access)).await;
        (me.body["role"] == "merchant").then_some(())
    })
    .await;

    // Refund: approve it with a note; the API shows it approved.
    c.goto(&srv.raw(&format!("/admin/#/refunds/{refund_id}")))
        .await
        .expect("goto");
    wait_for(c, "[data-test=approve]").await;
    // The evidence picture is private: fetched with the token and shown from memory.
    let img = wait_for(c, ".evidence img[src^='blob:']").await;
    let from = img
        .attr("data-src")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert_eq!(from, evidence.body["url"].as_str().unwrap_or("-"));
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let width = c
            .execute(
                "return document.querySelector('.evidence img').naturalWidth",
                vec![],
            )
            .await
            .expect("script");
        if width == serde_json::json!(1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the evidence picture did not decode: width {width}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    shot(c, "refund").await;
    wait_for(c, "[data-test=refund-note]")
        .await
        .send_keys("Refund the torn packet")
        .await
        .expect("type");
    click(c, "[data-test=approve]").await;
    wait_text(c, "[data-test=refund-status]", |t| t.contains("approved")).await;
    let seen = srv
        .get(&format!("/refunds/{refund_id}"), Some(&m.customer.access))
        .await;
    assert_eq!(seen.body["status"], "approved", "{:?}", seen.body);

    // Every page renders, labels every control, and the main ones are pictured for the README.
    for (page, ready, picture) in [
        ("orders", "[data-test=order-row]", true),
        ("users", "[data-test=user-row]", true),
        ("dashboard", "[data-test=revenue-chart]", false),
        ("applications", "main h1", false),
        ("refunds", "[data-test=refund-row]", false),
        ("categories", "main h1", false),
        ("hubs", "main h1", false),
        ("backups", "[data-test=create-backup]", false),
    ] {
        c.goto(&srv.raw(&format!("/admin/#/{page}")))
            .await
            .expect("goto");
        wait_for(c, ready).await;
        let unlabelled = unlabelled_controls(c).await;
        assert!(
            unlabelled.is_empty(),
            "{page}: controls without a label: {unlabelled:?}"
        );
        if picture {
            shot(c, page).await;
        }
    }

    // The API reference renders every operation of the served document and filters them.
    let doc: Value =
        serde_json::from_str(markethub::http::openapi::document_json()).expect("document");
    let operations: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|item| item.as_object().map_or(0, |o| o.len()))
                .sum()
        })
        .unwrap_or(0);
    c.goto(&srv.raw("/admin/api.html")).await.expect("goto");
    wait_for(c, "details.op").await;
    let count = |c: &Client| {
        let c = c.clone();
        async move {
            c.execute(
                "return [...document.querySelectorAll('details.op')].filter(d => !d.hidden).length;",
                vec![],
            )
            .await
            .expect("count operations")
            .as_u64()
            .unwrap_or(0)
        }
    };
    assert_eq!(
        count(c).await,
        operations as u64,
        "every operation is listed"
    );
    wait_for(c, "#filter")
        .await
        .send_keys("/api/v1/cart/items")
        .await
        .expect("type");
    assert_eq!(
        count(c).await,
        3,
        "POST /cart/items, PUT and DELETE /cart/items/{{id}}"
    );
    c.goto(&srv.raw("/admin/#/dashboard")).await.expect("goto");
    wait_for(c, "[data-test=revenue-chart]").await;

    // An access token that stopped working is refreshed transparently, once.
    async fn stored(c: &Client) -> Value {
        c.execute(
            "return JSON.parse(sessionStorage.getItem('markethub.session'));",
            vec![],
        )
        .await
        .expect("read the session")
    }
    c.execute(
        "const s = JSON.parse(sessionStorage.getItem('markethub.session')); \
         s.access_token = 'no-longer-valid'; \
         sessionStorage.setItem('markethub.session', JSON.stringify(s));",
        vec![],
    )
    .await
    .expect("spoil the access token");
    c.goto(&srv.raw("/admin/#/users?q=admin"))
        .await
        .expect("goto");
    wait_text(c, "[data-test=user-row]", |t| t.contains(ADMIN_EMAIL)).await;
    let session = stored(c).await;
    assert_ne!(session["access_token"], "no-longer-valid", "refreshed");
    let refresh = session["refresh_token"].as_str().unwrap_or("").to_owned();

    // Signing out ends the session on the server too.
    click(c, "#who button").await;
    wait_text(c, "form.login .notice", |t| t.contains("signed out")).await;
    assert!(stored(c).await.is_null(), "nothing kept in sessionStorage");
    let r = srv
        .post("/auth/refresh", json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(
        r.status, 401,
        "the signed-out refresh token is dead: {:?}",
        r.body
    );
    srv.stop().await;
}

#[tokio::test]
async fn hub_staff_process_a_parcel_from_arrival_to_cash_in_the_hub_console() {
    let Some(b) = browser().await else { return };
    let c = &b.client;
    let srv = TestServer::start().await;
    let m = Market::new(&srv).await;
    let order = m.order(&srv, "cod").await;
    let order_id = order["id"].as_str().unwrap_or("").to_owned();
    // An active rider of the hub, for the "out for delivery" step.
    m.rider(&srv).await;
    let subs = [
        Market::sub_of(&order, &m.merchant_a),
        Market::sub_of(&order, &m.merchant_b),
    ];
    m.ship(&srv, &m.merchant_a, &subs[0]).await;
    m.ship(&srv, &m.merchant_b, &subs[1]).await;
    for page in ["hub", "riders"] {
        c.goto(&srv.raw(&format!("/admin/#/{page}")))
            .await
            .expect("goto");
        wait_for(c, "main h1").await;
        let unlabelled = unlabelled_controls(c).await;
        assert!(
            unlabelled.is_empty(),
            "{page}: controls without a label: {unlabelled:?}"
        );
    }

    sign_in(c, &srv, "staff@hub.test").await;
    for sub in &subs {
        let card = format!("[data-test=parcel][data-id=\"{sub}\"]");
        c.goto(&srv.raw("/admin/#/hub")).await.expect("goto");
        wait_for(c, &card).await;
        click(c, &format!("{card} [data-test=receive]")).await;
        srv.eventually("the parcel at the hub", || async {
            let p = srv
                .get(&format!("/hub/orders/{sub}"), Some(&m.staff.access))
                .await;
            (p.body["status"] == "at_hub").then_some(())
        })
        .await;
        c.goto(&srv.raw("/admin/#/hub?status=at_hub"))
            .await
            .expect("goto");
        let select = wait_for(c, &format!("{card} [data-test=rider-select]")).await;
        select.select_by_index(1).await.expect("choose the rider");
        click(c, &format!("{card} [data-test=dispatch]")).await;
        srv.eventually("the parcel out for delivery", || async {
            let p = srv
                .get(&format!("/hub/orders/{sub}"), Some(&m.staff.access))
                .await;
            (p.body["status"] == "out_for_delivery").then_some(())
        })
        .await;
    }
    // Cash: the amount due is the order total; confirmed once in the console.
    c.goto(&srv.raw("/admin/#/hub?status=out_for_delivery"))
        .await
        .expect("goto");
    let card = format!("[data-test=parcel][data-id=\"{}\"]", subs[0]);
    wait_for(c, &card).await;
    shot(c, "hub").await;
    // The amount is typed in shillings, as its label says.
    let amount = wait_for(c, &format!("{card} [data-test=cash-amount]")).await;
    amount.clear().await.expect("clear");
    let due = order["total_cents"].as_i64().unwrap_or(0);
    amount
        .send_keys(&format!("{}.{:02}", due / 100, due % 100))
        .await
        .expect("type");
    click(c, &format!("{card} [data-test=confirm-cash]")).await;
    srv.eventually("the cash confirmed", || async {
        let p = srv
            .get(&format!("/payments/{order_id}"), Some(&m.customer.access))
            .await;
        (p.body["payment"]["status"] == "paid").then_some(())
    })
    .await;
    for sub in &subs {
        let card = format!("[data-test=parcel][data-id=\"{sub}\"]");
        c.goto(&srv.raw("/admin/#/hub?status=out_for_delivery"))
            .await
            .expect("goto");
        click(c, &format!("{card} [data-test=deliver]")).await;
        srv.eventually("the parcel delivered", || async {
            let p = srv
                .get(&format!("/hub/orders/{sub}"), Some(&m.staff.access))
                .await;
            (p.body["status"] == "delivered").then_some(())
        })
        .await;
    }
    let done = srv
        .get(&format!("/orders/{order_id}"), Some(&m.customer.access))
        .await;
    assert_eq!(done.body["status"], "delivered");
    assert_eq!(done.body["payment_status"], "paid");
    srv.stop().await;
}

/// The console's files carry the security headers (a CSP with no inline script and no other
/// origin, no framing, no referrer) and revalidate with their ETag.
#[tokio::test]
async fn console_files_have_security_headers_and_etags() {
    let srv = TestServer::start().await;
    for path in ["/admin/app.js", "/admin/pages/hub.js", "/admin/console.css"] {
        let r = srv.client.get(srv.raw(path)).send().await.expect("request");
        assert_eq!(r.status(), 200, "{path}");
        let h = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let csp = h("content-security-policy");
        assert!(
            csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("referrer-policy"), "no-referrer");
        assert_eq!(h("cache-control"), "no-cache", "{path}");
        let etag = h("etag");
        assert!(!etag.is_empty(), "{path}");
        let again = srv
            .client
            .get(srv.raw(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("request");
        assert_eq!(again.status(), 304, "{path}");
    }
    srv.stop().await;
}
