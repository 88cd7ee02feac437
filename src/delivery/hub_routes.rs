//! Hub staff handlers: their hub's riders (`/hub/delivery-partners`) and parcels
//! (`/hub/orders`). A staff member sees and changes only their own hub's data: anything of
//! another hub answers 404.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
#[openapi(paths())]
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

async fn list_partners(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
) -> Result<Json<Value>, AppError> {
    let items = state
        .db
        .read(move |c| {
            let hub = hub_of(c, &u.id)?;
            Ok::<_, AppError>(store::list_partners(c, &hub)?)
        })
        .await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PartnerBody {
    name: Option<String>,
    phone: Option<String>,
    #[serde(deserialize_with = "nullable")]
    vehicle: Option<Option<String>>,
    is_active: Option<bool>,
}

struct PartnerInput {
    name: Option<String>,
    phone: Option<String>,
    vehicle: Option<Option<String>>,
    is_active: Option<bool>,
}

fn validate_partner(b: PartnerBody, require_all: bool) -> Result<PartnerInput, AppError> {
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

async fn create_partner(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    JsonBody(body): JsonBody<PartnerBody>,
) -> Result<(StatusCode, Json<DeliveryPartner>), AppError> {
    let input = validate_partner(body, true)?;
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
            Ok(p)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(partner)))
}

async fn update_partner(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PartnerBody>,
) -> Result<Json<DeliveryPartner>, AppError> {
    let input = validate_partner(body, false)?;
    let not_found = || AppError::not_found("delivery partner");
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
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
            store::find_partner(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    Ok(Json(partner))
}

/// A sub-order as the hub handles it: what to deliver, to whom, and what cash to collect.
#[derive(Serialize, utoipa::ToSchema)]
struct Parcel {
    #[serde(flatten)]
    sub_order: SubOrderView,
    customer_name: String,
    customer_phone: String,
    delivery_address: String,
    payment_method: String,
    payment_status: String,
    /// For cash on delivery: what the whole order still owes.
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

#[derive(Deserialize)]
struct ParcelQuery {
    status: Option<String>,
}

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

#[derive(Deserialize, Default)]
#[serde(default)]
struct MoveBody {
    status: String,
    delivery_partner_id: Option<String>,
    note: Option<String>,
}

async fn move_parcel(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MoveBody>,
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
    let parcel = state
        .db
        .write(move |c| {
            let sub = own_parcel(c, &u.id, &id)?;
            let mover = Mover {
                actor_id: Some(&u.id),
                actor: Actor::HubStaff,
                notify_customer: true,
            };
            orders::transition(c, &sub, to, partner.as_deref(), note.as_deref(), &mover)?;
            parcels(c, &[sub.id])?
                .into_iter()
                .next()
                .ok_or_else(|| AppError::not_found("parcel"))
        })
        .await?;
    state.mail.wake();
    Ok(Json(parcel))
}
