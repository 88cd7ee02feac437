//! Runs wrk with one of the embedded Lua scenarios and parses the summary line that
//! `report.lua` prints.

use std::path::Path;
use std::process::{Child, Command, Stdio};

const REPORT: &str = include_str!("lua/report.lua");
const GET: &str = include_str!("lua/get.lua");
const LOGIN: &str = include_str!("lua/login.lua");
const ORDERS: &str = include_str!("lua/orders.lua");

/// What a scenario sends.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// Random GETs from a list in the data file (its Lua name), optionally as the admin.
    Get {
        list: &'static str,
        admin: bool,
    },
    Login,
    /// Shoppers; `write_share` is the chance an idle shopper starts an order (1.0: always).
    Orders {
        write_share: f64,
    },
}

/// Load shape: connections, wrk threads, seconds.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: u32,
    pub threads: u32,
    pub seconds: u32,
}

/// One wrk run's summary.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub requests: u64,
    pub seconds: f64,
    pub non2xx: u64,
    pub socket_errors: u64,
    pub timeouts: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub orders: u64,
    pub failed: u64,
    pub busy: u64,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }

    pub fn orders_per_sec(&self) -> f64 {
        self.orders as f64 / self.seconds.max(1e-9)
    }

    /// Requests that did not get the answer the scenario expects.
    pub fn errors(&self) -> u64 {
        // Scripts with a response() hook count their own failures, which include non-2xx.
        self.non2xx.max(self.failed) + self.socket_errors + self.timeouts
    }
}

fn script_text(script: Script, data: &Path) -> String {
    let body = match script {
        Script::Get { list, admin } => GET
            .replace("__LIST__", list)
            .replace("__AS_ADMIN__", if admin { "true" } else { "false" }),
        Script::Login => LOGIN.to_owned(),
        Script::Orders { write_share } => {
            ORDERS.replace("__WRITE_SHARE__", &format!("{write_share:.3}"))
        }
    };
    format!(
        "{}\n{REPORT}",
        body.replace("__DATA__", &data.display().to_string())
    )
}

/// Starts wrk; [`finish`] collects it (so two runs can overlap).
pub fn start(
    base: &str,
    script: Script,
    load: Load,
    data: &Path,
    dir: &Path,
    name: &str,
) -> Result<Child, String> {
    let file = dir.join(format!("{name}.lua"));
    std::fs::write(&file, script_text(script, data))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    Command::new("wrk")
        .arg("-c")
        .arg(load.connections.to_string())
        .arg("-t")
        .arg(load.threads.to_string())
        .arg("-d")
        .arg(format!("{}s", load.seconds))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&file)
        .arg(base)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting wrk (is it installed?): {e}"))
}

/// Waits for a wrk started by [`start`] and parses its summary.
pub fn finish(child: Child) -> Result<Outcome, String> {
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_JSON "))
        .ok_or_else(|| {
            format!(
                "wrk printed no summary (exit {}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("wrk summary {line:?}: {e}"))?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let ms = |k: &str| v[k].as_f64().unwrap_or(0.0) / 1000.0;
    Ok(Outcome {
        requests: n("requests"),
        seconds: n("duration_us") as f64 / 1e6,
        non2xx: n("non2xx"),
        socket_errors: n("socket_errors"),
        timeouts: n("timeouts"),
        p50_ms: ms("p50_us"),
        p95_ms: ms("p95_us"),
        p99_ms: ms("p99_us"),
        orders: n("orders"),
        failed: n("failed"),
        busy: n("busy"),
    })
}

/// Runs one scenario to the end.
pub fn run(
    base: &str,
    script: Script,
    load: Load,
    data: &Path,
    dir: &Path,
    name: &str,
) -> Result<Outcome, String> {
    finish(start(base, script, load, data, dir, name)?)
}
