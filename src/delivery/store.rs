//! SQL for hubs.

use crate::db::{Conn, DbError, Row};
use crate::params;

use super::{DeliveryPartner, Hub, StaffMember};

const HUB_COLUMNS: &str = "id, name, location, phone, is_active, created_at, updated_at";

fn hub_from_row(r: &Row) -> Result<Hub, DbError> {
    Ok(Hub {
        id: r.get(0)?,
        name: r.get(1)?,
        location: r.get(2)?,
        phone: r.get(3)?,
        is_active: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

pub fn find_hub(c: &dyn Conn, id: &str) -> Result<Option<Hub>, DbError> {
    c.query_opt(
        &format!("SELECT {HUB_COLUMNS} FROM hubs WHERE id = $1"),
        params![id],
    )?
    .map(|r| hub_from_row(&r))
    .transpose()
}

/// Hubs by name; only active ones unless `all`.
pub fn list_hubs(c: &dyn Conn, all: bool) -> Result<Vec<Hub>, DbError> {
    c.query(
        &format!(
            "SELECT {HUB_COLUMNS} FROM hubs WHERE $1 = 1 OR is_active = 1 ORDER BY lower(name), id"
        ),
        params![all],
    )?
    .iter()
    .map(hub_from_row)
    .collect()
}

pub fn name_taken(c: &dyn Conn, name: &str, except: Option<&str>) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM hubs WHERE lower(name) = lower($1) AND id <> COALESCE($2, '')",
        params![name, except],
    )?;
    Ok(n > 0)
}

pub fn insert_hub(
    c: &dyn Conn,
    id: &str,
    name: &str,
    location: &str,
    phone: &str,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO hubs (id, name, location, phone, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 1, $5, $5)",
        params![id, name, location, phone, now],
    )?;
    Ok(())
}

pub fn update_hub(c: &dyn Conn, hub: &Hub, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE hubs SET name = $1, location = $2, phone = $3, is_active = $4, updated_at = $5
         WHERE id = $6",
        params![
            hub.name.as_str(),
            hub.location.as_str(),
            hub.phone.as_str(),
            hub.is_active,
            now,
            hub.id.as_str()
        ],
    )?;
    Ok(())
}

// ---- staff ----

/// The hub a staff member works at.
pub fn hub_of(c: &dyn Conn, user_id: &str) -> Result<Option<String>, DbError> {
    c.query_opt(
        "SELECT hub_id FROM hub_staff WHERE user_id = $1",
        params![user_id],
    )?
    .map(|r| r.get(0))
    .transpose()
}

/// Assigns `user_id` to `hub_id` (moving them if they were at another hub).
pub fn assign_staff(c: &dyn Conn, user_id: &str, hub_id: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO hub_staff (user_id, hub_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET hub_id = excluded.hub_id, created_at = excluded.created_at",
        params![user_id, hub_id, now],
    )?;
    Ok(())
}

pub fn list_staff(c: &dyn Conn, hub_id: Option<&str>) -> Result<Vec<StaffMember>, DbError> {
    c.query(
        "SELECT s.user_id, u.email, u.full_name, s.hub_id, u.is_active, s.created_at
         FROM hub_staff s JOIN users u ON u.id = s.user_id
         WHERE (CAST($1 AS TEXT) IS NULL OR s.hub_id = $1) AND u.role = 'hub_staff'
         ORDER BY lower(u.full_name), s.user_id",
        params![hub_id],
    )?
    .iter()
    .map(|r| {
        Ok(StaffMember {
            user_id: r.get(0)?,
            email: r.get(1)?,
            full_name: r.get(2)?,
            hub_id: r.get(3)?,
            is_active: r.get(4)?,
            assigned_at: r.get(5)?,
        })
    })
    .collect()
}

// ---- delivery partners ----

const PARTNER_COLUMNS: &str = "id, hub_id, name, phone, vehicle, is_active, created_at, updated_at";

fn partner_from_row(r: &Row) -> Result<DeliveryPartner, DbError> {
    Ok(DeliveryPartner {
        id: r.get(0)?,
        hub_id: r.get(1)?,
        name: r.get(2)?,
        phone: r.get(3)?,
        vehicle: r.get(4)?,
        is_active: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

pub fn find_partner(c: &dyn Conn, id: &str) -> Result<Option<DeliveryPartner>, DbError> {
    c.query_opt(
        &format!("SELECT {PARTNER_COLUMNS} FROM delivery_partners WHERE id = $1"),
        params![id],
    )?
    .map(|r| partner_from_row(&r))
    .transpose()
}

pub fn list_partners(c: &dyn Conn, hub_id: &str) -> Result<Vec<DeliveryPartner>, DbError> {
    c.query(
        &format!("SELECT {PARTNER_COLUMNS} FROM delivery_partners WHERE hub_id = $1 ORDER BY lower(name), id"),
        params![hub_id],
    )?
    .iter()
    .map(partner_from_row)
    .collect()
}

/// True when another rider of the hub already has this phone number.
pub fn partner_phone_taken(
    c: &dyn Conn,
    hub_id: &str,
    phone: &str,
    except: Option<&str>,
) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM delivery_partners WHERE hub_id = $1 AND phone = $2 AND id <> COALESCE($3, '')",
        params![hub_id, phone, except],
    )?;
    Ok(n > 0)
}

pub fn insert_partner(c: &dyn Conn, p: &DeliveryPartner) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO delivery_partners (id, hub_id, name, phone, vehicle, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        params![p.id.as_str(), p.hub_id.as_str(), p.name.as_str(), p.phone.as_str(), p.vehicle.as_deref(), p.is_active, p.created_at],
    )?;
    Ok(())
}

pub fn update_partner(c: &dyn Conn, p: &DeliveryPartner, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE delivery_partners SET name = $1, phone = $2, vehicle = $3, is_active = $4, updated_at = $5
         WHERE id = $6",
        params![p.name.as_str(), p.phone.as_str(), p.vehicle.as_deref(), p.is_active, now, p.id.as_str()],
    )?;
    Ok(())
}
