//! Per-client-IP and per-account rate limits for the endpoints that attackers hammer:
//! login, register, forgot-password. Limits live in this process's memory (per instance);
//! a refused request gets 429 with `Retry-After`.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppError;
use crate::config::RateLimitConfig;

pub struct RateLimits {
    enabled: bool,
    login_ip: DefaultKeyedRateLimiter<IpAddr>,
    login_account: DefaultKeyedRateLimiter<String>,
    register_ip: DefaultKeyedRateLimiter<IpAddr>,
    register_account: DefaultKeyedRateLimiter<String>,
    forgot_ip: DefaultKeyedRateLimiter<IpAddr>,
    forgot_account: DefaultKeyedRateLimiter<String>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl RateLimits {
    pub fn new(cfg: &RateLimitConfig) -> Self {
        RateLimits {
            enabled: cfg.enabled,
            login_ip: RateLimiter::keyed(Quota::per_minute(nz(cfg.login_per_ip_per_minute))),
            login_account: RateLimiter::keyed(Quota::per_minute(nz(
                cfg.login_per_account_per_minute
            ))),
            register_ip: RateLimiter::keyed(Quota::per_hour(nz(cfg.register_per_ip_per_hour))),
            register_account: RateLimiter::keyed(Quota::per_hour(nz(
                cfg.register_per_account_per_hour
            ))),
            forgot_ip: RateLimiter::keyed(Quota::per_hour(nz(cfg.forgot_per_ip_per_hour))),
            forgot_account: RateLimiter::keyed(Quota::per_hour(
                nz(cfg.forgot_per_account_per_hour),
            )),
        }
    }

    /// A sign-in (or a password check) from `ip` against `account` (normalised email or id).
    pub fn login(&self, ip: IpAddr, account: &str) -> Result<(), AppError> {
        self.check(&self.login_ip, &ip)?;
        self.check(&self.login_account, &account.to_owned())
    }

    /// A registration from `ip` for `account` (the normalised email).
    pub fn register(&self, ip: IpAddr, account: &str) -> Result<(), AppError> {
        self.check(&self.register_ip, &ip)?;
        self.check(&self.register_account, &account.to_owned())
    }

    /// A password-reset or verification mail requested from `ip` for `account`.
    pub fn mail_request(&self, ip: IpAddr, account: &str) -> Result<(), AppError> {
        self.check(&self.forgot_ip, &ip)?;
        self.check(&self.forgot_account, &account.to_owned())
    }

    /// Forgets keys whose limits have fully recovered, so memory stays bounded.
    pub fn retain_recent(&self) {
        self.login_ip.retain_recent();
        self.login_account.retain_recent();
        self.register_ip.retain_recent();
        self.register_account.retain_recent();
        self.forgot_ip.retain_recent();
        self.forgot_account.retain_recent();
    }

    fn check<K: Clone + Hash + Eq>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            AppError::too_many_requests(wait.as_secs_f64().ceil() as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_per_key_and_report_retry_after() {
        let limits = RateLimits::new(&RateLimitConfig {
            login_per_ip_per_minute: 100,
            login_per_account_per_minute: 2,
            ..RateLimitConfig::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(limits.login(ip, "a@x.io").is_ok());
        assert!(limits.login(ip, "a@x.io").is_ok());
        let err = limits.login(ip, "a@x.io").expect_err("third is refused");
        assert_eq!(err.status.as_u16(), 429);
        assert!(err.retry_after_secs.is_some_and(|s| (1..=60).contains(&s)));
        assert!(
            limits.login(ip, "b@x.io").is_ok(),
            "another account is unaffected"
        );
    }

    #[test]
    fn disabled_limits_allow_everything() {
        let limits = RateLimits::new(&RateLimitConfig {
            enabled: false,
            register_per_ip_per_hour: 1,
            ..RateLimitConfig::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!((0..10).all(|_| limits.register(ip, "a@x.io").is_ok()));
    }
}
