//! What the scenarios send: ids, search words and signed-in customers, read from the copied
//! database and written as one Lua data file that every wrk thread loads.

use std::fmt::Write as _;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Facts the bench needs besides the Lua file.
pub struct Fixtures {
    pub customer_ids: Vec<String>,
    pub emails: Vec<String>,
    pub hub_id: String,
    /// Products with plenty of stock, grouped by merchant (at most 20 each).
    pub merchant_products: Vec<Vec<String>>,
    pub admin_email: String,
    product_ids: Vec<String>,
    category_ids: Vec<String>,
    search_terms: Vec<String>,
}

fn strings(c: &Connection, sql: &str) -> Result<Vec<String>, String> {
    let mut stmt = c.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| format!("{sql}: {e}"))?;
    rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
}

const LIVE: &str = "is_active = 1 AND deleted_at IS NULL AND merchant_active = 1";

/// Reads the fixtures from the database file (before the server opens it).
pub fn read(db: &Path) -> Result<Fixtures, String> {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("opening {}: {e}", db.display()))?;
    let product_ids = strings(
        &c,
        &format!("SELECT id FROM products WHERE {LIVE} ORDER BY random() LIMIT 10000"),
    )?;
    let category_ids = strings(&c, "SELECT id FROM categories")?;
    let names = strings(
        &c,
        &format!("SELECT name FROM products WHERE {LIVE} ORDER BY random() LIMIT 400"),
    )?;
    // What shoppers type: one word of a product's name, or two words in a row.
    let search_terms = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let words: Vec<&str> = name
                .split(|ch: char| !ch.is_alphanumeric())
                .filter(|w| w.len() > 2)
                .collect();
            match (i % 2, words.as_slice()) {
                (0, [first, ..]) => Some((*first).to_owned()),
                (_, [a, b, ..]) => Some(format!("{a} {b}")),
                (_, [a]) => Some((*a).to_owned()),
                _ => None,
            }
        })
        .collect();
    let customers = {
        let mut stmt = c
            .prepare(
                "SELECT id, email FROM users WHERE role = 'customer' AND is_active = 1
                 ORDER BY email LIMIT 2000",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?
    };
    let hub_id = strings(
        &c,
        "SELECT id FROM hubs WHERE is_active = 1 ORDER BY id LIMIT 1",
    )?
    .pop()
    .ok_or("the dataset has no active hub")?;
    let admin_email = strings(
        &c,
        "SELECT email FROM users WHERE role = 'admin' AND is_active = 1 ORDER BY email LIMIT 1",
    )?
    .pop()
    .ok_or("the dataset has no admin")?;
    let mut merchant_products: Vec<Vec<String>> = Vec::new();
    {
        let mut stmt = c
            .prepare(&format!(
                "SELECT merchant_id, id FROM products WHERE {LIVE} AND stock >= 50
                 ORDER BY merchant_id, id"
            ))
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| e.to_string())?;
        let mut last = String::new();
        for row in rows {
            let (merchant, product) = row.map_err(|e| e.to_string())?;
            if merchant != last {
                merchant_products.push(Vec::new());
                last = merchant;
            }
            if let Some(group) = merchant_products.last_mut()
                && group.len() < 20
            {
                group.push(product);
            }
        }
    }
    if product_ids.is_empty() || merchant_products.len() < 3 || customers.is_empty() {
        return Err("the dataset is too small for the scenarios".into());
    }
    let (customer_ids, emails) = customers.into_iter().unzip();
    Ok(Fixtures {
        customer_ids,
        emails,
        hub_id,
        merchant_products,
        admin_email,
        product_ids,
        category_ids,
        search_terms,
    })
}

fn lua_list<I: IntoIterator<Item = String>>(items: I) -> String {
    let mut out = String::from("{");
    for item in items {
        // Ids, e-mails and words only: nothing that needs escaping beyond quotes.
        let _ = write!(out, "\"{}\",", item.replace(['"', '\\'], ""));
    }
    out.push('}');
    out
}

fn query_word(term: &str) -> String {
    term.replace(' ', "%20")
}

impl Fixtures {
    /// The search requests: what shoppers type, first page.
    pub fn search_paths(&self) -> Vec<String> {
        self.search_terms
            .iter()
            .map(|t| format!("/api/v1/products?q={}&per_page=20", query_word(t)))
            .collect()
    }

    /// The Lua data file: path lists per scenario, tokens, and the checkout body.
    pub fn write_lua(
        &self,
        path: &Path,
        tokens: &[String],
        admin_token: &str,
        analytics_path: &str,
    ) -> Result<(), String> {
        let p = "/api/v1/products";
        let pages =
            |extra: &str| lua_list((1..=50).map(|n| format!("{p}?page={n}&per_page=20{extra}")));
        let mut lua = String::new();
        let _ = writeln!(lua, "password = \"{}\"", markethub::demo::DEMO_PASSWORD);
        let _ = writeln!(lua, "admin_token = \"{admin_token}\"");
        let _ = writeln!(
            lua,
            "checkout_body = '{{\"payment_method\":\"cod\",\"hub_id\":\"{}\",\"delivery_address\":\"Moi Avenue 1, Nairobi\",\"phone\":\"0712345678\"}}'",
            self.hub_id
        );
        let _ = writeln!(lua, "tokens = {}", lua_list(tokens.iter().cloned()));
        let _ = writeln!(lua, "emails = {}", lua_list(self.emails.iter().cloned()));
        let _ = writeln!(
            lua,
            "product_paths = {}",
            lua_list(self.product_ids.iter().map(|id| format!("{p}/{id}")))
        );
        let _ = writeln!(lua, "list_paths = {}", pages(""));
        let _ = writeln!(lua, "list_nocount_paths = {}", pages("&count=false"));
        let _ = writeln!(lua, "search_paths = {}", lua_list(self.search_paths()));
        let _ = writeln!(
            lua,
            "category_paths = {}",
            lua_list(
                self.category_ids
                    .iter()
                    .map(|id| format!("{p}?category_id={id}&per_page=20"))
            )
        );
        let _ = writeln!(
            lua,
            "analytics_paths = {}",
            lua_list([analytics_path.to_owned()])
        );
        let _ = writeln!(lua, "hello_paths = {}", lua_list(["/".to_owned()]));
        lua.push_str("merchant_products = {");
        for group in &self.merchant_products {
            lua.push_str(&lua_list(group.iter().cloned()));
            lua.push(',');
        }
        lua.push_str("}\n");
        std::fs::write(path, lua).map_err(|e| format!("writing {}: {e}", path.display()))
    }
}
