//! Child processes under test: the markethub release binary on a copy of the dataset, and
//! the axum hello-world ceiling; their address, start-up time and memory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running server process, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    /// From spawn to the first 200 on the probe path.
    pub cold_start: Duration,
}

impl Server {
    /// Starts `cmd` (which must log `listening on http://ADDR`) and waits for the first 200
    /// on `probe`.
    pub fn start(mut cmd: Command, probe: &str) -> Result<Server, String> {
        let started = Instant::now();
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {cmd:?}: {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(i) = line.find("listening on http://") {
                    let addr = line[i + "listening on http://".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    sent = tx.send(addr).is_ok();
                } else if line.contains("ERROR") || line.contains("WARN") {
                    eprintln!("  server: {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| "the server did not report its address within 60 s".to_owned())?;
        let base = format!("http://{addr}");
        let url = format!("{base}{probe}");
        loop {
            if let Ok(r) = ureq::get(&url).call()
                && r.status() == 200
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("{url} did not answer 200 within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(Server {
            cold_start: started.elapsed(),
            child,
            base,
        })
    }

    /// (VmRSS, VmHWM) in MiB.
    pub fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM and wait, so the database is checkpointed.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The markethub binary serving `data_dir` on a free loopback port, tuned for load: no rate
/// limits (every request comes from 127.0.0.1), no scheduled backups, warnings only.
pub fn markethub(bin: &Path, data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("MARKETHUB_DATA_DIR", data_dir)
        .env("MARKETHUB_LISTEN", "127.0.0.1:0")
        .env("MARKETHUB_RATE_LIMIT__ENABLED", "false")
        .env("MARKETHUB_BACKUP__ENABLED", "false")
        .env("MARKETHUB_LOG__LEVEL", "warn,markethub::server=info")
        .env("MARKETHUB_PAYMENTS__GATEWAY", "disabled");
    cmd
}
