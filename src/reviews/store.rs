//! SQL for reviews and the product rating they maintain.

use std::collections::BTreeMap;

use crate::db::{Conn, DbError, Row};
use crate::params;

use super::{ReviewView, Summary, display_name};

const COLUMNS: &str = "r.id, r.product_id, p.name, u.full_name, r.rating, r.comment, r.reply, r.replied_at, \
     r.created_at, r.updated_at";
const FROM: &str =
    "FROM reviews r JOIN products p ON p.id = r.product_id JOIN users u ON u.id = r.customer_id";

fn from_row(r: &Row) -> Result<ReviewView, DbError> {
    let full: String = r.get(3)?;
    Ok(ReviewView {
        id: r.get(0)?,
        product_id: r.get(1)?,
        product_name: r.get(2)?,
        reviewer: display_name(&full),
        rating: r.get(4)?,
        comment: r.get(5)?,
        reply: r.get(6)?,
        replied_at: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// True when the customer received the product (a delivered or later-returned sub-order).
pub fn received(c: &dyn Conn, customer_id: &str, product_id: &str) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM order_items i
             JOIN sub_orders s ON s.id = i.sub_order_id JOIN orders o ON o.id = s.order_id
             WHERE i.product_id = $1 AND o.customer_id = $2 AND s.status IN ('delivered', 'returned')
             LIMIT 1) AS got",
        params![product_id, customer_id],
    )?;
    Ok(n > 0)
}

pub fn find(c: &dyn Conn, id: &str) -> Result<Option<ReviewView>, DbError> {
    c.query_opt(
        &format!("SELECT {COLUMNS} {FROM} WHERE r.id = $1"),
        params![id],
    )?
    .map(|r| from_row(&r))
    .transpose()
}

/// The review's author and the merchant of its product.
pub fn owners(c: &dyn Conn, id: &str) -> Result<Option<(String, String)>, DbError> {
    c.query_opt(
        "SELECT r.customer_id, p.merchant_id FROM reviews r JOIN products p ON p.id = r.product_id WHERE r.id = $1",
        params![id],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .transpose()
}

/// Creates or edits the customer's review of a product; returns its id and whether it is new.
pub fn upsert(
    c: &dyn Conn,
    product_id: &str,
    customer_id: &str,
    rating: i64,
    comment: &str,
    now: i64,
) -> Result<(String, bool), DbError> {
    if let Some(row) = c.query_opt(
        "SELECT id FROM reviews WHERE product_id = $1 AND customer_id = $2",
        params![product_id, customer_id],
    )? {
        let id: String = row.get(0)?;
        c.execute(
            "UPDATE reviews SET rating = $1, comment = $2, updated_at = $3 WHERE id = $4",
            params![rating, comment, now, id.as_str()],
        )?;
        return Ok((id, false));
    }
    let id = crate::ids::new_id();
    c.execute(
        "INSERT INTO reviews (id, product_id, customer_id, rating, comment, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        params![id.as_str(), product_id, customer_id, rating, comment, now],
    )?;
    Ok((id, true))
}

pub fn edit(
    c: &dyn Conn,
    id: &str,
    rating: Option<i64>,
    comment: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE reviews SET rating = COALESCE($1, rating), comment = COALESCE($2, comment), updated_at = $3 WHERE id = $4",
        params![rating, comment, now, id],
    )?;
    Ok(())
}

/// Sets the merchant's reply; false when there already is one.
pub fn reply(c: &dyn Conn, id: &str, text: &str, now: i64) -> Result<bool, DbError> {
    Ok(c.execute(
        "UPDATE reviews SET reply = $1, replied_at = $2 WHERE id = $3 AND reply IS NULL",
        params![text, now, id],
    )? == 1)
}

/// Recomputes the product's rating from its reviews (in the caller's transaction).
pub fn refresh_rating(c: &dyn Conn, product_id: &str) -> Result<(), DbError> {
    c.execute(
        "UPDATE products SET
             rating_count = (SELECT COUNT(*) FROM reviews WHERE product_id = $1),
             rating_avg = COALESCE((SELECT CAST(AVG(rating) AS DOUBLE PRECISION) FROM reviews WHERE product_id = $1), 0)
         WHERE id = $1",
        params![product_id],
    )?;
    Ok(())
}

/// One page of a product's reviews, newest first.
pub fn for_product(
    c: &dyn Conn,
    product_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ReviewView>, i64), DbError> {
    let (rows, total) = c.query_page(
        COLUMNS,
        &format!("{FROM} WHERE r.product_id = $1"),
        "r.created_at DESC, r.id DESC",
        params![product_id],
        limit,
        offset,
    )?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

/// One page of the reviews of a merchant's products, newest first.
pub fn for_merchant(
    c: &dyn Conn,
    merchant_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ReviewView>, i64), DbError> {
    let (rows, total) = c.query_page(
        COLUMNS,
        &format!("{FROM} WHERE p.merchant_id = $1"),
        "r.created_at DESC, r.id DESC",
        params![merchant_id],
        limit,
        offset,
    )?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

pub fn summary(c: &dyn Conn, product_id: &str) -> Result<Summary, DbError> {
    let mut histogram: BTreeMap<String, i64> = (1..=5).map(|s| (s.to_string(), 0)).collect();
    for r in &c.query(
        "SELECT rating, COUNT(*) FROM reviews WHERE product_id = $1 GROUP BY rating",
        params![product_id],
    )? {
        histogram.insert(r.get::<i64>(0)?.to_string(), r.get(1)?);
    }
    let row = c.query_opt(
        "SELECT rating_avg, rating_count FROM products WHERE id = $1",
        params![product_id],
    )?;
    let (rating_avg, rating_count) = match row {
        Some(r) => (r.get(0)?, r.get(1)?),
        None => (0.0, 0),
    };
    Ok(Summary {
        rating_avg,
        rating_count,
        histogram,
    })
}
