//! Hub staff handlers: their hub's riders (`/hub/delivery-partners`) and parcels
//! (`/hub/orders`). A staff member sees and changes only their own hub's data: anything of
//! another hub answers 404.

use std::collections::HashMap;

use crate::http::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{DeliveryPartner, store};
use crate::auth::normalize_phone;
use crate::clock::now_ms;
use crate::db::{Conn, DbError, Value as SqlValue, placeholders};
use crate::http::{
    AppError, FieldErrors, HubStaffUser, JsonBody, Page, Pagination, Query, nullable,
};
use crate::ids::{self, new_id};
use crate::orders::service::{self as orders, Mover};
use crate::orders::store::{self as order_store, SubFilter};
use crate::orders::{Actor, SubOrderView, SubStatus};
use crate::state::AppState;
use crate::text;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_partners,
    create_partner,
    update_partner,
    list_parcels,
    get_parcel,
    move_parcel
))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/hub/delivery-partners",
            get(list_partners).post(create_partner),
        )
        .route("/hub/delivery-partners/{id}", put(update_partner))
        .route("/hub/orders", get(list_parcels))
        .route("/hub/orders/{id}", get(get_parcel))
        .route("/hub/orders/{id}/status", put(move_parcel))
}

/// The caller's hub, or 403 when they are not assigned to one.
fn hub_of(c: &dyn Conn, user_id: &str) -> Result<String, AppError> {
    store::hub_of(c, user_id)?
        .ok_or_else(|| AppError::forbidden("no_hub", "this account is not assigned to a hub"))
}

/// `{"items": [...]}`: the riders of the caller's hub, unpaginated.
#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryPartnerList {
    items: Vec<DeliveryPartner>,
}

/// The riders (delivery partners) of the caller's hub, active or not.
///
/// Hub staff only; not paginated.
#[utoipa::path(
    get,
    path = "/hub/delivery-partners",
    tag = "delivery",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The hub's riders", body = DeliveryPartnerList),
        (status = 403, description = "Not hub staff, or not assigned to a hub (`no_hub`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn list_partners(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
) -> Result<Json<DeliveryPartnerList>, AppError> {
    let items = state
        .db
        .read(move |c| {
            let hub = hub_of(c, &u.id)?;
            Ok::<_, AppError>(store::list_partners(c, &hub)?)
        })
        .await?;
    Ok(Json(DeliveryPartnerList { items }))
}

/// A rider's fields. On creation `name` and `phone` are required; on update every field is
/// optional and only the given ones change.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct DeliveryPartnerBody {
    /// 2 to 120 characters (trimmed).
    #[schema(min_length = 2, max_length = 120, example = "Otieno Rider")]
    name: Option<String>,
    /// Unique among the hub's riders: 7 to 15 digits, optionally starting with `+`; spaces,
    /// dashes, dots and parentheses are ignored.
    #[schema(example = "+254722000111")]
    phone: Option<String>,
    /// Up to 80 characters; `null` or a blank string clears it, absent leaves it unchanged.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 80, example = "Motorbike KMFA 123X")]
    vehicle: Option<Option<String>>,
    /// Default `true` on creation.
    #[schema(example = true)]
    is_active: Option<bool>,
}

struct PartnerInput {
    name: Option<String>,
    phone: Option<String>,
    vehicle: Option<Option<String>>,
    is_active: Option<bool>,
}

fn validate_partner(b: DeliveryPartnerBody, require_all: bool) -> Result<PartnerInput, AppError> {
    let mut e = FieldErrors::new();
    if require_all {
        if b.name.is_none() {
            e.add("name", "is required");
        }
        if b.phone.is_none() {
            e.add("phone", "is required");
        }
    }
    let input = PartnerInput {
        name: b.name.and_then(|n| e.check("name", text::line(&n, 2, 120))),
        phone: b.phone.and_then(|p| e.check("phone", normalize_phone(&p))),
        vehicle: match b.vehicle {
            Some(Some(v)) if !v.trim().is_empty() => {
                e.check("vehicle", text::line(&v, 1, 80)).map(Some)
            }
            Some(_) => Some(None),
            None => None,
        },
        is_active: b.is_active,
    };
    e.finish()?;
    Ok(input)
}

fn phone_conflict() -> AppError {
    AppError::conflict(
        "partner_exists",
        "a rider of this hub already has this phone number",
    )
}

/// Adds a rider to the caller's hub.
///
/// Hub staff only. `name` and `phone` are required.
#[utoipa::path(
    post,
    path = "/hub/delivery-partners",
    tag = "delivery",
    security(("bearer" = [])),
    request_body = DeliveryPartnerBody,
    responses(
        (status = 201, description = "The new rider", body = DeliveryPartner),
        (status = 403, description = "Not hub staff, or not assigned to a hub (`no_hub`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "A rider of this hub already has this phone number (`partner_exists`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn create_partner(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    JsonBody(body): JsonBody<DeliveryPartnerBody>,
) -> Result<(StatusCode, Json<DeliveryPartner>), AppError> {
    let input = validate_partner(body, true)?;
    let hub_instance = state.sync.role.is_hub();
    let partner = state
        .db
        .write(move |c| {
            let hub = hub_of(c, &u.id)?;
            let phone = input.phone.unwrap_or_default();
            if store::partner_phone_taken(c, &hub, &phone, None)? {
                return Err(phone_conflict());
            }
            let now = now_ms();
            let p = DeliveryPartner {
                id: new_id(),
                hub_id: hub,
                name: input.name.unwrap_or_default(),
                phone,
                vehicle: input.vehicle.flatten(),
                is_active: input.is_active.unwrap_or(true),
                created_at: now,
                updated_at: now,
            };
            store::insert_partner(c, &p)?;
            if hub_instance {
                crate::sync::mirror::log_partner(c, &p.id)?;
            }
            Ok(p)
        })
        .await?;
    state.sync.wake();
    Ok((StatusCode::CREATED, Json(partner)))
}

/// Changes one of the hub's riders: only the fields given change.
///
/// Hub staff only; a rider of another hub answers 404.
#[utoipa::path(
    put,
    path = "/hub/delivery-partners/{id}",
    tag = "delivery",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Delivery partner id")),
    request_body = DeliveryPartnerBody,
    responses(
        (status = 200, description = "The rider after the change", body = DeliveryPartner),
        (status = 403, description = "Not hub staff, or not assigned to a hub (`no_hub`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Another rider of this hub has this phone number (`partner_exists`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn update_partner(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DeliveryPartnerBody>,
) -> Result<Json<DeliveryPartner>, AppError> {
    let input = validate_partner(body, false)?;
    let not_found = || AppError::not_found("delivery partner");
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let hub_instance = state.sync.role.is_hub();
    let partner = state
        .db
        .write(move |c| {
            let hub = hub_of(c, &u.id)?;
            let mut p = store::find_partner(c, &id)?
                .filter(|p| p.hub_id == hub)
                .ok_or_else(not_found)?;
            if let Some(phone) = input.phone {
                if store::partner_phone_taken(c, &hub, &phone, Some(&id))? {
                    return Err(phone_conflict());
                }
                p.phone = phone;
            }
            p.name = input.name.unwrap_or(p.name);
            if let Some(v) = input.vehicle {
                p.vehicle = v;
            }
            p.is_active = input.is_active.unwrap_or(p.is_active);
            store::update_partner(c, &p, now_ms())?;
            if hub_instance {
                crate::sync::mirror::log_partner(c, &id)?;
            }
            store::find_partner(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    state.sync.wake();
    Ok(Json(partner))
}

/// A sub-order as the hub handles it: what to deliver, to whom, and what cash to collect.
#[derive(Serialize, utoipa::ToSchema)]
struct Parcel {
    #[serde(flatten)]
    sub_order: SubOrderView,
    #[schema(example = "Jane Wanjiru")]
    customer_name: String,
    /// The phone number given for the order.
    #[schema(example = "+254712345678")]
    customer_phone: String,
    #[schema(example = "Apartment 4B, Riverside Drive, Nairobi")]
    delivery_address: String,
    /// The order's payment method: `mpesa` or `cod`.
    #[schema(example = "cod")]
    payment_method: String,
    /// The order's payment status: `pending`, `paid`, `failed` or `cancelled`.
    #[schema(example = "pending")]
    payment_status: String,
    /// For cash on delivery: what the whole order still owes (0 once paid).
    #[schema(example = 249900)]
    order_amount_due_cents: i64,
}

fn parcels(c: &dyn Conn, sub_ids: &[String]) -> Result<Vec<Parcel>, DbError> {
    let subs = order_store::load_sub_orders(c, sub_ids)?;
    let order_ids: Vec<String> = subs.iter().map(|s| s.order_id.clone()).collect();
    let mut info: HashMap<String, (String, String, String, String, String, i64)> = HashMap::new();
    if !order_ids.is_empty() {
        let args: Vec<SqlValue> = order_ids.iter().map(|i| i.as_str().into()).collect();
        for r in &c.query(
            &format!(
                "SELECT o.id, u.full_name, o.phone, o.delivery_address, o.payment_method, p.status,
                        CASE WHEN p.status = 'paid' THEN 0 ELSE
                          (SELECT CAST(COALESCE(SUM(s.subtotal_cents), 0) AS BIGINT) FROM sub_orders s
                           WHERE s.order_id = o.id AND s.status <> 'cancelled') END
                 FROM orders o JOIN users u ON u.id = o.customer_id JOIN payments p ON p.order_id = o.id
                 WHERE o.id IN ({})",
                placeholders(1, args.len())
            ),
            &args,
        )? {
            info.insert(r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?));
        }
    }
    Ok(subs
        .into_iter()
        .filter_map(|s| {
            let (name, phone, address, method, pay, due) = info.get(&s.order_id)?.clone();
            Some(Parcel {
                sub_order: s,
                customer_name: name,
                customer_phone: phone,
                delivery_address: address,
                payment_method: method,
                payment_status: pay,
                order_amount_due_cents: due,
            })
        })
        .collect())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ParcelQuery {
    /// Only parcels in this sub-order status: `pending`, `confirmed`, `processing`,
    /// `shipped_to_hub`, `at_hub`, `out_for_delivery`, `delivered`, `cancelled` or `returned`
    /// (anything else answers 400 `invalid_query`; empty means any).
    #[param(example = "at_hub")]
    status: Option<String>,
}

/// The parcels (sub-orders) routed through the caller's hub, newest first.
///
/// Hub staff only.
#[utoipa::path(
    get,
    path = "/hub/orders",
    tag = "delivery",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams, ParcelQuery),
    responses(
        (status = 200, description = "One page of parcels", body = Page<Parcel>),
        (status = 400, description = "Malformed query, or `status` is not a sub-order status (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not hub staff, or not assigned to a hub (`no_hub`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn list_parcels(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    page: Pagination,
    Query(q): Query<ParcelQuery>,
) -> Result<Json<Page<Parcel>>, AppError> {
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(SubStatus::parse(s).ok_or_else(|| {
            AppError::bad_request("invalid_query", "status is not a sub-order status")
        })?),
        None => None,
    };
    let (items, total) = state
        .db
        .read(move |c| {
            let hub = hub_of(c, &u.id)?;
            let filter = SubFilter {
                hub_id: Some(hub),
                status,
                ..SubFilter::default()
            };
            let (ids, total) =
                order_store::list_sub_orders(c, &filter, page.limit(), page.offset())?;
            Ok::<_, AppError>((parcels(c, &ids)?, total))
        })
        .await?;
    Ok(Json(page.page(items, total)))
}

/// The parcel if it belongs to the caller's hub.
fn own_parcel(c: &dyn Conn, user_id: &str, id: &str) -> Result<order_store::SubRow, AppError> {
    let hub = hub_of(c, user_id)?;
    let not_found = || AppError::not_found("parcel");
    if !ids::is_valid(id) {
        return Err(not_found());
    }
    order_store::sub_row(c, id)?
        .filter(|s| s.hub_id == hub)
        .ok_or_else(not_found)
}

/// One parcel of the caller's hub; another hub's parcel answers 404.
///
/// Hub staff only.
#[utoipa::path(
    get,
    path = "/hub/orders/{id}",
    tag = "delivery",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Sub-order id")),
    responses(
        (status = 200, description = "The parcel", body = Parcel),
        (status = 403, description = "Not hub staff, or not assigned to a hub (`no_hub`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn get_parcel(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    Path(id): Path<String>,
) -> Result<Json<Parcel>, AppError> {
    let parcel = state
        .db
        .read(move |c| {
            let sub = own_parcel(c, &u.id, &id)?;
            parcels(c, &[sub.id])?
                .into_iter()
                .next()
                .ok_or_else(|| AppError::not_found("parcel"))
        })
        .await?;
    Ok(Json(parcel))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct ParcelStatusBody {
    /// The next status. Hub staff take the steps `shipped_to_hub` → `at_hub` →
    /// `out_for_delivery` → `delivered` → `returned`; any other sub-order status name is
    /// accepted here but answers 409 `illegal_transition`.
    #[schema(required = true, example = "out_for_delivery")]
    status: String,
    /// An active rider of the parcel's hub; only with `at_hub` or `out_for_delivery`.
    /// Required for `out_for_delivery` unless a rider is already assigned.
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    delivery_partner_id: Option<String>,
    /// Recorded in the parcel's history; up to 500 characters (blank means none).
    #[schema(max_length = 500, example = "Handed to the rider at 10:15")]
    note: Option<String>,
}

/// Moves a parcel of the caller's hub to its next status (and may assign a rider).
///
/// Hub staff only. The customer is notified by email.
#[utoipa::path(
    put,
    path = "/hub/orders/{id}/status",
    tag = "delivery",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Sub-order id")),
    request_body = ParcelStatusBody,
    responses(
        (status = 200, description = "The parcel after the change", body = Parcel),
        (status = 403, description = "Not hub staff, or not assigned to a hub (`no_hub`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not a step hub staff may take from the current status (`illegal_transition`; `error.details` has `from`, `requested` and `allowed`), or the parcel changed meanwhile (`changed`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "Unknown `status`, bad `note`, or `delivery_partner_id` not allowed, missing or not an active rider of this hub", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn move_parcel(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ParcelStatusBody>,
) -> Result<Json<Parcel>, AppError> {
    let to = SubStatus::parse(body.status.trim()).ok_or_else(|| {
        AppError::invalid_field(
            "status",
            "must be at_hub, out_for_delivery, delivered or returned",
        )
    })?;
    let note = match body.note.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => {
            Some(text::multiline(n, 1, 500).map_err(|p| AppError::invalid_field("note", p))?)
        }
        None => None,
    };
    let partner = body
        .delivery_partner_id
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    let hub_instance = state.sync.role.is_hub();
    let parcel = state
        .db
        .write(move |c| {
            let sub = own_parcel(c, &u.id, &id)?;
            let mover = Mover {
                actor_id: Some(&u.id),
                actor: Actor::HubStaff,
                // A hub instance mails nobody: the centre mails the customer when the change
                // reaches it.
                notify_customer: !hub_instance,
                early_receive: hub_instance,
            };
            let early = hub_instance && to == SubStatus::AtHub && sub.status.is_cancellable();
            let note = note.or_else(|| {
                early.then(|| "received before the merchant's shipment reached this hub".to_owned())
            });
            orders::transition(c, &sub, to, partner.as_deref(), note.as_deref(), &mover)?;
            if hub_instance {
                crate::sync::mirror::log_progress(c, &sub.id)?;
            }
            parcels(c, &[sub.id])?
                .into_iter()
                .next()
                .ok_or_else(|| AppError::not_found("parcel"))
        })
        .await?;
    state.mail.wake();
    state.sync.wake();
    Ok(Json(parcel))
}
