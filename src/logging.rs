//! Log output: human-readable or JSON lines on stderr, filtered by `log.level`; and, with
//! the `sentry` feature and `sentry.dsn`, error reporting: ERROR events and panics go to
//! Sentry (INFO/WARN events ride along as breadcrumbs).

use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

use crate::config::{Config, LogFormat};

/// Keeps error reporting alive; dropping it flushes reports still queued (up to 2 s).
pub struct Reporting {
    #[cfg(feature = "sentry")]
    _sentry: Option<sentry::ClientInitGuard>,
}

/// Installs the global subscriber (a second call, in tests, is a no-op) and error reporting.
pub fn init(config: &Config) -> Reporting {
    let cfg = &config.log;
    let filter = EnvFilter::try_new(&cfg.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let output = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let output: Box<dyn Layer<Registry> + Send + Sync> = match cfg.format {
        LogFormat::Text => output.with_filter(filter).boxed(),
        LogFormat::Json => output.json().with_filter(filter).boxed(),
    };
    let dsn = config.sentry.dsn.trim();
    #[cfg(feature = "sentry")]
    {
        use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
        use tracing_subscriber::filter::LevelFilter;
        let guard = (!dsn.is_empty()).then(|| {
            let mut options = sentry::ClientOptions::default();
            options.release = sentry::release_name!();
            options.environment = Some(format!("{:?}", config.environment).to_lowercase().into());
            // Config validation has parsed it already; a bad one here reports nothing.
            options.dsn = dsn.parse().ok();
            sentry::init(options)
        });
        let reporting = guard.as_ref().map(|_| {
            ErrorLayer::new()
                .with_filter(LevelFilter::ERROR)
                .and_then(BreadcrumbLayer::new().with_filter(LevelFilter::INFO))
        });
        let _ = tracing_subscriber::registry()
            .with(output)
            .with(reporting)
            .try_init();
        Reporting { _sentry: guard }
    }
    #[cfg(not(feature = "sentry"))]
    {
        let _ = tracing_subscriber::registry().with(output).try_init();
        if !dsn.is_empty() {
            tracing::warn!(
                "sentry.dsn is set but this build has no `sentry` feature: errors are only logged"
            );
        }
        Reporting {}
    }
}
