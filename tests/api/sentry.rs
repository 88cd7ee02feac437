//! Error reporting with the `sentry` feature: the real Sentry client in the binary sends an
//! ERROR event to a stub of Sentry's envelope endpoint on loopback (POST
//! /api/{project}/envelope/ with an X-Sentry-Auth header carrying the DSN's key).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use crate::cli::markethub;

/// One request the stub received: request line, headers (lower-cased names), body.
struct Received {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// Answers every POST with 200 and passes what it got to the channel.
fn sentry_stub() -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let len = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0usize);
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let mut stream = stream;
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            );
            let _ = tx.send(Received {
                line: line.trim().to_owned(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
    });
    (addr, rx)
}

#[test]
fn a_start_up_failure_is_reported_to_sentry() {
    let (stub, received) = sentry_stub();
    let dir = tempfile::tempdir().expect("tempdir");
    // The port is taken, so the server logs an ERROR and exits: that error is reported.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let out = markethub(dir.path())
        .env(
            "MARKETHUB_LISTEN",
            taken.local_addr().expect("addr").to_string(),
        )
        .env(
            "MARKETHUB_SENTRY__DSN",
            format!("http://publickey@{stub}/42"),
        )
        .output()
        .expect("run");
    assert!(!out.status.success());
    let report = received
        .recv_timeout(Duration::from_secs(10))
        .expect("an envelope reached the stub");
    assert!(
        report.line.starts_with("POST /api/42/envelope/"),
        "{}",
        report.line
    );
    let auth = report
        .headers
        .iter()
        .find(|(k, _)| k == "x-sentry-auth")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    assert!(auth.contains("sentry_key=publickey"), "{auth}");
    assert!(report.body.contains("could not start"), "{}", report.body);
    // An error event (Sentry's default level, so no "level" key), not just a breadcrumb.
    assert!(
        report.body.contains("{\"type\":\"event\""),
        "{}",
        report.body
    );
    assert!(
        report.body.contains("Address already in use"),
        "{}",
        report.body
    );
}

#[test]
fn a_malformed_dsn_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = markethub(dir.path())
        .env("MARKETHUB_SENTRY__DSN", "not a dsn")
        .args(["config", "check"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sentry.dsn"));
}
