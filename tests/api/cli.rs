//! The `markethub` binary itself: zero-setup start on an empty directory, refusal of
//! production mode with default secrets, `config check`, `migrate`, `create-admin`, the
//! data-directory lock, and a graceful stop on SIGTERM that finishes in-flight requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::common::{PASSWORD, TestServer, test_config};

const BIN: &str = env!("CARGO_BIN_EXE_markethub");

/// A `markethub` command in `dir` with a clean environment (no stray MARKETHUB_* vars).
pub fn markethub(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MARKETHUB_LOG__FORMAT", "text");
    cmd
}

/// A running server process whose stderr lines arrive on a channel.
pub struct Process {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Process {
    pub fn spawn(mut cmd: Command) -> Process {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn markethub");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process { child, lines }
    }

    /// Waits (bounded) for a log line containing `needle` and returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line containing {needle:?}: {e}"),
            }
        }
    }

    /// The address from the "listening on http://ADDR" line.
    pub fn address(&self) -> String {
        let line = self.wait_for("listening on http://");
        let start = line.find("http://").map(|i| i + 7).unwrap_or(0);
        line[start..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit; kills it and fails the test otherwise.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            let child = &mut self.child;
            scope.spawn(move || {
                let _ = tx.send(child.wait());
            });
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(Ok(status)) => status,
                _ => {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                    panic!("markethub did not exit in time");
                }
            }
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn zero_setup_start_on_an_empty_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = markethub(dir.path());
    // Only the port is changed, so parallel tests do not fight over 8080.
    cmd.env("MARKETHUB_LISTEN", "127.0.0.1:0");
    let mut server = Process::spawn(cmd);
    let addr = server.address();
    let health = http_get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(http_get(&addr, "/readyz").starts_with("HTTP/1.1 200"));
    let data = dir.path().join("data");
    assert!(
        data.join("markethub.db").exists(),
        "database created in ./data"
    );
    assert!(
        data.join("jwt_secret").exists(),
        "development secret persisted"
    );
    server.signal("-TERM");
    assert!(server.wait_exit().success());
}

#[test]
fn default_listen_address_is_loopback_8080() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = markethub(dir.path())
        .args(["config", "check"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("listen = \"127.0.0.1:8080\""), "{stdout}");
    assert!(stdout.contains("data_dir = \"./data\""), "{stdout}");
    assert!(stdout.contains("environment = \"development\""), "{stdout}");
}

#[test]
fn production_refuses_default_secrets_and_wildcard_cors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = markethub(dir.path())
        .env("MARKETHUB_ENVIRONMENT", "production")
        .env("MARKETHUB_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.jwt_secret"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing was created");

    let out = markethub(dir.path())
        .env("MARKETHUB_ENVIRONMENT", "production")
        .env("MARKETHUB_AUTH__JWT_SECRET", "p".repeat(48))
        .env("MARKETHUB_HTTP__CORS_ORIGINS", "[\"*\"]")
        .env("MARKETHUB_PAYMENTS__GATEWAY", "disabled")
        .args(["config", "check"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wildcard"));
}

#[test]
fn config_check_layers_file_and_environment_and_masks_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("site.toml"),
        "listen = \"127.0.0.1:9999\"\n[mail]\nsmtp_url = \"smtp://mailer:hunter2hunter2@mail.example:587\"\n",
    )
    .expect("write config");
    let secret = "s3cr3t-".repeat(8);
    let out = markethub(dir.path())
        .env("MARKETHUB_AUTH__JWT_SECRET", &secret)
        .env("MARKETHUB_DATA_DIR", "/srv/markethub")
        .args(["--config", "site.toml", "config", "check"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("listen = \"127.0.0.1:9999\""),
        "file applies: {stdout}"
    );
    assert!(
        stdout.contains("data_dir = \"/srv/markethub\""),
        "env applies: {stdout}"
    );
    assert!(
        !stdout.contains(&secret) && !stdout.contains("hunter2"),
        "{stdout}"
    );
    assert!(stdout.contains("********"));

    let missing = markethub(dir.path())
        .args(["--config", "nope.toml", "config", "check"])
        .output()
        .expect("run");
    assert!(!missing.status.success());
}

#[test]
fn migrate_and_create_admin_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = markethub(dir.path()).arg("migrate").output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("schema is at version"));

    let mut child = markethub(dir.path())
        .args([
            "create-admin",
            "--email",
            "Boss@Example.com",
            "--password-stdin",
            "--name",
            "Boss",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("boss@example.com"));

    let weak = markethub(dir.path())
        .args([
            "create-admin",
            "--email",
            "weak@example.com",
            "--password",
            "short",
        ])
        .output()
        .expect("run");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));

    let dup = markethub(dir.path())
        .args([
            "create-admin",
            "--email",
            "boss@example.com",
            "--password",
            PASSWORD,
        ])
        .output()
        .expect("run");
    assert!(
        !dup.status.success(),
        "an existing account is not silently overwritten"
    );

    // The admin made by the CLI signs in to a server on the same data directory.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let data = dir.path().join("data");
        let holder = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(&holder);
        config.data_dir = data;
        config.database.url = String::new(); // the SQLite file the CLI wrote
        let srv = TestServer::start_in(holder, config).await;
        let r = srv.login("boss@example.com", PASSWORD).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["user"]["role"], "admin");
        assert_eq!(r.body["user"]["email_verified"], true);
    });
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first_cmd = markethub(dir.path());
    first_cmd.env("MARKETHUB_LISTEN", "127.0.0.1:0");
    let first = Process::spawn(first_cmd);
    first.address();
    let out = markethub(dir.path())
        .env("MARKETHUB_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another markethub server"));
}

#[test]
fn sigterm_lets_the_in_flight_request_finish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = markethub(dir.path());
    cmd.env("MARKETHUB_LISTEN", "127.0.0.1:0")
        .env("MARKETHUB_LOG__LEVEL", "info,tower_http=debug");
    let mut server = Process::spawn(cmd);
    let addr = server.address();

    // A request whose body is still arriving when the signal comes.
    let body = json!({"email": "late@example.com", "password": "Wrong-Password-1"}).to_string();
    let (head, tail) = body.split_at(10);
    let mut conn = TcpStream::connect(&addr).expect("connect");
    write!(
        conn,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    )
    .expect("write head");
    conn.flush().expect("flush");
    // The server has parsed the headers and waits for the body when it logs this.
    server.wait_for("started processing request");
    server.signal("-TERM");
    server.wait_for("shutdown signal received");
    conn.write_all(tail.as_bytes()).expect("write tail");
    let mut response = String::new();
    conn.read_to_string(&mut response).expect("read response");
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "in-flight request answered: {response}"
    );
    assert!(response.contains("invalid_credentials"));
    assert!(server.wait_exit().success(), "clean exit after draining");
    assert!(
        TcpStream::connect(&addr).is_err(),
        "no longer accepting connections"
    );
}

#[test]
fn backup_and_restore_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = markethub(dir.path()).args(args).output().expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["backup"]);
    assert!(!ok && err.contains("no database"), "{err}");
    let (ok, _, err) = run(&[
        "create-admin",
        "--email",
        "first@example.com",
        "--password",
        PASSWORD,
    ]);
    assert!(ok, "{err}");

    // Taken while a server runs on the same data directory.
    let mut cmd = markethub(dir.path());
    cmd.env("MARKETHUB_LISTEN", "127.0.0.1:0");
    let mut server = Process::spawn(cmd);
    server.address();
    let (ok, out, err) = run(&["backup", "--out", "snapshot.db.gz"]);
    assert!(ok, "{err}");
    assert!(out.contains("snapshot.db.gz"), "{out}");
    let (ok, out, err) = run(&["backup"]);
    assert!(ok, "{err}");
    assert!(out.contains("data/backups/markethub-"), "{out}");

    let (ok, _, err) = run(&["restore", "snapshot.db.gz"]);
    assert!(!ok && err.contains("stop it before restoring"), "{err}");
    server.signal("-TERM");
    assert!(server.wait_exit().success());

    // Written after the backup: gone once it is restored, kept in the database moved aside.
    let (ok, _, err) = run(&[
        "create-admin",
        "--email",
        "later@example.com",
        "--password",
        PASSWORD,
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["restore", "snapshot.db.gz"]);
    assert!(ok, "{err}");
    assert!(out.contains("previous database moved to"), "{out}");
    let emails = |db: &Path| -> Vec<String> {
        let conn = rusqlite::Connection::open(db).expect("open");
        let mut stmt = conn
            .prepare("SELECT email FROM users ORDER BY email")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let data = dir.path().join("data");
    assert_eq!(emails(&data.join("markethub.db")), ["first@example.com"]);
    let aside = std::fs::read_dir(&data)
        .expect("list")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.starts_with("markethub.db.before-restore-")
                && !name.ends_with("-wal")
                && !name.ends_with("-shm")
        })
        .expect("the previous database is kept");
    assert_eq!(emails(&aside), ["first@example.com", "later@example.com"]);

    std::fs::write(dir.path().join("junk.gz"), b"definitely not a backup").expect("write");
    let (ok, _, err) = run(&["restore", "junk.gz"]);
    assert!(!ok && err.contains("not a MarketHub backup"), "{err}");
    assert_eq!(emails(&data.join("markethub.db")), ["first@example.com"]);
}
