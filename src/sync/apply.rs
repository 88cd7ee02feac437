//! Writes both sides make when applying the other's changes: riders (last change wins),
//! history entries (inserted once by id), a sub-order's merged status and rider, and the
//! reading of a sub-order's history for the wire.

use crate::db::{Conn, DbError};
use crate::delivery::store as delivery;
use crate::params;

use super::merge;
use super::records::{EventRec, PartnerRec};

/// What applying one change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    Unchanged,
    /// A conflict was recorded now (a replay of it is `Unchanged`).
    Conflict,
}

impl Outcome {
    /// A conflict just recorded, or (recorded before: a replay) nothing new.
    pub fn recorded(new: bool) -> Outcome {
        if new {
            Outcome::Conflict
        } else {
            Outcome::Unchanged
        }
    }

    pub fn or_changed(self, changed: bool) -> Outcome {
        if changed && self == Outcome::Unchanged {
            Outcome::Changed
        } else {
            self
        }
    }
}

/// Inserts or updates a rider when `rec` is newer than what is stored. `Err(phone)` when
/// another rider of the hub already has the phone number (the caller records a conflict).
pub fn put_partner(c: &dyn Conn, rec: &PartnerRec) -> Result<Result<bool, String>, DbError> {
    let current = delivery::find_partner(c, &rec.id)?;
    if let Some(p) = &current
        && !merge::newer(rec.updated_at, p.updated_at)
    {
        return Ok(Ok(false));
    }
    if delivery::partner_phone_taken(c, &rec.hub_id, &rec.phone, Some(&rec.id))? {
        return Ok(Err(rec.phone.clone()));
    }
    if current.is_some() {
        c.execute(
            "UPDATE delivery_partners SET name = $1, phone = $2, vehicle = $3, is_active = $4,
                    updated_at = $5 WHERE id = $6",
            params![
                rec.name.as_str(),
                rec.phone.as_str(),
                rec.vehicle.as_deref(),
                rec.is_active,
                rec.updated_at,
                rec.id.as_str()
            ],
        )?;
    } else {
        c.execute(
            "INSERT INTO delivery_partners (id, hub_id, name, phone, vehicle, is_active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params![
                rec.id.as_str(),
                rec.hub_id.as_str(),
                rec.name.as_str(),
                rec.phone.as_str(),
                rec.vehicle.as_deref(),
                rec.is_active,
                rec.created_at,
                rec.updated_at
            ],
        )?;
    }
    Ok(Ok(true))
}

/// Inserts the history entries not stored yet; returns how many were new. An actor unknown
/// here is stored as `NULL` (the entry keeps its role).
pub fn put_events(c: &dyn Conn, events: &[EventRec]) -> Result<u64, DbError> {
    let mut added = 0;
    for e in events {
        let actor = match &e.actor_id {
            Some(a) => {
                let n: i64 =
                    c.query_scalar("SELECT COUNT(*) FROM users WHERE id = $1", params![a])?;
                (n > 0).then_some(a.as_str())
            }
            None => None,
        };
        added += c.execute(
            "INSERT INTO sub_order_events (id, sub_order_id, from_status, to_status, actor_id,
                                           actor_role, note, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            params![
                e.id.as_str(),
                e.sub_order_id.as_str(),
                e.from_status.as_deref(),
                e.to_status.as_str(),
                actor,
                e.actor_role.as_str(),
                e.note.as_deref(),
                e.created_at
            ],
        )?;
    }
    Ok(added)
}

/// A sub-order's history, oldest first.
pub fn events_of(c: &dyn Conn, sub_order_id: &str) -> Result<Vec<EventRec>, DbError> {
    c.query(
        "SELECT id, sub_order_id, from_status, to_status, actor_id, actor_role, note, created_at
         FROM sub_order_events WHERE sub_order_id = $1 ORDER BY created_at, id",
        params![sub_order_id],
    )?
    .iter()
    .map(|r| {
        Ok(EventRec {
            id: r.get(0)?,
            sub_order_id: r.get(1)?,
            from_status: r.get(2)?,
            to_status: r.get(3)?,
            actor_id: r.get(4)?,
            actor_role: r.get(5)?,
            note: r.get(6)?,
            created_at: r.get(7)?,
        })
    })
    .collect()
}

/// Stores a merged status and rider; `delivered_at` is set when it first becomes delivered
/// (to when the hub delivered it, if known, not when the centre heard of it).
pub fn set_sub(
    c: &dyn Conn,
    id: &str,
    status: &str,
    rider: Option<&str>,
    delivered_at: Option<i64>,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE sub_orders SET status = $1, delivery_partner_id = $2, updated_at = $3,
                delivered_at = CASE WHEN $1 = 'delivered' AND delivered_at IS NULL
                                    THEN COALESCE(CAST($5 AS BIGINT), $3) ELSE delivered_at END
         WHERE id = $4",
        params![status, rider, now, id, delivered_at],
    )?;
    Ok(())
}

/// True when `rider` is a rider of `hub_id` known here.
pub fn rider_of_hub(c: &dyn Conn, rider: &str, hub_id: &str) -> Result<bool, DbError> {
    Ok(delivery::find_partner(c, rider)?.is_some_and(|p| p.hub_id == hub_id))
}
