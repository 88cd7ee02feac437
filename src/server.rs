//! Start-up and shutdown of the server: data directory lock, secrets, database and
//! migrations, background jobs, the listener (served by `http::connections` with its
//! timeouts and connection cap, sized from the open-file limit), and a graceful stop on
//! SIGTERM/Ctrl-C that lets in-flight requests finish (up to `http.shutdown_grace_secs`).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::db::{Db, DbError};
use crate::http::{connections, file_limit};
use crate::state::AppState;

/// Name of the lock file that keeps two servers off one data directory.
pub const LOCK_FILE: &str = "markethub.lock";

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Startup(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Holds an exclusive lock on `<data_dir>/markethub.lock` while the server runs.
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    pub fn acquire(data_dir: &Path) -> Result<Self, ServerError> {
        let path = data_dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ServerError::Io(format!("opening {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ServerError::Startup(format!(
                    "another markethub server is using the data directory {}",
                    data_dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(ServerError::Io(format!("locking {}", path.display()), e));
            }
        }
        let _ = file.set_len(0);
        let _ = std::io::Write::write_all(&mut &file, std::process::id().to_string().as_bytes());
        Ok(DataDirLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A server that is accepting connections.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Asks the server to stop gracefully.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server has stopped and released its resources.
    pub async fn wait(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Opens everything and starts serving on `config.listen` (port 0 picks a free port).
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    let files = file_limit::raise();
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| ServerError::Io(format!("creating {}", config.data_dir.display()), e))?;
    let lock = DataDirLock::acquire(&config.data_dir)?;
    let secret = config.resolve_jwt_secret()?;
    let callback_secret = config.resolve_callback_secret()?;
    let opts = config.db_options();
    let (db, status) = tokio::task::spawn_blocking(move || Db::open(&opts))
        .await
        .map_err(|e| ServerError::Startup(format!("opening the database: {e}")))??;
    for m in &status.applied {
        tracing::info!(version = m.version, name = %m.name, "applied migration");
    }
    let sync_config = config.clone();
    let role = db
        .write(move |c| Ok::<_, DbError>(crate::sync::resolve_role(c, &sync_config)))
        .await?
        .map_err(ServerError::Startup)?;
    if let crate::sync::Role::Hub(id) = &role {
        tracing::info!(hub_id = %id.hub_id, upstream = %id.upstream_url, "running as a hub instance");
    }
    let listen = config.listen.clone();
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let limits = connections::ConnectionLimits {
        header_read_timeout: Duration::from_secs(config.http.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(config.http.idle_timeout_secs),
        max_connections: file_limit::connection_cap(
            config.http.max_connections,
            files,
            config.database.max_read_connections,
        ),
    };
    log_file_limit(files, limits.max_connections);
    let mut state =
        AppState::new(config, db, &secret, &callback_secret).map_err(ServerError::Startup)?;
    state.sync = crate::sync::client::SyncHandle::new(role);
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| ServerError::Io(format!("binding {listen}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::Io("reading the bound address".into(), e))?;
    let shutdown = state.shutdown.clone();
    let jobs = crate::jobs::spawn(&state, &shutdown);
    let app = crate::app(state.clone());
    let task = tokio::spawn(serve(
        listener,
        app,
        limits,
        shutdown.clone(),
        grace,
        jobs,
        state.db.clone(),
        lock,
    ));
    tracing::info!(
        %addr,
        schema_version = status.current_version,
        environment = ?state.config.environment,
        database = %state.db.location(),
        "markethub listening on http://{addr}"
    );
    Ok(RunningServer {
        addr,
        state,
        shutdown,
        task,
    })
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: connections::ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
    jobs: Vec<JoinHandle<()>>,
    db: Db,
    lock: DataDirLock,
) {
    connections::serve(listener, app, limits, shutdown.clone(), grace).await;
    shutdown.cancel();
    for job in jobs {
        if tokio::time::timeout(Duration::from_secs(10), job)
            .await
            .is_err()
        {
            tracing::warn!("a background job did not stop in time");
        }
    }
    if let Err(e) = db.close().await {
        tracing::warn!(error = %e, "closing the database");
    }
    tracing::info!(lock = %lock.path().display(), "markethub stopped");
    drop(lock);
}

/// States the open-file limit and the connection cap it gave, warning when it is low.
fn log_file_limit(files: Option<file_limit::FileLimit>, max_connections: usize) {
    match files {
        Some(f) if f.soft < 4096 => tracing::warn!(
            open_file_limit = f.soft,
            hard_limit = f.hard,
            max_connections,
            "the open-file limit is low: raise it (LimitNOFILE= in the systemd unit, ulimit -n)"
        ),
        Some(f) => tracing::info!(
            open_file_limit = f.soft,
            raised_from = f.raised_from,
            max_connections,
            "open-file limit"
        ),
        None => tracing::info!(max_connections, "open-file limit unknown"),
    }
}

/// Runs the server until SIGTERM or Ctrl-C, then stops gracefully.
pub async fn run(config: Config) -> Result<(), ServerError> {
    // Install the handlers before announcing the address: a signal that arrives right
    // after "listening" must stop the server gracefully, not kill the process.
    let signals = ShutdownSignals::install()?;
    let server = start(config).await?;
    let token = server.shutdown_token();
    tokio::spawn(async move {
        signals.received().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        token.cancel();
    });
    server.wait().await;
    Ok(())
}

/// SIGTERM and SIGINT (Ctrl-C), registered eagerly.
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    #[cfg(unix)]
    fn install() -> Result<Self, ServerError> {
        use tokio::signal::unix::{SignalKind, signal};
        let io = |e| ServerError::Io("installing signal handlers".into(), e);
        Ok(ShutdownSignals {
            term: signal(SignalKind::terminate()).map_err(io)?,
            int: signal(SignalKind::interrupt()).map_err(io)?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> Result<Self, ServerError> {
        Ok(ShutdownSignals {})
    }

    #[cfg(unix)]
    async fn received(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn received(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
