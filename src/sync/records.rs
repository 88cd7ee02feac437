//! What travels between a hub and the centre: the entries of a pull or push batch and the
//! records inside them. Statuses travel as their API names; times as unix milliseconds.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A hub row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubRec {
    pub id: String,
    pub name: String,
    pub location: String,
    pub phone: String,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<crate::delivery::Hub> for HubRec {
    fn from(h: crate::delivery::Hub) -> Self {
        HubRec {
            id: h.id,
            name: h.name,
            location: h.location,
            phone: h.phone,
            is_active: h.is_active,
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

/// A staff account, with its password hash so the staff member can log in at the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRec {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub email_verified: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A staff member and the hub they are assigned to now (`None`: no longer this hub's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffRec {
    pub user: UserRec,
    pub hub_id: Option<String>,
}

/// A rider (delivery partner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerRec {
    pub id: String,
    pub hub_id: String,
    pub name: String,
    pub phone: String,
    pub vehicle: Option<String>,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<crate::delivery::DeliveryPartner> for PartnerRec {
    fn from(p: crate::delivery::DeliveryPartner) -> Self {
        PartnerRec {
            id: p.id,
            hub_id: p.hub_id,
            name: p.name,
            phone: p.phone,
            vehicle: p.vehicle,
            is_active: p.is_active,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Someone an order refers to (customer, merchant owner, the actor of a history entry): a
/// hub keeps only the name, as an account that cannot log in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StubUser {
    pub id: String,
    pub full_name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MerchantStub {
    pub id: String,
    pub business_name: String,
}

/// The product an order line refers to (the line itself carries the price snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductStub {
    pub id: String,
    pub merchant_id: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
}

/// One entry of a sub-order's history; the id makes inserting it idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRec {
    pub id: String,
    pub sub_order_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor_id: Option<String>,
    pub actor_role: String,
    pub note: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRec {
    pub id: String,
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
    pub line_total_cents: i64,
}

/// A sub-order routed to the hub, with its lines and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubRec {
    pub id: String,
    pub merchant_id: String,
    pub status: String,
    pub subtotal_cents: i64,
    pub units: i64,
    pub delivery_partner_id: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub items: Vec<ItemRec>,
    pub events: Vec<EventRec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRec {
    pub id: String,
    pub method: String,
    pub status: String,
    pub amount_cents: i64,
    pub collected_cents: Option<i64>,
    pub confirmed_by: Option<String>,
    pub paid_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An order as the hub needs it: who to deliver to, what, and what to collect; only the
/// sub-orders routed to this hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSnap {
    pub id: String,
    pub customer_id: String,
    pub payment_method: String,
    pub total_cents: i64,
    pub currency: String,
    pub hub_id: String,
    pub delivery_address: String,
    pub phone: String,
    pub created_at: i64,
    pub payment: PaymentRec,
    pub users: Vec<StubUser>,
    pub merchants: Vec<MerchantStub>,
    pub products: Vec<ProductStub>,
    pub partners: Vec<PartnerRec>,
    pub sub_orders: Vec<SubRec>,
}

/// A hub's report on a parcel: the status it reached, the rider, and the history entries
/// it wrote on the way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressRec {
    pub sub_order_id: String,
    pub status: String,
    pub delivery_partner_id: Option<String>,
    /// When the hub delivered it (set once delivered).
    #[serde(default)]
    pub delivered_at: Option<i64>,
    #[serde(default)]
    pub events: Vec<EventRec>,
}

/// Cash collected on delivery, confirmed at the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CashRec {
    pub order_id: String,
    pub collected_cents: i64,
    pub confirmed_by: String,
    pub paid_at: i64,
}

/// One change of the centre's log, with the entity's current state (`null`: nothing of it
/// belongs to this hub any more).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullEntry {
    /// Position in the centre's change log.
    #[schema(example = 42)]
    pub seq: i64,
    /// `hub`, `staff`, `partner` or `order`.
    #[schema(example = "order")]
    pub kind: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// One batch of the centre's changes for the caller's hub.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullPage {
    /// The centre's node id.
    #[schema(format = Uuid)]
    pub node_id: String,
    #[schema(format = Uuid)]
    pub hub_id: String,
    pub entries: Vec<PullEntry>,
    /// The cursor to ask from next (the last entry's `seq`, or `after` when there was none).
    #[schema(example = 42)]
    pub next_after: i64,
    /// True when more entries are waiting.
    pub more: bool,
    /// The centre's newest log position: a cursor beyond it means the centre's log was
    /// rewound (restored from a backup), and the hub pulls again from the start.
    #[serde(default)]
    pub head: i64,
}

/// One change of a hub's log.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushEntry {
    /// Position in the hub's change log (1, 2, 3, … without gaps).
    #[schema(example = 7)]
    pub seq: i64,
    /// `progress`, `cash` or `partner`.
    #[schema(example = "progress")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A batch of a hub's changes, in log order.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushBatch {
    /// The hub node's id (from `hub join`).
    #[schema(format = Uuid)]
    pub node_id: String,
    pub entries: Vec<PushEntry>,
}

/// What the centre did with a push.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushAck {
    /// Every change up to this `seq` is stored at the centre.
    #[schema(example = 7)]
    pub acked_upto: i64,
    /// Entries that changed something.
    pub applied: i64,
    /// Entries that were already reflected (replays).
    pub unchanged: i64,
    /// Entries that conflicted with the centre's state (recorded for admins).
    pub conflicts: i64,
}
