//! The HTTP/1.1 accept loop. Every connection gets its own task and a place in a registry
//! that enforces three rules a plain `axum::serve` does not:
//!
//! - a client has `http.header_read_timeout_secs` to send a whole request head, counted from
//!   the accept for the first request and from the first byte for later ones;
//! - a kept-alive connection with no request in flight is closed after
//!   `http.idle_timeout_secs`, and so is one whose response has not moved a byte for as long
//!   (a client that asks for a large file and never reads it);
//! - at most `http.max_connections` are open: at the cap, a new connection closes the one that
//!   has been idle the longest (slow heads count as idle; then responses stalled for longer
//!   than the header timeout), and is refused only when every open connection is busy.
//!
//! Accept errors (out of file descriptors, say) close the oldest idle connection to free one,
//! back off from 10 ms to 1 s, and are logged at most every ten seconds. On shutdown the
//! listener closes, idle connections close at once, requests in flight get the grace period.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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
    /// A response that did not move a byte for the idle timeout (the client stopped reading).
    Stalled,
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
            Ending::Stalled => "send_timeout",
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
    /// Bytes arrived while a request was in flight (the start of a pipelined head).
    read_while_busy: AtomicBool,
    /// When the request in flight began.
    busy_since_ms: AtomicU64,
    /// When a write last moved bytes to the client.
    last_write_ms: AtomicU64,
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
            read_while_busy: AtomicBool::new(false),
            busy_since_ms: AtomicU64::new(0),
            last_write_ms: AtomicU64::new(0),
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
            .max(self.last_write_ms.load(Ordering::Relaxed))
    }

    /// Since when the request in flight has not moved a byte to the client.
    fn stalled_since_ms(&self) -> u64 {
        self.busy_since_ms
            .load(Ordering::Acquire)
            .max(self.last_write_ms.load(Ordering::Acquire))
    }

    /// May be closed at once to make room: it never answered anything, it is in the middle
    /// of a slow head, or its response has stalled for longer than the header timeout.
    /// Otherwise it is closed gracefully (the end of a response is still flushed).
    fn may_drop(&self, limits: &ConnectionLimits) -> bool {
        if self.is_idle() {
            self.served.load(Ordering::Acquire) == 0
                || self.head_since_ms.load(Ordering::Acquire) != 0
        } else {
            self.stalled_since_ms() + duration_ms(limits.header_read_timeout) <= self.now_ms()
        }
    }

    /// When this connection must close if nothing changes, and why. A request in flight has
    /// until its response stops moving for the idle timeout (the request timeout governs the
    /// handler itself).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(u64, Ending)> {
        if !self.is_idle() {
            return Some((
                self.stalled_since_ms() + duration_ms(limits.idle_timeout),
                Ending::Stalled,
            ));
        }
        let header = duration_ms(limits.header_read_timeout);
        if self.served.load(Ordering::Acquire) == 0 {
            return Some((self.accepted_ms + header, Ending::SlowHead));
        }
        // hyper may take a whole response body before it has written it: writes still moving
        // after the body ended keep the connection alive as well.
        match self.head_since_ms.load(Ordering::Acquire) {
            0 => Some((
                self.idle_since_ms
                    .load(Ordering::Acquire)
                    .max(self.last_write_ms.load(Ordering::Acquire))
                    + duration_ms(limits.idle_timeout),
                Ending::Idle,
            )),
            since => Some((since + header, Ending::SlowHead)),
        }
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if !self.is_idle() {
            self.read_while_busy.store(true, Ordering::Release);
        } else if self
            .head_since_ms
            .compare_exchange(0, self.now_ms(), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.wake.notify_one();
        }
    }

    /// Bytes went out to the client.
    fn on_write(&self) {
        self.last_write_ms.store(self.now_ms(), Ordering::Release);
    }

    /// A request head was parsed and handed to the router.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.busy_since_ms.store(self.now_ms(), Ordering::Release);
        self.active.fetch_add(1, Ordering::AcqRel);
        self.head_since_ms.store(0, Ordering::Release);
        self.read_while_busy.store(false, Ordering::Release);
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
            let now = conn.now_ms();
            conn.idle_since_ms.store(now, Ordering::Release);
            // Bytes of the next head came while this request ran: its clock starts now.
            if conn.read_while_busy.swap(false, Ordering::AcqRel) {
                let _ = conn.head_since_ms.compare_exchange(
                    0,
                    now,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
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
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.conn.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.conn.on_write();
        }
        polled
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
    fn admit(&self, limits: &ConnectionLimits) -> Option<(u64, Arc<Conn>)> {
        let mut open = self.lock();
        if open.len() >= limits.max_connections && !evict_longest_idle(&open, limits) {
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
    fn evict_one(&self, limits: &ConnectionLimits) -> bool {
        evict_longest_idle(&self.lock(), limits)
    }
}

/// Closes the idle connection with the oldest sign of life, or else the response stalled the
/// longest (past the header timeout); false when there is neither.
fn evict_longest_idle(open: &HashMap<u64, Arc<Conn>>, limits: &ConnectionLimits) -> bool {
    let candidates = || open.values().filter(|c| !c.evict.is_cancelled());
    let victim = candidates()
        .filter(|c| c.is_idle())
        .min_by_key(|c| c.last_activity_ms())
        .or_else(|| {
            candidates()
                .filter(|c| !c.is_idle() && c.may_drop(limits))
                .min_by_key(|c| c.stalled_since_ms())
        });
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
                let freed = registry.evict_one(&limits);
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
        let Some((id, conn)) = registry.admit(&limits) else {
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

/// Bytes written to a socket that the client has not acknowledged yet (Linux's SIOCOUTQ;
/// `None` where that cannot be told). A response can sit in the kernel's send buffer (up to
/// megabytes) while a slow client drains it: that is progress the writes alone do not show.
/// Asks the kernel about one socket; only valid while the connection that owns it lives.
struct SocketProbe {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
}

impl SocketProbe {
    fn of(stream: &TcpStream) -> SocketProbe {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            SocketProbe {
                fd: stream.as_raw_fd(),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = stream;
            SocketProbe {}
        }
    }

    #[cfg(target_os = "linux")]
    fn unsent_bytes(&self) -> Option<u64> {
        let mut unsent: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (= SIOCOUTQ for sockets) writes one int we own; the descriptor
        // belongs to the connection being served, which outlives every call.
        let rc = unsafe { libc::ioctl(self.fd, libc::TIOCOUTQ, &mut unsent) };
        (rc == 0).then(|| u64::try_from(unsent).unwrap_or(0))
    }

    #[cfg(not(target_os = "linux"))]
    fn unsent_bytes(&self) -> Option<u64> {
        None
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
    let probe = SocketProbe::of(&stream);
    let io = TokioIo::new(Watched {
        stream,
        conn: Arc::clone(conn),
    });
    let served = http.serve_connection(io, service);
    tokio::pin!(served);
    let mut draining = false;
    // What a close by the protocol counts as (an eviction that let a response finish).
    let mut closed_as = Ending::Closed;
    // The unacknowledged bytes at the last deadline.
    let mut last_unsent = 0;
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
                return closed_as;
            }
            () = force.cancelled() => return Ending::Shutdown,
            () = conn.evict.cancelled(), if !draining => {
                if conn.may_drop(&limits) {
                    return Ending::Evicted;
                }
                served.as_mut().graceful_shutdown();
                draining = true;
                closed_as = Ending::Evicted;
            }
            () = shutdown.cancelled(), if !draining => {
                served.as_mut().graceful_shutdown();
                draining = true;
            }
            () = tokio::time::sleep_until(wake_at) => {
                if let Some((ms, why)) = conn.deadline(&limits)
                    && conn.now_ms() >= ms
                {
                    // Bytes still leaving the kernel's buffer since the last look: the client
                    // is reading, only slowly.
                    let unsent = probe.unsent_bytes();
                    if matches!(why, Ending::Idle | Ending::Stalled)
                        && let Some(left) = unsent
                        && left > 0
                        && left != last_unsent
                    {
                        last_unsent = left;
                        conn.on_write();
                        continue;
                    }
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
    fn a_request_in_flight_has_until_its_response_stalls_and_idle_time_starts_after_it() {
        let conn = Arc::new(Conn::new(Instant::now()));
        let mut first = conn.begin();
        let (at, why) = conn.deadline(&limits()).expect("a deadline");
        assert_eq!(why, Ending::Stalled);
        assert_eq!(at, conn.busy_since_ms.load(Ordering::Relaxed) + 60_000);
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
    fn bytes_of_a_pipelined_head_start_its_clock_when_the_request_before_ends() {
        let conn = Arc::new(Conn::new(Instant::now()));
        let mut first = conn.begin();
        conn.on_read();
        assert_eq!(conn.head_since_ms.load(Ordering::Relaxed), 0);
        first.finish();
        assert_ne!(conn.head_since_ms.load(Ordering::Relaxed), 0);
        assert_eq!(
            conn.deadline(&limits()).map(|d| d.1),
            Some(Ending::SlowHead)
        );
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let registry = Registry::new();
        let (_, a) = registry.admit(&limits()).expect("a");
        let _a_busy = a.begin();
        let (_, b) = registry.admit(&limits()).expect("b");
        let (_, c) = registry.admit(&limits()).expect("c: the idle b makes room");
        assert!(b.evict.is_cancelled());
        assert!(!a.evict.is_cancelled(), "a request in flight is never cut");
        assert!(b.may_drop(&limits()), "b never answered anything");
        // b's task has closed it.
        registry.lock().retain(|_, x| !x.evict.is_cancelled());
        let _c_busy = c.begin();
        assert!(
            registry.admit(&limits()).is_none(),
            "every open connection is busy: refused"
        );
    }

    #[test]
    fn a_response_stalled_past_the_header_timeout_may_be_dropped() {
        let conn = Arc::new(Conn::new(Instant::now() - Duration::from_secs(30)));
        let _busy = conn.begin();
        assert!(!conn.may_drop(&limits()), "it just began");
        conn.busy_since_ms.store(1, Ordering::Relaxed);
        assert!(conn.may_drop(&limits()), "nothing sent for 30 s");
        conn.on_write();
        assert!(!conn.may_drop(&limits()), "bytes moved just now");
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
