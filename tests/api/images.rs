//! Product images on local disk: multipart upload checked by content and size, served at a
//! stable URL with cache headers, removed from disk when deleted.

use reqwest::header;
use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::common::{Resp, Session, TestServer};

/// A real 1×1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

pub async fn upload(
    srv: &TestServer,
    who: &Session,
    product: &str,
    bytes: Vec<u8>,
    name: &str,
    mime: &str,
) -> Resp {
    upload_to(
        srv,
        who,
        &format!("/merchant/products/{product}/images"),
        bytes,
        name,
        mime,
    )
    .await
}

/// Posts `bytes` as the multipart field `file` to an API path.
pub async fn upload_to(
    srv: &TestServer,
    who: &Session,
    path: &str,
    bytes: Vec<u8>,
    name: &str,
    mime: &str,
) -> Resp {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .expect("mime");
    srv.send(
        srv.client
            .post(srv.url(path))
            .bearer_auth(&who.access)
            .multipart(Form::new().part("file", part)),
    )
    .await
}

async fn setup(srv: &TestServer) -> (Session, Session, String) {
    let admin = srv.admin().await;
    let m = srv.merchant(&admin, "m@example.com", "Shop").await;
    let cat = srv.category(&admin, "Art", None).await;
    let p = srv
        .product(
            &m,
            json!({"name": "Poster", "price_cents": 1000, "stock": 1, "category_id": cat}),
        )
        .await;
    (admin, m, p["id"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn upload_serve_and_delete() {
    let srv = TestServer::start().await;
    let (_admin, m, pid) = setup(&srv).await;
    let r = upload(
        &srv,
        &m,
        &pid,
        PNG.to_vec(),
        "photo.bin",
        "application/octet-stream",
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = r.body["url"].as_str().expect("url").to_owned();
    let image_id = r.body["id"].as_str().expect("id").to_owned();
    assert!(
        url.starts_with("/media/products/") && url.ends_with(".png"),
        "{url}"
    );

    let file = srv
        .client
        .get(srv.raw(&url))
        .send()
        .await
        .expect("get image");
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()[header::CONTENT_TYPE], "image/png");
    assert!(
        file.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap_or("")
            .contains("immutable")
    );
    let etag = file.headers()[header::ETAG].clone();
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), PNG);
    let cached = srv
        .client
        .get(srv.raw(&url))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("revalidate");
    assert_eq!(cached.status(), 304);

    let product = srv.get(&format!("/products/{pid}"), None).await;
    assert_eq!(
        product.body["images"],
        json!([{"id": image_id, "url": url}])
    );
    let key = url.trim_start_matches("/media/");
    assert!(srv.dir.path().join("uploads").join(key).exists());

    let gone = srv
        .delete(
            &format!("/merchant/products/{pid}/images/{image_id}"),
            Some(&m.access),
        )
        .await;
    assert_eq!(gone.status, 204);
    assert!(
        !srv.dir.path().join("uploads").join(key).exists(),
        "the file is removed"
    );
    assert_eq!(srv.send(srv.client.get(srv.raw(&url))).await.status, 404);
    assert_eq!(
        srv.get(&format!("/products/{pid}"), None).await.body["images"],
        json!([])
    );
    let again = srv
        .delete(
            &format!("/merchant/products/{pid}/images/{image_id}"),
            Some(&m.access),
        )
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn forged_oversized_and_malformed_uploads_are_refused() {
    let srv = TestServer::with(|c| c.uploads.max_image_bytes = 4096).await;
    let (_admin, m, pid) = setup(&srv).await;

    let forged = upload(
        &srv,
        &m,
        &pid,
        b"<?php system($_GET['c']); ?>".to_vec(),
        "cat.jpg",
        "image/jpeg",
    )
    .await;
    assert_eq!(
        (forged.status, forged.code()),
        (415, "unsupported_image_type")
    );
    let gif = upload(
        &srv,
        &m,
        &pid,
        b"GIF89a\x01\x00\x01\x00".to_vec(),
        "a.gif",
        "image/gif",
    )
    .await;
    assert_eq!(gif.status, 415);

    let mut big = PNG.to_vec();
    big.resize(20_000, 0);
    let r = upload(&srv, &m, &pid, big, "big.png", "image/png").await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));

    let no_file = srv
        .send(
            srv.client
                .post(srv.url(&format!("/merchant/products/{pid}/images")))
                .bearer_auth(&m.access)
                .multipart(Form::new().text("note", "no file here")),
        )
        .await;
    assert_eq!(no_file.status, 422);
    let json_body = srv
        .post(
            &format!("/merchant/products/{pid}/images"),
            json!({"file": "x"}),
            Some(&m.access),
        )
        .await;
    assert_eq!(json_body.status, 415);

    let listed = srv
        .get(&format!("/merchant/products/{pid}"), Some(&m.access))
        .await;
    assert_eq!(listed.body["images"], json!([]), "nothing was stored");
    let uploads = srv.dir.path().join("uploads").join("products");
    let files = std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "no file left behind");
}

#[tokio::test]
async fn the_image_count_is_limited() {
    let srv = TestServer::with(|c| c.uploads.max_images_per_product = 2).await;
    let (_admin, m, pid) = setup(&srv).await;
    for _ in 0..2 {
        assert_eq!(
            upload(&srv, &m, &pid, PNG.to_vec(), "a.png", "image/png")
                .await
                .status,
            201
        );
    }
    let third = upload(&srv, &m, &pid, PNG.to_vec(), "a.png", "image/png").await;
    assert_eq!((third.status, third.code()), (409, "too_many_images"));
    let customer = srv.register("c@example.com").await;
    assert_eq!(
        upload(&srv, &customer, &pid, PNG.to_vec(), "a.png", "image/png")
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn media_paths_cannot_escape_the_upload_directory() {
    let srv = TestServer::start().await;
    for path in [
        "/media/../markethub.db",
        "/media/products/../../jwt_secret",
        "/media/%2e%2e/jwt_secret",
        "/media/x.txt",
    ] {
        let r = srv.send(srv.client.get(srv.raw(path))).await;
        assert_eq!(r.status, 404, "{path}");
    }
}

/// One PNG chunk: length, type, data, CRC-32 of type and data.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    let mut out = u32::try_from(data.len())
        .expect("chunk size")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out
}

/// A well-formed PNG header declaring `width`×`height` RGB pixels, followed by ~20 KB of
/// compressed rows (far fewer than declared) and the end marker.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    use std::io::Write as _;
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    z.write_all(&noise).expect("compress");
    let idat = z.finish().expect("finish");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &idat));
    png.extend(png_chunk(b"IEND", b""));
    png
}

/// A real JPEG of `width`×`height` grey pixels.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let pixels = vec![128u8; usize::try_from(width * height * 3).expect("size")];
    image::codecs::jpeg::JpegEncoder::new(&mut out)
        .encode(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .expect("encode a JPEG");
    out
}

/// A real lossless WebP of `width`×`height` pixels.
fn webp(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let pixels = vec![200u8; usize::try_from(width * height * 4).expect("size")];
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(&pixels, width, height, image::ExtendedColorType::Rgba8)
        .expect("encode a WebP");
    out
}

#[tokio::test]
async fn uploads_are_decoded_not_just_sniffed() {
    let srv = TestServer::start().await;
    let (_admin, m, pid) = setup(&srv).await;

    let bomb = png_declaring(100_000, 100_000);
    assert!(bomb.len() < 25_000, "a small file: {} bytes", bomb.len());
    let r = upload(&srv, &m, &pid, bomb, "huge.png", "image/png").await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed"),
        "{:?}",
        r.body
    );
    let why = r.body["error"]["fields"]["file"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("100000×100000 pixels"), "{why}");
    assert!(
        why.contains("8000 pixels a side and 40 megapixels"),
        "{why}"
    );

    let wide = png_declaring(8_001, 1);
    let r = upload(&srv, &m, &pid, wide, "wide.png", "image/png").await;
    assert_eq!(r.status, 422, "one pixel over a side: {:?}", r.body);

    // A JPEG's header, or a whole header and half its picture, followed by a page; and a
    // JPEG cut short.
    let photo = jpeg(64, 48);
    let page = b"<html><body><script>alert(document.cookie)</script></body></html>";
    for (what, mut bytes) in [
        ("after the header", photo[..20].to_vec()),
        ("halfway", photo[..photo.len() / 2].to_vec()),
    ] {
        bytes.extend_from_slice(page);
        let r = upload(&srv, &m, &pid, bytes, "a.jpg", "image/jpeg").await;
        assert_eq!(r.status, 422, "HTML {what}: {:?}", r.body);
        let why = r.body["error"]["fields"]["file"]
            .as_str()
            .unwrap_or_default();
        assert!(why.contains("is not a valid JPEG image"), "{what}: {why}");
    }
    let cut = photo[..photo.len() * 2 / 3].to_vec();
    let r = upload(&srv, &m, &pid, cut, "cut.jpg", "image/jpeg").await;
    assert_eq!(r.status, 422, "a JPEG cut short: {:?}", r.body);

    let truncated = PNG[..PNG.len() - 20].to_vec();
    let r = upload(&srv, &m, &pid, truncated, "cut.png", "image/png").await;
    assert_eq!(r.status, 422, "a PNG cut short: {:?}", r.body);

    let mut riff = webp(32, 32);
    let cut = riff.len() / 2;
    riff.truncate(cut);
    let r = upload(&srv, &m, &pid, riff, "cut.webp", "image/webp").await;
    assert_eq!(r.status, 422, "a WebP cut short: {:?}", r.body);
    let why = r.body["error"]["fields"]["file"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("is not a valid WebP image"), "{why}");

    let listed = srv
        .get(&format!("/merchant/products/{pid}"), Some(&m.access))
        .await;
    assert_eq!(listed.body["images"], json!([]), "nothing was stored");

    let photo = upload(&srv, &m, &pid, jpeg(64, 48), "photo.jpg", "image/jpeg").await;
    assert_eq!(photo.status, 201, "a real JPEG is taken: {:?}", photo.body);
    let square = upload(&srv, &m, &pid, PNG.to_vec(), "a.png", "image/png").await;
    assert_eq!(square.status, 201, "{:?}", square.body);
    let web = upload(&srv, &m, &pid, webp(40, 30), "a.webp", "image/webp").await;
    assert_eq!(web.status, 201, "{:?}", web.body);
}
