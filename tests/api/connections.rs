//! Connections cannot be held hostage: a client that sends no request, or only part of its
//! head, is cut off at `http.header_read_timeout_secs`; a kept-alive connection with nothing
//! to do is closed at `http.idle_timeout_secs` (not at the header timeout); and with far more
//! idle sockets open than the process has file descriptors, `/healthz` still answers (the
//! longest-idle connections make room), and the start-up log states the file limit.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::{Process, markethub};
use crate::common::TestServer;

/// Reads until the server closes the connection; returns how long that took from `since`,
/// or `None` if it stays open for `bound`.
async fn closed_within(
    stream: &mut TcpStream,
    since: Instant,
    bound: Duration,
) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((since + bound).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends `GET /healthz` on `stream` (kept alive) and reads its whole response.
async fn healthz_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write the request");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") || !got.ends_with(b"}") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the response arrives")
            .expect("read the response");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn slow_heads_and_idle_keep_alive_connections_are_closed_on_time() {
    let srv = TestServer::with(|c| {
        c.http.header_read_timeout_secs = 1;
        c.http.idle_timeout_secs = 3;
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();

    let started = Instant::now();
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    let mut partial = TcpStream::connect(&addr).await.expect("connect");
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .await
        .expect("write half a head");
    let mut trickle = TcpStream::connect(&addr).await.expect("connect");
    trickle.write_all(b"GE").await.expect("write");

    // A connection that keeps sending a byte now and then gets no more time than the header
    // timeout either.
    let trickling = tokio::spawn(async move {
        for b in b"T /healthz HTTP/1.1\r\n" {
            if trickle.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        closed_within(&mut trickle, started, Duration::from_secs(8)).await
    });

    let bound = Duration::from_secs(8);
    for (what, stream) in [("silent", &mut silent), ("half a head", &mut partial)] {
        let took = closed_within(stream, started, bound)
            .await
            .unwrap_or_else(|| panic!("the {what} connection is still open after {bound:?}"));
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(6),
            "the {what} connection closed after {took:?}; the header timeout is 1 s"
        );
    }
    let took = trickling
        .await
        .expect("trickle task")
        .expect("the trickling connection is closed");
    assert!(
        took < Duration::from_secs(6),
        "trickle closed after {took:?}"
    );

    // A kept-alive connection outlives the header timeout while idle, and is closed at the
    // idle timeout.
    let mut kept = TcpStream::connect(&addr).await.expect("connect");
    let first = healthz_on(&mut kept).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let idle_from = Instant::now();
    assert!(
        closed_within(&mut kept, idle_from, Duration::from_millis(1800))
            .await
            .is_none(),
        "an idle kept-alive connection is not cut at the header timeout"
    );
    let second = healthz_on(&mut kept).await;
    assert!(second.starts_with("HTTP/1.1 200"), "reused: {second}");
    let idle_from = Instant::now();
    let took = closed_within(&mut kept, idle_from, bound)
        .await
        .expect("the idle connection is closed at the idle timeout");
    assert!(
        took >= Duration::from_millis(2500),
        "closed after {took:?} of idleness; the idle timeout is 3 s"
    );

    let metrics = srv
        .client
        .get(srv.raw("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    for reason in ["header_timeout", "idle_timeout"] {
        assert!(
            metrics.contains(&format!(
                "markethub_http_connections_closed_total{{reason=\"{reason}\"}}"
            )),
            "{reason} counted in /metrics"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_hundreds_of_idle_sockets_exceed_the_file_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = markethub(dir.path());
    // The same clean environment, under a shell that lowers the open-file limit (soft and
    // hard) before it becomes markethub.
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 256 && exec \"$0\"")
        .arg(base.get_program())
        .current_dir(dir.path())
        .env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("MARKETHUB_LISTEN", "127.0.0.1:0")
        .env("MARKETHUB_BACKUP__ENABLED", "false")
        // Timeouts must not be what saves the server here.
        .env("MARKETHUB_HTTP__HEADER_READ_TIMEOUT_SECS", "300")
        .env("MARKETHUB_HTTP__IDLE_TIMEOUT_SECS", "300");
    let server = tokio::task::block_in_place(|| Process::spawn(cmd));
    let limit_line = tokio::task::block_in_place(|| server.wait_for("open_file_limit"));
    assert!(
        limit_line.contains("open_file_limit=256"),
        "the start-up log states the file limit: {limit_line}"
    );
    let addr = tokio::task::block_in_place(|| server.address());

    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(
            TcpStream::connect(&addr)
                .await
                .expect("connect an idle socket"),
        );
    }
    for round in 0..5 {
        let mut probe = TcpStream::connect(&addr).await.expect("connect the probe");
        let answer = healthz_on(&mut probe).await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "round {round}: /healthz with 400 idle sockets open: {answer}"
        );
        idle.push(probe);
    }
}
