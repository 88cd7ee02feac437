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
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
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

/// Sends a request head one byte every 200 ms (ten seconds' worth) while watching the
/// connection; returns how long after `from` the server closed it (`None`: open after 8 s).
async fn trickle(stream: TcpStream, from: Instant) -> Option<Duration> {
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Pad: 0123456789abcdef" {
            if write.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        write
    });
    let closed = closed_within(&mut read, from, Duration::from_secs(8)).await;
    writer.abort();
    closed
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
    // A connection that keeps sending a byte now and then gets no more time than the header
    // timeout either (each byte does not start the clock again).
    let trickling = tokio::spawn(trickle(
        TcpStream::connect(&addr).await.expect("connect"),
        started,
    ));

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
        took < Duration::from_secs(3),
        "a head sent byte by byte was cut after {took:?}; the header timeout is 1 s"
    );

    // On a kept-alive connection, the next head has the header timeout from its first byte.
    let mut again = TcpStream::connect(&addr).await.expect("connect");
    let first = healthz_on(&mut again).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let from = Instant::now();
    let took = trickle(again, from)
        .await
        .expect("the second head is cut off");
    assert!(
        took < Duration::from_secs(3),
        "a second head sent byte by byte was cut after {took:?}"
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

/// A valid PNG of random pixels: `side`×`side`, about 3 bytes a pixel whatever the
/// compression (noise does not compress).
fn noise_png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side, side);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().expect("png header");
        let mut x: u32 = 0x9E37_79B9;
        let pixels: Vec<u8> = (0..side * side * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        writer.write_image_data(&pixels).expect("png data");
    }
    out
}

/// A server with a 2 s idle timeout holding a picture larger than what the kernel buffers
/// between two ends (4 MiB a side); the picture's URL.
async fn big_picture() -> (TestServer, String) {
    let srv = TestServer::with(|c| {
        c.http.idle_timeout_secs = 2;
        c.uploads.max_image_bytes = 16 * 1024 * 1024;
    })
    .await;
    let admin = srv.admin().await;
    let m = srv.merchant(&admin, "big@example.com", "Big Prints").await;
    let cat = srv.category(&admin, "Posters", None).await;
    let p = srv
        .product(
            &m,
            serde_json::json!({"name": "Poster", "price_cents": 1000, "stock": 1, "category_id": cat}),
        )
        .await;
    let pid = p["id"].as_str().unwrap_or_default().to_owned();
    let big = noise_png(2000);
    assert!(big.len() > 10_000_000, "{} bytes", big.len());
    let up = crate::images::upload(&srv, &m, &pid, big, "big.png", "image/png").await;
    assert_eq!(up.status, 201, "{:?}", up.body);
    let url = up.body["url"].as_str().unwrap_or_default().to_owned();
    (srv, url)
}

/// Asks for `url` on a socket with a tiny receive window (the server's writes stall as soon
/// as the buffers are full).
async fn ask_slowly(srv: &TestServer, url: &str) -> TcpStream {
    let addr: std::net::SocketAddr = srv
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    let mut stream = socket.connect(addr).await.expect("connect");
    stream
        .write_all(format!("GET {url} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .expect("ask for the picture");
    stream
}

/// Reads what arrives (after `got`) until the server closes or `quiet` passes without a
/// byte; the body received and the length its head announced.
async fn drain(stream: &mut TcpStream, mut got: Vec<u8>, quiet: Duration) -> (usize, usize) {
    let mut buf = [0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(quiet, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let split = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(got.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&got[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: ").map(str::to_owned))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(usize::MAX);
    (got.len() - split, length)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_is_cut_off_when_it_stops_moving_not_while_it_moves() {
    let (srv, url) = big_picture().await;

    // A client that reads slowly but steadily gets everything, though that takes longer than
    // the idle timeout.
    let mut slow = ask_slowly(&srv, &url).await;
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    while started.elapsed() < Duration::from_secs(5) {
        let n = tokio::time::timeout(Duration::from_secs(3), slow.read(&mut buf))
            .await
            .expect("bytes keep coming")
            .expect("read");
        assert!(
            n > 0,
            "closed after {:?} while the client was reading",
            started.elapsed()
        );
        got.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (body, length) = drain(&mut slow, got, Duration::from_secs(3)).await;
    assert_eq!(body, length, "the slow reader got the whole picture");

    // A client that stops reading is cut off once nothing has moved for the idle timeout
    // (it reads nothing for 5 s: the scenario, not a wait).
    let mut stuck = ask_slowly(&srv, &url).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (body, length) = drain(&mut stuck, Vec::new(), Duration::from_secs(10)).await;
    assert!(
        body < length,
        "the stalled response is cut off: {body} of {length} bytes arrived"
    );
}
