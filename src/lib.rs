//! MarketHub: a multi-vendor marketplace backend in one binary.
//!
//! The library holds everything; `main.rs` only parses the command line. [`app`] builds the
//! HTTP router from the shared [`state::AppState`]; [`server`] runs it.

pub mod analytics;
pub mod auth;
pub mod backups;
pub mod cart;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod logging;
pub mod mail;
pub mod merchants;
pub mod metrics;
pub mod money;
pub mod orders;
pub mod payments;
pub mod refunds;
pub mod reviews;
pub mod server;
pub mod signing;
pub mod state;
pub mod sync;
pub mod text;

use axum::Router;

use state::AppState;

/// The complete HTTP application: `/api/v1` routes, health, embedded assets, fallbacks
/// and the middleware stack.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .merge(auth::routes::router())
        .merge(auth::profile_routes::router())
        .merge(auth::admin_routes::router())
        .merge(mail::routes::router())
        .merge(catalog::routes::router(&state))
        .merge(catalog::admin_routes::router())
        .merge(merchants::routes::router())
        .merge(delivery::routes::router())
        .merge(delivery::hub_routes::router())
        .merge(cart::routes::router())
        .merge(orders::routes::router())
        .merge(orders::merchant_routes::router())
        .merge(orders::admin_routes::router())
        .merge(payments::routes::router())
        .merge(refunds::routes::router(&state))
        .merge(reviews::routes::router())
        .merge(analytics::routes::router())
        .merge(backups::routes::router())
        .merge(sync::routes::router())
        .route("/openapi.json", axum::routing::get(http::openapi::serve))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            sync::routes::hub_guard,
        ));
    let router = Router::new()
        .nest("/api/v1", api)
        .merge(http::health::router())
        .route("/metrics", axum::routing::get(metrics::render))
        .merge(catalog::images::media_router())
        .merge(http::assets::router())
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state.clone());
    http::layers::apply(router, &state.config)
}
