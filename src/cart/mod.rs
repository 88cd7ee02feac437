//! The cart: one per customer, a line per product. Prices are shown live (the current
//! price); a line whose product went inactive or ran short of stock is flagged, never
//! silently dropped. SQL in `store.rs`, handlers in `routes.rs`.

pub mod routes;
pub mod store;

use serde::Serialize;

use crate::catalog::{Product, store as catalog};
use crate::clock::now_ms;
use crate::db::Conn;
use crate::http::AppError;
use crate::ids::{self, new_id};

pub const MAX_QUANTITY: i64 = 1000;

/// Why a cart line cannot be bought as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineProblem {
    /// Deactivated, deleted, or its merchant is no longer active.
    Unavailable,
    OutOfStock,
    /// Fewer units in stock than the line asks for.
    InsufficientStock,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CartLine {
    pub id: String,
    pub product: Product,
    pub quantity: i64,
    pub line_total_cents: i64,
    pub available: bool,
    pub problem: Option<LineProblem>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CartView {
    pub items: Vec<CartLine>,
    /// Sum of the lines that can be bought now.
    pub total_cents: i64,
    pub currency: String,
    pub item_count: i64,
    pub has_problems: bool,
}

/// What is wrong with buying `quantity` of a product, if anything.
pub fn line_problem(live: bool, stock: i64, quantity: i64) -> Option<LineProblem> {
    if !live {
        Some(LineProblem::Unavailable)
    } else if stock == 0 {
        Some(LineProblem::OutOfStock)
    } else if stock < quantity {
        Some(LineProblem::InsufficientStock)
    } else {
        None
    }
}

pub(crate) fn insufficient(available: i64) -> AppError {
    AppError::conflict("insufficient_stock", format!("only {available} in stock"))
}

/// Adds `quantity` (already validated as 1..=MAX_QUANTITY) of a live product to the
/// customer's cart, merging with an existing line; stock and the per-line cap are checked.
/// Runs inside the caller's write transaction.
pub fn add_item(
    c: &dyn Conn,
    customer_id: &str,
    product_id: &str,
    quantity: i64,
) -> Result<(), AppError> {
    let product = if ids::is_valid(product_id) {
        catalog::find_live_product(c, product_id)?
    } else {
        None
    };
    let product = product.ok_or_else(|| AppError::not_found("product"))?;
    let existing = store::line_for_product(c, customer_id, product_id)?;
    let wanted = existing.as_ref().map_or(0, |l| l.2) + quantity;
    if wanted > MAX_QUANTITY {
        return Err(AppError::invalid_field(
            "quantity",
            format!("a line holds at most {MAX_QUANTITY}"),
        ));
    }
    if wanted > product.stock {
        return Err(insufficient(product.stock));
    }
    let now = now_ms();
    match existing {
        Some((id, _, _)) => store::set_quantity(c, &id, wanted, now)?,
        None => store::insert_line(c, &new_id(), customer_id, product_id, wanted, now)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_named() {
        assert_eq!(line_problem(true, 5, 5), None);
        assert_eq!(line_problem(false, 5, 1), Some(LineProblem::Unavailable));
        assert_eq!(line_problem(true, 0, 1), Some(LineProblem::OutOfStock));
        assert_eq!(
            line_problem(true, 2, 3),
            Some(LineProblem::InsufficientStock)
        );
    }
}
