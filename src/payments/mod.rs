//! Payments: one per master order. Cash on delivery is confirmed by the staff of the
//! order's hub when the cash is collected (this module); M-Pesa comes with the payments
//! issue. The payment rows themselves are written by the order checkout (`orders::store`).

pub mod routes;
