//! Image storage: content sniffing by magic bytes, then a real decode ([`check_pixels`]:
//! dimensions under the configured limits, the whole file parsed as the format it claims),
//! the [`ImageStore`] trait with its local disk implementation (files under
//! `<data_dir>/uploads`, served at `/media/…` with immutable cache headers), and the choice of
//! store from the config.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http::Path as UrlPath;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::{Config, ImageStorage, UploadsConfig};
use crate::http::AppError;
use crate::state::AppState;

/// The image formats we accept, recognised by their first bytes, never by name or header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
}

impl ImageKind {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Webp => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Webp => "webp",
        }
    }

    fn from_extension(ext: &str) -> Option<ImageKind> {
        match ext {
            "jpg" => Some(ImageKind::Jpeg),
            "png" => Some(ImageKind::Png),
            "webp" => Some(ImageKind::Webp),
            _ => None,
        }
    }
}

/// Recognises JPEG (`FF D8 FF`), PNG (its 8-byte signature) and WebP (`RIFF....WEBP`).
pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageKind::Jpeg)
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(ImageKind::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageKind::Webp)
    } else {
        None
    }
}

/// How many pixels an uploaded image may have.
#[derive(Debug, Clone, Copy)]
pub struct PixelLimits {
    pub max_side: u32,
    pub max_pixels: u64,
}

impl PixelLimits {
    pub fn from_config(cfg: &UploadsConfig) -> PixelLimits {
        PixelLimits {
            max_side: cfg.max_image_side_px,
            max_pixels: u64::from(cfg.max_image_megapixels) * 1_000_000,
        }
    }
}

/// Why an upload's content was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PixelProblem {
    #[error(
        "is {width}×{height} pixels; images are limited to {max_side} pixels a side and {megapixels} megapixels"
    )]
    TooLarge {
        width: u32,
        height: u32,
        max_side: u32,
        megapixels: u64,
    },
    #[error("is not a valid {format} image ({reason})")]
    Malformed {
        format: &'static str,
        reason: String,
    },
}

/// Reads the dimensions from the header, refuses them beyond `limits` (before any pixel
/// memory is taken), then decodes the whole file as `kind`: a header followed by something
/// else (HTML, a script, a truncated body) is refused. Blocking and CPU-bound: call it on
/// the blocking pool. PNG is checked row by row; JPEG and WebP briefly hold the pixels (up to
/// 4 bytes each).
pub fn check_pixels(
    bytes: &[u8],
    kind: ImageKind,
    limits: PixelLimits,
) -> Result<(u32, u32), PixelProblem> {
    let fits = |width: u32, height: u32| {
        if width > limits.max_side
            || height > limits.max_side
            || u64::from(width) * u64::from(height) > limits.max_pixels
        {
            Err(PixelProblem::TooLarge {
                width,
                height,
                max_side: limits.max_side,
                megapixels: limits.max_pixels / 1_000_000,
            })
        } else {
            Ok(())
        }
    };
    let malformed = |format: &'static str| {
        move |e: &dyn std::fmt::Display| PixelProblem::Malformed {
            format,
            reason: e.to_string(),
        }
    };
    let (width, height) = match kind {
        ImageKind::Png => {
            let bad = malformed("PNG");
            let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
            let (width, height) = decoder
                .read_header_info()
                .map(|info| (info.width, info.height))
                .map_err(|e| bad(&e))?;
            fits(width, height)?;
            let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
            while reader.next_row().map_err(|e| bad(&e))?.is_some() {}
            reader.finish().map_err(|e| bad(&e))?;
            (width, height)
        }
        ImageKind::Jpeg => {
            let bad = malformed("JPEG");
            // The header pass reports any size (the limits are ours, checked just below);
            // strict: a stream that ends early or breaks is an error, not grey pixels.
            let options = zune_core::options::DecoderOptions::default()
                .set_max_width(usize::MAX)
                .set_max_height(usize::MAX)
                .set_strict_mode(true);
            let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
                zune_core::bytestream::ZCursor::new(bytes),
                options,
            );
            decoder.decode_headers().map_err(|e| bad(&e))?;
            let (w, h) = decoder
                .dimensions()
                .ok_or_else(|| bad(&"no frame header"))?;
            let (width, height) = (
                u32::try_from(w).unwrap_or(u32::MAX),
                u32::try_from(h).unwrap_or(u32::MAX),
            );
            fits(width, height)?;
            decoder.decode().map_err(|e| bad(&e))?;
            (width, height)
        }
        ImageKind::Webp => {
            let bad = malformed("WebP");
            let mut decoder =
                image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).map_err(|e| bad(&e))?;
            let (width, height) = decoder.dimensions();
            fits(width, height)?;
            let size = decoder
                .output_buffer_size()
                .ok_or_else(|| bad(&"the image is too large to decode"))?;
            let mut pixels = vec![0u8; size];
            decoder.read_image(&mut pixels).map_err(|e| bad(&e))?;
            (width, height)
        }
    };
    Ok((width, height))
}

/// Decodes run one at a time: each holds a whole image's pixels for a moment. The permit
/// goes into the decode itself, so a client that hangs up does not free it early.
static DECODING: std::sync::LazyLock<Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(1)));

/// Where a stored image lives.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The store's own name for it, used to delete it.
    pub key: String,
    /// What clients load.
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("image service: {0}")]
    Remote(String),
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(..) => AppError::internal(e),
            StorageError::Remote(msg) => {
                tracing::warn!(error = %msg, "image service failed");
                AppError::new(
                    StatusCode::BAD_GATEWAY,
                    "storage_unavailable",
                    "the image service did not accept the file; retry later",
                )
            }
        }
    }
}

/// A place to keep images. Calls block (disk or network): run them on the blocking pool.
pub trait ImageStore: Send + Sync {
    /// Stores `bytes` as `<folder>/<id>.<ext>`.
    fn put(
        &self,
        folder: &str,
        id: &str,
        kind: ImageKind,
        bytes: &[u8],
    ) -> Result<Stored, StorageError>;
    /// Removes what `put` stored; removing something already gone is not an error.
    fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// The bytes of what `put` stored (as `key` at `url`); `None` when it is gone. For files
    /// served only through an authorised route (refund evidence).
    fn read(&self, key: &str, url: &str) -> Result<Option<Vec<u8>>, StorageError>;
}

/// Builds the store the config asks for.
pub fn store_from_config(config: &Config) -> Result<Arc<dyn ImageStore>, String> {
    match config.uploads.storage {
        ImageStorage::Local => Ok(Arc::new(LocalDisk::new(config.data_dir.join("uploads")))),
        #[cfg(feature = "cloudinary")]
        ImageStorage::Cloudinary => Ok(Arc::new(super::cloudinary::Cloudinary::new(
            &config.cloudinary,
        )?)),
        #[cfg(not(feature = "cloudinary"))]
        ImageStorage::Cloudinary => {
            Err("uploads.storage = \"cloudinary\" needs the `cloudinary` feature".into())
        }
    }
}

/// Files under a root directory, published at `/media/<key>`.
pub struct LocalDisk {
    root: PathBuf,
}

pub const MEDIA_PREFIX: &str = "/media/";
/// Stored files under this folder are never published at `/media/`.
const PRIVATE_FOLDER: &str = "evidence/";

impl LocalDisk {
    pub fn new(root: PathBuf) -> Self {
        LocalDisk { root }
    }

    fn path_of(&self, key: &str) -> Option<PathBuf> {
        safe_key(key).then(|| self.root.join(key))
    }
}

/// Keys are `folder/name.ext` made of `[A-Za-z0-9_-]` parts: nothing can climb out of the root.
fn safe_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && key.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

impl ImageStore for LocalDisk {
    fn put(
        &self,
        folder: &str,
        id: &str,
        kind: ImageKind,
        bytes: &[u8],
    ) -> Result<Stored, StorageError> {
        let key = format!("{folder}/{id}.{}", kind.extension());
        let path = self
            .path_of(&key)
            .ok_or_else(|| StorageError::Remote(format!("unsafe storage key {key:?}")))?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError::Io(format!("creating {}", dir.display()), e))?;
        // Write aside, flush to disk, then rename: a crash never leaves half a file under the key.
        let tmp = path.with_extension("partial");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StorageError::Io(format!("writing {}", path.display()), e)
        })?;
        Ok(Stored {
            url: format!("{MEDIA_PREFIX}{key}"),
            key,
        })
    }

    fn read(&self, key: &str, _url: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(path) = self.path_of(key) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::Io(format!("reading {}", path.display()), e)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        let Some(path) = self.path_of(key) else {
            return Ok(());
        };
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::Io(format!("removing {}", path.display()), e)),
        }
    }
}

/// An image received in a multipart upload, already checked.
pub struct Upload {
    pub bytes: Bytes,
    pub kind: ImageKind,
}

impl Upload {
    pub fn size(&self) -> i64 {
        i64::try_from(self.bytes.len()).unwrap_or(i64::MAX)
    }
}

fn multipart_error(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the image is too large",
        )
    } else {
        AppError::bad_request("invalid_multipart", e.body_text())
    }
}

/// Reads the `file` field of a multipart upload and checks it: present (422), at most
/// `uploads.max_image_bytes` (413), a JPEG, PNG or WebP by its content (415), within the
/// pixel limits and decodable as that format throughout (422 naming `file`).
pub async fn receive(
    multipart: Result<Multipart, MultipartRejection>,
    cfg: &UploadsConfig,
) -> Result<Upload, AppError> {
    let max_bytes = cfg.max_image_bytes;
    let mut multipart = multipart.map_err(|_| {
        AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the image as multipart/form-data in a field named `file`",
        )
    })?;
    let mut data = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            data = Some(field.bytes().await.map_err(multipart_error)?);
            break;
        }
    }
    let bytes = data.ok_or_else(|| AppError::invalid_field("file", "is required"))?;
    if bytes.len() > max_bytes {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("images are limited to {max_bytes} bytes"),
        ));
    }
    let kind = sniff(&bytes).ok_or_else(|| {
        AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_type",
            "only JPEG, PNG and WebP images are accepted (checked by content)",
        )
    })?;
    let limits = PixelLimits::from_config(cfg);
    let turn = Arc::clone(&DECODING)
        .acquire_owned()
        .await
        .map_err(AppError::internal)?;
    let data = bytes.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        check_pixels(&data, kind, limits)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|problem| AppError::invalid_field("file", problem.to_string()))?;
    Ok(Upload { bytes, kind })
}

/// Stores an upload through the configured store, off the async executor.
pub async fn put(
    state: &AppState,
    folder: &'static str,
    id: &str,
    upload: &Upload,
) -> Result<Stored, AppError> {
    let (images, id, kind, bytes) = (
        state.images.clone(),
        id.to_owned(),
        upload.kind,
        upload.bytes.clone(),
    );
    tokio::task::spawn_blocking(move || images.put(folder, &id, kind, &bytes))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::from)
}

/// Reads a stored image back (off the async executor); `None` when it is gone.
pub async fn read(state: &AppState, key: String, url: String) -> Result<Option<Bytes>, AppError> {
    let images = state.images.clone();
    tokio::task::spawn_blocking(move || images.read(&key, &url))
        .await
        .map_err(AppError::internal)?
        .map(|found| found.map(Bytes::from))
        .map_err(AppError::from)
}

/// Removes a stored image; a failure is logged (the file is orphaned, nothing else breaks).
pub async fn remove(state: &AppState, key: String) {
    let images = state.images.clone();
    let k = key.clone();
    match tokio::task::spawn_blocking(move || images.delete(&k)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(key = %key, error = %e, "could not remove a stored image"),
        Err(e) => tracing::warn!(key = %key, error = %e, "could not remove a stored image"),
    }
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(serve_media))]
pub struct Doc;

/// `GET /media/{*key}`: locally stored images. Names are unique and never reused, so the
/// files are cacheable forever.
pub fn media_router() -> Router<AppState> {
    Router::new().route("/media/{*key}", get(serve_media))
}

/// A stored product image (the `url` of an image points here when images are kept on local
/// disk). Cacheable forever; answers 304 to a matching `If-None-Match`. Refund evidence is
/// not served here.
#[utoipa::path(
    get,
    path = "/media/{key}",
    tag = "catalog",
    params(("key" = String, Path, description = "The image's storage key, e.g. `products/<id>.webp`")),
    responses(
        (status = 200, description = "The image", content(
            (String = "image/jpeg"), (String = "image/png"), (String = "image/webp")
        )),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such image", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn serve_media(
    State(state): State<AppState>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let not_found = || AppError::not_found("image");
    // Refund evidence is private: served only by `GET /refunds/{id}/evidence/{image_id}`.
    if !safe_key(&key) || key.starts_with(PRIVATE_FOLDER) {
        return Err(not_found());
    }
    let kind = Path::new(&key)
        .extension()
        .and_then(|e| e.to_str())
        .and_then(ImageKind::from_extension)
        .ok_or_else(not_found)?;
    let etag = format!("\"{key}\"");
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut().insert(header::CACHE_CONTROL, cache);
        return Ok(resp);
    }
    let path = state.config.data_dir.join("uploads").join(&key);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => {
            return Err(AppError::internal(format!(
                "reading {}: {e}",
                path.display()
            )));
        }
    };
    let mut resp = ([(header::CONTENT_TYPE, kind.content_type())], bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, cache);
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_uses_content_not_names() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageKind::Png));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(ImageKind::Webp));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b"<svg xmlns=...>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn keys_cannot_escape_the_root() {
        assert!(safe_key("products/abc-1.png"));
        for bad in [
            "../x.png",
            "products/../../etc/passwd",
            "/abs.png",
            "a//b.png",
            ".hidden/x.png",
            "a/b c.png",
            "",
        ] {
            assert!(!safe_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn local_disk_put_and_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalDisk::new(dir.path().to_path_buf());
        let stored = store
            .put("products", "img1", ImageKind::Png, b"\x89PNG\r\n\x1a\nxx")
            .expect("put");
        assert_eq!(stored.key, "products/img1.png");
        assert_eq!(stored.url, "/media/products/img1.png");
        assert!(dir.path().join("products/img1.png").exists());
        store.delete(&stored.key).expect("delete");
        assert!(!dir.path().join("products/img1.png").exists());
        store.delete(&stored.key).expect("deleting twice is fine");
    }
}
