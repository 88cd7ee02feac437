//! SQL for hubs.

use crate::db::{Conn, DbError, Row};
use crate::params;

use super::Hub;

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
