//! Black-box tests over HTTP against a real server on a random port with a fresh database.
//! One test binary (modules below) keeps link time low.

mod admin_users;
mod analytics;
mod auth_flows;
mod backups;
mod cart;
mod categories;
mod checkout;
mod cli;
#[cfg(feature = "cloudinary")]
mod cloudinary;
mod common;
mod connections;
mod console;
mod conventions;
mod crash;
#[cfg(feature = "mpesa")]
mod daraja;
mod demo;
mod duplicates;
mod hub_delivery;
mod hub_sync;
mod hubs;
mod images;
mod instances;
mod lifecycle;
mod listing;
mod mail;
mod market;
mod merchants;
mod metrics;
mod migrate_data;
mod mpesa;
mod openapi;
mod order_views;
mod passwords;
mod products;
mod profile;
mod rate_limits;
mod refunds;
mod restore;
mod reviews;
#[cfg(feature = "sentry")]
mod sentry;
