//! Orders: a checkout makes one master order (what the customer pays) and one sub-order per
//! merchant (what each merchant fulfils), with order items holding a price snapshot. This
//! module holds the rules: the sub-order state machine with the role that owns each step, and
//! the master status derived from the sub-orders and the payment. SQL lives in `store.rs`,
//! the flows (checkout, transitions, cancel) in `service.rs`, handlers in the `*routes.rs`.

pub mod admin_routes;
pub mod merchant_routes;
pub mod routes;
pub mod service;
pub mod store;

use serde::Serialize;

use crate::catalog::MerchantRef;
use crate::clock::serde_rfc3339;

/// States of a sub-order. Forward order: pending → confirmed → processing → shipped_to_hub →
/// at_hub → out_for_delivery → delivered (→ returned); cancelled from the first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubStatus {
    Pending,
    Confirmed,
    Processing,
    ShippedToHub,
    AtHub,
    OutForDelivery,
    Delivered,
    Cancelled,
    Returned,
}

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Merchant,
    HubStaff,
    Customer,
    Admin,
    /// MarketHub itself, e.g. releasing an order whose payment failed.
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Merchant => "merchant",
            Actor::HubStaff => "hub_staff",
            Actor::Customer => "customer",
            Actor::Admin => "admin",
            Actor::System => "system",
        }
    }
}

impl SubStatus {
    pub const ALL: [SubStatus; 9] = [
        SubStatus::Pending,
        SubStatus::Confirmed,
        SubStatus::Processing,
        SubStatus::ShippedToHub,
        SubStatus::AtHub,
        SubStatus::OutForDelivery,
        SubStatus::Delivered,
        SubStatus::Cancelled,
        SubStatus::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubStatus::Pending => "pending",
            SubStatus::Confirmed => "confirmed",
            SubStatus::Processing => "processing",
            SubStatus::ShippedToHub => "shipped_to_hub",
            SubStatus::AtHub => "at_hub",
            SubStatus::OutForDelivery => "out_for_delivery",
            SubStatus::Delivered => "delivered",
            SubStatus::Cancelled => "cancelled",
            SubStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<SubStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Every legal next state, with the role that owns the step.
    fn edges(self) -> &'static [(SubStatus, Actor)] {
        use Actor::{HubStaff, Merchant};
        use SubStatus::*;
        match self {
            Pending => &[(Confirmed, Merchant), (Cancelled, Merchant)],
            Confirmed => &[(Processing, Merchant), (Cancelled, Merchant)],
            Processing => &[(ShippedToHub, Merchant), (Cancelled, Merchant)],
            ShippedToHub => &[(AtHub, HubStaff)],
            AtHub => &[(OutForDelivery, HubStaff)],
            OutForDelivery => &[(Delivered, HubStaff)],
            Delivered => &[(Returned, HubStaff)],
            Cancelled | Returned => &[],
        }
    }

    /// The states `actor` may move this sub-order to. Admins may take any legal step; a
    /// customer may only cancel before anything shipped (through the order's cancel).
    pub fn allowed_for(self, actor: Actor) -> Vec<SubStatus> {
        self.edges()
            .iter()
            .filter(|(to, owner)| match actor {
                Actor::Admin => true,
                Actor::Customer | Actor::System => *to == SubStatus::Cancelled,
                _ => *owner == actor,
            })
            .map(|(to, _)| *to)
            .collect()
    }

    /// `Ok` when `actor` may move from `self` to `to`, otherwise the states it may choose.
    pub fn check(self, to: SubStatus, actor: Actor) -> Result<(), Vec<SubStatus>> {
        let allowed = self.allowed_for(actor);
        if allowed.contains(&to) {
            Ok(())
        } else {
            Err(allowed)
        }
    }

    /// True until the parcel leaves the merchant: the order may still be cancelled.
    pub fn is_cancellable(self) -> bool {
        matches!(
            self,
            SubStatus::Pending | SubStatus::Confirmed | SubStatus::Processing
        )
    }

    fn rank(self) -> u8 {
        match self {
            SubStatus::Pending => 0,
            SubStatus::Confirmed => 1,
            SubStatus::Processing => 2,
            SubStatus::ShippedToHub => 3,
            SubStatus::AtHub => 4,
            SubStatus::OutForDelivery => 5,
            SubStatus::Delivered | SubStatus::Returned => 6,
            SubStatus::Cancelled => 7,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Mpesa,
    Cod,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Mpesa => "mpesa",
            PaymentMethod::Cod => "cod",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mpesa" => Some(PaymentMethod::Mpesa),
            "cod" => Some(PaymentMethod::Cod),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Paid,
    Failed,
    Cancelled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Paid, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// The master order's status, derived (never set directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// M-Pesa order whose payment has not completed.
    AwaitingPayment,
    /// Every live sub-order waits for its merchant.
    Pending,
    /// The least advanced live sub-order is confirmed or being prepared.
    Processing,
    /// The least advanced live sub-order is on its way through the hub.
    Shipping,
    /// Every live sub-order is delivered (or returned, with at least one delivered).
    Delivered,
    /// Every live sub-order came back.
    Returned,
    /// Every sub-order is cancelled.
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::AwaitingPayment,
        OrderStatus::Pending,
        OrderStatus::Processing,
        OrderStatus::Shipping,
        OrderStatus::Delivered,
        OrderStatus::Returned,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipping => "shipping",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Returned => "returned",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Derives the master status from the sub-orders and the payment.
pub fn derive_status(
    subs: &[SubStatus],
    method: PaymentMethod,
    payment: PaymentStatus,
) -> OrderStatus {
    let live: Vec<SubStatus> = subs
        .iter()
        .copied()
        .filter(|s| *s != SubStatus::Cancelled)
        .collect();
    if live.is_empty() {
        return OrderStatus::Cancelled;
    }
    if live.iter().all(|s| *s == SubStatus::Returned) {
        return OrderStatus::Returned;
    }
    if live
        .iter()
        .all(|s| matches!(s, SubStatus::Delivered | SubStatus::Returned))
    {
        return OrderStatus::Delivered;
    }
    if method == PaymentMethod::Mpesa && payment != PaymentStatus::Paid {
        return OrderStatus::AwaitingPayment;
    }
    match live.iter().map(|s| s.rank()).min().unwrap_or(0) {
        0 => OrderStatus::Pending,
        1 | 2 => OrderStatus::Processing,
        _ => OrderStatus::Shipping,
    }
}

/// One line of a sub-order, with the price snapshot taken at checkout.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b61")]
    pub id: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b62")]
    pub product_id: String,
    /// The product's name at checkout.
    #[schema(example = "Ceramic mug")]
    pub name: String,
    /// The unit price at checkout, in cents.
    #[schema(example = 45000)]
    pub unit_price_cents: i64,
    #[schema(example = 2)]
    pub quantity: i64,
    /// `unit_price_cents × quantity`.
    #[schema(example = 90000)]
    pub line_total_cents: i64,
}

/// One step of a sub-order's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// The sub-order status before the step (a `SubStatus` value); `null` for the creation.
    #[schema(example = "pending")]
    pub from_status: Option<String>,
    /// The sub-order status after the step (a `SubStatus` value).
    #[schema(example = "confirmed")]
    pub to_status: String,
    /// `None` for system actions.
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b63")]
    pub actor_id: Option<String>,
    /// `merchant`, `hub_staff`, `customer`, `admin` or `system`.
    #[schema(example = "merchant")]
    pub actor_role: String,
    pub note: Option<String>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T09:15:00.000Z")]
    pub at: i64,
}

/// The rider a sub-order is assigned to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartnerRef {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b64")]
    pub id: String,
    #[schema(example = "Otieno Rider")]
    pub name: String,
    #[schema(example = "+254712345678")]
    pub phone: String,
}

/// One merchant's part of an order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubOrderView {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b65")]
    pub id: String,
    /// The master order.
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub order_id: String,
    pub merchant: MerchantRef,
    pub status: SubStatus,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b66")]
    pub hub_id: String,
    pub items: Vec<ItemView>,
    #[schema(example = 90000)]
    pub subtotal_cents: i64,
    /// The rider, once one is assigned.
    pub delivery_partner: Option<PartnerRef>,
    /// Every step, oldest first.
    pub history: Vec<EventView>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T09:00:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T09:15:00.000Z")]
    pub updated_at: i64,
}

/// The order's payment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// The order total to pay, in cents.
    #[schema(example = 90000)]
    pub amount_cents: i64,
    /// What was actually collected, in cents; `null` until paid.
    #[schema(example = 90000)]
    pub collected_cents: Option<i64>,
    /// When the payment completed; `null` until paid.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-11-30T09:05:00.000Z")]
    pub paid_at: Option<i64>,
}

/// A master order: what the customer pays, split into one sub-order per merchant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b67")]
    pub customer_id: String,
    pub status: OrderStatus,
    pub payment_method: PaymentMethod,
    pub payment_status: PaymentStatus,
    #[schema(example = 90000)]
    pub total_cents: i64,
    /// What is still to be paid for the live (not cancelled) sub-orders.
    #[schema(example = 90000)]
    pub amount_due_cents: i64,
    #[schema(example = "KES")]
    pub currency: String,
    /// The pickup hub the parcels go through.
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b66")]
    pub hub_id: String,
    #[schema(example = "Moi Avenue 12, Nairobi")]
    pub delivery_address: String,
    #[schema(example = "+254712345678")]
    pub phone: String,
    pub sub_orders: Vec<SubOrderView>,
    pub payment: PaymentView,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T09:00:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T09:15:00.000Z")]
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubStatus::*;

    #[test]
    fn each_role_owns_its_part_of_the_chain() {
        assert!(Pending.check(Confirmed, Actor::Merchant).is_ok());
        assert!(Processing.check(ShippedToHub, Actor::Merchant).is_ok());
        assert_eq!(ShippedToHub.check(AtHub, Actor::Merchant), Err(vec![]));
        assert!(ShippedToHub.check(AtHub, Actor::HubStaff).is_ok());
        assert_eq!(Pending.check(Confirmed, Actor::HubStaff), Err(vec![]));
        assert!(OutForDelivery.check(Delivered, Actor::HubStaff).is_ok());
        assert!(Delivered.check(Returned, Actor::HubStaff).is_ok());
        assert_eq!(
            Pending.check(Processing, Actor::Merchant),
            Err(vec![Confirmed, Cancelled]),
            "no skipping"
        );
        assert_eq!(
            AtHub.check(Cancelled, Actor::Admin),
            Err(vec![OutForDelivery]),
            "no cancel once shipped"
        );
        assert!(AtHub.check(OutForDelivery, Actor::Admin).is_ok());
        assert_eq!(Confirmed.allowed_for(Actor::Customer), vec![Cancelled]);
        assert!(Cancelled.allowed_for(Actor::Admin).is_empty());
        assert!(Returned.allowed_for(Actor::HubStaff).is_empty());
    }

    #[test]
    fn every_illegal_pair_is_refused() {
        for from in SubStatus::ALL {
            for to in SubStatus::ALL {
                for actor in [
                    Actor::Merchant,
                    Actor::HubStaff,
                    Actor::Customer,
                    Actor::Admin,
                ] {
                    let legal = from.edges().iter().any(|(t, _)| *t == to);
                    if !legal {
                        assert!(
                            from.check(to, actor).is_err(),
                            "{from:?} -> {to:?} by {actor:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn master_status_is_derived() {
        use PaymentMethod::{Cod, Mpesa};
        use PaymentStatus as P;
        assert_eq!(
            derive_status(&[Pending, Pending], Cod, P::Pending),
            OrderStatus::Pending
        );
        assert_eq!(
            derive_status(&[Pending], Mpesa, P::Pending),
            OrderStatus::AwaitingPayment
        );
        assert_eq!(
            derive_status(&[Pending], Mpesa, P::Paid),
            OrderStatus::Pending
        );
        assert_eq!(
            derive_status(&[Confirmed, AtHub], Cod, P::Pending),
            OrderStatus::Processing
        );
        assert_eq!(
            derive_status(&[AtHub, OutForDelivery], Cod, P::Pending),
            OrderStatus::Shipping
        );
        assert_eq!(
            derive_status(&[Delivered, Cancelled], Cod, P::Paid),
            OrderStatus::Delivered
        );
        assert_eq!(
            derive_status(&[Delivered, Returned], Cod, P::Paid),
            OrderStatus::Delivered
        );
        assert_eq!(
            derive_status(&[Returned, Cancelled], Cod, P::Paid),
            OrderStatus::Returned
        );
        assert_eq!(
            derive_status(&[Cancelled, Cancelled], Mpesa, P::Pending),
            OrderStatus::Cancelled
        );
        assert_eq!(
            derive_status(&[Delivered, Processing], Cod, P::Pending),
            OrderStatus::Processing
        );
    }
}
