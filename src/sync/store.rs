//! SQL of hub sync: the node row (identity and cursors), the hub's own change log, the
//! centre's per-hub change log, sync tokens, peers and conflicts.

use serde::Serialize;

use crate::clock::serde_rfc3339;
use crate::db::{Conn, DbError, Row};
use crate::ids::new_id;
use crate::params;

/// The single `sync_node` row.
#[derive(Debug, Clone)]
pub struct Node {
    pub node_id: String,
    pub mode: String,
    pub hub_id: Option<String>,
    pub upstream_url: Option<String>,
    pub upstream_token: Option<String>,
    pub upstream_node_id: Option<String>,
    pub pulled_upto: i64,
    pub pushed_upto: i64,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
}

pub fn node(c: &dyn Conn) -> Result<Option<Node>, DbError> {
    c.query_opt(
        "SELECT node_id, mode, hub_id, upstream_url, upstream_token, upstream_node_id, pulled_upto,
                pushed_upto, last_attempt_at, last_success_at, last_error
         FROM sync_node WHERE id = 1",
        params![],
    )?
    .map(|r| {
        Ok(Node {
            node_id: r.get(0)?,
            mode: r.get(1)?,
            hub_id: r.get(2)?,
            upstream_url: r.get(3)?,
            upstream_token: r.get(4)?,
            upstream_node_id: r.get(5)?,
            pulled_upto: r.get(6)?,
            pushed_upto: r.get(7)?,
            last_attempt_at: r.get(8)?,
            last_success_at: r.get(9)?,
            last_error: r.get(10)?,
        })
    })
    .transpose()
}

/// Creates the node row with a fresh node id (no-op when it exists).
pub fn init_node(c: &dyn Conn, mode: &str) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO sync_node (id, node_id, mode, created_at) VALUES (1, $1, $2, $3)
         ON CONFLICT (id) DO NOTHING",
        params![new_id(), mode, crate::clock::now_ms()],
    )?;
    Ok(())
}

/// Makes this database a hub node of `hub_id` syncing with `url` (the node id is kept when it
/// already was one, so its logged changes keep their identity). Both cursors are kept: a
/// re-join with a new token continues where the hub was (and receives the snapshot logged
/// with the token); a centre whose log is not the one followed is detected at the next pull.
pub fn join_as_hub(c: &dyn Conn, hub_id: &str, url: &str, token: &str) -> Result<(), DbError> {
    init_node(c, "hub")?;
    c.execute(
        "UPDATE sync_node SET mode = 'hub', hub_id = $1, upstream_url = $2, upstream_token = $3,
                last_error = NULL WHERE id = 1",
        params![hub_id, url, token],
    )?;
    Ok(())
}

pub fn set_pulled(c: &dyn Conn, upto: i64, upstream_node: &str) -> Result<(), DbError> {
    c.execute(
        "UPDATE sync_node SET pulled_upto = $1, upstream_node_id = $2 WHERE id = 1",
        params![upto, upstream_node],
    )?;
    Ok(())
}

pub fn set_pushed(c: &dyn Conn, upto: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE sync_node SET pushed_upto = $1 WHERE id = 1",
        params![upto],
    )?;
    Ok(())
}

/// Records the outcome of a sync round (`error` None: success).
pub fn record_round(c: &dyn Conn, now: i64, error: Option<&str>) -> Result<(), DbError> {
    c.execute(
        "UPDATE sync_node SET last_attempt_at = $1,
                last_success_at = CASE WHEN CAST($2 AS TEXT) IS NULL THEN $1 ELSE last_success_at END,
                last_error = $2
         WHERE id = 1",
        params![now, error],
    )?;
    Ok(())
}

// ---- the hub's own log ----

/// Appends one of this node's changes; returns its sequence number.
pub fn append(c: &dyn Conn, kind: &str, entity_id: &str, payload: &str) -> Result<i64, DbError> {
    c.execute(
        "INSERT INTO sync_log (kind, entity_id, payload, created_at) VALUES ($1, $2, $3, $4)",
        params![kind, entity_id, payload, crate::clock::now_ms()],
    )?;
    c.query_scalar("SELECT MAX(seq) FROM sync_log", params![])
}

/// Logged changes after `after`, oldest first: `(seq, kind, payload)`.
pub fn log_after(
    c: &dyn Conn,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, String, String)>, DbError> {
    c.query(
        "SELECT seq, kind, payload FROM sync_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        params![after, limit],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .collect()
}

pub fn log_count_after(c: &dyn Conn, after: i64) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT COUNT(*) FROM sync_log WHERE seq > $1",
        params![after],
    )
}

/// True when a logged change to `entity_id` has not been acknowledged by the centre yet.
pub fn unsent_change_to(c: &dyn Conn, entity_id: &str) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM sync_log WHERE entity_id = $1
           AND seq > (SELECT pushed_upto FROM sync_node WHERE id = 1)",
        params![entity_id],
    )?;
    Ok(n > 0)
}

// ---- the centre's per-hub log ----

/// `(seq, kind, entity_id)` of the hub's changes after `after`, oldest first.
pub fn outbox_after(
    c: &dyn Conn,
    hub_id: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, String, String)>, DbError> {
    c.query(
        "SELECT seq, kind, entity_id FROM sync_outbox WHERE hub_id = $1 AND seq > $2
         ORDER BY seq LIMIT $3",
        params![hub_id, after, limit],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .collect()
}

pub fn outbox_note(c: &dyn Conn, hub_id: &str, kind: &str, entity_id: &str) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO sync_outbox (hub_id, kind, entity_id) VALUES ($1, $2, $3)",
        params![hub_id, kind, entity_id],
    )?;
    Ok(())
}

pub fn outbox_head(c: &dyn Conn) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM sync_outbox",
        params![],
    )
}

// ---- tokens and peers (centre) ----

/// Replaces the hub's token; returns the outbox position before the hub's snapshot.
pub fn put_token(
    c: &dyn Conn,
    hub_id: &str,
    token_hash: &str,
    base_seq: i64,
    by: &str,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO hub_sync_tokens (hub_id, token_hash, base_seq, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (hub_id) DO UPDATE SET token_hash = excluded.token_hash,
             base_seq = excluded.base_seq, created_by = excluded.created_by,
             created_at = excluded.created_at, last_used_at = NULL",
        params![hub_id, token_hash, base_seq, by, now],
    )?;
    Ok(())
}

/// The hub a token belongs to, with its base position.
pub fn token_hub(c: &dyn Conn, token_hash: &str) -> Result<Option<(String, i64)>, DbError> {
    c.query_opt(
        "SELECT hub_id, base_seq FROM hub_sync_tokens WHERE token_hash = $1",
        params![token_hash],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .transpose()
}

pub fn touch_token(c: &dyn Conn, hub_id: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE hub_sync_tokens SET last_used_at = $1 WHERE hub_id = $2",
        params![now, hub_id],
    )?;
    Ok(())
}

/// When the centre last heard from the hub (any sync request), if ever.
pub fn last_contact(c: &dyn Conn, hub_id: &str) -> Result<Option<i64>, DbError> {
    Ok(c.query_opt(
        "SELECT last_used_at FROM hub_sync_tokens WHERE hub_id = $1",
        params![hub_id],
    )?
    .map(|r| r.get::<Option<i64>>(0))
    .transpose()?
    .flatten())
}

/// `(hub_id, acked_upto)` of a hub node the centre has heard from.
pub fn peer(c: &dyn Conn, node_id: &str) -> Result<Option<(String, i64)>, DbError> {
    c.query_opt(
        "SELECT hub_id, acked_upto FROM sync_peers WHERE node_id = $1",
        params![node_id],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .transpose()
}

pub fn put_peer(
    c: &dyn Conn,
    node_id: &str,
    hub_id: &str,
    acked: i64,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO sync_peers (node_id, hub_id, acked_upto, last_push_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (node_id) DO UPDATE SET acked_upto = excluded.acked_upto,
             last_push_at = excluded.last_push_at",
        params![node_id, hub_id, acked, now],
    )?;
    Ok(())
}

// ---- conflicts ----

/// A disagreement found while merging, as admins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conflict {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub hub_id: String,
    /// What disagreed: `status` (a parcel), `cash` (a payment) or `partner` (a rider).
    #[schema(example = "status")]
    pub kind: String,
    /// The sub-order, order or rider concerned.
    #[schema(format = Uuid)]
    pub entity_id: String,
    #[schema(
        example = "the centre cancelled a parcel the hub had received (at_hub); cancelled is kept"
    )]
    pub summary: String,
    /// The state kept where the conflict was found.
    #[schema(example = "cancelled")]
    pub local: String,
    /// The other side's claim.
    #[schema(example = "at_hub")]
    pub remote: String,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// Records a conflict once per `dedupe_key`; true when it is new.
#[allow(clippy::too_many_arguments)]
pub fn record_conflict(
    c: &dyn Conn,
    dedupe_key: &str,
    hub_id: &str,
    kind: &str,
    entity_id: &str,
    summary: &str,
    local: &str,
    remote: &str,
) -> Result<bool, DbError> {
    let n = c.execute(
        "INSERT INTO sync_conflicts (id, dedupe_key, hub_id, kind, entity_id, summary, local_state,
                                     remote_state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING",
        params![
            new_id(),
            dedupe_key,
            hub_id,
            kind,
            entity_id,
            summary,
            local,
            remote,
            crate::clock::now_ms()
        ],
    )?;
    Ok(n == 1)
}

fn conflict_from_row(r: &Row) -> Result<Conflict, DbError> {
    Ok(Conflict {
        id: r.get(0)?,
        hub_id: r.get(1)?,
        kind: r.get(2)?,
        entity_id: r.get(3)?,
        summary: r.get(4)?,
        local: r.get(5)?,
        remote: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// Newest first, optionally of one hub.
pub fn conflicts(
    c: &dyn Conn,
    hub_id: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Conflict>, i64), DbError> {
    let (rows, total) = c.query_page(
        "id, hub_id, kind, entity_id, summary, local_state, remote_state, created_at",
        "FROM sync_conflicts WHERE (CAST($1 AS TEXT) IS NULL OR hub_id = $1)",
        "created_at DESC, id DESC",
        params![hub_id],
        limit,
        offset,
    )?;
    Ok((
        rows.iter()
            .map(conflict_from_row)
            .collect::<Result<_, _>>()?,
        total,
    ))
}
