//! Payments: one per master order. Cash on delivery is confirmed by the staff of the
//! order's hub; M-Pesa goes through a gateway (`gateway.rs`): the built-in simulator
//! (`simulator.rs`) or Safaricom Daraja (`daraja.rs`, feature `mpesa`). `mpesa.rs` holds the
//! flows (push, callback, reconciliation, release), `store.rs` their SQL, `routes.rs` the
//! handlers. The payment rows themselves are written at checkout (`orders::store`).

#[cfg(feature = "mpesa")]
pub mod daraja;
pub mod gateway;
pub mod mpesa;
pub mod routes;
pub mod simulator;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, GatewayKind};
use gateway::MpesaGateway;

/// The gateway the config asks for; `None` when M-Pesa is disabled.
pub fn gateway_from_config(config: &Config) -> Result<Option<Arc<dyn MpesaGateway>>, String> {
    match config.payments.gateway {
        GatewayKind::Disabled => Ok(None),
        GatewayKind::Simulator => Ok(Some(Arc::new(simulator::Simulator {
            delay: Duration::from_millis(config.payments.simulator_delay_ms),
            result_code: config.payments.simulator_result_code,
        }))),
        #[cfg(feature = "mpesa")]
        GatewayKind::Daraja => Ok(Some(Arc::new(daraja::Daraja::new(&config.mpesa)))),
        #[cfg(not(feature = "mpesa"))]
        GatewayKind::Daraja => {
            Err("payments.gateway = \"daraja\" needs the `mpesa` feature".into())
        }
    }
}

/// Daraja's acknowledgement of a callback (STK or B2C): `{"ResultCode": 0, "ResultDesc":
/// "Accepted"}`, answered once the body is stored.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DarajaAck {
    #[schema(example = 0)]
    result_code: i64,
    #[schema(example = "Accepted")]
    result_desc: &'static str,
}

impl DarajaAck {
    pub fn accepted() -> Self {
        DarajaAck {
            result_code: 0,
            result_desc: "Accepted",
        }
    }
}

/// Compares secrets without leaking where they differ through timing.
pub fn secret_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
