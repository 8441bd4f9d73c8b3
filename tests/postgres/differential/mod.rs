//! The PostgreSQL store against the embedded one: the same commands, applied to both, give
//! the same outcome each, and then the same answer to every read (`both.rs`). Every command
//! and every way of rejecting one is applied; the race between replicas is in `races.rs`.

mod access;
mod agree;
mod both;
pub mod build;
mod mask;
mod notify;
mod orders;
mod paging;
mod paymethods;

use paytree::store::{Outcome, Rejected};

/// The nonce an `OpenIntent` answered.
fn nonce(outcome: Result<Outcome, Rejected>) -> String {
    outcome.unwrap().nonce.unwrap()
}
