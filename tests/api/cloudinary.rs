//! Product images on Cloudinary (feature `cloudinary`), against a stub of the Upload API on
//! loopback that enforces the contract of `../shared/reference/cloudinary.md`: multipart
//! upload, form destroy, the SHA-1 signature over the sorted parameters, the api_key, and
//! the one-hour timestamp window. The stub also delivers what it stores at the `secure_url`
//! it answers (on loopback), as Cloudinary's delivery network does: private refund evidence is
//! read back from there by the server and never shown to clients.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Multipart, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sha1::{Digest as _, Sha1};

use crate::common::TestServer;
use crate::images::{PNG, upload};

const CLOUD: &str = "demo-cloud";
const KEY: &str = "123456789012345";
const SECRET: &str = "stub-secret-abcdef";

#[derive(Clone, Default)]
struct Stub {
    /// public_id → bytes of the stored file.
    assets: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    /// Where the stub listens (for the delivery URLs it answers).
    base: Arc<Mutex<String>>,
}

fn error(status: StatusCode, message: &str) -> (StatusCode, Json<Value>) {
    (status, Json(json!({"error": {"message": message}})))
}

/// Checks api_key, timestamp window and signature as Cloudinary does.
fn verify(params: &BTreeMap<String, String>) -> Result<(), (StatusCode, Json<Value>)> {
    if params.get("api_key").map(String::as_str) != Some(KEY) {
        return Err(error(StatusCode::UNAUTHORIZED, "Invalid api_key"));
    }
    let ts: i64 = params
        .get("timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "Missing required parameter - timestamp",
            )
        })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if (now - ts).abs() > 3600 {
        return Err(error(StatusCode::BAD_REQUEST, "Stale request"));
    }
    let to_sign: Vec<String> = params
        .iter()
        .filter(|(k, v)| {
            !v.is_empty()
                && !matches!(
                    k.as_str(),
                    "file" | "cloud_name" | "resource_type" | "api_key" | "signature"
                )
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let expected: String = Sha1::digest(format!("{}{SECRET}", to_sign.join("&")).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if params.get("signature") != Some(&expected) {
        return Err(error(StatusCode::UNAUTHORIZED, "Invalid Signature"));
    }
    Ok(())
}

async fn upload_handler(
    State(stub): State<Stub>,
    Path(cloud): Path<String>,
    mut form: Multipart,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    if cloud != CLOUD {
        return Err(error(StatusCode::NOT_FOUND, "Unknown cloud"));
    }
    let mut params = BTreeMap::new();
    let mut file = None;
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            file = field.bytes().await.ok().map(|b| b.to_vec());
        } else {
            params.insert(name, field.text().await.unwrap_or_default());
        }
    }
    let file =
        file.ok_or_else(|| error(StatusCode::BAD_REQUEST, "Missing required parameter - file"))?;
    verify(&params)?;
    let public_id = match (params.get("folder"), params.get("public_id")) {
        (Some(f), Some(p)) if !f.is_empty() => format!("{f}/{p}"),
        (_, Some(p)) => p.clone(),
        _ => "generated".into(),
    };
    let bytes = file.len();
    let base = stub.base.lock().expect("lock").clone();
    stub.assets
        .lock()
        .expect("lock")
        .insert(public_id.clone(), file);
    Ok(Json(json!({
        "public_id": public_id, "version": 1, "width": 1, "height": 1, "format": "png",
        "bytes": bytes, "resource_type": "image", "created_at": "2026-11-30T00:00:00Z",
        "url": format!("http://res.cloudinary.test/{CLOUD}/image/upload/v1/{public_id}.png"),
        "secure_url": format!("{base}/res/{CLOUD}/image/upload/v1/{public_id}.png"),
        "original_filename": "upload",
    })))
}

async fn destroy_handler(
    State(stub): State<Stub>,
    Path(cloud): Path<String>,
    Form(params): Form<BTreeMap<String, String>>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    if cloud != CLOUD {
        return Err(error(StatusCode::NOT_FOUND, "Unknown cloud"));
    }
    verify(&params)?;
    let id = params.get("public_id").cloned().unwrap_or_default();
    let removed = stub.assets.lock().expect("lock").remove(&id).is_some();
    Ok(Json(
        json!({"result": if removed { "ok" } else { "not found" }}),
    ))
}

/// The delivery network: `GET /res/{cloud}/image/upload/v1/{public_id}.{ext}`.
async fn deliver_handler(
    State(stub): State<Stub>,
    Path((cloud, rest)): Path<(String, String)>,
) -> Result<Vec<u8>, StatusCode> {
    let public_id = rest.rsplit_once('.').map_or(rest.as_str(), |(id, _)| id);
    if cloud != CLOUD {
        return Err(StatusCode::NOT_FOUND);
    }
    stub.assets
        .lock()
        .expect("lock")
        .get(public_id)
        .cloned()
        .ok_or(StatusCode::NOT_FOUND)
}

async fn start_stub() -> (String, Stub) {
    let stub = Stub::default();
    let app = Router::new()
        .route("/v1_1/{cloud}/image/upload", post(upload_handler))
        .route("/v1_1/{cloud}/image/destroy", post(destroy_handler))
        .route("/res/{cloud}/image/upload/v1/{*rest}", get(deliver_handler))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind stub");
    let addr = listener.local_addr().expect("addr");
    *stub.base.lock().expect("lock") = format!("http://{addr}");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), stub)
}

async fn server(base_url: String, secret: &str) -> TestServer {
    let secret = secret.to_owned();
    TestServer::with(move |c| {
        c.uploads.storage = markethub::config::ImageStorage::Cloudinary;
        c.cloudinary.cloud_name = CLOUD.into();
        c.cloudinary.api_key = KEY.into();
        c.cloudinary.api_secret = secret;
        c.cloudinary.base_url = base_url;
    })
    .await
}

async fn product(srv: &TestServer) -> (crate::common::Session, String) {
    let admin = srv.admin().await;
    let m = srv.merchant(&admin, "m@example.com", "Shop").await;
    let cat = srv.category(&admin, "Art", None).await;
    let p = srv
        .product(
            &m,
            json!({"name": "Print", "price_cents": 1000, "stock": 1, "category_id": cat}),
        )
        .await;
    (m, p["id"].as_str().unwrap_or("").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_upload_and_destroy() {
    let (base, stub) = start_stub().await;
    let srv = server(base, SECRET).await;
    let (m, pid) = product(&srv).await;

    let r = upload(&srv, &m, &pid, PNG.to_vec(), "print.png", "image/png").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = r.body["url"].as_str().unwrap_or("");
    assert!(
        url.contains(&format!("/res/{CLOUD}/image/upload/v1/")),
        "{url}"
    );
    let image_id = r.body["id"].as_str().unwrap_or("").to_owned();
    {
        let assets = stub.assets.lock().expect("lock");
        let (public_id, bytes) = assets.iter().next().expect("stored at the stub");
        assert_eq!(bytes.as_slice(), PNG);
        assert_eq!(public_id, &format!("markethub/products/{image_id}"));
    }
    let shown = srv.get(&format!("/products/{pid}"), None).await;
    assert_eq!(shown.body["images"][0]["url"], url);

    let d = srv
        .delete(
            &format!("/merchant/products/{pid}/images/{image_id}"),
            Some(&m.access),
        )
        .await;
    assert_eq!(d.status, 204);
    assert!(
        stub.assets.lock().expect("lock").is_empty(),
        "the asset was destroyed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_stores_nothing() {
    let (base, stub) = start_stub().await;
    let srv = server(base, "wrong-secret-wrong-secret").await;
    let (m, pid) = product(&srv).await;
    let r = upload(&srv, &m, &pid, PNG.to_vec(), "print.png", "image/png").await;
    assert_eq!((r.status, r.code()), (502, "storage_unavailable"));
    assert!(stub.assets.lock().expect("lock").is_empty());
    let own = srv
        .get(&format!("/merchant/products/{pid}"), Some(&m.access))
        .await;
    assert_eq!(own.body["images"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_evidence_on_cloudinary_is_served_only_through_the_server() {
    let (base, stub) = start_stub().await;
    let srv = server(base, SECRET).await;
    let m = crate::market::Market::new(&srv).await;
    let order = m.delivered(&srv, "cod").await;
    let sub = crate::market::Market::sub_of(&order, &m.merchant_a);
    let r = srv
        .post(
            "/refunds",
            json!({"sub_order_id": sub, "reason": "damaged", "description": "The lid was cracked open."}),
            Some(&m.customer.access),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap_or("").to_owned();
    let ev = crate::images::upload_to(
        &srv,
        &m.customer,
        &format!("/refunds/{id}/evidence"),
        PNG.to_vec(),
        "lid.png",
        "image/png",
    )
    .await;
    assert_eq!(ev.status, 201, "{:?}", ev.body);
    let url = ev.body["url"].as_str().unwrap_or("").to_owned();
    assert!(
        url.starts_with(&format!("/api/v1/refunds/{id}/evidence/")),
        "{url}"
    );
    assert!(
        stub.assets.lock().expect("lock").contains_key(&format!(
            "markethub/evidence/{}",
            ev.body["id"].as_str().unwrap_or("")
        )),
        "stored at the stub"
    );
    let got = srv
        .client
        .get(srv.raw(&url))
        .bearer_auth(&m.admin.access)
        .send()
        .await
        .expect("fetch");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), PNG);
    let anonymous = srv.client.get(srv.raw(&url)).send().await.expect("fetch");
    assert_eq!(anonymous.status(), 401);
}
