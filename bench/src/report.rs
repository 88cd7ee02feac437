//! The results of one run: a markdown report (printed, and written between the markers of
//! `docs/BENCHMARKS.md`) with every scenario and every target of the issue checked.

use std::fmt::Write as _;
use std::path::Path;

use crate::wrk::{Load, Outcome};

pub const BEGIN: &str = "<!-- bench:begin (written by `cargo run --release -p bench`) -->";
pub const END: &str = "<!-- bench:end -->";

/// One wrk scenario.
pub struct Scenario {
    pub name: &'static str,
    pub load: Load,
    pub outcome: Outcome,
    /// The server's RSS right after the scenario, MiB (0 for the hello-world ceiling).
    pub rss_mb: f64,
}

/// Everything one run measured.
#[derive(Default)]
pub struct Results {
    pub date: String,
    pub machine: String,
    pub cores: usize,
    pub dataset: String,
    pub seed_secs: Option<f64>,
    pub seconds: u32,
    pub binary_mb: f64,
    pub cold_start_ms: f64,
    pub hello_cold_start_ms: f64,
    pub idle_rss_mb: f64,
    pub after_rss_mb: f64,
    pub peak_rss_mb: f64,
    pub hash_ms: f64,
    /// Mean time of a search's first run (ranking all matches, then cached).
    pub search_prime_ms: f64,
    pub raw_orders_per_sec: f64,
    pub raw_orders: u64,
    pub scenarios: Vec<Scenario>,
    /// Product reads during the login flood, and the logins of that flood.
    pub flood_reads: Option<Outcome>,
    pub flood_logins: Option<Outcome>,
    pub flood_rss_mb: f64,
}

impl Results {
    pub fn get(&self, name: &str) -> Option<&Outcome> {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.outcome)
    }

    fn rps(&self, name: &str) -> f64 {
        self.get(name).map_or(0.0, Outcome::rps)
    }

    /// (target, measured, met) for every numbered target of the issue.
    pub fn targets(&self) -> Vec<(String, String, bool)> {
        let h = self.rps("hello world (H)");
        let mut t = Vec::new();
        let mut ratio = |name: &str, label: &str, share: f64| {
            let r = self.rps(name);
            t.push((
                format!("{label} ≥ {share}×H"),
                format!("{:.0}/s = {:.2}×H", r, r / h.max(1e-9)),
                r >= share * h,
            ));
        };
        ratio("product by id", "product by id", 0.4);
        ratio("list page (20, with total)", "list page", 0.2);
        ratio("search q=", "search", 0.1);
        let with = self.rps("list page (20, with total)");
        let without = self.rps("list page (20, no total)");
        let cost = without / with.max(1e-9);
        t.push((
            "list page with total ≤ 1.5× the time of the page without".into(),
            format!("{cost:.2}×"),
            cost <= 1.5,
        ));
        let p99 = self.get("search q=").map_or(f64::MAX, |o| o.p99_ms);
        t.push((
            "search p99 < 20 ms".into(),
            format!("{p99:.1} ms"),
            p99 < 20.0,
        ));
        if let Some(c) = self.get("checkout (1–3 merchants)") {
            let o = c.orders_per_sec();
            let r = self.raw_orders_per_sec;
            t.push((
                "checkout ≥ 0.5×R".into(),
                format!("{o:.0} orders/s = {:.2}×R (R = {r:.0}/s)", o / r.max(1e-9)),
                o >= 0.5 * r,
            ));
            t.push((
                "checkout ≥ 2,000 orders/s at 64 clients".into(),
                format!("{o:.0} orders/s"),
                o >= 2000.0,
            ));
            t.push((
                "zero database-busy errors".into(),
                format!("{} busy, {} other failures", c.busy, c.errors()),
                c.busy == 0,
            ));
        }
        let ideal = self.cores as f64 / (self.hash_ms / 1000.0).max(1e-9);
        let login = self.rps("login");
        t.push((
            "login ≥ 80% of cores ÷ one hash".into(),
            format!(
                "{login:.0}/s = {:.0}% of {ideal:.0}/s (hash {:.1} ms, {} cores)",
                100.0 * login / ideal.max(1e-9),
                self.hash_ms,
                self.cores
            ),
            login >= 0.8 * ideal,
        ));
        if let Some(f) = &self.flood_reads {
            let solo = self.rps("product by id");
            let share = f.rps() / solo.max(1e-9);
            t.push((
                "product reads during a login flood ≥ 50% of solo".into(),
                format!("{:.0}/s = {:.0}%", f.rps(), share * 100.0),
                share >= 0.5,
            ));
        }
        t.push((
            "idle RSS ≤ 20 MB".into(),
            format!("{:.1} MB", self.idle_rss_mb),
            self.idle_rss_mb <= 20.0,
        ));
        t.push((
            "peak RSS ≤ 150 MB".into(),
            format!("{:.1} MB", self.peak_rss_mb),
            self.peak_rss_mb <= 150.0,
        ));
        t.push((
            "cold start ≤ 200 ms".into(),
            format!("{:.0} ms", self.cold_start_ms),
            self.cold_start_ms <= 200.0,
        ));
        t.push((
            "binary ≤ 25 MB".into(),
            format!("{:.1} MB", self.binary_mb),
            self.binary_mb <= 25.0,
        ));
        t
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## Load benchmark — latest run ({})\n", self.date);
        let _ = writeln!(
            s,
            "Machine: {} ({} cores); wrk on the same machine, loopback. Dataset: {}{}. \
             {} s per scenario after a warm-up.\n",
            self.machine,
            self.cores,
            self.dataset,
            self.seed_secs
                .map(|t| format!(" (seeded in {t:.0} s this run)"))
                .unwrap_or_default(),
            self.seconds
        );
        s.push_str(
            "| scenario | clients | req/s | ×H | p50 ms | p95 ms | p99 ms | errors | RSS after, MB |\n",
        );
        s.push_str("|---|---|---|---|---|---|---|---|---|\n");
        let h = self.rps("hello world (H)");
        let mut row = |name: &str, load: &Load, o: &Outcome, rss: f64| {
            let extra = if o.orders > 0 {
                format!(" ({:.0} orders/s)", o.orders_per_sec())
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {:.0}{extra} | {:.3} | {:.2} | {:.2} | {:.2} | {} | {} |",
                load.connections,
                o.rps(),
                o.rps() / h.max(1e-9),
                o.p50_ms,
                o.p95_ms,
                o.p99_ms,
                o.errors(),
                if rss > 0.0 {
                    format!("{rss:.0}")
                } else {
                    "—".into()
                }
            );
        };
        for sc in &self.scenarios {
            row(sc.name, &sc.load, &sc.outcome, sc.rss_mb);
        }
        if let (Some(r), Some(l)) = (&self.flood_reads, &self.flood_logins) {
            let flood = Load {
                connections: 64,
                threads: 2,
                seconds: self.seconds,
            };
            row(
                "product by id during a login flood",
                &flood,
                r,
                self.flood_rss_mb,
            );
            let logins = Load {
                connections: 16,
                ..flood
            };
            row("… the login flood itself", &logins, l, self.flood_rss_mb);
        }
        let _ = writeln!(
            s,
            "\nR (the same order flow in process, no HTTP): {:.0} orders/s ({} orders). \
             One password hash: {:.1} ms. A search's first run (ranking every match, one \
             client, before the search scenario): {:.1} ms on average.\n",
            self.raw_orders_per_sec, self.raw_orders, self.hash_ms, self.search_prime_ms
        );
        s.push_str("| | |\n|---|---|\n");
        let _ = writeln!(
            s,
            "| release binary (stripped, default features) | {:.1} MB |",
            self.binary_mb
        );
        let _ = writeln!(
            s,
            "| cold start to first 200 of `/api/v1/products` on the large database | {:.0} ms |",
            self.cold_start_ms
        );
        let _ = writeln!(
            s,
            "| cold start of the hello-world ceiling, for scale | {:.0} ms |",
            self.hello_cold_start_ms
        );
        let _ = writeln!(s, "| idle RSS after start | {:.1} MB |", self.idle_rss_mb);
        let _ = writeln!(
            s,
            "| RSS after the run, idle again | {:.1} MB |",
            self.after_rss_mb
        );
        let _ = writeln!(s, "| peak RSS (VmHWM) | {:.1} MB |", self.peak_rss_mb);
        s.push_str("\n| target | measured | met |\n|---|---|---|\n");
        for (target, measured, met) in self.targets() {
            let _ = writeln!(
                s,
                "| {target} | {measured} | {} |",
                if met { "yes" } else { "**no**" }
            );
        }
        s
    }
}

/// Replaces the text between the markers of `doc` with `section` (appending the markers
/// when the file has none).
pub fn write_doc(doc: &Path, section: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(doc).unwrap_or_else(|_| "# Benchmarks\n".into());
    let block = format!("{BEGIN}\n{section}{END}");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!("{}{block}{}", &old[..a], &old[b + END.len()..]),
        _ => format!("{}\n{block}\n", old.trim_end()),
    };
    std::fs::write(doc, new).map_err(|e| format!("writing {}: {e}", doc.display()))
}
