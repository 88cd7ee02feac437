//! The state shared by every handler and background job.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

use crate::auth::password::PasswordHasher;
use crate::auth::tokens::TokenKeys;
use crate::catalog::images::{self, ImageStore};
use crate::catalog::listing_cache::ListingCache;
use crate::config::Config;
use crate::db::Db;
use crate::http::rate_limit::RateLimits;
use crate::mail::MailSignal;
use crate::payments::gateway::MpesaGateway;
use crate::signing::Signer;
use crate::sync::Role;
use crate::sync::client::SyncHandle;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub tokens: Arc<TokenKeys>,
    pub hasher: Arc<PasswordHasher>,
    pub limits: Arc<RateLimits>,
    pub mail: MailSignal,
    pub trusted_proxies: Arc<[IpNet]>,
    pub images: Arc<dyn ImageStore>,
    /// `None` when M-Pesa is disabled.
    pub mpesa: Option<Arc<dyn MpesaGateway>>,
    /// The secret segment of the M-Pesa callback URLs.
    pub callback_secret: Arc<str>,
    /// Cancelled when the server stops; background work started by requests watches it.
    pub shutdown: CancellationToken,
    /// Rankings of filtered listings and searches (see `catalog::listing_cache`).
    pub listing_cache: Arc<ListingCache>,
    /// Held while a backup is being taken: one at a time.
    pub backup_lock: Arc<tokio::sync::Mutex<()>>,
    /// Central or hub instance, and the hub's sync round (see `sync`).
    pub sync: Arc<SyncHandle>,
    /// Keyed hashes from the server secret (the tokens of mailed one-time links).
    pub signer: Arc<Signer>,
}

impl AppState {
    pub fn new(
        config: Config,
        db: Db,
        jwt_secret: &str,
        callback_secret: &str,
    ) -> Result<Self, String> {
        let tokens = TokenKeys::new(jwt_secret, config.auth.access_token_ttl_secs)
            .map_err(|e| format!("auth.jwt_secret: {e}"))?;
        let hasher = PasswordHasher::new(
            config.hash_concurrency(),
            Duration::from_secs(config.auth.hash_queue_timeout_secs),
        )?;
        let images = images::store_from_config(&config)?;
        let mpesa = crate::payments::gateway_from_config(&config)?;
        Ok(AppState {
            images,
            mpesa,
            callback_secret: callback_secret.into(),
            shutdown: CancellationToken::new(),
            backup_lock: Arc::default(),
            sync: SyncHandle::new(Role::Central),
            listing_cache: Arc::new(ListingCache::new(config.catalog.listing_cache_entries)),
            tokens: Arc::new(tokens),
            signer: Arc::new(Signer::new(jwt_secret)),
            hasher: Arc::new(hasher),
            limits: Arc::new(RateLimits::new(&config.rate_limit)),
            mail: MailSignal::default(),
            trusted_proxies: config.trusted_proxies().into(),
            config: Arc::new(config),
            db,
        })
    }
}
