//! `cargo run --release -p bench`: the load benchmark of issue 12. Builds the release server,
//! seeds (or reuses) the large dataset, measures the hello-world ceiling H, the in-process
//! order flow R and every scenario with wrk on loopback, prints the report and writes it into
//! `docs/BENCHMARKS.md`.
//!
//! Options: `--seconds N` per scenario (default 10), `--products/--merchants/--customers/
//! --orders N` for the dataset, `--no-doc` to leave the document alone, `--profile NAME` to
//! test another cargo profile's server (`profiling` keeps symbols for perf).
//! `bench hello` is the hello-world server the run starts for H; `bench raw [DATA_DIR]` runs
//! R alone (for profiling).

mod dataset;
mod fixtures;
mod hello;
mod raw;
mod report;
mod server;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use report::{Results, Scenario};
use wrk::{Load, Script};

struct Options {
    seconds: u32,
    /// Cargo profile of the server under test (`release`; `profiling` keeps symbols for perf).
    profile: String,
    size: dataset::Size,
    write_doc: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        seconds: 10,
        profile: "release".into(),
        size: dataset::Size {
            products: 100_000,
            merchants: 1_000,
            customers: 10_000,
            orders: 100_000,
        },
        write_doc: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = || -> Result<u32, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{a} needs a number"))
        };
        match a.as_str() {
            "--seconds" => o.seconds = num()?.max(1),
            "--products" => o.size.products = num()?,
            "--merchants" => o.size.merchants = num()?,
            "--customers" => o.size.customers = num()?,
            "--orders" => o.size.orders = num()?,
            "--no-doc" => o.write_doc = false,
            "--profile" => {
                o.profile = it
                    .next()
                    .cloned()
                    .ok_or("--profile needs a cargo profile name")?;
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = if args.first().map(String::as_str) == Some("hello") {
        hello::serve()
    } else if args.first().map(String::as_str) == Some("raw") {
        raw_only(args.get(1).map(String::as_str))
    } else {
        parse(&args).and_then(|o| run(&o))
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `bench raw [DATA_DIR]`: R alone, on the last run's copy by default (for profiling).
fn raw_only(dir: Option<&str>) -> Result<(), String> {
    let dir = dir.map_or_else(|| root().join("target/bench/run"), PathBuf::from);
    let db_file = dir.join("markethub.db");
    let fx = fixtures::read(&db_file)?;
    let (r, placed) = raw::checkout_rate(
        &db_file,
        &fx.customer_ids[fx.customer_ids.len().min(64)..],
        &fx.merchant_products,
        &fx.hub_id,
        10,
    )?;
    println!("R = {r:.0} orders/s ({placed} orders)");
    Ok(())
}

fn step(what: &str) {
    eprintln!("==> {what}");
}

/// Installs wrk from Debian's packages when it is missing.
fn ensure_wrk() -> Result<(), String> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    step("installing wrk (apt-get)");
    let sudo = !matches!(
        Command::new("id").arg("-u").output().map(|o| o.stdout),
        Ok(ref out) if out.starts_with(b"0")
    );
    let apt = |args: &[&str]| {
        let mut cmd = if sudo {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        } else {
            Command::new("apt-get")
        };
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    let _ = apt(&["update", "-qq"]);
    match apt(&["install", "-y", "-qq", "wrk"]) {
        Ok(s) if s.success() => Ok(()),
        _ => Err("could not install wrk; install it (apt-get install wrk) and run again".into()),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn login(base: &str, email: &str) -> Result<String, String> {
    let body = serde_json::json!({"email": email, "password": markethub::demo::DEMO_PASSWORD});
    let mut r = ureq::post(format!("{base}/api/v1/auth/login"))
        .send_json(&body)
        .map_err(|e| format!("signing in {email}: {e}"))?;
    let v: serde_json::Value = r
        .body_mut()
        .read_json()
        .map_err(|e| format!("signing in {email}: {e}"))?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("signing in {email}: no access_token in {v}"))
}

fn run(o: &Options) -> Result<(), String> {
    let root = root();
    let work = root.join("target/bench");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    step("building the release server");
    let built = Command::new(&cargo)
        .args(["build", "--profile", &o.profile, "--bin", "markethub"])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !built.success() {
        return Err("cargo build --release failed".into());
    }
    ensure_wrk()?;
    let bin = root.join("target").join(&o.profile).join("markethub");
    let mut res = Results {
        seconds: o.seconds,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        ..Results::default()
    };
    res.binary_mb = std::fs::metadata(&bin).map_err(|e| e.to_string())?.len() as f64 / 1e6;
    res.date = markethub::clock::to_rfc3339(markethub::clock::now_ms())
        .chars()
        .take(10)
        .collect();
    res.machine = machine();
    let s = o.size;
    res.dataset = format!(
        "{} products, {} merchants, {} customers, {} past orders",
        s.products, s.merchants, s.customers, s.orders
    );

    step("dataset");
    let (cache, seeded) = dataset::cached(&bin, &work.join("cache"), s)?;
    res.seed_secs = seeded;
    let data_dir = work.join("run");
    dataset::fresh_copy(&cache, &data_dir)?;
    let db_file = data_dir.join("markethub.db");
    let fx = fixtures::read(&db_file)?;

    step("in-process baselines: one password hash, and R");
    res.hash_ms = raw::hash_time()?.as_secs_f64() * 1000.0;
    let shoppers = &fx.customer_ids[fx.customer_ids.len().min(64)..];
    let (r, placed) = raw::checkout_rate(
        &db_file,
        shoppers,
        &fx.merchant_products,
        &fx.hub_id,
        o.seconds,
    )?;
    res.raw_orders_per_sec = r;
    res.raw_orders = placed;

    let scratch = work.join("scripts");
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let data = scratch.join("data.lua");
    let read = |connections| Load {
        connections,
        threads: 2,
        seconds: o.seconds,
    };

    step("hello-world ceiling H");
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut hello_cmd = Command::new(me);
    hello_cmd.arg("hello");
    let hello = server::Server::start(hello_cmd, "/")?;
    res.hello_cold_start_ms = hello.cold_start.as_secs_f64() * 1000.0;
    // The data file must exist for the script; the hello run needs only its path list.
    fx.write_lua(&data, &[], "", "/")?;
    let h = wrk::run(
        &hello.base,
        Script::Get {
            list: "hello_paths",
            admin: false,
        },
        read(64),
        &data,
        &scratch,
        "hello",
    )?;
    hello.stop();
    res.scenarios.push(Scenario {
        name: "hello world (H)",
        load: read(64),
        outcome: h,
        rss_mb: 0.0,
    });

    step("starting markethub on the large database");
    let srv = server::Server::start(
        server::markethub(&bin, &data_dir),
        "/api/v1/products?per_page=1",
    )?;
    res.cold_start_ms = srv.cold_start.as_secs_f64() * 1000.0;
    res.idle_rss_mb = srv.memory().0;
    let tokens = fx
        .emails
        .iter()
        .take(64)
        .map(|email| login(&srv.base, email))
        .collect::<Result<Vec<_>, _>>()?;
    let admin = login(&srv.base, &fx.admin_email)?;
    let analytics = "/api/v1/admin/analytics?from=2026-06-02&to=2026-07-01";
    fx.write_lua(&data, &tokens, &admin, analytics)?;
    // Every search once, in turn: a query's first run ranks all its matches (the cost of a
    // cache miss, reported); the search scenario then measures repeated searches.
    let searches = fx.search_paths();
    let primed = std::time::Instant::now();
    for path in &searches {
        let _ = ureq::get(format!("{}{path}", srv.base)).call();
    }
    res.search_prime_ms = primed.elapsed().as_secs_f64() * 1000.0 / searches.len().max(1) as f64;

    let base = srv.base.clone();
    let mut measure = |name: &'static str, script: Script, load: Load| -> Result<(), String> {
        step(name);
        let outcome = wrk::run(&base, script, load, &data, &scratch, "scenario")?;
        eprintln!(
            "    {:.0} req/s, p99 {:.2} ms, {} errors",
            outcome.rps(),
            outcome.p99_ms,
            outcome.errors()
        );
        let rss_mb = srv.memory().0;
        res.scenarios.push(Scenario {
            name,
            load,
            outcome,
            rss_mb,
        });
        Ok(())
    };
    let get = |list| Script::Get { list, admin: false };
    // Warm-up: pages into the cache, statements prepared on every connection.
    wrk::run(
        &srv.base,
        get("product_paths"),
        Load {
            seconds: 2,
            ..read(64)
        },
        &data,
        &scratch,
        "warm",
    )?;
    measure("product by id", get("product_paths"), read(64))?;
    measure("list page (20, with total)", get("list_paths"), read(64))?;
    measure(
        "list page (20, no total)",
        get("list_nocount_paths"),
        read(64),
    )?;
    measure("search q=", get("search_paths"), read(64))?;
    measure("category listing", get("category_paths"), read(64))?;
    measure("login", Script::Login, read(16))?;
    measure(
        "admin analytics (30 days)",
        Script::Get {
            list: "analytics_paths",
            admin: true,
        },
        read(8),
    )?;
    let shoppers = Load {
        connections: 64,
        threads: 64,
        seconds: o.seconds,
    };
    measure(
        "checkout (1–3 merchants)",
        Script::Orders { write_share: 1.0 },
        shoppers,
    )?;
    measure(
        "mixed (browse, 5% start an order)",
        Script::Orders { write_share: 0.05 },
        shoppers,
    )?;

    step("product reads during a login flood");
    let flood = wrk::start(&srv.base, Script::Login, read(16), &data, &scratch, "flood")?;
    let reads = wrk::run(
        &srv.base,
        get("product_paths"),
        read(64),
        &data,
        &scratch,
        "reads",
    )?;
    let logins = wrk::finish(flood)?;
    res.flood_reads = Some(reads);
    res.flood_logins = Some(logins);
    res.flood_rss_mb = srv.memory().0;

    res.after_rss_mb = srv.memory().0;
    res.peak_rss_mb = srv.memory().1;
    srv.stop();

    let md = res.markdown();
    println!("\n{md}");
    if o.write_doc {
        let doc = root.join("docs/BENCHMARKS.md");
        report::write_doc(&doc, &md)?;
        eprintln!("wrote {}", doc.display());
    }
    Ok(())
}

/// The CPU model, for the report.
fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
