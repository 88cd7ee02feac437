//! Test harness: a real MarketHub server on a random loopback port with a fresh temporary
//! data directory, and a small HTTP client around it.

#![allow(dead_code)]

pub mod conformance;
pub mod smtp;

use std::time::Duration;

use markethub::config::Config;
use markethub::server::RunningServer;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const CALLBACK_SECRET: &str = "test-callback-secret-0123";
pub const PASSWORD: &str = "Zebra-Quilt-47";
pub const ADMIN_EMAIL: &str = "admin@markethub.test";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub config: Config,
    server: RunningServer,
    // Dropped last: the server must stop before its directory goes.
    pub dir: TempDir,
}

/// A response with its JSON body (or `Null` when the body is not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The error code of the JSON error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Config every test starts from: loopback port 0, known secret, no mail delay, generous
/// rate limits (the rate-limit tests lower them).
pub fn test_config(dir: &TempDir) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    c.auth.jwt_secret = TEST_SECRET.into();
    c.payments.callback_secret = CALLBACK_SECRET.into();
    // Simulated M-Pesa answers arrive quickly; reconciliation stays out of the way unless a
    // test asks for it.
    c.payments.simulator_delay_ms = 30;
    c.payments.reconcile_after_secs = 3600;
    // The daily backup would run at every start (no backup exists yet); its tests enable it.
    c.backup.enabled = false;
    c.rate_limit.login_per_ip_per_minute = 1000;
    c.rate_limit.login_per_account_per_minute = 1000;
    c.rate_limit.register_per_ip_per_hour = 1000;
    c.rate_limit.register_per_account_per_hour = 1000;
    c.rate_limit.forgot_per_ip_per_hour = 1000;
    c.rate_limit.forgot_per_account_per_hour = 1000;
    if let Some(base) = postgres_base() {
        c.database.url = postgres::fresh_schema(&base);
    }
    c
}

/// The PostgreSQL server the suite runs against instead of SQLite, when `TEST_POSTGRES_URL`
/// is set (e.g. `postgres://postgres@127.0.0.1:5432/test`; CI sets it for a second run of
/// the all-features suite). Every test server then gets a fresh schema of its own.
pub fn postgres_base() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// True (after saying so on stderr) when the suite runs on PostgreSQL and the calling test
/// exercises something that exists on SQLite only (file backups, restore, the data file).
pub fn sqlite_only(what: &str) -> bool {
    if postgres_base().is_some() {
        eprintln!("skipped on PostgreSQL (SQLite only): {what}");
        true
    } else {
        false
    }
}

#[cfg(feature = "postgres")]
pub mod postgres {
    //! Fresh schemas on the test PostgreSQL server.

    use std::time::{SystemTime, UNIX_EPOCH};

    /// Schemas of earlier runs older than this are dropped when a test process starts (a run
    /// of the whole suite takes minutes; each schema holds a whole shop's tables).
    const STALE_SECS: u64 = 3600;

    fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Runs `f` with a client on a thread of its own (the sync client must not run on the
    /// async executor).
    pub fn with_client<T: Send>(
        base: &str,
        f: impl FnOnce(&mut ::postgres::Client) -> T + Send,
    ) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut client = ::postgres::Client::connect(base, ::postgres::NoTls)
                    .expect("the test PostgreSQL server (TEST_POSTGRES_URL) answers");
                f(&mut client)
            })
            .join()
            .expect("postgres thread")
        })
    }

    /// Creates a new empty schema and returns `base` with the schema as its search path.
    pub fn fresh_schema(base: &str) -> String {
        static CLEANED: std::sync::Once = std::sync::Once::new();
        let name = format!("mh_t_{}_{}", now_secs(), uuid::Uuid::now_v7().simple());
        with_client(base, |client| {
            CLEANED.call_once(|| drop_stale(client));
            client
                .batch_execute(&format!("CREATE SCHEMA {name}"))
                .expect("create schema");
        });
        schema_url(base, &name)
    }

    /// `base` with `schema` as its search path.
    pub fn schema_url(base: &str, schema: &str) -> String {
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options=-csearch_path%3D{schema}")
    }

    fn drop_stale(client: &mut ::postgres::Client) {
        let Ok(rows) = client.query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'mh\\_t\\_%'",
            &[],
        ) else {
            return;
        };
        for row in rows {
            let name: String = row.get(0);
            let born = name
                .split('_')
                .nth(2)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0);
            if born + STALE_SECS < now_secs() {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
            }
        }
    }
}

#[cfg(not(feature = "postgres"))]
pub mod postgres {
    pub fn fresh_schema(_base: &str) -> String {
        panic!("TEST_POSTGRES_URL is set but this build has no `postgres` feature");
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// A server that delivers its mail to an SMTP stub on loopback (the only way to read a
    /// one-time link: the outbox keeps none).
    pub async fn with_mail() -> (Self, smtp::SmtpStub) {
        let stub = smtp::SmtpStub::start(0).await;
        let url = stub.url();
        (Self::with(|c| c.mail.smtp_url = url).await, stub)
    }

    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(&dir);
        tweak(&mut config);
        Self::start_in(dir, config).await
    }

    pub async fn start_in(dir: TempDir, config: Config) -> Self {
        config.validate().expect("test config is valid");
        let server = markethub::server::start(config.clone())
            .await
            .expect("server starts");
        TestServer {
            base: format!("http://{}", server.addr),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            config,
            server,
            dir,
        }
    }

    /// Stops the server and waits until it has released everything (the data directory lock).
    pub async fn stop(self) {
        let TestServer { server, dir, .. } = self;
        server.shutdown();
        server.wait().await;
        drop(dir);
    }

    /// Stops the server like [`TestServer::stop`] but keeps its data directory and config, to
    /// start it again later with [`TestServer::start_in`] (on a new port).
    pub async fn stop_keeping_data(self) -> (TempDir, Config) {
        let TestServer {
            server,
            dir,
            config,
            ..
        } = self;
        server.shutdown();
        server.wait().await;
        (dir, config)
    }

    /// Stops the server and starts it again on the same data directory and config. The port
    /// changes (the config listens on port 0); sessions stay valid (same database and secret).
    pub async fn restart(self) -> TestServer {
        let (dir, config) = self.stop_keeping_data().await;
        TestServer::start_in(dir, config).await
    }

    /// The running server's shared state (to build the router in-process).
    pub fn state(&self) -> &markethub::state::AppState {
        &self.server.state
    }

    /// URL of an API path (`/auth/login` → `http://…/api/v1/auth/login`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    /// URL of a path outside the API (`/healthz`, `/admin/`).
    pub fn raw(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request and checks the response against the OpenAPI document (see
    /// [`conformance`]): a response the document does not allow fails the test.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let (client, request) = req.build_split();
        let request = request.expect("request");
        let method = request.method().as_str().to_owned();
        let path = request.url().path().to_owned();
        let resp = client.execute(request).await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let Err(problem) = conformance::check(&method, &path, status, content_type, &bytes) {
            panic!("response outside the OpenAPI document: {problem}");
        }
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(auth(self.client.get(self.url(path)), token))
            .await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Resp {
        self.send(auth(self.client.post(self.url(path)).json(&body), token))
            .await
    }

    pub async fn put(&self, path: &str, body: Value, token: Option<&str>) -> Resp {
        self.send(auth(self.client.put(self.url(path)).json(&body), token))
            .await
    }

    /// Registers a customer and returns its session.
    pub async fn register(&self, email: &str) -> Session {
        let r = self
            .post(
                "/auth/register",
                json!({"email": email, "password": PASSWORD, "full_name": "Test User"}),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "register {email}: {:?}", r.body);
        Session::from(&r.body)
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/auth/login",
            json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Creates the admin the way `markethub create-admin` does, then signs it in.
    pub async fn admin(&self) -> Session {
        let db = self.server.state.db.clone();
        tokio::task::spawn_blocking(move || {
            markethub::auth::service::create_admin(&db, ADMIN_EMAIL, PASSWORD, "Admin", true)
        })
        .await
        .expect("join")
        .expect("admin created");
        let r = self.login(ADMIN_EMAIL, PASSWORD).await;
        assert_eq!(r.status, 200, "admin login: {:?}", r.body);
        Session::from(&r.body)
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(auth(self.client.delete(self.url(path)), token))
            .await
    }

    /// A customer who applied and was approved: now a merchant with a profile.
    pub async fn merchant(&self, admin: &Session, email: &str, business: &str) -> Session {
        let s = self.register(email).await;
        let app = self
            .post(
                "/merchant-applications",
                json!({"business_name": business, "business_description": "We sell good things at fair prices",
                       "phone": "+254700000001", "location": "Nairobi"}),
                Some(&s.access),
            )
            .await;
        assert_eq!(app.status, 201, "apply: {:?}", app.body);
        let id = app.body["id"].as_str().expect("application id");
        let r = self
            .put(
                &format!("/admin/merchant-applications/{id}"),
                json!({"decision": "approve"}),
                Some(&admin.access),
            )
            .await;
        assert_eq!(r.status, 200, "approve: {:?}", r.body);
        s
    }

    /// Creates a category and returns its id.
    pub async fn category(&self, admin: &Session, name: &str, parent: Option<&str>) -> String {
        let r = self
            .post(
                "/admin/categories",
                json!({"name": name, "parent_id": parent}),
                Some(&admin.access),
            )
            .await;
        assert_eq!(r.status, 201, "category {name}: {:?}", r.body);
        r.body["id"].as_str().expect("category id").to_owned()
    }

    /// Creates a product and returns it.
    pub async fn product(&self, merchant: &Session, body: Value) -> Value {
        let r = self
            .post("/merchant/products", body, Some(&merchant.access))
            .await;
        assert_eq!(r.status, 201, "product: {:?}", r.body);
        r.body
    }

    /// The outbox messages to `to`, newest first (read through the admin API).
    pub async fn mail_to(&self, admin: &Session, to: &str) -> Vec<Value> {
        let r = self
            .get(
                &format!("/admin/mail?to={to}&per_page=100"),
                Some(&admin.access),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `check` until it returns `Some` (at most ~10 s): for effects of background
    /// jobs, which finish after the request that queued them has answered.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        for _ in 0..500 {
            if let Some(v) = check().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

fn auth(req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    }
}

/// The token in a mail body: the value after `token=` in its link.
pub fn token_in(body: &str) -> Option<String> {
    let start = body.find("token=")? + "token=".len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// Tokens returned by register, login and refresh.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub access: String,
    pub refresh: String,
}

impl From<&Value> for Session {
    fn from(body: &Value) -> Self {
        Session {
            user_id: body["user"]["id"].as_str().expect("user.id").to_owned(),
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        }
    }
}
