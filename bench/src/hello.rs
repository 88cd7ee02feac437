//! The ceiling H: an axum "hello world" on the same runtime settings as markethub (tokio's
//! multi-threaded runtime, one worker per core), served by this binary as `bench hello`.

use axum::Router;
use axum::routing::get;

pub fn serve() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let app = Router::new().route("/", get(|| async { "Hello, World!" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        eprintln!("hello listening on http://{addr}");
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}
