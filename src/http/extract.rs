//! Request extractors whose failures answer with the JSON error envelope: JSON bodies
//! (415 wrong content type, 413 too large, 400 malformed, 422 naming the bad field), raw
//! bodies, path parameters (400 when a segment is not UTF-8), query strings, and bounded
//! pagination.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::AppError;

/// A JSON request body.
pub struct JsonBody<T>(pub T);

/// A JSON request body that may also be absent (empty body): then `T::default()`.
pub struct JsonOrEmpty<T>(pub T);

/// The raw request body, whatever its content type (webhooks parse it themselves).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        read_body(req, state).await.map(RawBody)
    }
}

/// Path parameters, like axum's `Path`, but a segment that is not valid UTF-8 (or does not
/// parse) answers 400 with the JSON envelope instead of a plain-text body.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if parts.uri.path().contains("%00") {
            return Err(nul_refused());
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rejection) => Err(AppError::bad_request("invalid_path", rejection.body_text())),
        }
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        if !has_json_content_type(&req) {
            return Err(unsupported_media_type());
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let is_json = has_json_content_type(&req);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        if !is_json {
            return Err(unsupported_media_type());
        }
        parse_json(&bytes).map(JsonOrEmpty)
    }
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn unsupported_media_type() -> AppError {
    AppError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "expected a JSON body with Content-Type: application/json",
    )
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than this server accepts",
            )
        } else {
            AppError::bad_request("invalid_body", rej.body_text())
        }
    })
}

/// Parses JSON, telling syntax errors (400) from well-formed JSON of the wrong shape (422,
/// with the offending field named).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    use serde_json::error::Category;

    if has_nul_escape(bytes) {
        return Err(nul_refused());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => v,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            return Err(match inner.classify() {
                Category::Data => data_error(&path, &inner),
                _ => AppError::bad_request("malformed_json", format!("malformed JSON: {inner}")),
            });
        }
    };
    de.end()
        .map_err(|e| AppError::bad_request("malformed_json", format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// True when JSON text holds a `\u0000` escape (a NUL character in a string): text with NUL
/// is refused on every backend alike (PostgreSQL cannot store it). An escaped backslash
/// followed by `u0000` (`\\u0000`, the six characters themselves) is not one.
fn has_nul_escape(json: &[u8]) -> bool {
    json.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && json[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

fn nul_refused() -> AppError {
    AppError::bad_request(
        "invalid_text",
        "text must not contain NUL characters (\\u0000 or %00)",
    )
}

fn data_error(path: &str, err: &serde_json::Error) -> AppError {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    let mut fields = BTreeMap::new();
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let field = if path == "." {
            missing.to_owned()
        } else {
            format!("{path}.{missing}")
        };
        fields.insert(field, "is required".to_owned());
    } else {
        let field = if path == "." {
            "body".to_owned()
        } else {
            path.to_owned()
        };
        fields.insert(field, message.to_owned());
    }
    AppError::validation(fields)
}

/// For `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>` field:
/// an absent field stays `None`, an explicit `null` becomes `Some(None)`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A query string; a malformed one is a 400 naming the problem.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(nul_refused());
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|rej| AppError::bad_request("invalid_query", rej.body_text()))
    }
}

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;
/// Deep offsets are slow on large tables; past this, callers must narrow their filters.
pub const MAX_PAGE: u32 = 10_000;

/// `?page=&per_page=`, validated: page 1–10 000, per_page 1–100 (default 20).
#[derive(Debug, Clone, Copy)]
pub struct Pagination {
    pub page: u32,
    pub per_page: u32,
}

impl Pagination {
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    /// Wraps one page of results in the list envelope.
    pub fn page<T: Serialize>(&self, items: Vec<T>, total: i64) -> Page<T> {
        self.page_capped(items, total, true)
    }

    /// The envelope for a capped count: when `exact` is false, `total` is a floor and the
    /// response says `"total_exact": false`.
    pub fn page_capped<T: Serialize>(&self, items: Vec<T>, total: i64, exact: bool) -> Page<T> {
        Page {
            items,
            page: self.page,
            per_page: self.per_page,
            total: Some(total),
            total_exact: exact,
        }
    }

    /// The envelope without a total: `total` is `Some((count, exact))` or `None` (not counted).
    pub fn page_maybe_counted<T: Serialize>(
        &self,
        items: Vec<T>,
        total: Option<(i64, bool)>,
    ) -> Page<T> {
        Page {
            items,
            page: self.page,
            per_page: self.per_page,
            total: total.map(|t| t.0),
            total_exact: total.is_none_or(|t| t.1),
        }
    }
}

/// `?page=&per_page=` as the OpenAPI document describes them (`params(PageParams)`); the
/// [`Pagination`] extractor is what reads them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 10000, default = 1)]
    page: Option<u32>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: Option<u32>,
}

#[derive(Deserialize)]
struct RawPagination {
    page: Option<String>,
    per_page: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Query(raw) = Query::<RawPagination>::from_request_parts(parts, state).await?;
        let mut fields = BTreeMap::new();
        let page = parse_bounded(raw.page.as_deref(), 1, 1, MAX_PAGE)
            .map_err(|e| fields.insert("page".to_owned(), e))
            .unwrap_or(1);
        let per_page = parse_bounded(raw.per_page.as_deref(), DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
            .map_err(|e| fields.insert("per_page".to_owned(), e))
            .unwrap_or(DEFAULT_PER_PAGE);
        if fields.is_empty() {
            Ok(Pagination { page, per_page })
        } else {
            Err(AppError {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_query",
                ..AppError::validation(fields)
            })
        }
    }
}

fn parse_bounded(raw: Option<&str>, default: u32, min: u32, max: u32) -> Result<u32, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!("must be a whole number from {min} to {max}")),
        },
    }
}

/// The list envelope of every paginated endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    /// Absent when the client asked not to count (`count=false` where supported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// Present (and false) only when `total` was capped.
    #[serde(skip_serializing_if = "is_true")]
    pub total_exact: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not_one() {
        assert!(has_nul_escape(br#"{"name":"a\u0000b"}"#));
        assert!(
            has_nul_escape(br#"{"name":"\\\u0000"}"#),
            "an escaped backslash, then a NUL"
        );
        assert!(
            !has_nul_escape(br#"{"name":"\\u0000"}"#),
            "the six characters themselves"
        );
        assert!(!has_nul_escape(br#"{"name":"u0000"}"#));
        let refused = parse_json::<serde_json::Value>(br#"{"q":"x\u0000"}"#);
        assert!(refused.is_err_and(|e| e.code == "invalid_text"));
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        age: Option<u8>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Login>(br#"{"age": 3}"#).expect_err("missing");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            e.fields.get("email").map(String::as_str),
            Some("is required")
        );

        let e = parse_json::<Login>(br#"{"email": "a", "age": "x"}"#).expect_err("type");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.fields.contains_key("age"), "{:?}", e.fields);

        let e = parse_json::<Login>(br#"{"email": "#).expect_err("syntax");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<Login>(br#"{"email": "a"} trailing"#).expect_err("trailing");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(parse_json::<Login>(br#"{"email": "a"}"#).is_ok());
    }

    #[test]
    fn pagination_bounds() {
        assert_eq!(parse_bounded(None, 20, 1, 100), Ok(20));
        assert_eq!(parse_bounded(Some("100"), 20, 1, 100), Ok(100));
        assert!(parse_bounded(Some("0"), 20, 1, 100).is_err());
        assert!(parse_bounded(Some("101"), 20, 1, 100).is_err());
        assert!(parse_bounded(Some("-1"), 20, 1, 100).is_err());
        assert!(parse_bounded(Some("abc"), 20, 1, 100).is_err());
        let p = Pagination {
            page: 3,
            per_page: 20,
        };
        assert_eq!((p.limit(), p.offset()), (20, 40));
    }
}
