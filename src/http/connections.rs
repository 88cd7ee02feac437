//! The HTTP/1.1 accept loop. Every connection gets its own task and a place in a registry
//! that enforces three rules a plain `axum::serve` does not:
//!
//! - a client has `http.header_read_timeout_secs` to send a whole request head, counted from
//!   the accept for the first request and from the first byte for later ones;
//! - a kept-alive connection with no request in flight is closed after
//!   `http.idle_timeout_secs`;
//! - at most `http.max_connections` are open: at the cap, a new connection closes the one that
//!   has been idle the longest (slow heads count as idle), and is refused only when every
//!   open connection is busy with a request.
//!
//! Accept errors (out of file descriptors, say) close the oldest idle connection to free one,
//! back off from 10 ms to 1 s, and are logged at most every ten seconds. On shutdown the
//! listener closes, idle connections close at once, requests in flight get the grace period.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The connection rules, from `[http]` in the config.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Why a connection ended (a label of `markethub_http_connections_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client or the protocol ended it.
    Closed,
    /// No complete request head within the header timeout.
    SlowHead,
    /// Kept alive with nothing to do for the idle timeout.
    Idle,
    /// Closed to make room for a new connection at the cap.
    Evicted,
    /// Still open when the shutdown grace period ran out.
    Shutdown,
}

impl Ending {
    fn label(self) -> &'static str {
        match self {
            Ending::Closed => "closed",
            Ending::SlowHead => "header_timeout",
            Ending::Idle => "idle_timeout",
            Ending::Evicted => "evicted",
            Ending::Shutdown => "shutdown",
        }
    }
}

/// What the registry knows of one open connection. Times are milliseconds since the
/// registry's epoch, plus one (so 0 means "never").
struct Conn {
    epoch: Instant,
    accepted_ms: u64,
    /// Requests whose response is not completely sent yet.
    active: AtomicU32,
    /// Requests answered.
    served: AtomicU64,
    /// When the connection last became idle (the accept, or the end of a response).
    idle_since_ms: AtomicU64,
    /// When the first byte of the next request head arrived; 0 while none has.
    head_since_ms: AtomicU64,
    /// Cancelled to close the connection at the cap.
    evict: CancellationToken,
    /// Rung when a deadline may have moved (bytes of a new head, a response finished).
    wake: Notify,
}

impl Conn {
    fn new(epoch: Instant) -> Conn {
        let now = ms_since(epoch);
        Conn {
            epoch,
            accepted_ms: now,
            active: AtomicU32::new(0),
            served: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(now),
            head_since_ms: AtomicU64::new(0),
            evict: CancellationToken::new(),
            wake: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        ms_since(self.epoch)
    }

    fn is_idle(&self) -> bool {
        self.active.load(Ordering::Acquire) == 0
    }

    /// The last sign of life: what decides which idle connection goes first at the cap.
    fn last_activity_ms(&self) -> u64 {
        self.idle_since_ms
            .load(Ordering::Relaxed)
            .max(self.head_since_ms.load(Ordering::Relaxed))
    }

    /// When this connection must close if nothing changes, and why; `None` while a request
    /// is in flight (the request timeout governs that).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(u64, Ending)> {
        if !self.is_idle() {
            return None;
        }
        let header = duration_ms(limits.header_read_timeout);
        if self.served.load(Ordering::Acquire) == 0 {
            return Some((self.accepted_ms + header, Ending::SlowHead));
        }
        match self.head_since_ms.load(Ordering::Acquire) {
            0 => Some((
                self.idle_since_ms.load(Ordering::Acquire) + duration_ms(limits.idle_timeout),
                Ending::Idle,
            )),
            since => Some((since + header, Ending::SlowHead)),
        }
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if self.is_idle()
            && self
                .head_since_ms
                .compare_exchange(0, self.now_ms(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.wake.notify_one();
        }
    }

    /// A request head was parsed and handed to the router.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.head_since_ms.store(0, Ordering::Release);
        InFlight(Some(Arc::clone(self)))
    }
}

fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}

/// Marks one request in flight until its response has been sent (or abandoned).
struct InFlight(Option<Arc<Conn>>);

impl InFlight {
    fn finish(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.idle_since_ms.store(conn.now_ms(), Ordering::Release);
            conn.served.fetch_add(1, Ordering::AcqRel);
            conn.active.fetch_sub(1, Ordering::AcqRel);
            conn.wake.notify_one();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A response body that ends its request's [`InFlight`] when it is fully sent or dropped:
/// a long download is a request in flight, not an idle connection.
struct TrackedBody {
    inner: Body,
    in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            this.in_flight.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, watched for the first bytes of each request head.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.on_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The open connections.
struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn new() -> Registry {
        Registry {
            epoch: Instant::now(),
            next_id: AtomicU64::new(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new connection if there is room, closing the longest-idle one at the cap.
    /// `None`: every open connection is busy, refuse this one.
    fn admit(&self, max: usize) -> Option<(u64, Arc<Conn>)> {
        let mut open = self.lock();
        if open.len() >= max && !evict_longest_idle(&open) {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(self.epoch));
        open.insert(id, Arc::clone(&conn));
        crate::metrics::connections_open(open.len());
        Some((id, conn))
    }

    fn remove(&self, id: u64) {
        let mut open = self.lock();
        open.remove(&id);
        crate::metrics::connections_open(open.len());
    }

    /// Frees a file descriptor after a failed accept.
    fn evict_one(&self) -> bool {
        evict_longest_idle(&self.lock())
    }
}

/// Closes the idle connection with the oldest sign of life; false when none is idle.
fn evict_longest_idle(open: &HashMap<u64, Arc<Conn>>) -> bool {
    let victim = open
        .values()
        .filter(|c| c.is_idle() && !c.evict.is_cancelled())
        .min_by_key(|c| c.last_activity_ms());
    match victim {
        Some(c) => {
            c.evict.cancel();
            true
        }
        None => false,
    }
}

/// Logs a repeated failure at most every ten seconds, with how often it happened meanwhile.
struct Throttled {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    const EVERY: Duration = Duration::from_secs(10);

    fn new() -> Throttled {
        Throttled {
            last: None,
            suppressed: 0,
        }
    }

    /// Whether to log now, and how many occurrences went unlogged before this one.
    fn due(&mut self) -> Option<u64> {
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Errors of one connection (the peer gave up before we accepted): try the next one at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then drains: no new connections,
/// idle ones closed, requests in flight given `grace` before their connections are dropped.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let registry = Arc::new(Registry::new());
    let tasks = TaskTracker::new();
    let force = CancellationToken::new();
    let mut http = http1::Builder::new();
    // Our own timers below replace hyper's header timeout (which would also cut idle
    // keep-alive connections at the header timeout).
    http.header_read_timeout(None).keep_alive(true);
    let mut refused = Throttled::new();
    let mut failed = Throttled::new();
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::ZERO;
                pair
            }
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                crate::metrics::accept_error();
                let freed = registry.evict_one();
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                if let Some(suppressed) = failed.due() {
                    tracing::warn!(
                        error = %e,
                        suppressed,
                        closed_an_idle_connection = freed,
                        retry_in_ms = backoff.as_millis() as u64,
                        "accepting a connection failed; backing off"
                    );
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                continue;
            }
        };
        let Some((id, conn)) = registry.admit(limits.max_connections) else {
            crate::metrics::connection_refused();
            if let Some(suppressed) = refused.due() {
                tracing::warn!(
                    %peer,
                    max_connections = limits.max_connections,
                    suppressed,
                    "connection refused: every open connection is busy (http.max_connections)"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, http, registry) = (app.clone(), http.clone(), Arc::clone(&registry));
        let (shutdown, force) = (shutdown.clone(), force.clone());
        tasks.spawn(async move {
            let ending =
                connection(stream, peer, &conn, app, &http, limits, &shutdown, &force).await;
            registry.remove(id);
            crate::metrics::connection_closed(ending.label());
            if ending != Ending::Closed {
                tracing::debug!(%peer, reason = ending.label(), "connection closed");
            }
        });
    }
    drop(listener);
    tasks.close();
    if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
        tracing::warn!("shutdown grace period expired; dropping open connections");
        force.cancel();
        tasks.wait().await;
    }
}

/// Serves one connection until it ends, and says why it ended.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: &Arc<Conn>,
    app: Router,
    http: &http1::Builder,
    limits: ConnectionLimits,
    shutdown: &CancellationToken,
    force: &CancellationToken,
) -> Ending {
    let tracked = Arc::clone(conn);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let in_flight = tracked.begin();
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<Response<Body>, Infallible>(
                response.map(|inner| Body::new(TrackedBody { inner, in_flight })),
            )
        }
    });
    let io = TokioIo::new(Watched {
        stream,
        conn: Arc::clone(conn),
    });
    let served = http.serve_connection(io, service);
    tokio::pin!(served);
    let mut draining = false;
    loop {
        let deadline = conn.deadline(&limits);
        let wake_at = deadline.map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            |(ms, _)| tokio::time::Instant::from_std(conn.epoch + Duration::from_millis(ms - 1)),
        );
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return Ending::Closed;
            }
            () = force.cancelled() => return Ending::Shutdown,
            () = conn.evict.cancelled(), if !draining => {
                if conn.is_idle() {
                    return Ending::Evicted;
                }
                served.as_mut().graceful_shutdown();
                draining = true;
            }
            () = shutdown.cancelled(), if !draining => {
                served.as_mut().graceful_shutdown();
                draining = true;
            }
            () = tokio::time::sleep_until(wake_at) => {
                if let Some((ms, why)) = conn.deadline(&limits)
                    && conn.now_ms() >= ms
                {
                    return why;
                }
            }
            () = conn.wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 2,
        }
    }

    #[test]
    fn a_new_connection_must_send_its_head_within_the_header_timeout() {
        let conn = Arc::new(Conn::new(Instant::now()));
        let (at, why) = conn.deadline(&limits()).expect("a deadline");
        assert_eq!(why, Ending::SlowHead);
        assert_eq!(at, conn.accepted_ms + 10_000);
        conn.on_read();
        assert_eq!(
            conn.deadline(&limits()).map(|d| d.0),
            Some(conn.accepted_ms + 10_000),
            "bytes do not extend the first head's time"
        );
    }

    #[test]
    fn requests_in_flight_have_no_deadline_and_idle_time_starts_when_they_end() {
        let conn = Arc::new(Conn::new(Instant::now()));
        let mut first = conn.begin();
        assert!(conn.deadline(&limits()).is_none());
        conn.on_read();
        assert_eq!(
            conn.head_since_ms.load(Ordering::Relaxed),
            0,
            "a pipelined byte does not start a head timer"
        );
        first.finish();
        first.finish();
        assert_eq!(conn.active.load(Ordering::Relaxed), 0, "finished once");
        let (at, why) = conn.deadline(&limits()).expect("a deadline");
        assert_eq!(why, Ending::Idle);
        assert_eq!(at, conn.idle_since_ms.load(Ordering::Relaxed) + 60_000);
        conn.on_read();
        let (at, why) = conn.deadline(&limits()).expect("a deadline");
        assert_eq!(why, Ending::SlowHead);
        assert_eq!(at, conn.head_since_ms.load(Ordering::Relaxed) + 10_000);
        drop(conn.begin());
        assert_eq!(conn.deadline(&limits()).map(|d| d.1), Some(Ending::Idle));
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let registry = Registry::new();
        let (_, a) = registry.admit(2).expect("a");
        let _a_busy = a.begin();
        let (_, b) = registry.admit(2).expect("b");
        let (_, c) = registry.admit(2).expect("c: the idle b makes room");
        assert!(b.evict.is_cancelled());
        assert!(!a.evict.is_cancelled(), "a request in flight is never cut");
        // b's task has closed it.
        registry.lock().retain(|_, x| !x.evict.is_cancelled());
        let _c_busy = c.begin();
        assert!(
            registry.admit(2).is_none(),
            "every open connection is busy: refused"
        );
    }

    #[test]
    fn repeated_failures_are_logged_once_per_period_with_a_count() {
        let mut t = Throttled::new();
        assert_eq!(t.due(), Some(0));
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        t.last = Some(Instant::now() - Throttled::EVERY);
        assert_eq!(t.due(), Some(2));
    }
}
