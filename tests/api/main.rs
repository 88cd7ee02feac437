//! Black-box tests over HTTP against a real server on a random port with a fresh database.
//! One test binary (modules below) keeps link time low.

mod admin_users;
mod auth_flows;
mod cli;
mod common;
mod conventions;
mod mail;
mod passwords;
mod profile;
mod rate_limits;
