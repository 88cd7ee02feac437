//! `markethub migrate-data`: copies an install's data from SQLite to PostgreSQL.
//!
//! Both databases are first brought to the same schema version by their own migrations. The
//! source is read in one read transaction (a fixed snapshot, so a live install can be copied);
//! the target is written in one transaction, so a failed copy leaves it as it was. Tables go
//! in foreign-key order (parents first; rows of self-referencing tables parents first too),
//! in multi-row inserts. Before the commit every table's row count and the sum of every money
//! column (`*_cents`) are compared; any difference aborts the copy. A target that already
//! holds data is refused unless `replace` is set, in which case it is emptied first, in the
//! same transaction.
//!
//! Derived tables are not copied: the full-text index, the live-product counters and the
//! catalog generation are rebuilt by the target's triggers as rows arrive; job leases, the
//! migration history and the hub sync positions (`sync_node`, `sync_outbox`, tokens, peers)
//! belong to the target.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Conn, Db, DbError, DbOptions, Value};
use crate::params;

/// Tables that are not data: derived, per-instance, or the migration history.
const NOT_COPIED: &[&str] = &[
    "refinery_schema_history",
    "product_live_counts",
    "catalog_generation",
    "job_leases",
    // Per instance, or positions in this database's own change log: after moving, issue new
    // hub sync tokens and let the hubs join again (their unsent changes are kept).
    "sync_node",
    "sync_outbox",
    "hub_sync_tokens",
    "sync_peers",
];
/// Rows per INSERT statement (Postgres allows 65 535 parameters per statement).
const ROWS_PER_INSERT: usize = 500;
/// Rows read from the source at a time.
const PAGE: i64 = 5_000;

/// What was copied and checked, table by table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableReport {
    pub table: String,
    pub rows: i64,
    /// `(column, sum)` of each money column, equal on both sides.
    pub money: Vec<(String, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("the target must be a postgres:// or postgresql:// URL")]
    TargetNotPostgres,
    #[error("the source must be a SQLite database (sqlite:PATH)")]
    SourceNotSqlite,
    #[error("there is no database at {0}")]
    NoSource(String),
    #[error(
        "the target already holds data ({0}); pass --replace to empty it first (its current data is lost)"
    )]
    TargetNotEmpty(String),
    #[error("tables with circular foreign keys cannot be ordered: {0}")]
    Cycle(String),
    #[error("verification failed, nothing was written: {0}")]
    Mismatch(String),
}

/// One table to copy: its columns (source order), and the column, if any, that refers to
/// the table's own `id` (parents are written first).
struct Table {
    name: String,
    columns: Vec<String>,
    self_parent: Option<String>,
}

/// Copies everything from the SQLite database at `from` to the PostgreSQL database at `to`
/// (see the module documentation). `opts` tunes the connections (URLs are replaced).
pub fn copy(
    from: &str,
    to: &str,
    replace: bool,
    opts: &DbOptions,
) -> Result<Vec<TableReport>, TransferError> {
    if !super::is_postgres_url(to) {
        return Err(TransferError::TargetNotPostgres);
    }
    if super::is_postgres_url(from) {
        return Err(TransferError::SourceNotSqlite);
    }
    let path = super::sqlite_path(from)?;
    if !path.exists() {
        return Err(TransferError::NoSource(path.display().to_string()));
    }
    let (source, _) = Db::open(&DbOptions {
        url: from.to_owned(),
        ..opts.clone()
    })?;
    let (target, _) = Db::open(&DbOptions {
        url: to.to_owned(),
        ..opts.clone()
    })?;
    target.write_blocking(|t| {
        source.read_blocking(|s| {
            // One snapshot of the source for every table and both checks.
            s.execute("BEGIN", params![])?;
            let result = copy_all(s, t, replace);
            // A read transaction: ending it cannot lose anything.
            let _ = s.execute("COMMIT", params![]);
            result
        })
    })
}

fn copy_all(s: &dyn Conn, t: &dyn Conn, replace: bool) -> Result<Vec<TableReport>, TransferError> {
    let tables = ordered_tables(s)?;
    let held: Vec<String> = tables
        .iter()
        .map(|tb| Ok((tb.name.clone(), count(t, &tb.name)?)))
        .collect::<Result<Vec<_>, DbError>>()?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{n} rows in {name}"))
        .collect();
    if !held.is_empty() {
        if !replace {
            return Err(TransferError::TargetNotEmpty(held.join(", ")));
        }
        let names: Vec<String> = tables.iter().map(|tb| ident(&tb.name)).collect();
        t.execute(
            &format!(
                "TRUNCATE {}, product_live_counts, sync_outbox, hub_sync_tokens, sync_peers RESTART IDENTITY",
                names.join(", ")
            ),
            params![],
        )?;
    }
    let mut reports = Vec::new();
    for table in &tables {
        copy_table(s, t, table)?;
        reports.push(verify(s, t, table)?);
    }
    reset_identities(t)?;
    // Fresh statistics: without them the planner takes the freshly filled tables for empty
    // ones until autovacuum comes by (a search ran 80 ms instead of 12). Only the copied
    // tables: a bare ANALYZE would lock every table of every schema in this transaction.
    let names: Vec<String> = tables.iter().map(|tb| ident(&tb.name)).collect();
    t.execute(&format!("ANALYZE {}", names.join(", ")), params![])?;
    Ok(reports)
}

fn count(c: &dyn Conn, table: &str) -> Result<i64, DbError> {
    c.query_scalar(&format!("SELECT COUNT(*) FROM {}", ident(table)), params![])
}

/// A quoted identifier: names read from the source file are never SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The source's data tables, parents before children.
fn ordered_tables(s: &dyn Conn) -> Result<Vec<Table>, TransferError> {
    let names: Vec<String> = s
        .query(
            "SELECT name FROM sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND name NOT LIKE 'products\\_fts%' ESCAPE '\\'
             ORDER BY name",
            params![],
        )?
        .iter()
        .map(|r| r.get::<String>(0))
        .collect::<Result<_, _>>()?;
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| !NOT_COPIED.contains(&n.as_str()))
        .collect();
    let mut parents: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    let mut tables: HashMap<String, Table> = HashMap::new();
    for name in &names {
        let columns = s
            .query(
                "SELECT name FROM pragma_table_info($1) ORDER BY cid",
                params![name.as_str()],
            )?
            .iter()
            .map(|r| r.get::<String>(0))
            .collect::<Result<Vec<_>, _>>()?;
        let mut self_parent = None;
        let mut deps = HashSet::new();
        for fk in s.query(
            "SELECT \"table\", \"from\" FROM pragma_foreign_key_list($1)",
            params![name.as_str()],
        )? {
            let (parent, column): (String, String) = (fk.get(0)?, fk.get(1)?);
            if parent == *name {
                self_parent = Some(column);
            } else if names.contains(&parent) {
                deps.insert(parent);
            }
        }
        parents.insert(name.clone(), deps);
        tables.insert(
            name.clone(),
            Table {
                name: name.clone(),
                columns,
                self_parent,
            },
        );
    }
    // Kahn's algorithm over "child depends on parent", alphabetical among equals.
    let mut ordered = Vec::new();
    let mut done: HashSet<String> = HashSet::new();
    while done.len() < names.len() {
        let ready: Vec<String> = parents
            .iter()
            .filter(|(n, deps)| !done.contains(*n) && deps.iter().all(|d| done.contains(d)))
            .map(|(n, _)| n.clone())
            .collect();
        if ready.is_empty() {
            let left: Vec<&String> = names.iter().filter(|n| !done.contains(*n)).collect();
            return Err(TransferError::Cycle(format!("{left:?}")));
        }
        for n in ready {
            if let Some(t) = tables.remove(&n) {
                ordered.push(t);
            }
            done.insert(n);
        }
    }
    Ok(ordered)
}

/// Reads `table` page by page (in rowid order) and writes it in multi-row inserts; rows of a
/// self-referencing table are held back until their parent has been written.
fn copy_table(s: &dyn Conn, t: &dyn Conn, table: &Table) -> Result<(), TransferError> {
    let columns = table
        .columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let parent_at = table
        .self_parent
        .as_ref()
        .and_then(|p| table.columns.iter().position(|c| c == p));
    let id_at = table.columns.iter().position(|c| c == "id");
    let mut written: HashSet<String> = HashSet::new();
    let mut waiting: Vec<Vec<Value>> = Vec::new();
    let mut last_rowid = i64::MIN;
    loop {
        let rows = s.query(
            &format!(
                "SELECT rowid, {columns} FROM {} WHERE rowid > $1 ORDER BY rowid LIMIT $2",
                ident(&table.name)
            ),
            params![last_rowid, PAGE],
        )?;
        let Some(last) = rows.last() else { break };
        last_rowid = last.get(0)?;
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            let values: Vec<Value> = (1..=table.columns.len())
                .map(|i| row.get::<Value>(i))
                .collect::<Result<_, _>>()?;
            batch.push(values);
        }
        if parent_at.is_some() && id_at.is_some() {
            waiting.extend(batch);
        } else {
            insert(t, table, &columns, &batch)?;
        }
    }
    if let (Some(p), Some(id)) = (parent_at, id_at) {
        // Parents first: each round writes the rows whose parent is absent or written.
        while !waiting.is_empty() {
            let (ready, rest): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|r| match &r[p] {
                Value::Text(parent) => written.contains(parent),
                _ => true,
            });
            if ready.is_empty() {
                return Err(TransferError::Cycle(format!(
                    "rows of {} refer to parents that never come",
                    table.name
                )));
            }
            for r in &ready {
                if let Value::Text(idv) = &r[id] {
                    written.insert(idv.clone());
                }
            }
            insert(t, table, &columns, &ready)?;
            waiting = rest;
        }
    }
    Ok(())
}

fn insert(t: &dyn Conn, table: &Table, columns: &str, rows: &[Vec<Value>]) -> Result<(), DbError> {
    let width = table.columns.len();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut args = Vec::with_capacity(chunk.len() * width);
        let tuples: Vec<String> = chunk
            .iter()
            .map(|r| {
                let start = args.len() + 1;
                args.extend(r.iter().cloned());
                format!("({})", super::placeholders(start, width))
            })
            .collect();
        t.execute(
            &format!(
                "INSERT INTO {} ({columns}) VALUES {}",
                ident(&table.name),
                tuples.join(", ")
            ),
            &args,
        )?;
    }
    Ok(())
}

/// Row counts and money sums of `table` on both sides; a difference is an error.
fn verify(s: &dyn Conn, t: &dyn Conn, table: &Table) -> Result<TableReport, TransferError> {
    let (rows_s, rows_t) = (count(s, &table.name)?, count(t, &table.name)?);
    if rows_s != rows_t {
        return Err(TransferError::Mismatch(format!(
            "{}: {rows_s} rows in the source, {rows_t} in the target",
            table.name
        )));
    }
    let mut money = Vec::new();
    for col in table.columns.iter().filter(|c| c.ends_with("_cents")) {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM({}), 0) AS BIGINT) FROM {}",
            ident(col),
            ident(&table.name)
        );
        let (a, b): (i64, i64) = (
            s.query_scalar(&sql, params![])?,
            t.query_scalar(&sql, params![])?,
        );
        if a != b {
            return Err(TransferError::Mismatch(format!(
                "{}.{col}: sums {a} in the source, {b} in the target",
                table.name
            )));
        }
        money.push((col.clone(), a));
    }
    Ok(TableReport {
        table: table.name.clone(),
        rows: rows_t,
        money,
    })
}

/// Moves identity sequences past the copied keys, so new rows get fresh ones.
fn reset_identities(t: &dyn Conn) -> Result<(), DbError> {
    let identities = t.query(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT)
         FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
        params![],
    )?;
    for r in identities {
        let (table, column): (String, String) = (r.get(0)?, r.get(1)?);
        t.query(
            &format!(
                "SELECT CAST(setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({}), 0) + 1, false) AS BIGINT)
                 FROM {}",
                ident(&column),
                ident(&table)
            ),
            params![ident(&table), column.as_str()],
        )?;
    }
    Ok(())
}
