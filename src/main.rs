//! The `markethub` command line: parses arguments and calls into the library.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use markethub::config::Config;
use markethub::db::Db;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "markethub",
    version,
    about = "Multi-vendor marketplace backend in one binary"
)]
struct Cli {
    /// Config file (default: ./markethub.toml when present).
    #[arg(long, global = true, env = "MARKETHUB_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the first admin account (or promote an existing one).
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// The password; prefer --password-stdin so it stays out of shell history.
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// If the email exists, make that account an active admin with this password.
        #[arg(long)]
        update_existing: bool,
    },
    /// Seed a demo shop (or, with larger counts, the benchmark dataset) and print its logins.
    Demo {
        #[arg(long, default_value_t = 60)]
        products: u32,
        #[arg(long, default_value_t = 4)]
        merchants: u32,
        #[arg(long, default_value_t = 10)]
        customers: u32,
        /// Past orders (with payments and delivery history) spread over 90 days.
        #[arg(long, default_value_t = 40)]
        orders: u32,
        /// Same seed and counts, same shop.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Take a consistent backup now (safe while the server runs): gzip-compressed, checked,
    /// written to the backups directory unless --out names a file.
    Backup {
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Replace the database with a backup (the server must be stopped). The current
    /// database is moved aside, not deleted; newer migrations are applied.
    Restore {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Copy this install's data from SQLite to PostgreSQL (build with `--features postgres`):
    /// both schemas are migrated, tables copied in foreign-key order in one transaction, row
    /// counts and money sums verified before the commit. Stop the servers writing to the
    /// source first for a copy that misses nothing (a running one is read as a snapshot).
    MigrateData {
        /// The SQLite database, e.g. `sqlite:data/markethub.db`.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The PostgreSQL database, e.g. `postgres://markethub@db.local/markethub`.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Empty a target that already holds data (otherwise it is refused).
        #[arg(long)]
        replace: bool,
    },
    /// A delivery hub's own instance (see docs/HUBS.md).
    Hub {
        #[command(subcommand)]
        action: HubAction,
    },
    /// Print the OpenAPI 3.1 document of this server's HTTP API (what
    /// `GET /api/v1/openapi.json` serves; `docs/openapi.json` is a copy).
    Openapi,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum HubAction {
    /// Make this data directory a hub instance of the central marketplace and pull what the
    /// hub needs (its orders, staff and riders); then start it with `markethub`.
    Join {
        /// The centre's base URL, e.g. https://market.example.com
        #[arg(long, value_name = "URL")]
        upstream: String,
        /// The hub's sync token (an admin issues it: POST /admin/hubs/{id}/sync-token).
        #[arg(long)]
        token: String,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective configuration (secrets masked) and validate it.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config {
            action: ConfigAction::Check,
        } => config_check(cli.config),
        Command::Openapi => {
            print!("{}", markethub::http::openapi::document_json());
            ExitCode::SUCCESS
        }
        command => {
            let config = match Config::load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            // Held until main returns, so queued error reports are flushed at exit.
            let _reporting = markethub::logging::init(&config);
            match command {
                Command::Migrate => migrate(&config),
                Command::Hub {
                    action: HubAction::Join { upstream, token },
                } => hub_join(&config, &upstream, &token),
                Command::Backup { out } => backup(&config, out.as_deref()),
                Command::Restore { file } => restore(&config, &file),
                Command::MigrateData { from, to, replace } => {
                    migrate_data(&config, &from, &to, replace)
                }
                Command::Demo {
                    products,
                    merchants,
                    customers,
                    orders,
                    seed,
                } => demo(
                    &config,
                    &markethub::demo::DemoOptions {
                        products,
                        merchants,
                        customers,
                        orders,
                        seed,
                    },
                ),
                Command::CreateAdmin {
                    email,
                    password,
                    password_stdin,
                    name,
                    update_existing,
                } => {
                    let password = match password {
                        Some(p) => p,
                        None if password_stdin => match read_stdin_line() {
                            Ok(p) => p,
                            Err(e) => return fail(&format!("reading the password: {e}")),
                        },
                        None => return fail(&"give --password or --password-stdin"),
                    };
                    create_admin(&config, &email, &password, &name, update_existing)
                }
                _ => serve(config),
            }
        }
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("markethub: {e}");
    ExitCode::from(2)
}

fn serve(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("starting the runtime: {e}")),
    };
    match runtime.block_on(markethub::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "markethub could not start");
            fail(&e)
        }
    }
}

fn hub_join(config: &Config, upstream: &str, token: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("starting the runtime: {e}")),
    };
    if let Err(e) = std::fs::create_dir_all(&config.data_dir) {
        return fail(&format!("creating {}: {e}", config.data_dir.display()));
    }
    // Not while a server uses the directory.
    let _lock = match markethub::server::DataDirLock::acquire(&config.data_dir) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let result = runtime.block_on(async {
        let opts = config.db_options();
        let (db, _) = tokio::task::spawn_blocking(move || Db::open(&opts))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let summary = markethub::sync::client::join(&db, config, upstream, token).await;
        let _ = db.close().await;
        summary
    });
    match result {
        Ok(s) => {
            println!(
                "joined hub {} ({}): {} orders, {} staff, {} riders. Start it with `markethub`.",
                s.hub_name, s.hub_id, s.orders, s.staff, s.riders
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn config_check(file: Option<PathBuf>) -> ExitCode {
    let config = match Config::extract(file.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    print!("{}", config.to_masked_toml());
    match config.validate() {
        Ok(()) => {
            eprintln!(
                "markethub: configuration is valid ({:?})",
                config.environment
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn migrate(config: &Config) -> ExitCode {
    match Db::migrate_only(&config.db_options()) {
        Ok(status) => {
            for m in &status.applied {
                println!("applied V{}__{}", m.version, m.name);
            }
            match status.current_version {
                Some(v) => println!("schema is at version {v}"),
                None => println!("no migrations"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// The refusal of `backup`/`restore` on PostgreSQL, which has its own tools.
const PG_BACKUPS: &str = "this install keeps its data in PostgreSQL: back it up with \
    `pg_dump --format=custom` and restore with `pg_restore` (see docs/OPERATIONS.md); \
    `markethub backup` and `restore` work on SQLite databases only";

fn backup(config: &Config, out: Option<&std::path::Path>) -> ExitCode {
    use markethub::backups;
    if markethub::db::is_postgres_url(&config.database_url()) {
        return fail(&PG_BACKUPS);
    }
    let db_path = match markethub::db::sqlite_path(&config.database_url()) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if !db_path.exists() {
        return fail(&format!("there is no database at {}", db_path.display()));
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("backup [{bar:40}] {pos}/{len} pages ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let dir = backups::dir_of(config);
    let result = backups::create(&db_path, &dir, out, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    match result {
        Ok(info) => {
            let path = out.map_or_else(|| dir.join(&info.name), std::path::Path::to_path_buf);
            println!(
                "backup written: {} ({} bytes)",
                path.display(),
                info.size_bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

#[cfg(feature = "postgres")]
fn migrate_data(config: &Config, from: &str, to: &str, replace: bool) -> ExitCode {
    match markethub::db::transfer::copy(from, to, replace, &config.db_options()) {
        Ok(tables) => {
            let rows: i64 = tables.iter().map(|t| t.rows).sum();
            for t in &tables {
                let money: Vec<String> = t
                    .money
                    .iter()
                    .map(|(col, sum)| format!("{col} sum {sum}"))
                    .collect();
                println!("{:<28} {:>9} rows  {}", t.table, t.rows, money.join(", "));
            }
            println!(
                "copied and verified {rows} rows in {} tables (row counts and money sums match)",
                tables.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

#[cfg(not(feature = "postgres"))]
fn migrate_data(_config: &Config, _from: &str, _to: &str, _replace: bool) -> ExitCode {
    fail(
        &"migrate-data needs a build with the `postgres` feature (cargo build --release --features postgres)",
    )
}

fn restore(config: &Config, file: &std::path::Path) -> ExitCode {
    if markethub::db::is_postgres_url(&config.database_url()) {
        return fail(&PG_BACKUPS);
    }
    match markethub::backups::restore::restore(config, file) {
        Ok(r) => {
            if let Some(prev) = &r.previous {
                println!("previous database moved to {}", prev.display());
            }
            println!(
                "restored {} (backup at schema version {}, now {})",
                r.database.display(),
                r.backup_version,
                r.current_version
                    .map_or_else(|| "-".into(), |v| v.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn create_admin(
    config: &Config,
    email: &str,
    password: &str,
    name: &str,
    update: bool,
) -> ExitCode {
    let db = match Db::open(&config.db_options()) {
        Ok((db, _)) => db,
        Err(e) => return fail(&e),
    };
    match markethub::auth::service::create_admin(&db, email, password, name, update) {
        Ok(user) => {
            println!("admin ready: {} ({})", user.email, user.id);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let details: Vec<String> = e.fields.iter().map(|(f, p)| format!("{f} {p}")).collect();
            if details.is_empty() {
                fail(&e.message)
            } else {
                fail(&details.join("; "))
            }
        }
    }
}

fn demo(config: &Config, opts: &markethub::demo::DemoOptions) -> ExitCode {
    let db = match Db::open(&config.db_options()) {
        Ok((db, _)) => db,
        Err(e) => return fail(&e),
    };
    let images = match markethub::catalog::images::store_from_config(config) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let started = std::time::Instant::now();
    let summary = match markethub::demo::seed(&db, images.as_ref(), &config.catalog.currency, opts)
    {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    println!(
        "Demo shop ready in {:.1?}: {} categories, {} hubs, {} merchants, {} products, {} customers, {} past orders.",
        started.elapsed(),
        summary.categories,
        summary.hubs.len(),
        summary.merchants.len(),
        summary.products,
        summary.customers.len(),
        summary.orders
    );
    println!(
        "Every demo account's password: {}",
        markethub::demo::DEMO_PASSWORD
    );
    println!("  admin     {}", summary.admin);
    for (email, business) in summary.merchants.iter().take(3) {
        println!("  merchant  {email}  ({business})");
    }
    for email in summary.customers.iter().take(3) {
        println!("  customer  {email}");
    }
    if summary.merchants.len() > 3 || summary.customers.len() > 3 {
        println!("  … merchantN@ and customerN@ follow the same pattern.");
    }
    println!(
        "Start the server with `markethub` and browse http://{}/api/v1/products",
        config.listen
    );
    ExitCode::SUCCESS
}

fn read_stdin_line() -> std::io::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
