//! `markethub demo`: seeds a believable shop (categories, merchants with approved
//! applications, products with generated pictures, customers, hubs, an admin) so a newcomer sees a
//! working marketplace at once, and, with larger counts, the dataset the benchmark uses.
//! Everything (ids, names, prices, times) follows from the seed, so two runs with the same
//! options produce the same shop. Rows are written in batched transactions.

mod data;
mod placeholder;

use std::collections::HashMap;

use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::auth::Role;
use crate::auth::password;
use crate::auth::store::{self as users, NewUser};
use crate::catalog::images::{ImageKind, ImageStore};
use crate::catalog::store::{self as catalog, NewImage, NewProduct};
use crate::db::{Conn, Db, DbError};
use crate::delivery::store as hubs;
use crate::merchants::ApplicationStatus;
use crate::merchants::store::{self as merchants, NewApplication};
use crate::params;
use data::CATEGORIES;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "markethub-demo";
pub const EMAIL_DOMAIN: &str = "demo.markethub.test";
/// Demo time starts here (2026-06-01T00:00:00Z) so runs are reproducible.
const BASE_MS: i64 = 1_780_272_000_000;
/// Above this many products, pictures are shared per category instead of one per product.
const UNIQUE_IMAGES_UP_TO: u32 = 500;
const BATCH: usize = 2_000;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub products: u32,
    pub merchants: u32,
    pub customers: u32,
    /// Past orders, spread over the 90 days after the shop opened.
    pub orders: u32,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            products: 60,
            merchants: 4,
            customers: 10,
            orders: 40,
            seed: 42,
        }
    }
}

/// What was created, for the printed welcome.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub categories: usize,
    pub orders: u32,
    pub hubs: Vec<String>,
    pub merchants: Vec<(String, String)>,
    pub customers: Vec<String>,
    pub products: u32,
    pub admin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo data is already present in this database (accounts @{EMAIL_DOMAIN})")]
    AlreadySeeded,
    #[error("--merchants must be at least 1")]
    NoMerchants,
    #[error(
        "this shop already has {0}, which the demo would create: the demo seeds a shop of its \
         own; run it on a fresh data directory (e.g. MARKETHUB_DATA_DIR=./demo-data markethub demo) \
         or an empty database"
    )]
    Clash(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Other(String),
}

struct MerchantSeed {
    user_id: String,
    application_id: String,
    email: String,
    person: String,
    phone: String,
    business: String,
    at: i64,
}

/// Deterministic ids and times.
struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn id(&mut self, at_ms: i64) -> String {
        let mut bytes = [0u8; 10];
        self.rng.fill_bytes(&mut bytes);
        uuid::Builder::from_unix_timestamp_millis(u64::try_from(at_ms).unwrap_or(0), &bytes)
            .into_uuid()
            .to_string()
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }
}

/// The `k`th id of a family: the base id itself for 0, else the base with its last byte
/// flipped by `k` (still a UUID, distinct within the family, and no extra random draws, so
/// a seed keeps giving the same shop).
fn nth_id(base: &str, k: usize) -> String {
    match uuid::Uuid::parse_str(base) {
        Ok(u) => {
            let mut bytes = *u.as_bytes();
            bytes[15] ^= (k % 256) as u8;
            uuid::Uuid::from_bytes(bytes).to_string()
        }
        Err(_) => format!("{base}-{k}"),
    }
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Seeds the shop. Blocking: call it from the CLI, not from the async executor.
pub fn seed(
    db: &Db,
    images: &dyn ImageStore,
    currency: &str,
    opts: &DemoOptions,
) -> Result<DemoSummary, DemoError> {
    if opts.merchants == 0 {
        return Err(DemoError::NoMerchants);
    }
    let pattern = format!("%@{EMAIL_DOMAIN}");
    let existing: i64 = db.write_blocking(|c| {
        c.query_scalar(
            "SELECT COUNT(*) FROM users WHERE email LIKE $1",
            params![pattern.as_str()],
        )
    })?;
    if existing > 0 {
        return Err(DemoError::AlreadySeeded);
    }
    let clashes = db.write_blocking(|c| {
        let mut found = Vec::new();
        for cat in CATEGORIES.iter().filter(|c| c.parent.is_none()) {
            if c.query_opt(
                "SELECT 1 FROM categories WHERE parent_id IS NULL AND lower(name) = lower($1)",
                params![cat.name],
            )?
            .is_some()
            {
                found.push(format!("the category \"{}\"", cat.name));
            }
        }
        for (name, _, _) in data::HUBS {
            if c.query_opt(
                "SELECT 1 FROM hubs WHERE lower(name) = lower($1)",
                params![*name],
            )?
            .is_some()
            {
                found.push(format!("the hub \"{name}\""));
            }
        }
        Ok::<_, DbError>(found)
    })?;
    if !clashes.is_empty() {
        return Err(DemoError::Clash(clashes.join(", ")));
    }
    let hash = password::hash_blocking(DEMO_PASSWORD).map_err(|e| DemoError::Other(e.message))?;
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(opts.seed),
    };

    // Categories, admin, merchants.
    let mut category_ids: HashMap<&str, String> = HashMap::new();
    for (i, cat) in CATEGORIES.iter().enumerate() {
        category_ids.insert(cat.name, g.id(BASE_MS + i as i64));
    }
    let admin = format!("admin@{EMAIL_DOMAIN}");
    let admin_id = g.id(BASE_MS);
    let hub_ids: Vec<String> = data::HUBS.iter().map(|_| g.id(BASE_MS)).collect();
    let mut merchant_rows = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for i in 1..=opts.merchants {
        let at = BASE_MS + i64::from(i) * 60_000;
        let mut business = format!(
            "{} {} {}",
            g.pick(data::BUSINESS_PLACES),
            g.pick(data::BUSINESS_WORDS),
            g.pick(data::BUSINESS_KINDS)
        );
        if !taken.insert(business.clone()) {
            business = format!("{business} {i}");
        }
        let person = format!("{} {}", g.pick(data::FIRST_NAMES), g.pick(data::LAST_NAMES));
        merchant_rows.push(MerchantSeed {
            user_id: g.id(at),
            application_id: g.id(at),
            email: format!("merchant{i}@{EMAIL_DOMAIN}"),
            person,
            phone: format!("+2547{:08}", 10_000_000 + i),
            business,
            at,
        });
    }
    db.write_blocking(|c| -> Result<(), DbError> {
        for (i, cat) in CATEGORIES.iter().enumerate() {
            let parent = cat
                .parent
                .and_then(|p| category_ids.get(p))
                .map(String::as_str);
            catalog::insert_category(
                c,
                &category_ids[cat.name],
                cat.name,
                parent,
                BASE_MS + i as i64,
            )?;
        }
        insert_user(
            c,
            &admin_id,
            &admin,
            "Demo Admin",
            Role::Admin,
            &hash,
            BASE_MS,
        )?;
        for (id, (name, location, phone)) in hub_ids.iter().zip(data::HUBS) {
            hubs::insert_hub(c, id, name, location, phone, BASE_MS)?;
        }
        for m in &merchant_rows {
            insert_user(
                c,
                &m.user_id,
                &m.email,
                &m.person,
                Role::Merchant,
                &hash,
                m.at,
            )?;
            merchants::insert_application(
                c,
                &NewApplication {
                    id: &m.application_id,
                    user_id: &m.user_id,
                    business_name: &m.business,
                    business_description: &format!(
                        "{}: quality goods, fair prices, fast delivery.",
                        m.business
                    ),
                    phone: &m.phone,
                    location: m.business.split(' ').next().unwrap_or("Nairobi"),
                    now: m.at,
                },
            )?;
            merchants::decide(
                c,
                &m.application_id,
                ApplicationStatus::Approved,
                Some("Welcome to MarketHub"),
                &admin_id,
                m.at,
            )?;
            let app = merchants::find_application(c, &m.application_id)?
                .ok_or_else(|| DbError::Decode(0, "demo application vanished".into()))?;
            merchants::upsert_merchant_from(c, &app, m.at)?;
        }
        Ok(())
    })?;

    // Customers, in batches.
    let bar = progress(u64::from(opts.customers), "customers");
    let customer_rows: Vec<(String, String, String, i64)> = (1..=opts.customers)
        .map(|i| {
            let at = BASE_MS + 3_600_000 + i64::from(i) * 1_000;
            let name = format!("{} {}", g.pick(data::FIRST_NAMES), g.pick(data::LAST_NAMES));
            (g.id(at), format!("customer{i}@{EMAIL_DOMAIN}"), name, at)
        })
        .collect();
    for chunk in customer_rows.chunks(BATCH) {
        db.write_blocking(|c| -> Result<(), DbError> {
            for (id, email, name, at) in chunk {
                insert_user(c, id, email, name, Role::Customer, &hash, *at)?;
            }
            Ok(())
        })?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    // Pictures: one per product for a small shop, one per category for a large one.
    let leaves: Vec<&data::CategorySeed> =
        CATEGORIES.iter().filter(|c| !c.things.is_empty()).collect();
    let shared = opts.products > UNIQUE_IMAGES_UP_TO;
    let mut shared_images: HashMap<&str, (String, String, i64)> = HashMap::new();
    if shared {
        for (i, leaf) in leaves.iter().enumerate() {
            let bytes = placeholder::png(320, 240, leaf.colour, i as u64)
                .map_err(|e| DemoError::Other(e.to_string()))?;
            let stored = images
                .put("products", &g.id(BASE_MS), ImageKind::Png, &bytes)
                .map_err(|e| DemoError::Other(e.to_string()))?;
            shared_images.insert(leaf.name, (stored.key, stored.url, bytes.len() as i64));
        }
    }

    // Products, in batches.
    let bar = progress(u64::from(opts.products), "products");
    let merchant_ids: Vec<&str> = merchant_rows.iter().map(|m| m.user_id.as_str()).collect();
    let mut catalogue: Vec<CatalogueEntry<'_>> = Vec::with_capacity(opts.products as usize);
    let mut made = 0u32;
    while made < opts.products {
        let n = (opts.products - made).min(BATCH as u32);
        let mut batch = Vec::with_capacity(n as usize);
        for k in 0..n {
            let i = made + k;
            let leaf = leaves[g.rng.random_range(0..leaves.len())];
            let (brand, thing, detail) = (
                g.pick(leaf.brands),
                g.pick(leaf.things),
                g.pick(leaf.details),
            );
            let name = format!("{brand} {thing} {detail}");
            let description = format!(
                "{} {} by {brand}, {detail}. {}",
                g.pick(data::DESCRIPTION_OPENERS),
                capitalise(thing),
                g.pick(data::DESCRIPTION_CLOSERS)
            );
            let shillings = g.rng.random_range(leaf.price.0..=leaf.price.1);
            let price_cents = (shillings / 10 * 10).max(10) * 100;
            let stock = if g.rng.random_range(0..100) < 8 {
                0
            } else {
                g.rng.random_range(1..=200)
            };
            let active = g.rng.random_range(0..100) >= 3;
            let at = BASE_MS + 7_200_000 + i64::from(i) * 30_000;
            let merchant = merchant_ids[g.rng.random_range(0..merchant_ids.len())];
            let product_id = g.id(at);
            let image = if shared {
                let (key, url, bytes) = &shared_images[leaf.name];
                (g.id(at), key.clone(), url.clone(), *bytes)
            } else {
                let image_id = g.id(at);
                let bytes = placeholder::png(320, 240, leaf.colour, u64::from(i) ^ opts.seed)
                    .map_err(|e| DemoError::Other(e.to_string()))?;
                let stored = images
                    .put("products", &image_id, ImageKind::Png, &bytes)
                    .map_err(|e| DemoError::Other(e.to_string()))?;
                (image_id, stored.key, stored.url, bytes.len() as i64)
            };
            catalogue.push((product_id.clone(), merchant, price_cents, name.clone()));
            batch.push((
                product_id,
                leaf.name,
                merchant,
                name,
                description,
                price_cents,
                stock,
                active,
                at,
                image,
            ));
        }
        db.write_blocking(|c| -> Result<(), DbError> {
            for (id, cat, merchant, name, description, price_cents, stock, active, at, image) in
                &batch
            {
                catalog::insert_product(
                    c,
                    &NewProduct {
                        id,
                        merchant_id: merchant,
                        category_id: &category_ids[cat],
                        name,
                        description,
                        price_cents: *price_cents,
                        currency,
                        stock: *stock,
                        is_active: *active,
                        now: *at,
                    },
                )?;
                let (image_id, key, url, bytes) = image;
                catalog::insert_image(
                    c,
                    &NewImage {
                        id: image_id,
                        product_id: id,
                        storage_key: key,
                        url,
                        content_type: ImageKind::Png.content_type(),
                        bytes: *bytes,
                        now: *at,
                    },
                )?;
            }
            Ok(())
        })?;
        made += n;
        bar.inc(u64::from(n));
    }
    bar.finish_and_clear();

    let customers: Vec<&str> = customer_rows.iter().map(|c| c.0.as_str()).collect();
    seed_orders(
        db,
        &mut g,
        opts.orders,
        &catalogue,
        &customers,
        &hub_ids,
        currency,
    )?;

    // Fresh statistics for the query planner after a bulk load. On PostgreSQL a bare ANALYZE
    // would take every table of every schema in one transaction; autovacuum analyses there.
    if db.dialect() == crate::db::Dialect::Sqlite {
        db.write_blocking(|c| c.execute("ANALYZE", params![]))?;
    }

    Ok(DemoSummary {
        categories: CATEGORIES.len(),
        orders: opts.orders,
        hubs: data::HUBS.iter().map(|h| h.0.to_owned()).collect(),
        merchants: merchant_rows
            .iter()
            .map(|m| (m.email.clone(), m.business.clone()))
            .collect(),
        customers: customer_rows.iter().map(|c| c.1.clone()).collect(),
        products: opts.products,
        admin,
    })
}

/// Past orders over the 90 days after the shop opened: mostly delivered and paid, some on
/// their way, pending or cancelled; both payment methods. Only the first and last steps of
/// each sub-order's history are recorded. Stock is left alone (these are history).
fn seed_orders(
    db: &Db,
    g: &mut Gen,
    count: u32,
    catalogue: &[CatalogueEntry<'_>],
    customers: &[&str],
    hubs: &[String],
    currency: &str,
) -> Result<(), DemoError> {
    use crate::orders::store::{self as orders, NewItem, NewOrder};
    use crate::orders::{PaymentMethod, PaymentStatus, SubStatus, derive_status};
    const DAY: i64 = 86_400_000;
    if count == 0 || catalogue.is_empty() || customers.is_empty() || hubs.is_empty() {
        return Ok(());
    }
    let step = 90 * DAY / i64::from(count);
    let bar = progress(u64::from(count), "orders");
    let mut made = 0u32;
    while made < count {
        let n = (count - made).min(BATCH as u32);
        let mut batch = Vec::with_capacity(n as usize);
        for k in 0..n {
            let i = i64::from(made + k);
            let at = BASE_MS + DAY + i * step + g.rng.random_range(0..step.max(1));
            let customer = customers[g.rng.random_range(0..customers.len())];
            let hub = hubs[g.rng.random_range(0..hubs.len())].as_str();
            let lines: Vec<&CatalogueEntry<'_>> = (0..g.rng.random_range(1..=3))
                .map(|_| &catalogue[g.rng.random_range(0..catalogue.len())])
                .collect();
            let status = match g.rng.random_range(0..100) {
                0..65 => SubStatus::Delivered,
                65..72 => SubStatus::OutForDelivery,
                72..78 => SubStatus::AtHub,
                78..85 => SubStatus::Processing,
                85..92 => SubStatus::Pending,
                _ => SubStatus::Cancelled,
            };
            let method = if g.rng.random_range(0..2) == 0 {
                PaymentMethod::Mpesa
            } else {
                PaymentMethod::Cod
            };
            let payment = if status == SubStatus::Delivered
                || (method == PaymentMethod::Mpesa
                    && !matches!(status, SubStatus::Pending | SubStatus::Cancelled))
            {
                PaymentStatus::Paid
            } else if status == SubStatus::Cancelled {
                PaymentStatus::Cancelled
            } else {
                PaymentStatus::Pending
            };
            let done_at = at + g.rng.random_range(20..72) * 3_600_000;
            let ids: Vec<String> = (0..1 + lines.len() * 2).map(|_| g.id(at)).collect();
            batch.push(DemoOrder {
                at,
                done_at,
                customer,
                hub,
                lines,
                status,
                method,
                payment,
                ids,
            });
        }
        db.write_blocking(|c| -> Result<(), DbError> {
            for o in &batch {
                let order_id = &o.ids[0];
                let mut by_merchant: std::collections::BTreeMap<&str, Vec<&CatalogueEntry<'_>>> =
                    std::collections::BTreeMap::new();
                for line in &o.lines {
                    by_merchant.entry(line.1).or_default().push(line);
                }
                let total: i64 = o.lines.iter().map(|l| l.2).sum();
                orders::insert_order(
                    c,
                    &NewOrder {
                        id: order_id,
                        customer_id: o.customer,
                        status: derive_status(&[o.status], o.method, o.payment),
                        payment_method: o.method,
                        total_cents: total,
                        currency,
                        hub_id: o.hub,
                        delivery_address: "Demo address, Nairobi",
                        phone: "0712345678",
                        idempotency_key: None,
                        request_hash: "",
                        now: o.at,
                    },
                )?;
                orders::insert_payment(c, order_id, o.method, total, o.at)?;
                match o.payment {
                    PaymentStatus::Paid => {
                        c.execute(
                            "UPDATE payments SET status = 'paid', collected_cents = amount_cents, paid_at = $1
                             WHERE order_id = $2",
                            params![o.done_at, order_id.as_str()],
                        )?;
                    }
                    PaymentStatus::Cancelled => orders::set_payment_status(c, order_id, PaymentStatus::Cancelled, o.at)?,
                    _ => {}
                }
                for (n, (merchant, items)) in by_merchant.iter().enumerate() {
                    let sub_id = &o.ids[1 + n * 2];
                    let subtotal: i64 = items.iter().map(|l| l.2).sum();
                    orders::insert_sub_order(c, sub_id, order_id, merchant, o.hub, subtotal, o.at)?;
                    for (k, item) in items.iter().enumerate() {
                        orders::insert_item(
                            c,
                            &NewItem {
                                id: &nth_id(&o.ids[2 + n * 2], k),
                                order_id,
                                sub_order_id: sub_id,
                                product_id: &item.0,
                                name: &item.3,
                                unit_price_cents: item.2,
                                quantity: 1,
                            },
                        )?;
                    }
                    orders::insert_event(c, sub_id, None, SubStatus::Pending, Some(o.customer), "customer", None, o.at)?;
                    if o.status != SubStatus::Pending {
                        orders::set_sub_status(c, sub_id, SubStatus::Pending, o.status, None, o.done_at)?;
                        orders::insert_event(
                            c,
                            sub_id,
                            Some(SubStatus::Pending),
                            o.status,
                            None,
                            "system",
                            Some("demo history"),
                            o.done_at,
                        )?;
                    }
                }
                let status = derive_status(&[o.status], o.method, o.payment);
                orders::store_derived(c, order_id, status, o.at)?;
            }
            Ok(())
        })?;
        made += n;
        bar.inc(u64::from(n));
    }
    bar.finish_and_clear();
    Ok(())
}

/// A product the order generator can pick: (id, merchant id, price in cents, name).
type CatalogueEntry<'a> = (String, &'a str, i64, String);

struct DemoOrder<'a> {
    at: i64,
    done_at: i64,
    customer: &'a str,
    hub: &'a str,
    lines: Vec<&'a CatalogueEntry<'a>>,
    status: crate::orders::SubStatus,
    method: crate::orders::PaymentMethod,
    payment: crate::orders::PaymentStatus,
    ids: Vec<String>,
}

fn insert_user(
    c: &dyn Conn,
    id: &str,
    email: &str,
    name: &str,
    role: Role,
    hash: &str,
    at: i64,
) -> Result<(), DbError> {
    users::insert_user(
        c,
        &NewUser {
            id,
            email,
            password_hash: hash,
            full_name: name,
            phone: None,
            role,
            email_verified: true,
            now: at,
        },
    )?;
    Ok(())
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::nth_id;

    #[test]
    fn item_ids_of_a_family_are_distinct_uuids() {
        let base = "019e807a-ec00-74c0-9eb3-424d02a6d161";
        assert_eq!(nth_id(base, 0), base);
        let ids: std::collections::BTreeSet<String> = (0..8).map(|k| nth_id(base, k)).collect();
        assert_eq!(ids.len(), 8);
        for id in &ids {
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        }
    }
}
