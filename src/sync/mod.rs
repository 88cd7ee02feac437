//! Offline hub instances and their sync with the centre (see docs/HUBS.md).
//!
//! A hub runs its own `markethub` in hub mode with a local copy of what it needs: its
//! sub-orders (with items, customer name, phone, address and amount due), its staff (so they
//! log in locally), its riders. Both sides keep an append-only change log with a per-node
//! sequence: the hub logs its own changes with their content (`sync_log`, written beside the
//! change in the same transaction); the centre's triggers log which entity changed for which
//! hub (`sync_outbox`), and a pull sends the entity's current state. The hub pushes its log
//! and pulls the centre's, in batches, each applied in one transaction together with the
//! cursor, so a restart on either side resumes where it stopped and a replayed batch changes
//! nothing (the merge rules in `merge.rs` are idempotent).
//!
//! Ownership: the hub owns delivery progress (from receiving a parcel on), rider assignment,
//! its riders and cash collection; the centre owns everything else.
//!
//! - `merge.rs`: the pure merge rules; `records.rs`: what travels on the wire;
//! - `apply.rs`: writes both sides make (riders, history entries, merged statuses);
//! - `store.rs`: the node row, logs, tokens, peers and conflicts;
//! - `centre.rs`: building pulls and applying pushes on the centre;
//! - `mirror.rs`: applying pulls and logging local changes on a hub;
//! - `client.rs`: the hub's sync round, background job and `hub join`;
//! - `routes.rs`: the HTTP API.

pub mod apply;
pub mod centre;
pub mod client;
pub mod merge;
pub mod mirror;
pub mod records;
pub mod routes;
pub mod store;

use crate::config::Config;
use crate::db::{Conn, DbError};

/// What this instance is, decided once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Central,
    Hub(HubIdentity),
}

/// A hub instance's identity and upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubIdentity {
    pub node_id: String,
    pub hub_id: String,
    pub upstream_url: String,
    pub upstream_token: String,
}

impl Role {
    pub fn is_hub(&self) -> bool {
        matches!(self, Role::Hub(_))
    }
}

/// Decides the role from the configuration and what `hub join` stored, and records it (a new
/// node gets its node id here). Errors name what to fix.
pub fn resolve_role(c: &dyn Conn, config: &Config) -> Result<Role, String> {
    let db = |e: DbError| format!("reading the sync identity: {e}");
    let node = store::node(c).map_err(db)?;
    let joined = node.as_ref().filter(|n| n.mode == "hub");
    let hub = match config.mode.as_str() {
        "hub" => true,
        "central" => {
            if let Some(n) = joined {
                return Err(format!(
                    "mode = \"central\", but this database was joined as hub {} with `markethub hub join`; \
                     use a fresh data directory for a central instance",
                    n.hub_id.as_deref().unwrap_or("?")
                ));
            }
            false
        }
        _ => joined.is_some(),
    };
    if !hub {
        if node.is_none() {
            store::init_node(c, "central").map_err(db)?;
        }
        return Ok(Role::Central);
    }
    let pick = |configured: &str, stored: Option<&String>| {
        if configured.is_empty() {
            stored.cloned().unwrap_or_default()
        } else {
            configured.to_owned()
        }
    };
    let hub_id = pick(&config.hub_id, joined.and_then(|n| n.hub_id.as_ref()));
    let identity = HubIdentity {
        node_id: joined.map(|n| n.node_id.clone()).unwrap_or_default(),
        upstream_url: pick(
            &config.upstream.url,
            joined.and_then(|n| n.upstream_url.as_ref()),
        ),
        upstream_token: pick(
            &config.upstream.token,
            joined.and_then(|n| n.upstream_token.as_ref()),
        ),
        hub_id,
    };
    if c.dialect() != crate::db::Dialect::Sqlite {
        return Err(client::HUB_NEEDS_SQLITE.into());
    }
    if identity.node_id.is_empty() {
        return Err(
            "mode = \"hub\", but this data directory has not joined a hub: run \
             `markethub hub join --upstream URL --token T` first"
                .into(),
        );
    }
    if let Some(stored) = joined.and_then(|n| n.hub_id.as_deref())
        && stored != identity.hub_id
    {
        return Err(format!(
            "hub_id = {:?}, but this data directory joined hub {stored}",
            identity.hub_id
        ));
    }
    if identity.upstream_url.is_empty() || identity.upstream_token.is_empty() {
        return Err(
            "hub mode needs upstream.url and upstream.token (or `markethub hub join`)".into(),
        );
    }
    Ok(Role::Hub(identity))
}
