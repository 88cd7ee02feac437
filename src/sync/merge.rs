//! The merge rules of hub sync, as pure functions: which sub-order status two sides agree on,
//! when a rider assignment or a cash confirmation is taken, and what counts as a conflict.
//! Both sides run the same rules, so they converge whichever order changes arrive in.

use crate::orders::{PaymentStatus, SubStatus};

/// Where a status sits on the one forward path a parcel takes (cancelled is off the path).
fn step(s: SubStatus) -> Option<u8> {
    match s {
        SubStatus::Pending => Some(0),
        SubStatus::Confirmed => Some(1),
        SubStatus::Processing => Some(2),
        SubStatus::ShippedToHub => Some(3),
        SubStatus::AtHub => Some(4),
        SubStatus::OutForDelivery => Some(5),
        SubStatus::Delivered => Some(6),
        SubStatus::Returned => Some(7),
        SubStatus::Cancelled => None,
    }
}

/// The outcome of merging two statuses of one sub-order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMerge {
    /// The furthest legal state both can reach.
    Agreed(SubStatus),
    /// The two cannot both have happened: cancelled on one side, received by the hub (or
    /// later) on the other. The centre owns cancellation, so `Cancelled` is kept and the
    /// disagreement must be recorded for an admin.
    Conflict,
}

/// Merges two statuses of one sub-order. Statuses only move forward, so the furthest wins;
/// cancellation wins over the states it may legally follow (before the parcel left the
/// merchant); against anything from `shipped_to_hub` on, it is a conflict.
pub fn merge_status(a: SubStatus, b: SubStatus) -> StatusMerge {
    match (step(a), step(b)) {
        (Some(x), Some(y)) => StatusMerge::Agreed(if x >= y { a } else { b }),
        (None, None) => StatusMerge::Agreed(SubStatus::Cancelled),
        (None, Some(_)) | (Some(_), None) => {
            let other = if step(a).is_some() { a } else { b };
            if other.is_cancellable() {
                StatusMerge::Agreed(SubStatus::Cancelled)
            } else {
                StatusMerge::Conflict
            }
        }
    }
}

/// The status both sides end with (a conflict keeps `Cancelled`).
pub fn settled(m: StatusMerge) -> SubStatus {
    match m {
        StatusMerge::Agreed(s) => s,
        StatusMerge::Conflict => SubStatus::Cancelled,
    }
}

/// True when `status` is one the hub reports (it owns the steps from receiving on).
pub fn is_hub_step(status: SubStatus) -> bool {
    matches!(
        status,
        SubStatus::AtHub | SubStatus::OutForDelivery | SubStatus::Delivered | SubStatus::Returned
    )
}

/// Which rider a sub-order keeps when the hub reports `(hub_status, hub_rider)` and the other
/// side holds `(current_status, current_rider)`. The hub owns rider assignment: its rider is
/// taken when its report is not behind the current status (the hub assigns riders only with
/// a step, so one status has one hub rider), or when none is assigned yet; an older report
/// (a replay, or one overtaken by a later change) never changes the rider.
pub fn rider_after(
    current_status: SubStatus,
    current_rider: Option<&str>,
    hub_status: SubStatus,
    hub_rider: Option<&str>,
) -> Option<String> {
    let not_behind = match (step(current_status), step(hub_status)) {
        (Some(c), Some(h)) => h >= c,
        _ => false,
    };
    match (hub_rider, current_rider) {
        (Some(h), _) if not_behind => Some(h.to_owned()),
        (Some(h), None) => Some(h.to_owned()),
        (_, c) => c.map(str::to_owned),
    }
}

/// The outcome of a hub's cash confirmation against the payment the other side holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CashMerge {
    /// Record the cash: the payment was still pending.
    Apply,
    /// Already recorded exactly so: nothing to do.
    Same,
    /// The payment was closed another way (cancelled, failed, or paid differently).
    Conflict,
}

pub fn merge_cash(
    current: PaymentStatus,
    current_collected: Option<i64>,
    current_by: Option<&str>,
    collected: i64,
    by: &str,
) -> CashMerge {
    match current {
        PaymentStatus::Pending => CashMerge::Apply,
        PaymentStatus::Paid if current_collected == Some(collected) && current_by == Some(by) => {
            CashMerge::Same
        }
        _ => CashMerge::Conflict,
    }
}

/// Whether a record stamped `incoming_updated_at` replaces one stamped `current_updated_at`
/// (riders: the last change wins; equal stamps never overwrite, so replays change nothing).
pub fn newer(incoming_updated_at: i64, current_updated_at: i64) -> bool {
    incoming_updated_at > current_updated_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubStatus::*;

    #[test]
    fn the_furthest_state_wins_in_either_order() {
        for (a, b, want) in [
            (Processing, AtHub, AtHub),
            (ShippedToHub, Delivered, Delivered),
            (Delivered, Returned, Returned),
            (OutForDelivery, OutForDelivery, OutForDelivery),
            (Pending, Cancelled, Cancelled),
            (Processing, Cancelled, Cancelled),
        ] {
            assert_eq!(merge_status(a, b), StatusMerge::Agreed(want), "{a:?} {b:?}");
            assert_eq!(merge_status(b, a), StatusMerge::Agreed(want), "{b:?} {a:?}");
        }
    }

    #[test]
    fn cancelled_against_hub_progress_is_a_conflict_that_keeps_cancelled() {
        for s in [ShippedToHub, AtHub, OutForDelivery, Delivered, Returned] {
            assert_eq!(merge_status(Cancelled, s), StatusMerge::Conflict);
            assert_eq!(merge_status(s, Cancelled), StatusMerge::Conflict);
        }
        assert_eq!(settled(StatusMerge::Conflict), Cancelled);
    }

    #[test]
    fn merging_is_idempotent_and_commutative() {
        for a in SubStatus::ALL {
            assert_eq!(settled(merge_status(a, a)), a);
            for b in SubStatus::ALL {
                assert_eq!(merge_status(a, b), merge_status(b, a));
                let m = settled(merge_status(a, b));
                assert_eq!(settled(merge_status(m, b)), m, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_hub_rider_is_taken_only_with_progress_or_when_none_is_set() {
        assert_eq!(
            rider_after(AtHub, Some("r1"), OutForDelivery, Some("r2")).as_deref(),
            Some("r2")
        );
        // A replayed older report does not undo a later reassignment.
        assert_eq!(
            rider_after(Delivered, Some("r2"), OutForDelivery, Some("r1")).as_deref(),
            Some("r2")
        );
        assert_eq!(
            rider_after(AtHub, None, AtHub, Some("r1")).as_deref(),
            Some("r1")
        );
        // An admin's assignment at the centre gives way to the hub's at the same step.
        assert_eq!(
            rider_after(AtHub, Some("admin"), AtHub, Some("hub")).as_deref(),
            Some("hub")
        );
        assert_eq!(
            rider_after(Delivered, Some("r1"), Delivered, None).as_deref(),
            Some("r1")
        );
    }

    #[test]
    fn cash_applies_once_and_conflicts_with_other_closures() {
        use PaymentStatus as P;
        assert_eq!(
            merge_cash(P::Pending, None, None, 500, "s"),
            CashMerge::Apply
        );
        assert_eq!(
            merge_cash(P::Paid, Some(500), Some("s"), 500, "s"),
            CashMerge::Same
        );
        assert_eq!(
            merge_cash(P::Paid, Some(400), Some("s"), 500, "s"),
            CashMerge::Conflict
        );
        assert_eq!(
            merge_cash(P::Cancelled, None, None, 500, "s"),
            CashMerge::Conflict
        );
    }

    #[test]
    fn equal_stamps_never_overwrite() {
        assert!(newer(2, 1));
        assert!(!newer(1, 1));
        assert!(!newer(1, 2));
    }
}
