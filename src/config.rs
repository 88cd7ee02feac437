//! Configuration: built-in defaults < `markethub.toml` (or `--config PATH`) < `MARKETHUB_*`
//! environment variables (nested keys joined with `__`, e.g. `MARKETHUB_DATABASE__URL`).
//! Validation lives here too, including the production rules (no default secrets, no
//! wildcard CORS), and the development JWT secret that is generated once and persisted.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The config file read when `--config` is not given (silently skipped when absent).
pub const DEFAULT_CONFIG_FILE: &str = "markethub.toml";
/// File in the data directory holding the generated development JWT secret.
pub const DEV_SECRET_FILE: &str = "jwt_secret";
/// File in the data directory holding the generated development M-Pesa callback secret.
pub const DEV_CALLBACK_SECRET_FILE: &str = "mpesa_callback_secret";
/// Minimum length of a production JWT secret.
pub const MIN_SECRET_LEN: usize = 32;
/// Values that count as "not set" for a secret: the placeholders of our examples.
const PLACEHOLDER_SECRETS: &[&str] = &["", "change-me", "changeme", "secret", "jwt-secret"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The whole effective configuration. Every key has a default; see `markethub.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: String,
    /// Directory for the SQLite database, generated secrets, uploads and backups.
    pub data_dir: PathBuf,
    pub environment: Environment,
    /// Public base URL used in links sent by mail; empty means `http://<listen>`.
    pub public_url: String,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub mail: MailConfig,
    pub rate_limit: RateLimitConfig,
    pub log: LogConfig,
    pub catalog: CatalogConfig,
    pub uploads: UploadsConfig,
    pub cloudinary: CloudinaryConfig,
    pub payments: PaymentsConfig,
    pub mpesa: MpesaConfig,
    pub analytics: AnalyticsConfig,
    pub backup: BackupConfig,
    pub metrics: MetricsConfig,
    pub sentry: SentryConfig,
    /// `central` (the marketplace), `hub` (a delivery hub's own instance that syncs with the
    /// centre, see docs/HUBS.md), or empty: `hub` when the data directory was joined with
    /// `markethub hub join`, otherwise `central`.
    pub mode: String,
    /// On a hub instance: the hub it serves (empty: the one it joined as).
    pub hub_id: String,
    /// On a hub instance: the central instance it syncs with.
    pub upstream: UpstreamConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// The centre's base URL, e.g. `https://market.example.com` (empty: the one joined with).
    pub url: String,
    /// The hub's sync token from `POST /admin/hubs/{id}/sync-token` (empty: the one joined with).
    pub token: String,
    /// Pause between sync rounds while the link works.
    pub sync_interval_ms: u64,
    /// Longest pause between full rounds while they fail (doubling from the interval).
    pub max_backoff_ms: u64,
    /// While rounds fail, how often a cheap request asks the centre whether it is back (at
    /// most 10 s); an answer starts a round at once.
    pub probe_interval_ms: u64,
    /// Changes per push or pull request.
    pub batch_size: u32,
    /// Per-request timeout towards the centre.
    pub timeout_secs: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            url: String::new(),
            token: String::new(),
            sync_interval_ms: 15_000,
            max_backoff_ms: 300_000,
            probe_interval_ms: 5_000,
            batch_size: 200,
            timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SentryConfig {
    /// Where error reports go (a Sentry DSN); empty: nowhere. Needs the `sentry` feature.
    pub dsn: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Take a backup every day at `daily_at`.
    pub enabled: bool,
    /// `HH:MM` in the installation's zone (`analytics.utc_offset_minutes`).
    pub daily_at: String,
    /// Backups older than this are deleted…
    pub keep_days: u64,
    /// …and at most this many are kept.
    pub keep_files: usize,
    /// Where backups go; empty means `<data_dir>/backups`.
    pub dir: String,
    /// `markethub restore` refuses a backup that unpacks to more than this. 0: the largest
    /// of 4 times the database in place, 30 times the backup file and 256 MiB. Never more
    /// than the free disk.
    pub restore_max_bytes: u64,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            enabled: true,
            daily_at: "02:00".into(),
            keep_days: 30,
            keep_files: 30,
            dir: String::new(),
            restore_max_bytes: 0,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// When set, `GET /metrics` needs `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// The zone that defines a "day": minutes east of UTC (180 = East Africa Time).
    pub utc_offset_minutes: i64,
    /// Products at or below this stock are listed as low on the merchant dashboard.
    pub low_stock_threshold: i64,
    /// Length of the top-product and top-merchant lists.
    pub top_limit: i64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            utc_offset_minutes: 180,
            low_stock_threshold: 5,
            top_limit: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    /// Built-in stand-in for demos and tests: a push "completes" after a delay.
    Simulator,
    /// Safaricom Daraja (needs the `mpesa` cargo feature and `[mpesa]` credentials).
    Daraja,
    /// No M-Pesa: checkout offers cash on delivery only.
    Disabled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    pub gateway: GatewayKind,
    /// Secret path segment of the callback URLs Daraja posts to. Required in production;
    /// in development an empty value means one generated into `<data_dir>/mpesa_callback_secret`.
    pub callback_secret: String,
    /// Public base URL of this server as Daraja reaches it; empty means `public_url`.
    pub callback_base_url: String,
    /// A failed or cancelled payment releases its order (and stock) after this long.
    pub release_after_secs: u64,
    /// Payments still pending after this long are settled by an STK query.
    pub reconcile_after_secs: u64,
    pub reconcile_interval_secs: u64,
    /// Simulator: how long until the simulated customer answers the push.
    pub simulator_delay_ms: u64,
    /// Simulator: the ResultCode it answers with (0 success, 1032 cancelled, 1 no funds…).
    pub simulator_result_code: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MpesaConfig {
    pub base_url: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub shortcode: String,
    pub passkey: String,
    /// `CustomerPayBillOnline` (paybill) or `CustomerBuyGoodsOnline` (till).
    pub transaction_type: String,
    /// B2C refunds: the initiator and its encrypted credential.
    pub initiator_name: String,
    pub security_credential: String,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// ISO 4217 code given to new products.
    pub currency: String,
    /// Rankings of filtered listings and searches kept in memory (0 disables the cache).
    pub listing_cache_entries: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageStorage {
    /// Files under `<data_dir>/uploads`, served at `/media/…`.
    Local,
    /// Cloudinary (needs the `cloudinary` cargo feature and `[cloudinary]` credentials).
    Cloudinary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsConfig {
    pub storage: ImageStorage,
    /// Largest accepted image, in bytes.
    pub max_image_bytes: usize,
    pub max_images_per_product: u32,
    /// Widest and tallest accepted image, in pixels (read from its header before decoding).
    pub max_image_side_px: u32,
    /// Most pixels an accepted image may have, in millions.
    pub max_image_megapixels: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudinaryConfig {
    pub cloud_name: String,
    pub api_key: String,
    pub api_secret: String,
    /// API origin; tests point it at a local stub.
    pub base_url: String,
    /// Folder that uploaded images go into.
    pub folder: String,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH`; empty means `sqlite://<data_dir>/markethub.db`.
    pub url: String,
    /// Read connections in the pool (writes use one dedicated connection).
    pub max_read_connections: u32,
    pub busy_timeout_ms: u64,
    /// Page cache per connection, in KiB.
    pub cache_size_kib: u64,
    /// Memory-mapped I/O window per connection, in MiB (0 disables).
    pub mmap_size_mib: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Origins allowed by CORS. Empty: no CORS headers. `["*"]`: any (development only).
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// A request taking longer than this is answered 503.
    pub request_timeout_secs: u64,
    /// Proxies (IP or CIDR) whose `X-Forwarded-For` is believed for the client address.
    pub trusted_proxies: Vec<String>,
    /// After SIGTERM/Ctrl-C, in-flight requests get this long to finish.
    pub shutdown_grace_secs: u64,
    /// A client must send a whole request head within this time (from the connection for
    /// the first request, from its first byte for later ones), or the connection is closed.
    pub header_read_timeout_secs: u64,
    /// A kept-alive connection with no request in flight is closed after this long.
    pub idle_timeout_secs: u64,
    /// Open client connections at most; at the cap the longest-idle one is closed for a new
    /// one. 0: sized from the open-file limit (what it leaves after the database's files, at
    /// most 4,096).
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HMAC key for access tokens. Required (≥ 32 chars) in production; in development an
    /// empty value means a random secret generated once into `<data_dir>/jwt_secret`.
    pub jwt_secret: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    pub reset_token_ttl_minutes: u64,
    pub verify_token_ttl_hours: u64,
    /// Password hashes computed at once; 0 means one per CPU core.
    pub hash_concurrency: usize,
    /// A login waiting longer than this for a hashing slot gets 503 + Retry-After.
    pub hash_queue_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub from: String,
    /// `smtp://user:pass@host:587?tls=required`, `smtps://…:465`, or `smtp://host:25` (plain).
    /// Empty: messages are logged and kept in the outbox, readable at `GET /api/v1/admin/mail`.
    pub smtp_url: String,
    pub max_attempts: u32,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Safety-net poll; the sender is also woken whenever a message is queued.
    pub poll_interval_secs: u64,
    pub smtp_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub login_per_ip_per_minute: u32,
    pub login_per_account_per_minute: u32,
    pub register_per_ip_per_hour: u32,
    /// Registration attempts for one email address.
    pub register_per_account_per_hour: u32,
    pub forgot_per_ip_per_hour: u32,
    pub forgot_per_account_per_hour: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `markethub=debug,tower_http=info`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            environment: Environment::Development,
            public_url: String::new(),
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            mail: MailConfig::default(),
            rate_limit: RateLimitConfig::default(),
            log: LogConfig::default(),
            catalog: CatalogConfig::default(),
            uploads: UploadsConfig::default(),
            cloudinary: CloudinaryConfig::default(),
            payments: PaymentsConfig::default(),
            mpesa: MpesaConfig::default(),
            analytics: AnalyticsConfig::default(),
            backup: BackupConfig::default(),
            metrics: MetricsConfig::default(),
            sentry: SentryConfig::default(),
            mode: String::new(),
            hub_id: String::new(),
            upstream: UpstreamConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_read_connections: 4,
            busy_timeout_ms: 5000,
            cache_size_kib: 4096,
            mmap_size_mib: 0,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            cors_origins: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            trusted_proxies: Vec::new(),
            shutdown_grace_secs: 30,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 0,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: String::new(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            reset_token_ttl_minutes: 60,
            verify_token_ttl_hours: 48,
            hash_concurrency: 0,
            hash_queue_timeout_secs: 10,
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: "MarketHub <no-reply@markethub.local>".into(),
            smtp_url: String::new(),
            max_attempts: 8,
            retry_initial_ms: 30_000,
            retry_max_ms: 3_600_000,
            poll_interval_secs: 30,
            smtp_timeout_secs: 30,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            login_per_ip_per_minute: 30,
            login_per_account_per_minute: 10,
            register_per_ip_per_hour: 30,
            register_per_account_per_hour: 5,
            forgot_per_ip_per_hour: 20,
            forgot_per_account_per_hour: 5,
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            currency: "KES".into(),
            listing_cache_entries: 1024,
        }
    }
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            storage: ImageStorage::Local,
            max_image_bytes: 5 * 1024 * 1024,
            max_images_per_product: 10,
            max_image_side_px: 8000,
            max_image_megapixels: 40,
        }
    }
}

impl Default for CloudinaryConfig {
    fn default() -> Self {
        CloudinaryConfig {
            cloud_name: String::new(),
            api_key: String::new(),
            api_secret: String::new(),
            base_url: "https://api.cloudinary.com".into(),
            folder: "markethub".into(),
            timeout_secs: 30,
        }
    }
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            gateway: GatewayKind::Simulator,
            callback_secret: String::new(),
            callback_base_url: String::new(),
            release_after_secs: 900,
            reconcile_after_secs: 90,
            reconcile_interval_secs: 30,
            simulator_delay_ms: 1500,
            simulator_result_code: 0,
        }
    }
}

impl Default for MpesaConfig {
    fn default() -> Self {
        MpesaConfig {
            base_url: "https://sandbox.safaricom.co.ke".into(),
            consumer_key: String::new(),
            consumer_secret: String::new(),
            shortcode: "174379".into(),
            passkey: String::new(),
            transaction_type: "CustomerPayBillOnline".into(),
            initiator_name: String::new(),
            security_credential: String::new(),
            timeout_secs: 30,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Parse(Box<figment::Error>),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

impl Config {
    /// The layered sources: defaults, then the config file, then `MARKETHUB_*` variables.
    pub fn figment(config_file: Option<&Path>) -> Figment {
        let file = config_file.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        // `file_exact`: never search parent directories for a stray markethub.toml.
        if config_file.is_some() || file.exists() {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.merge(Env::prefixed("MARKETHUB_").split("__").ignore(&["config"]))
    }

    /// Loads and validates the configuration. An explicitly named file must exist.
    pub fn load(config_file: Option<&Path>) -> Result<Config, ConfigError> {
        let config = Config::extract(config_file)?;
        config.validate()?;
        Ok(config)
    }

    /// Loads the layered configuration without validating the values.
    pub fn extract(config_file: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = config_file.filter(|p| !p.exists()) {
            return Err(ConfigError::MissingFile(path.to_path_buf()));
        }
        Config::figment(config_file)
            .extract()
            .map_err(|e| ConfigError::Parse(Box::new(e)))
    }

    /// Storage settings for [`crate::db::Db::open`].
    pub fn db_options(&self) -> crate::db::DbOptions {
        crate::db::DbOptions {
            url: self.database_url(),
            max_read_connections: self.database.max_read_connections,
            busy_timeout_ms: self.database.busy_timeout_ms,
            cache_size_kib: self.database.cache_size_kib,
            mmap_size_mib: self.database.mmap_size_mib,
        }
    }

    /// Checks every value; in production also refuses default secrets and wildcard CORS.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "listen: {:?} is not an address like 127.0.0.1:8080",
                self.listen
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            problems.push("data_dir: must not be empty".into());
        }
        if !matches!(self.mode.as_str(), "" | "central" | "hub") {
            problems.push(format!(
                "mode: {:?} is not \"central\" or \"hub\" (or empty: decided by the data directory)",
                self.mode
            ));
        }
        let up = &self.upstream.url;
        if !(up.is_empty() || up.starts_with("http://") || up.starts_with("https://")) {
            problems.push("upstream.url: must start with http:// or https://".into());
        }
        if self.upstream.sync_interval_ms < 100 {
            problems.push("upstream.sync_interval_ms: must be at least 100".into());
        }
        if self.upstream.max_backoff_ms < self.upstream.sync_interval_ms {
            problems.push("upstream.max_backoff_ms: must not be below sync_interval_ms".into());
        }
        if !(1..=1000).contains(&self.upstream.batch_size) {
            problems.push("upstream.batch_size: must be between 1 and 1000".into());
        }
        if self.upstream.timeout_secs == 0 {
            problems.push("upstream.timeout_secs: must be at least 1".into());
        }
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            problems.push("public_url: must start with http:// or https://".into());
        }
        let db_url = self.database_url();
        if crate::db::is_postgres_url(&db_url) {
            if !cfg!(feature = "postgres") {
                problems.push(
                    "database.url: PostgreSQL needs a build with the `postgres` feature \
                     (cargo build --release --features postgres)"
                        .into(),
                );
            }
        } else if let Err(e) = crate::db::sqlite_path(&db_url) {
            problems.push(format!("database.url: {e}"));
        }
        if self.database.busy_timeout_ms == 0 {
            problems.push(
                "database.busy_timeout_ms: must be at least 1 (0 would mean no waiting on \
                 SQLite but waiting forever on PostgreSQL)"
                    .into(),
            );
        }
        if self.database.max_read_connections == 0 {
            problems.push("database.max_read_connections: must be at least 1".into());
        }
        if self.http.body_limit_bytes < 1024 {
            problems.push("http.body_limit_bytes: must be at least 1024".into());
        }
        if self.http.request_timeout_secs == 0 {
            problems.push("http.request_timeout_secs: must be at least 1".into());
        }
        if self.uploads.max_image_side_px == 0 {
            problems.push("uploads.max_image_side_px: must be at least 1".into());
        }
        if self.uploads.max_image_megapixels == 0 {
            problems.push("uploads.max_image_megapixels: must be at least 1".into());
        }
        if !(1..=10_000).contains(&self.upstream.probe_interval_ms) {
            problems.push("upstream.probe_interval_ms: must be between 1 and 10000".into());
        }
        if self.http.header_read_timeout_secs == 0 {
            problems.push("http.header_read_timeout_secs: must be at least 1".into());
        }
        if self.http.idle_timeout_secs == 0 {
            problems.push("http.idle_timeout_secs: must be at least 1".into());
        }
        for proxy in &self.http.trusted_proxies {
            if parse_net(proxy).is_none() {
                problems.push(format!(
                    "http.trusted_proxies: {proxy:?} is not an IP or CIDR"
                ));
            }
        }
        for origin in &self.http.cors_origins {
            if origin != "*" && origin.parse::<axum::http::HeaderValue>().is_err() {
                problems.push(format!(
                    "http.cors_origins: {origin:?} is not a valid origin"
                ));
            }
        }
        let a = &self.auth;
        for (name, v) in [
            ("auth.access_token_ttl_secs", a.access_token_ttl_secs),
            ("auth.refresh_token_ttl_days", a.refresh_token_ttl_days),
            ("auth.reset_token_ttl_minutes", a.reset_token_ttl_minutes),
            ("auth.verify_token_ttl_hours", a.verify_token_ttl_hours),
            ("auth.hash_queue_timeout_secs", a.hash_queue_timeout_secs),
            ("mail.poll_interval_secs", self.mail.poll_interval_secs),
            ("mail.smtp_timeout_secs", self.mail.smtp_timeout_secs),
        ] {
            if v == 0 {
                problems.push(format!("{name}: must be greater than 0"));
            }
        }
        if !a.jwt_secret.is_empty() && a.jwt_secret.len() < MIN_SECRET_LEN {
            problems.push(format!(
                "auth.jwt_secret: must be at least {MIN_SECRET_LEN} characters"
            ));
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(format!("mail.from: {:?} is not a mailbox", self.mail.from));
        }
        if let Err(e) = crate::mail::sender::transport(&self.mail) {
            problems.push(format!("mail.smtp_url: {e}"));
        }
        if self.mail.max_attempts == 0 {
            problems.push("mail.max_attempts: must be at least 1".into());
        }
        let r = &self.rate_limit;
        for (name, v) in [
            (
                "rate_limit.login_per_ip_per_minute",
                r.login_per_ip_per_minute,
            ),
            (
                "rate_limit.login_per_account_per_minute",
                r.login_per_account_per_minute,
            ),
            (
                "rate_limit.register_per_ip_per_hour",
                r.register_per_ip_per_hour,
            ),
            (
                "rate_limit.register_per_account_per_hour",
                r.register_per_account_per_hour,
            ),
            (
                "rate_limit.forgot_per_ip_per_hour",
                r.forgot_per_ip_per_hour,
            ),
            (
                "rate_limit.forgot_per_account_per_hour",
                r.forgot_per_account_per_hour,
            ),
        ] {
            if v == 0 {
                problems.push(format!("{name}: must be at least 1"));
            }
        }
        let cur = &self.catalog.currency;
        if cur.len() != 3 || !cur.chars().all(|c| c.is_ascii_uppercase()) {
            problems.push(format!(
                "catalog.currency: {cur:?} is not a 3-letter ISO code like KES"
            ));
        }
        if self.uploads.max_image_bytes < 1024 {
            problems.push("uploads.max_image_bytes: must be at least 1024".into());
        }
        if self.uploads.max_images_per_product == 0 {
            problems.push("uploads.max_images_per_product: must be at least 1".into());
        }
        if self.uploads.storage == ImageStorage::Cloudinary {
            if cfg!(not(feature = "cloudinary")) {
                problems.push(
                    "uploads.storage: \"cloudinary\" needs a build with the `cloudinary` feature"
                        .into(),
                );
            }
            let c = &self.cloudinary;
            if c.cloud_name.is_empty() || c.api_key.is_empty() || c.api_secret.is_empty() {
                problems.push(
                    "cloudinary: cloud_name, api_key and api_secret are required when \
                     uploads.storage = \"cloudinary\""
                        .into(),
                );
            }
        }
        if crate::backups::parse_daily_at(&self.backup.daily_at).is_none() {
            problems.push(format!(
                "backup.daily_at: {:?} is not a time like 02:00",
                self.backup.daily_at
            ));
        }
        let dsn = self.sentry.dsn.trim();
        #[cfg(feature = "sentry")]
        if !dsn.is_empty() && dsn.parse::<sentry::types::Dsn>().is_err() {
            problems.push("sentry.dsn: not a Sentry DSN (https://KEY@HOST/PROJECT)".into());
        }
        #[cfg(not(feature = "sentry"))]
        if !(dsn.is_empty() || dsn.starts_with("http://") || dsn.starts_with("https://")) {
            problems.push("sentry.dsn: not a Sentry DSN (https://KEY@HOST/PROJECT)".into());
        }
        if self.backup.keep_files == 0 {
            problems.push("backup.keep_files: must be at least 1".into());
        }
        let an = &self.analytics;
        if !(-14 * 60..=14 * 60).contains(&an.utc_offset_minutes) {
            problems.push("analytics.utc_offset_minutes: must be within ±840 (±14 hours)".into());
        }
        if !(1..=100).contains(&an.top_limit) || an.low_stock_threshold < 0 {
            problems.push(
                "analytics: top_limit must be 1–100 and low_stock_threshold at least 0".into(),
            );
        }
        let p = &self.payments;
        if p.reconcile_interval_secs == 0 || p.reconcile_after_secs == 0 {
            problems.push(
                "payments: reconcile_after_secs and reconcile_interval_secs must be at least 1"
                    .into(),
            );
        }
        if !p.callback_secret.is_empty() && p.callback_secret.len() < 16 {
            problems.push("payments.callback_secret: must be at least 16 characters".into());
        }
        if p.callback_secret
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            problems.push(
                "payments.callback_secret: only letters, digits, - and _ (it is a URL segment)"
                    .into(),
            );
        }
        if p.gateway == GatewayKind::Daraja {
            if cfg!(not(feature = "mpesa")) {
                problems.push(
                    "payments.gateway: \"daraja\" needs a build with the `mpesa` feature".into(),
                );
            }
            let m = &self.mpesa;
            for (name, v) in [
                ("mpesa.consumer_key", &m.consumer_key),
                ("mpesa.consumer_secret", &m.consumer_secret),
                ("mpesa.shortcode", &m.shortcode),
                ("mpesa.passkey", &m.passkey),
            ] {
                if v.trim().is_empty() {
                    problems.push(format!(
                        "{name}: required when payments.gateway = \"daraja\""
                    ));
                }
            }
            if !matches!(
                m.transaction_type.as_str(),
                "CustomerPayBillOnline" | "CustomerBuyGoodsOnline"
            ) {
                problems.push(
                    "mpesa.transaction_type: CustomerPayBillOnline or CustomerBuyGoodsOnline"
                        .into(),
                );
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            problems.push(format!(
                "log.level: {:?} is not a valid filter",
                self.log.level
            ));
        }
        if self.environment == Environment::Production {
            if is_placeholder_secret(&a.jwt_secret) {
                problems.push(
                    "auth.jwt_secret: production needs a secret of at least 32 random characters \
                     (set MARKETHUB_AUTH__JWT_SECRET); refusing to start with a default secret"
                        .into(),
                );
            }
            if self.payments.gateway == GatewayKind::Simulator {
                problems.push(
                    "payments.gateway: the simulator would mark orders paid without money; set \
                     \"daraja\" or \"disabled\" in production"
                        .into(),
                );
            }
            if self.payments.gateway == GatewayKind::Daraja
                && is_placeholder_secret(&self.payments.callback_secret)
            {
                problems.push("payments.callback_secret: production needs a random secret".into());
            }
            if self.http.cors_origins.iter().any(|o| o.trim() == "*") {
                problems.push(
                    "http.cors_origins: a wildcard origin is refused in production; list the \
                     storefront origins explicitly"
                        .into(),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The database URL, defaulting to a SQLite file inside the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.trim().is_empty() {
            format!("sqlite://{}", self.data_dir.join("markethub.db").display())
        } else {
            self.database.url.trim().to_owned()
        }
    }

    /// Base URL for links in mail.
    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// Parsed trusted proxy networks (validated by [`Config::validate`]).
    pub fn trusted_proxies(&self) -> Vec<ipnet::IpNet> {
        self.http
            .trusted_proxies
            .iter()
            .filter_map(|p| parse_net(p))
            .collect()
    }

    /// Hashing slots: the configured number, or one per CPU core.
    pub fn hash_concurrency(&self) -> usize {
        if self.auth.hash_concurrency > 0 {
            self.auth.hash_concurrency
        } else {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        }
    }

    /// The JWT secret to use: the configured one, or (development only) the generated one
    /// persisted in the data directory so tokens survive restarts.
    pub fn resolve_jwt_secret(&self) -> Result<String, ConfigError> {
        self.resolve_secret(&self.auth.jwt_secret, DEV_SECRET_FILE, "auth.jwt_secret")
    }

    /// The secret path segment of the M-Pesa callback URLs: the configured one, or
    /// (development only) one generated once into the data directory.
    pub fn resolve_callback_secret(&self) -> Result<String, ConfigError> {
        self.resolve_secret(
            &self.payments.callback_secret,
            DEV_CALLBACK_SECRET_FILE,
            "payments.callback_secret",
        )
    }

    fn resolve_secret(
        &self,
        configured: &str,
        file: &str,
        name: &str,
    ) -> Result<String, ConfigError> {
        if !is_placeholder_secret(configured) {
            return Ok(configured.to_owned());
        }
        if self.environment == Environment::Production {
            return Err(ConfigError::Invalid(vec![format!("{name}: not set")]));
        }
        let path = self.data_dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(s) if s.trim().len() >= MIN_SECRET_LEN => return Ok(s.trim().to_owned()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ConfigError::Io(format!("reading {}", path.display()), e)),
        }
        let secret = crate::auth::tokens::random_token(32);
        write_private_file(&path, &secret)
            .map_err(|e| ConfigError::Io(format!("writing {}", path.display()), e))?;
        tracing::info!(path = %path.display(), "generated a development {name}");
        Ok(secret)
    }

    /// Base URL Daraja posts callbacks to.
    pub fn callback_base_url(&self) -> String {
        if self.payments.callback_base_url.trim().is_empty() {
            self.public_url()
        } else {
            self.payments
                .callback_base_url
                .trim()
                .trim_end_matches('/')
                .to_owned()
        }
    }

    /// The effective configuration as TOML with secrets masked (`markethub config check`).
    pub fn to_masked_toml(&self) -> String {
        let mut c = self.clone();
        c.auth.jwt_secret = mask(&c.auth.jwt_secret);
        c.mail.smtp_url = mask_url_password(&c.mail.smtp_url);
        c.database.url = mask_url_password(&c.database.url);
        c.cloudinary.api_secret = mask(&c.cloudinary.api_secret);
        c.payments.callback_secret = mask(&c.payments.callback_secret);
        c.metrics.token = mask(&c.metrics.token);
        c.upstream.token = mask(&c.upstream.token);
        // The DSN's key is its user part.
        if let Some((scheme, rest)) = c.sentry.dsn.split_once("://")
            && let Some((_, host)) = rest.rsplit_once('@')
        {
            c.sentry.dsn = format!("{scheme}://********@{host}");
        }
        c.mpesa.consumer_secret = mask(&c.mpesa.consumer_secret);
        c.mpesa.passkey = mask(&c.mpesa.passkey);
        c.mpesa.security_credential = mask(&c.mpesa.security_credential);
        toml::to_string_pretty(&c).unwrap_or_else(|e| format!("# could not render: {e}\n"))
    }
}

fn is_placeholder_secret(s: &str) -> bool {
    PLACEHOLDER_SECRETS.contains(&s.trim().to_ascii_lowercase().as_str())
}

fn mask(secret: &str) -> String {
    if secret.is_empty() {
        String::new()
    } else {
        "********".into()
    }
}

/// Hides the password part of `scheme://user:password@host…`.
fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:********@{host}"),
        None => url.to_owned(),
    }
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Writes a file readable only by its owner (0600 on unix), creating its directory.
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        Jail::expect_with(|_jail| {
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:8080");
            assert_eq!(c.data_dir, PathBuf::from("./data"));
            assert_eq!(c.environment, Environment::Development);
            assert_eq!(c.database_url(), "sqlite://./data/markethub.db");
            Ok(())
        });
    }

    #[test]
    fn file_overrides_defaults_and_environment_overrides_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "markethub.toml",
                r#"
                listen = "0.0.0.0:9000"
                data_dir = "/var/lib/markethub"
                [database]
                url = "sqlite:///tmp/file.db"
                [auth]
                access_token_ttl_secs = 60
                "#,
            )?;
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "0.0.0.0:9000");
            assert_eq!(c.database_url(), "sqlite:///tmp/file.db");
            assert_eq!(c.auth.access_token_ttl_secs, 60);
            assert_eq!(
                c.auth.refresh_token_ttl_days, 30,
                "untouched keys keep defaults"
            );

            jail.set_env("MARKETHUB_LISTEN", "127.0.0.1:7000");
            jail.set_env("MARKETHUB_DATABASE__URL", "sqlite:///tmp/env.db");
            jail.set_env("MARKETHUB_AUTH__ACCESS_TOKEN_TTL_SECS", "120");
            jail.set_env("MARKETHUB_HTTP__CORS_ORIGINS", "[https://shop.example]");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:7000");
            assert_eq!(
                c.data_dir,
                PathBuf::from("/var/lib/markethub"),
                "file still applies"
            );
            assert_eq!(c.database_url(), "sqlite:///tmp/env.db");
            assert_eq!(c.auth.access_token_ttl_secs, 120);
            assert_eq!(
                c.http.cors_origins,
                vec!["https://shop.example".to_string()]
            );
            Ok(())
        });
    }

    #[test]
    fn explicit_config_path_is_used_and_must_exist() {
        Jail::expect_with(|jail| {
            jail.create_file("other.toml", "listen = \"127.0.0.1:1234\"")?;
            let c = Config::load(Some(Path::new("other.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:1234");
            assert!(matches!(
                Config::load(Some(Path::new("missing.toml"))),
                Err(ConfigError::MissingFile(_))
            ));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("markethub.toml", "lisen = \"x\"")?;
            let err = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("lisen"), "{err}");
            jail.create_file("markethub.toml", "listen = \"nope\"")?;
            let err = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("listen"), "{err}");
            jail.create_file("markethub.toml", "environment = \"staging\"")?;
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn production_refuses_default_secret_and_wildcard_cors() {
        Jail::expect_with(|jail| {
            jail.set_env("MARKETHUB_ENVIRONMENT", "production");
            let err = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("auth.jwt_secret"), "{err}");

            jail.set_env("MARKETHUB_AUTH__JWT_SECRET", "change-me");
            assert!(Config::load(None).is_err(), "placeholder secret refused");

            jail.set_env("MARKETHUB_AUTH__JWT_SECRET", "x".repeat(40));
            jail.set_env("MARKETHUB_HTTP__CORS_ORIGINS", "[\"*\"]");
            let err = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("wildcard"), "{err}");

            jail.set_env("MARKETHUB_HTTP__CORS_ORIGINS", "[https://shop.example]");
            let err = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("payments.gateway"),
                "the payment simulator is refused: {err}"
            );

            jail.set_env("MARKETHUB_PAYMENTS__GATEWAY", "disabled");
            assert!(Config::load(None).is_ok());
            Ok(())
        });
    }

    #[test]
    fn development_secret_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let first = config.resolve_jwt_secret().expect("generated");
        assert!(first.len() >= MIN_SECRET_LEN);
        assert_eq!(config.resolve_jwt_secret().expect("read back"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEV_SECRET_FILE))
                .expect("secret file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_documented_example_file_matches_the_defaults() {
        // Same keys and same values: nothing missing, nothing stale.
        let example: toml::Value =
            toml::from_str(include_str!("../markethub.toml")).expect("markethub.toml parses");
        let defaults = toml::Value::try_from(Config::default()).expect("defaults serialize");
        assert_eq!(
            example, defaults,
            "markethub.toml documents every key with its default"
        );
    }

    #[test]
    fn masked_output_hides_secrets() {
        let mut c = Config::default();
        c.auth.jwt_secret = "s".repeat(40);
        c.mail.smtp_url = "smtp://mailer:hunter2hunter2@mail.example:587".into();
        let out = c.to_masked_toml();
        assert!(!out.contains("ssss"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(
            out.contains("smtp://mailer:********@mail.example:587"),
            "{out}"
        );
        assert!(out.contains("listen = \"127.0.0.1:8080\""), "{out}");
    }
}
