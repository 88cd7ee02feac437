//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.
//!
//! Each routes module carries a `Doc` (`#[derive(OpenApi)]` listing its handlers, with paths
//! written exactly as in its axum router); [`document`] merges them under `/api/v1`, adds the
//! operational endpoints, the bearer-token security scheme and the error responses every
//! operation can give (the design's error envelope), and is served at
//! `GET /api/v1/openapi.json`. `markethub openapi` prints it; `docs/openapi.json` is a copy
//! that a test keeps current. Another test walks the live router and fails when a route is
//! missing from the document or the document names a route the router does not have.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// The error envelope every failure answers with (see the design's HTTP conventions).
#[derive(ToSchema)]
#[schema(
    as = Error,
    example = json!({"error": {"code": "validation_failed", "message": "quantity: must be from 1 to 99", "fields": {"quantity": "must be from 1 to 99"}}})
)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    error: ErrorBody,
}

/// What went wrong: a stable machine-readable `code`, a human `message`, the fields that failed
/// validation and, for some errors, machine-readable `details` (e.g. the cart lines a checkout
/// could not take, or the amount a cash confirmation must match).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Stable code, e.g. `validation_failed`, `not_found`, `invalid_token`, `rate_limited`.
    #[schema(example = "not_found")]
    code: String,
    #[schema(example = "product not found")]
    message: String,
    /// Field name → problem; only on validation errors.
    #[schema(required = false)]
    fields: std::collections::BTreeMap<String, String>,
    /// Specifics of some errors.
    #[schema(required = false, value_type = Object)]
    details: serde_json::Value,
}

/// `{"message": …}`: the acknowledgement of an action that has nothing else to return.
#[derive(serde::Serialize, ToSchema)]
pub struct Message {
    #[schema(example = "done")]
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MarketHub API",
        description = "Multi-vendor marketplace: catalog, cart, orders split per merchant, \
M-Pesa and cash on delivery, hub delivery, reviews, refunds, merchant applications, analytics \
and backups.\n\nAuthenticate with `Authorization: Bearer <access_token>` from `POST \
/api/v1/auth/login`. Money is integer cents (`*_cents`). Lists take `?page=&per_page=` \
(per_page at most 100) and answer `{items, page, per_page, total}`. Every error answers with \
the `Error` envelope and a stable `error.code`.",
        license(name = "MIT"),
    ),
    components(schemas(ErrorEnvelope, ErrorBody, Message)),
    tags(
        (name = "auth", description = "Accounts, sign-in, tokens, password reset"),
        (name = "profile", description = "The signed-in user's own profile"),
        (name = "catalog", description = "Categories and products"),
        (name = "merchant applications", description = "Becoming a merchant"),
        (name = "cart", description = "The customer's cart"),
        (name = "orders", description = "Checkout and orders, split per merchant"),
        (name = "payments", description = "M-Pesa STK push and cash on delivery"),
        (name = "delivery", description = "Hubs, hub staff, riders and parcels"),
        (name = "sync", description = "Hub instances syncing with the centre: tokens, pull, push, status, conflicts"),
        (name = "reviews", description = "Product reviews and merchant replies"),
        (name = "refunds", description = "Refund requests and decisions"),
        (name = "admin", description = "Users, mail log and other administration"),
        (name = "analytics", description = "Shop and merchant figures"),
        (name = "backups", description = "Online backups"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
struct Root;

/// The `/api/v1` part: one `Doc` per routes module.
fn api_v1() -> utoipa::openapi::OpenApi {
    use crate::*;
    let docs = [
        auth::routes::Doc::openapi(),
        auth::profile_routes::Doc::openapi(),
        auth::admin_routes::Doc::openapi(),
        mail::routes::Doc::openapi(),
        catalog::routes::Doc::openapi(),
        catalog::admin_routes::Doc::openapi(),
        merchants::routes::Doc::openapi(),
        delivery::routes::Doc::openapi(),
        delivery::hub_routes::Doc::openapi(),
        cart::routes::Doc::openapi(),
        orders::routes::Doc::openapi(),
        orders::merchant_routes::Doc::openapi(),
        orders::admin_routes::Doc::openapi(),
        payments::routes::Doc::openapi(),
        refunds::routes::Doc::openapi(),
        reviews::routes::Doc::openapi(),
        analytics::routes::Doc::openapi(),
        backups::routes::Doc::openapi(),
        crate::sync::routes::Doc::openapi(),
        Doc::openapi(),
    ];
    let mut api = utoipa::openapi::OpenApi::default();
    for doc in docs {
        api.merge(doc);
    }
    api
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Root::openapi()
        .nest("/api/v1", api_v1())
        .merge_from(super::health::Doc::openapi())
        .merge_from(crate::metrics::Doc::openapi())
        .merge_from(crate::catalog::images::Doc::openapi());
    BearerAuth.modify(&mut doc);
    CompleteOperations.modify(&mut doc);
    doc
}

/// The document as pretty JSON (what `docs/openapi.json` holds), built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut s = document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    })
}

#[derive(OpenApi)]
#[openapi(paths(serve))]
struct Doc;

/// The OpenAPI 3.1 document of this server.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn serve() -> Response {
    let mut resp = document_json().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The `bearer` security scheme: the access JWT from sign-in.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token from /auth/login, /auth/register or /auth/refresh",
                    ))
                    .build(),
            ),
        );
    }
}

/// Error responses any operation of a kind can give, as shared `components/responses`.
const STANDARD_ERRORS: [(&str, &str, &str); 9] = [
    (
        "400",
        "BadRequest",
        "Malformed request: bad JSON, query string or header",
    ),
    (
        "401",
        "Unauthorized",
        "Missing, expired or revoked access token, or inactive account",
    ),
    ("403", "Forbidden", "The caller's role may not do this"),
    (
        "404",
        "NotFound",
        "Not found (or not the caller's: other users' data answers 404)",
    ),
    ("413", "PayloadTooLarge", "The request body is too large"),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not of a content type this operation reads",
    ),
    (
        "422",
        "ValidationFailed",
        "A field failed validation; `error.fields` names each one",
    ),
    (
        "429",
        "RateLimited",
        "Rate limited; retry after the `Retry-After` seconds",
    ),
    (
        "503",
        "Unavailable",
        "Busy; retry after the `Retry-After` seconds",
    ),
];

/// Completes every operation: adds the [`STANDARD_ERRORS`] that apply unless the operation
/// documents that status itself (400, 422, 429 and 503 everywhere; 401/403 where a token is
/// required; 404 where the path names something; 413/415 where a body is read), and gives
/// each a unique `operationId` made of its method and path (`get_products_by_id_reviews`).
/// Also drops the `default` utoipa copies from `#[serde(default)]` onto request fields that are
/// required anyway or whose default is `null`: those say nothing true about the API.
struct CompleteOperations;

impl CompleteOperations {
    fn apply(method: &str, path: &str, op: &mut Operation) {
        let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
        let has_path_param = op.parameters.as_ref().is_some_and(|ps| {
            ps.iter()
                .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path)))
        });
        let has_body = op.request_body.is_some();
        for (status, name, _) in STANDARD_ERRORS {
            let applies = match status {
                "401" | "403" => secured,
                "404" => has_path_param,
                "413" | "415" => has_body,
                _ => true,
            };
            if applies && !op.responses.responses.contains_key(status) {
                op.responses
                    .responses
                    .insert(status.to_owned(), RefOr::Ref(Ref::from_response_name(name)));
            }
        }
        op.operation_id = Some(operation_id(method, path));
    }
}

/// `get` + `/api/v1/products/{id}/reviews` → `get_products_by_id_reviews`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                id.push_str("by_");
                id.push_str(param);
            }
            None => id.extend(segment.chars().map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })),
        }
    }
    id
}

fn drop_meaningless_defaults(schema: &mut utoipa::openapi::schema::Schema) {
    use utoipa::openapi::schema::Schema;
    let Schema::Object(obj) = schema else {
        return;
    };
    let required = obj.required.clone();
    for (name, prop) in obj.properties.iter_mut() {
        if let RefOr::T(Schema::Object(p)) = prop
            && (required.contains(name) || p.default == Some(serde_json::Value::Null))
        {
            p.default = None;
        }
    }
}

impl Modify for CompleteOperations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, op) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ] {
                if let Some(op) = op {
                    Self::apply(method, path, op);
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        for (_, name, description) in STANDARD_ERRORS {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                )
                .build();
            components
                .responses
                .insert(name.to_owned(), RefOr::T(response));
        }
        for schema in components.schemas.values_mut() {
            if let RefOr::T(schema) = schema {
                drop_meaningless_defaults(schema);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::AppError;

    /// The `Error` schema names exactly the keys an [`AppError`] renders.
    #[tokio::test]
    async fn error_schema_matches_the_rendered_envelope() {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("quantity".to_owned(), "is required".to_owned());
        let err = AppError::validation(fields).with_details(serde_json::json!({"x": 1}));
        let resp = err.into_response();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let schema = &doc["components"]["schemas"]["ErrorBody"]["properties"];
        let rendered: Vec<&String> = body["error"]
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(rendered.len(), 4, "{body}");
        for key in rendered {
            assert!(schema.get(key).is_some(), "schema lacks {key}: {schema}");
        }
        assert_eq!(
            doc["components"]["schemas"]["Error"]["properties"]["error"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
    }

    #[test]
    fn operation_ids_are_unique_and_readable() {
        assert_eq!(
            operation_id("get", "/api/v1/products/{id}/reviews"),
            "get_products_by_id_reviews"
        );
        assert_eq!(operation_id("put", "/api/v1/hub-staff"), "put_hub_staff");
        let doc = document();
        let mut seen = std::collections::BTreeSet::new();
        for item in doc.paths.paths.values() {
            for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .flatten()
            {
                let id = op.operation_id.clone().unwrap_or_default();
                assert!(seen.insert(id.clone()), "duplicate operationId {id}");
            }
        }
        assert!(seen.len() > 80, "{}", seen.len());
    }

    #[test]
    fn document_is_openapi_3_1_with_bearer_auth() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["paths"]["/api/v1/openapi.json"]["get"].is_object());
    }
}
