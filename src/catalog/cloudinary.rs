//! Cloudinary image storage (feature `cloudinary`): signed upload and destroy over the
//! Upload API (`POST {base}/v1_1/{cloud}/image/upload|destroy`), blocking, with ureq.
//!
//! Signature: every parameter sent except `file`, `cloud_name`, `resource_type`, `api_key`
//! and `signature`, empty ones skipped, sorted by name, joined `k=v` with `&`, the API secret
//! appended, SHA-1 in hex.

use std::time::Duration;

use serde::Deserialize;
use sha1::{Digest as _, Sha1};
use ureq::unversioned::multipart::{Form, Part};

use super::images::{ImageKind, ImageStore, StorageError, Stored};
use crate::config::CloudinaryConfig;

pub struct Cloudinary {
    cfg: CloudinaryConfig,
    agent: ureq::Agent,
}

/// The signature of `params` (name, value) with `secret`.
pub fn sign(params: &[(&str, &str)], secret: &str) -> String {
    let mut signed: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(k, v)| {
            !v.is_empty()
                && !matches!(
                    *k,
                    "file" | "cloud_name" | "resource_type" | "api_key" | "signature"
                )
        })
        .collect();
    signed.sort_by(|a, b| a.0.cmp(b.0));
    let joined: Vec<String> = signed.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let digest = Sha1::digest(format!("{}{secret}", joined.join("&")).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
struct UploadResponse {
    public_id: String,
    secure_url: String,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

impl Cloudinary {
    pub fn new(cfg: &CloudinaryConfig) -> Result<Self, String> {
        if cfg.cloud_name.is_empty() || cfg.api_key.is_empty() || cfg.api_secret.is_empty() {
            return Err("cloudinary: cloud_name, api_key and api_secret are required".into());
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(cfg.timeout_secs)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Cloudinary {
            cfg: cfg.clone(),
            agent,
        })
    }

    fn endpoint(&self, action: &str) -> String {
        format!(
            "{}/v1_1/{}/image/{action}",
            self.cfg.base_url.trim_end_matches('/'),
            self.cfg.cloud_name
        )
    }

    fn timestamp() -> String {
        (crate::clock::now_ms() / 1000).to_string()
    }

    /// Reads a JSON answer, turning Cloudinary's error envelope into a message.
    fn read<T: for<'de> Deserialize<'de>>(
        resp: ureq::http::Response<ureq::Body>,
    ) -> Result<T, StorageError> {
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .read_to_string()
            .map_err(|e| StorageError::Remote(e.to_string()))?;
        if status != 200 {
            let message = serde_json::from_str::<ErrorResponse>(&text)
                .map(|e| e.error.message)
                .unwrap_or(text);
            return Err(StorageError::Remote(format!("HTTP {status}: {message}")));
        }
        serde_json::from_str(&text)
            .map_err(|e| StorageError::Remote(format!("unexpected answer: {e}")))
    }
}

impl ImageStore for Cloudinary {
    fn put(
        &self,
        folder: &str,
        id: &str,
        kind: ImageKind,
        bytes: &[u8],
    ) -> Result<Stored, StorageError> {
        let folder = format!("{}/{folder}", self.cfg.folder.trim_matches('/'));
        let timestamp = Self::timestamp();
        let signature = sign(
            &[
                ("folder", &folder),
                ("public_id", id),
                ("timestamp", &timestamp),
            ],
            &self.cfg.api_secret,
        );
        let file_name = format!("{id}.{}", kind.extension());
        let part = Part::bytes(bytes)
            .file_name(&file_name)
            .mime_str(kind.content_type())
            .map_err(|e| StorageError::Remote(e.to_string()))?;
        let form = Form::new()
            .part("file", part)
            .text("api_key", &self.cfg.api_key)
            .text("timestamp", &timestamp)
            .text("public_id", id)
            .text("folder", &folder)
            .text("signature", &signature);
        let resp = self
            .agent
            .post(&self.endpoint("upload"))
            .send(form)
            .map_err(|e| StorageError::Remote(e.to_string()))?;
        let up: UploadResponse = Self::read(resp)?;
        Ok(Stored {
            key: up.public_id,
            url: up.secure_url,
        })
    }

    /// Fetches the file from its delivery URL (the one the upload answered). Private files
    /// pass through the server this way, so clients never learn that URL.
    fn read(&self, _key: &str, url: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let resp = self
            .agent
            .get(url)
            .call()
            .map_err(|e| StorageError::Remote(e.to_string()))?;
        match resp.status().as_u16() {
            200 => resp
                .into_body()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .map(Some)
                .map_err(|e| StorageError::Remote(e.to_string())),
            404 | 410 => Ok(None),
            status => Err(StorageError::Remote(format!(
                "fetching {url}: HTTP {status}"
            ))),
        }
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        let timestamp = Self::timestamp();
        let signature = sign(
            &[("public_id", key), ("timestamp", &timestamp)],
            &self.cfg.api_secret,
        );
        let resp = self
            .agent
            .post(&self.endpoint("destroy"))
            .send_form([
                ("public_id", key),
                ("timestamp", timestamp.as_str()),
                ("api_key", self.cfg.api_key.as_str()),
                ("signature", signature.as_str()),
            ])
            .map_err(|e| StorageError::Remote(e.to_string()))?;
        #[derive(Deserialize)]
        struct Destroyed {
            result: String,
        }
        let d: Destroyed = Self::read(resp)?;
        match d.result.as_str() {
            "ok" | "not found" => Ok(()),
            other => Err(StorageError::Remote(format!("destroy answered {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_documented_vectors() {
        assert_eq!(
            sign(
                &[
                    ("eager", "w_400,h_300,c_pad|w_260,h_200,c_crop"),
                    ("public_id", "sample_image"),
                    ("timestamp", "1315060510"),
                    ("api_key", "ignored"),
                    ("file", "ignored"),
                    ("folder", ""),
                ],
                "abcd"
            ),
            "bfd09f95f331f558cbd1320e67aa8d488770583e"
        );
        assert_eq!(
            sign(
                &[("timestamp", "1315060510"), ("public_id", "sample_image")],
                "abcd"
            ),
            "b4ad47fb4e25c7bf5f92a20089f9db59bc302313"
        );
    }
}
