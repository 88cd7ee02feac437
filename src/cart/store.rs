//! SQL for cart lines, and the cart as the customer sees it.

use crate::catalog::store as catalog;
use crate::db::{Conn, DbError};
use crate::params;

use super::{CartLine, CartView, line_problem};

/// A raw cart line: (line id, product id, quantity).
pub type Line = (String, String, i64);

pub fn lines(c: &dyn Conn, customer_id: &str) -> Result<Vec<Line>, DbError> {
    c.query(
        "SELECT id, product_id, quantity FROM cart_items WHERE customer_id = $1
         ORDER BY created_at, id",
        params![customer_id],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .collect()
}

pub fn find_line(c: &dyn Conn, id: &str, customer_id: &str) -> Result<Option<Line>, DbError> {
    c.query_opt(
        "SELECT id, product_id, quantity FROM cart_items WHERE id = $1 AND customer_id = $2",
        params![id, customer_id],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .transpose()
}

pub fn line_for_product(
    c: &dyn Conn,
    customer_id: &str,
    product_id: &str,
) -> Result<Option<Line>, DbError> {
    c.query_opt(
        "SELECT id, product_id, quantity FROM cart_items WHERE customer_id = $1 AND product_id = $2",
        params![customer_id, product_id],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .transpose()
}

pub fn insert_line(
    c: &dyn Conn,
    id: &str,
    customer_id: &str,
    product_id: &str,
    quantity: i64,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO cart_items (id, customer_id, product_id, quantity, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
        params![id, customer_id, product_id, quantity, now],
    )?;
    Ok(())
}

pub fn set_quantity(c: &dyn Conn, id: &str, quantity: i64, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE cart_items SET quantity = $1, updated_at = $2 WHERE id = $3",
        params![quantity, now, id],
    )?;
    Ok(())
}

pub fn delete_line(c: &dyn Conn, id: &str, customer_id: &str) -> Result<bool, DbError> {
    Ok(c.execute(
        "DELETE FROM cart_items WHERE id = $1 AND customer_id = $2",
        params![id, customer_id],
    )? == 1)
}

pub fn clear(c: &dyn Conn, customer_id: &str) -> Result<u64, DbError> {
    c.execute(
        "DELETE FROM cart_items WHERE customer_id = $1",
        params![customer_id],
    )
}

/// The cart with live prices and a problem flag on every line that cannot be bought as is.
pub fn view(c: &dyn Conn, customer_id: &str, currency: &str) -> Result<CartView, DbError> {
    let raw = lines(c, customer_id)?;
    let ids: Vec<String> = raw.iter().map(|l| l.1.clone()).collect();
    let mut products = catalog::products_by_ids(c, &ids)?;
    let mut items = Vec::with_capacity(raw.len());
    for (id, product_id, quantity) in raw {
        let Some((product, live)) = products.remove(&product_id) else {
            continue;
        };
        let problem = line_problem(live, product.stock, quantity);
        items.push(CartLine {
            id,
            line_total_cents: product.price_cents * quantity,
            available: problem.is_none(),
            problem,
            quantity,
            product,
        });
    }
    Ok(CartView {
        total_cents: items
            .iter()
            .filter(|l| l.available)
            .map(|l| l.line_total_cents)
            .sum(),
        item_count: items.iter().map(|l| l.quantity).sum(),
        has_problems: items.iter().any(|l| !l.available),
        currency: items
            .first()
            .map_or_else(|| currency.to_owned(), |l| l.product.currency.clone()),
        items,
    })
}
