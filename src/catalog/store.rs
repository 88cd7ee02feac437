//! SQL for categories, products and product images.

use std::collections::HashMap;
use std::sync::Arc;

use crate::db::{Conn, DbError, Dialect, Row, Value, placeholders};
use crate::params;

use super::listing_cache::{ListingCache, RANKS, Ranking};
use super::{Category, ImageRef, MerchantRef, Product, ProductFilter, Sort};

/// Totals of the public listing are exact up to this many rows, then reported as a floor.
pub const COUNT_CAP: i64 = 10_000;

// ---- categories ----

const CATEGORY_COLUMNS: &str = "id, name, parent_id, created_at, updated_at";

fn category_from_row(r: &Row) -> Result<Category, DbError> {
    Ok(Category {
        id: r.get(0)?,
        name: r.get(1)?,
        parent_id: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

pub fn list_categories(c: &dyn Conn) -> Result<Vec<Category>, DbError> {
    c.query(
        &format!("SELECT {CATEGORY_COLUMNS} FROM categories ORDER BY lower(name), id"),
        params![],
    )?
    .iter()
    .map(category_from_row)
    .collect()
}

pub fn find_category(c: &dyn Conn, id: &str) -> Result<Option<Category>, DbError> {
    c.query_opt(
        &format!("SELECT {CATEGORY_COLUMNS} FROM categories WHERE id = $1"),
        params![id],
    )?
    .map(|r| category_from_row(&r))
    .transpose()
}

/// True when a sibling (same parent) other than `except` already has this name.
pub fn sibling_name_taken(
    c: &dyn Conn,
    parent_id: Option<&str>,
    name: &str,
    except: Option<&str>,
) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM categories
         WHERE COALESCE(parent_id, '') = COALESCE($1, '') AND lower(name) = lower($2)
           AND id <> COALESCE($3, '')",
        params![parent_id, name, except],
    )?;
    Ok(n > 0)
}

/// How many levels `id` sits below the top (a top-level category is at depth 1).
pub fn category_depth(c: &dyn Conn, id: &str) -> Result<i64, DbError> {
    c.query_scalar(
        "WITH RECURSIVE up(id, parent_id, depth) AS (
             SELECT id, parent_id, 1 FROM categories WHERE id = $1
             UNION ALL
             SELECT c.id, c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.id = up.parent_id
             WHERE up.depth < 64)
         SELECT COALESCE(MAX(depth), 0) FROM up",
        params![id],
    )
}

/// Height of the subtree rooted at `id` (a leaf has height 1).
pub fn subtree_height(c: &dyn Conn, id: &str) -> Result<i64, DbError> {
    c.query_scalar(
        "WITH RECURSIVE down(id, depth) AS (
             SELECT id, 1 FROM categories WHERE id = $1
             UNION ALL
             SELECT c.id, down.depth + 1 FROM categories c JOIN down ON c.parent_id = down.id
             WHERE down.depth < 64)
         SELECT COALESCE(MAX(depth), 0) FROM down",
        params![id],
    )
}

/// True when `candidate` is `id` itself or one of its descendants.
pub fn is_in_subtree(c: &dyn Conn, id: &str, candidate: &str) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "WITH RECURSIVE down(id) AS (
             SELECT id FROM categories WHERE id = $1
             UNION
             SELECT c.id FROM categories c JOIN down ON c.parent_id = down.id)
         SELECT COUNT(*) FROM down WHERE id = $2",
        params![id, candidate],
    )?;
    Ok(n > 0)
}

pub fn insert_category(
    c: &dyn Conn,
    id: &str,
    name: &str,
    parent_id: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO categories (id, name, parent_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4)",
        params![id, name, parent_id, now],
    )?;
    Ok(())
}

pub fn update_category(
    c: &dyn Conn,
    id: &str,
    name: &str,
    parent_id: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE categories SET name = $1, parent_id = $2, updated_at = $3 WHERE id = $4",
        params![name, parent_id, now, id],
    )?;
    Ok(())
}

/// Products (live or not) and direct sub-categories that reference a category.
pub fn category_usage(c: &dyn Conn, id: &str) -> Result<(i64, i64), DbError> {
    let products = c.query_scalar(
        "SELECT COUNT(*) FROM products WHERE category_id = $1",
        params![id],
    )?;
    let children = c.query_scalar(
        "SELECT COUNT(*) FROM categories WHERE parent_id = $1",
        params![id],
    )?;
    Ok((products, children))
}

/// Moves the products and sub-categories of `from` to `to`.
pub fn reassign_category(c: &dyn Conn, from: &str, to: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE products SET category_id = $1, updated_at = $2 WHERE category_id = $3",
        params![to, now, from],
    )?;
    c.execute(
        "UPDATE categories SET parent_id = $1, updated_at = $2 WHERE parent_id = $3",
        params![to, now, from],
    )?;
    Ok(())
}

pub fn delete_category(c: &dyn Conn, id: &str) -> Result<bool, DbError> {
    Ok(c.execute("DELETE FROM categories WHERE id = $1", params![id])? == 1)
}

// ---- products ----

/// How many columns [`PRODUCT_COLUMNS`] selects.
const PRODUCT_COLUMN_COUNT: usize = 14;
/// The merchant's name comes from a correlated lookup rather than a join, so the planner
/// always drives the query from `products` (and its listing indexes).
const PRODUCT_COLUMNS: &str = "p.id, p.name, p.description, p.price_cents, p.currency, p.stock, \
     p.category_id, p.merchant_id, \
     COALESCE((SELECT m.business_name FROM merchants m WHERE m.id = p.merchant_id), ''), \
     p.is_active, p.rating_avg, p.rating_count, p.created_at, p.updated_at";

/// A product is public when it is active, not deleted, and its owner is an active merchant
/// (`merchant_active`, kept in step with the user by a trigger). These are exactly the
/// conditions of the partial listing indexes.
const LIVE: &str = "p.is_active = 1 AND p.deleted_at IS NULL AND p.merchant_active = 1";

fn product_from_row(r: &Row) -> Result<Product, DbError> {
    let stock: i64 = r.get(5)?;
    let merchant_id: String = r.get(7)?;
    Ok(Product {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        price_cents: r.get(3)?,
        currency: r.get(4)?,
        stock,
        in_stock: stock > 0,
        category_id: r.get(6)?,
        merchant: MerchantRef {
            id: merchant_id.clone(),
            business_name: r.get(8)?,
        },
        merchant_id,
        is_active: r.get(9)?,
        images: Vec::new(),
        rating_avg: r.get(10)?,
        rating_count: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

/// Fills in the images of `products` with one query.
fn attach_images(c: &dyn Conn, products: &mut [Product]) -> Result<(), DbError> {
    if products.is_empty() {
        return Ok(());
    }
    let ids: Vec<Value> = products.iter().map(|p| p.id.as_str().into()).collect();
    let rows = c.query(
        &format!(
            "SELECT product_id, id, url FROM product_images WHERE product_id IN ({})
             ORDER BY product_id, position, id",
            placeholders(1, ids.len())
        ),
        &ids,
    )?;
    let mut by_product: HashMap<String, Vec<ImageRef>> = HashMap::new();
    for r in &rows {
        by_product.entry(r.get(0)?).or_default().push(ImageRef {
            id: r.get(1)?,
            url: r.get(2)?,
        });
    }
    for p in products.iter_mut() {
        p.images = by_product.remove(&p.id).unwrap_or_default();
    }
    Ok(())
}

/// A public (live) product.
pub fn find_live_product(c: &dyn Conn, id: &str) -> Result<Option<Product>, DbError> {
    let row = c.query_opt(
        &format!("SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = $1 AND {LIVE}"),
        params![id],
    )?;
    with_images(c, row)
}

/// A merchant's own product in any state except deleted.
pub fn find_own_product(
    c: &dyn Conn,
    id: &str,
    merchant_id: &str,
) -> Result<Option<Product>, DbError> {
    let row = c.query_opt(
        &format!(
            "SELECT {PRODUCT_COLUMNS} FROM products p
             WHERE p.id = $1 AND p.merchant_id = $2 AND p.deleted_at IS NULL"
        ),
        params![id, merchant_id],
    )?;
    with_images(c, row)
}

fn with_images(c: &dyn Conn, row: Option<Row>) -> Result<Option<Product>, DbError> {
    let Some(row) = row else { return Ok(None) };
    let mut products = [product_from_row(&row)?];
    attach_images(c, &mut products)?;
    let [product] = products;
    Ok(Some(product))
}

/// Products by id in any state, each with whether it is public (live) now: for carts,
/// which must show a product that went away instead of dropping it.
pub fn products_by_ids(
    c: &dyn Conn,
    ids: &[String],
) -> Result<HashMap<String, (Product, bool)>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let args: Vec<Value> = ids.iter().map(|id| id.as_str().into()).collect();
    let rows = c.query(
        &format!(
            "SELECT {PRODUCT_COLUMNS}, CASE WHEN {LIVE} THEN 1 ELSE 0 END
             FROM products p WHERE p.id IN ({})",
            placeholders(1, args.len())
        ),
        &args,
    )?;
    let mut products = Vec::with_capacity(rows.len());
    let mut live = Vec::with_capacity(rows.len());
    for r in &rows {
        products.push(product_from_row(r)?);
        live.push(r.get::<bool>(14)?);
    }
    attach_images(c, &mut products)?;
    Ok(products
        .into_iter()
        .zip(live)
        .map(|(p, l)| (p.id.clone(), (p, l)))
        .collect())
}

/// The merchant's own products, newest first, in every state except deleted.
pub fn list_own_products(
    c: &dyn Conn,
    merchant_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Product>, i64), DbError> {
    let (rows, total) = c.query_page(
        PRODUCT_COLUMNS,
        "FROM products p WHERE p.merchant_id = $1 AND p.deleted_at IS NULL",
        "p.created_at DESC, p.id DESC",
        params![merchant_id],
        limit,
        offset,
    )?;
    let mut products = rows
        .iter()
        .map(product_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    attach_images(c, &mut products)?;
    Ok((products, total))
}

/// The ranking of a filtered listing or search, from the cache or computed (and cached) at
/// the current catalog generation.
fn ranking(
    c: &dyn Conn,
    cache: &ListingCache,
    f: &ProductFilter,
    from_where: &str,
    order: &str,
    args: &[Value],
) -> Result<Arc<Ranking>, DbError> {
    let generation: i64 = c.query_scalar("SELECT n FROM catalog_generation WHERE id = 1", &[])?;
    let key = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{order}",
        f.text, f.category_id, f.merchant_id, f.min_price_cents, f.max_price_cents
    );
    if let Some(hit) = cache.get(generation, &key) {
        return Ok(hit);
    }
    let keys = c
        .query(
            &format!("SELECT p.pk {from_where} ORDER BY {order} LIMIT {RANKS}"),
            args,
        )?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<Vec<i64>, _>>()?;
    let (total, exact) = if keys.len() < RANKS {
        (i64::try_from(keys.len()).unwrap_or(i64::MAX), true)
    } else {
        c.count_capped(from_where, args, COUNT_CAP)?
    };
    let ranking = Arc::new(Ranking { keys, total, exact });
    cache.put(generation, key, ranking.clone());
    Ok(ranking)
}

/// The live products with these row keys, in the order given (rows that stopped being live
/// since the ranking was made are left out).
fn rows_by_keys(c: &dyn Conn, keys: &[i64]) -> Result<Vec<Row>, DbError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let args: Vec<Value> = keys.iter().map(|k| Value::from(*k)).collect();
    let rows = c.query(
        &format!(
            "SELECT {PRODUCT_COLUMNS}, p.pk FROM products p WHERE p.pk IN ({}) AND {LIVE}",
            placeholders(1, args.len())
        ),
        &args,
    )?;
    let mut by_key: HashMap<i64, Row> = HashMap::with_capacity(rows.len());
    for row in rows {
        by_key.insert(row.get(PRODUCT_COLUMN_COUNT)?, row);
    }
    Ok(keys.iter().filter_map(|k| by_key.remove(k)).collect())
}

/// A listing's total and whether it is exact.
pub type Total = (i64, bool);

/// Live products in the whole shop, or in a category and its subcategories.
fn live_count(c: &dyn Conn, category_id: Option<&str>) -> Result<i64, DbError> {
    match category_id {
        None => c.query_scalar(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM product_live_counts",
            &[],
        ),
        Some(cat) => c.query_scalar(
            "WITH RECURSIVE sub(id) AS (
                 SELECT id FROM categories WHERE id = $1
                 UNION SELECT c.id FROM categories c JOIN sub ON c.parent_id = sub.id)
             SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM product_live_counts
             WHERE category_id IN (SELECT id FROM sub)",
            params![cat],
        ),
    }
}

/// One page of the public listing and, when `count` is set, its total (exact up to
/// [`COUNT_CAP`]) and whether it is exact.
pub fn list_live_products(
    c: &dyn Conn,
    f: &ProductFilter,
    limit: i64,
    offset: i64,
    count: bool,
    cache: &ListingCache,
) -> Result<(Vec<Product>, Option<Total>), DbError> {
    let mut args: Vec<Value> = Vec::new();
    let mut from = String::from("FROM products p");
    let mut conds = vec![LIVE.to_owned()];
    let searching = f.text.is_some();
    if let Some(text) = &f.text {
        args.push(text.as_str().into());
        match c.dialect() {
            // bm25 weights: name 10, description 1, category 3 (lower score = better match).
            Dialect::Sqlite => from.push_str(&format!(
                " JOIN (SELECT rowid AS pk, bm25(products_fts, 10.0, 1.0, 3.0) AS score
                        FROM products_fts WHERE products_fts MATCH ${}) hits ON hits.pk = p.pk",
                args.len()
            )),
            // ts_rank weights {D, C, B, A} = description 0.1, category 0.3, name 1 (the same
            // proportions); negated so that, as with bm25, a lower score is a better match.
            // Words are folded like the stored vectors (search_fold) and parsed as plain text.
            Dialect::Postgres => {
                args.pop();
                let (words, prefix) = super::search::postgres_words(text);
                args.push(words.into());
                args.push(prefix.into());
                let (w, p) = (args.len() - 1, args.len());
                from.push_str(&format!(
                    " JOIN (SELECT pk, -ts_rank(CAST('{{0.1,0,0.3,1.0}}' AS real[]),
                                                 search_vector, q) AS score
                            FROM products,
                                 (SELECT COALESCE(a && b, a, b) AS q FROM (SELECT
                                     CASE WHEN ${w} = '' THEN NULL
                                          ELSE plainto_tsquery('simple', search_fold(${w})) END AS a,
                                     CASE WHEN ${p} = '' THEN NULL
                                          ELSE CAST(NULLIF(CAST(plainto_tsquery('simple',
                                                   search_fold(${p})) AS TEXT), '') || ':*'
                                               AS tsquery) END AS b) AS parts) AS query
                            WHERE search_vector @@ q) hits ON hits.pk = p.pk"
                ));
            }
        }
    }
    if let Some(cat) = &f.category_id {
        args.push(cat.as_str().into());
        conds.push(format!(
            "p.category_id IN (WITH RECURSIVE sub(id) AS (
                 SELECT id FROM categories WHERE id = ${}
                 UNION SELECT c.id FROM categories c JOIN sub ON c.parent_id = sub.id)
             SELECT id FROM sub)",
            args.len()
        ));
    }
    if let Some(m) = &f.merchant_id {
        args.push(m.as_str().into());
        conds.push(format!("p.merchant_id = ${}", args.len()));
    }
    if let Some(min) = f.min_price_cents {
        args.push(min.into());
        conds.push(format!("p.price_cents >= ${}", args.len()));
    }
    if let Some(max) = f.max_price_cents {
        args.push(max.into());
        conds.push(format!("p.price_cents <= ${}", args.len()));
    }
    match f.in_stock {
        Some(true) => conds.push("p.stock > 0".into()),
        Some(false) => conds.push("p.stock = 0".into()),
        None => {}
    }
    let order = match f.sort.unwrap_or(if searching {
        Sort::Relevance
    } else {
        Sort::Newest
    }) {
        Sort::Relevance if searching => "hits.score, p.created_at DESC, p.id DESC",
        Sort::Relevance | Sort::Newest => "p.created_at DESC, p.id DESC",
        Sort::PriceAsc => "p.price_cents, p.id",
        Sort::PriceDesc => "p.price_cents DESC, p.id DESC",
        Sort::Rating => "p.rating_avg DESC, p.rating_count DESC, p.id",
    };
    let from_where = format!("{from} WHERE {}", conds.join(" AND "));
    let only_category = f.text.is_none()
        && f.merchant_id.is_none()
        && f.min_price_cents.is_none()
        && f.max_price_cents.is_none()
        && f.in_stock.is_none();
    let (rows, total) = if count && only_category {
        // Exact, from the trigger-kept counters: no rows are counted.
        let total = live_count(c, f.category_id.as_deref())?;
        let rows = if offset >= total {
            Vec::new()
        } else {
            c.query_page_uncounted(PRODUCT_COLUMNS, &from_where, order, &args, limit, offset)?
        };
        (rows, Some((total, true)))
    } else if !only_category
        && cache.enabled()
        && f.in_stock.is_none()
        && usize::try_from(offset + limit).is_ok_and(|end| end <= RANKS)
    {
        // Searches and filtered listings (counted or not) page through a cached ranking.
        let ranking = ranking(c, cache, f, &from_where, order, &args)?;
        let len = ranking.keys.len();
        let start = usize::try_from(offset).unwrap_or(len).min(len);
        let end = usize::try_from(offset + limit).unwrap_or(len).min(len);
        let rows = rows_by_keys(c, &ranking.keys[start..end])?;
        (rows, count.then_some((ranking.total, ranking.exact)))
    } else if count {
        let (rows, total, exact) = c.query_page_capped(
            PRODUCT_COLUMNS,
            &from_where,
            order,
            &args,
            limit,
            offset,
            COUNT_CAP,
        )?;
        (rows, Some((total, exact)))
    } else {
        let rows =
            c.query_page_uncounted(PRODUCT_COLUMNS, &from_where, order, &args, limit, offset)?;
        (rows, None)
    };
    let mut products = rows
        .iter()
        .map(product_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    attach_images(c, &mut products)?;
    Ok((products, total))
}

pub struct NewProduct<'a> {
    pub id: &'a str,
    pub merchant_id: &'a str,
    pub category_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub price_cents: i64,
    pub currency: &'a str,
    pub stock: i64,
    pub is_active: bool,
    pub now: i64,
}

pub fn insert_product(c: &dyn Conn, p: &NewProduct<'_>) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO products (id, merchant_id, category_id, name, description, price_cents,
                               currency, stock, is_active, merchant_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                 (SELECT CASE WHEN is_active = 1 AND role = 'merchant' THEN 1 ELSE 0 END
                  FROM users WHERE id = $2),
                 $10, $10)",
        params![
            p.id,
            p.merchant_id,
            p.category_id,
            p.name,
            p.description,
            p.price_cents,
            p.currency,
            p.stock,
            p.is_active,
            p.now
        ],
    )?;
    Ok(())
}

/// A partial change to a product; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProductChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<i64>,
    pub stock: Option<i64>,
    pub category_id: Option<String>,
    pub is_active: Option<bool>,
}

/// Applies `ch` to the merchant's own, undeleted product; false when there is none.
pub fn update_product(
    c: &dyn Conn,
    id: &str,
    merchant_id: &str,
    ch: &ProductChange,
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE products SET
             name = COALESCE($1, name),
             description = COALESCE($2, description),
             price_cents = COALESCE($3, price_cents),
             stock = COALESCE($4, stock),
             category_id = COALESCE($5, category_id),
             is_active = COALESCE($6, is_active),
             updated_at = $7
         WHERE id = $8 AND merchant_id = $9 AND deleted_at IS NULL",
        params![
            ch.name.as_deref(),
            ch.description.as_deref(),
            ch.price_cents,
            ch.stock,
            ch.category_id.as_deref(),
            ch.is_active,
            now,
            id,
            merchant_id
        ],
    )?;
    Ok(n == 1)
}

/// True when any order contains the product.
pub fn was_ordered(c: &dyn Conn, product_id: &str) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM order_items WHERE product_id = $1 LIMIT 1) AS any_item",
        params![product_id],
    )?;
    Ok(n > 0)
}

/// Deletes a never-ordered product with its cart lines and image rows. Returns the storage
/// keys no other image row uses any more, for the caller to remove after commit.
pub fn hard_delete_product(c: &dyn Conn, product_id: &str) -> Result<Vec<String>, DbError> {
    let keys: Vec<String> = c
        .query(
            "SELECT DISTINCT storage_key FROM product_images WHERE product_id = $1",
            params![product_id],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    c.execute(
        "DELETE FROM cart_items WHERE product_id = $1",
        params![product_id],
    )?;
    c.execute(
        "DELETE FROM product_images WHERE product_id = $1",
        params![product_id],
    )?;
    c.execute("DELETE FROM products WHERE id = $1", params![product_id])?;
    let mut unused = Vec::new();
    for key in keys {
        let n: i64 = c.query_scalar(
            "SELECT COUNT(*) FROM product_images WHERE storage_key = $1",
            params![key.as_str()],
        )?;
        if n == 0 {
            unused.push(key);
        }
    }
    Ok(unused)
}

/// Soft-deletes the merchant's own product (kept for order history, hidden everywhere).
pub fn soft_delete_product(
    c: &dyn Conn,
    id: &str,
    merchant_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE products SET deleted_at = $1, is_active = 0, updated_at = $1
         WHERE id = $2 AND merchant_id = $3 AND deleted_at IS NULL",
        params![now, id, merchant_id],
    )?;
    Ok(n == 1)
}

// ---- images ----

pub struct NewImage<'a> {
    pub id: &'a str,
    pub product_id: &'a str,
    pub storage_key: &'a str,
    pub url: &'a str,
    pub content_type: &'a str,
    pub bytes: i64,
    pub now: i64,
}

pub fn count_images(c: &dyn Conn, product_id: &str) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT COUNT(*) FROM product_images WHERE product_id = $1",
        params![product_id],
    )
}

pub fn insert_image(c: &dyn Conn, i: &NewImage<'_>) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO product_images (id, product_id, storage_key, url, content_type, bytes,
                                     position, created_at)
         VALUES ($1, $2, $3, $4, $5, $6,
                 (SELECT COALESCE(MAX(position), 0) + 1 FROM product_images WHERE product_id = $2),
                 $7)",
        params![
            i.id,
            i.product_id,
            i.storage_key,
            i.url,
            i.content_type,
            i.bytes,
            i.now
        ],
    )?;
    Ok(())
}

/// Deletes an image row of a product; returns its storage key and whether any other row
/// still uses that key (shared demo images), or `None` when there was no such image.
pub fn delete_image(
    c: &dyn Conn,
    product_id: &str,
    image_id: &str,
) -> Result<Option<(String, bool)>, DbError> {
    let Some(row) = c.query_opt(
        "DELETE FROM product_images WHERE id = $1 AND product_id = $2 RETURNING storage_key",
        params![image_id, product_id],
    )?
    else {
        return Ok(None);
    };
    let key: String = row.get(0)?;
    let others: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM product_images WHERE storage_key = $1",
        params![key.as_str()],
    )?;
    Ok(Some((key, others > 0)))
}

pub fn image_ref(c: &dyn Conn, image_id: &str) -> Result<Option<ImageRef>, DbError> {
    c.query_opt(
        "SELECT id, url FROM product_images WHERE id = $1",
        params![image_id],
    )?
    .map(|r| {
        Ok(ImageRef {
            id: r.get(0)?,
            url: r.get(1)?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use crate::db::{Conn, DbError, temp_db};
    use crate::params;

    /// The trigger-kept counters against a real count, after every kind of change.
    fn counters_match(c: &dyn Conn) -> Result<(), DbError> {
        let real = c.query(
            "SELECT category_id, COUNT(*) FROM products
             WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1
             GROUP BY category_id ORDER BY category_id",
            &[],
        )?;
        let kept = c.query(
            "SELECT category_id, n FROM product_live_counts WHERE n <> 0 ORDER BY category_id",
            &[],
        )?;
        let pairs = |rows: Vec<crate::db::Row>| -> Result<Vec<(String, i64)>, DbError> {
            rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
        };
        assert_eq!(pairs(real)?, pairs(kept)?);
        Ok(())
    }

    #[test]
    fn live_counters_follow_every_change() -> Result<(), DbError> {
        let (_dir, db) = temp_db();
        db.write_blocking(|c| {
            for (id, role) in [("m1", "merchant"), ("m2", "merchant")] {
                c.execute(
                    "INSERT INTO users (id, email, password_hash, full_name, role, created_at, updated_at)
                     VALUES ($1, $1 || '@x.test', 'x', 'M', $2, 0, 0)",
                    params![id, role],
                )?;
                c.execute(
                    "INSERT INTO merchants (id, business_name, business_description, phone, location,
                                            created_at, updated_at)
                     VALUES ($1, 'B', 'D', '0700000000', 'Nairobi', 0, 0)",
                    params![id],
                )?;
            }
            for cat in ["a", "b"] {
                c.execute(
                    "INSERT INTO categories (id, name, created_at, updated_at) VALUES ($1, $1, 0, 0)",
                    params![cat],
                )?;
            }
            for i in 0..10i64 {
                c.execute(
                    "INSERT INTO products (id, merchant_id, category_id, name, price_cents, stock,
                                           is_active, created_at, updated_at)
                     VALUES ($1, $2, $3, 'P', 100, 5, $4, $5, $5)",
                    params![
                        format!("p{i}"),
                        if i % 2 == 0 { "m1" } else { "m2" },
                        if i < 6 { "a" } else { "b" },
                        i != 3,
                        i
                    ],
                )?;
            }
            counters_match(c)?;
            let steps = [
                "UPDATE products SET is_active = 0 WHERE id = 'p1'",
                "UPDATE products SET is_active = 1 WHERE id = 'p3'",
                "UPDATE products SET deleted_at = 1 WHERE id = 'p4'",
                "UPDATE products SET category_id = 'b' WHERE id IN ('p0', 'p1')",
                "UPDATE products SET stock = 0, price_cents = 5 WHERE id = 'p2'",
                "UPDATE users SET is_active = 0 WHERE id = 'm2'",
                "UPDATE users SET is_active = 1 WHERE id = 'm2'",
                "UPDATE users SET role = 'customer' WHERE id = 'm1'",
                "DELETE FROM products WHERE id IN ('p5', 'p6', 'p0')",
            ];
            for step in steps {
                c.execute(step, &[])?;
                counters_match(c)?;
            }
            Ok(())
        })
    }
}
