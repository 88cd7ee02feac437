//! SQL for merchant applications and merchant profiles.

use crate::db::{Conn, DbError, Row};
use crate::params;

use super::{Application, ApplicationStatus, MerchantProfile};

const APPLICATION_COLUMNS: &str = "a.id, a.user_id, u.email, u.full_name, a.business_name, \
     a.business_description, a.phone, a.location, a.status, a.decision_note, a.decided_at, a.created_at";
const APPLICATION_FROM: &str = "FROM merchant_applications a JOIN users u ON u.id = a.user_id";

fn application_from_row(r: &Row) -> Result<Application, DbError> {
    let status: String = r.get(8)?;
    Ok(Application {
        id: r.get(0)?,
        user_id: r.get(1)?,
        applicant_email: r.get(2)?,
        applicant_name: r.get(3)?,
        business_name: r.get(4)?,
        business_description: r.get(5)?,
        phone: r.get(6)?,
        location: r.get(7)?,
        status: ApplicationStatus::parse(&status)
            .ok_or_else(|| DbError::Decode(8, format!("unknown status {status}")))?,
        decision_note: r.get(9)?,
        decided_at: r.get(10)?,
        created_at: r.get(11)?,
    })
}

pub struct NewApplication<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub business_name: &'a str,
    pub business_description: &'a str,
    pub phone: &'a str,
    pub location: &'a str,
    pub now: i64,
}

pub fn insert_application(c: &dyn Conn, a: &NewApplication<'_>) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO merchant_applications (id, user_id, business_name, business_description,
                                            phone, location, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)",
        params![
            a.id,
            a.user_id,
            a.business_name,
            a.business_description,
            a.phone,
            a.location,
            a.now
        ],
    )?;
    Ok(())
}

pub fn has_pending(c: &dyn Conn, user_id: &str) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM merchant_applications WHERE user_id = $1 AND status = 'pending'",
        params![user_id],
    )?;
    Ok(n > 0)
}

pub fn find_application(c: &dyn Conn, id: &str) -> Result<Option<Application>, DbError> {
    c.query_opt(
        &format!("SELECT {APPLICATION_COLUMNS} {APPLICATION_FROM} WHERE a.id = $1"),
        params![id],
    )?
    .map(|r| application_from_row(&r))
    .transpose()
}

pub fn list_for_user(c: &dyn Conn, user_id: &str) -> Result<Vec<Application>, DbError> {
    c.query(
        &format!(
            "SELECT {APPLICATION_COLUMNS} {APPLICATION_FROM} WHERE a.user_id = $1
             ORDER BY a.created_at DESC, a.id DESC"
        ),
        params![user_id],
    )?
    .iter()
    .map(application_from_row)
    .collect()
}

/// Applications, oldest first (a queue), optionally of one status.
pub fn list_applications(
    c: &dyn Conn,
    status: Option<ApplicationStatus>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Application>, i64), DbError> {
    let (rows, total) = c.query_page(
        APPLICATION_COLUMNS,
        &format!("{APPLICATION_FROM} WHERE (CAST($1 AS TEXT) IS NULL OR a.status = $1)"),
        "a.created_at, a.id",
        params![status.map(ApplicationStatus::as_str)],
        limit,
        offset,
    )?;
    let items = rows
        .iter()
        .map(application_from_row)
        .collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// Records a decision on a pending application; false when it was no longer pending.
pub fn decide(
    c: &dyn Conn,
    id: &str,
    status: ApplicationStatus,
    note: Option<&str>,
    admin_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE merchant_applications
         SET status = $1, decision_note = $2, decided_by = $3, decided_at = $4
         WHERE id = $5 AND status = 'pending'",
        params![status.as_str(), note, admin_id, now, id],
    )?;
    Ok(n == 1)
}

/// Creates (or, for a returning merchant, refreshes) the profile from an approved application.
pub fn upsert_merchant_from(c: &dyn Conn, app: &Application, now: i64) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO merchants (id, business_name, business_description, phone, location,
                                application_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (id) DO UPDATE SET
             business_name = excluded.business_name,
             business_description = excluded.business_description,
             phone = excluded.phone,
             location = excluded.location,
             application_id = excluded.application_id,
             updated_at = excluded.updated_at",
        params![
            app.user_id.as_str(),
            app.business_name.as_str(),
            app.business_description.as_str(),
            app.phone.as_str(),
            app.location.as_str(),
            app.id.as_str(),
            now
        ],
    )?;
    Ok(())
}

pub fn find_merchant(c: &dyn Conn, id: &str) -> Result<Option<MerchantProfile>, DbError> {
    c.query_opt(
        "SELECT id, business_name, business_description, phone, location, created_at
         FROM merchants WHERE id = $1",
        params![id],
    )?
    .map(|r| {
        Ok(MerchantProfile {
            id: r.get(0)?,
            business_name: r.get(1)?,
            business_description: r.get(2)?,
            phone: r.get(3)?,
            location: r.get(4)?,
            created_at: r.get(5)?,
        })
    })
    .transpose()
}
