//! The test hook that makes an actor fail as a bug would (served only with test hooks on).

use super::kernel::{RouterMessage, Start};
use super::notifier::NotifierMessage;
use super::paymethod::PaymethodCommand;
use super::projector::ProjectorMessage;
use super::{Actors, CommandError};
use crate::domain::PaymethodId;
use std::time::Duration;

/// Actors that the test hooks can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicTarget {
    Notifier,
    Projector,
    Paymethod(PaymethodId),
}

impl Actors {
    /// Test hook: makes the notifier, the projector or one aggregate panic, as a bug would.
    pub fn inject_panic(&self, target: PanicTarget) -> Result<(), CommandError> {
        let sent = match target {
            PanicTarget::Paymethod(id) => self
                .paymethods
                .router()
                .get()?
                .send_message(RouterMessage::Route(
                    id,
                    PaymethodCommand::Panic,
                    Start::by(tokio::time::Instant::now() + Duration::from_secs(60)),
                ))
                .is_ok(),
            PanicTarget::Notifier => self
                .notifier
                .get()?
                .send_message(NotifierMessage::Panic)
                .is_ok(),
            PanicTarget::Projector => self
                .projector
                .get()?
                .send_message(ProjectorMessage::Panic)
                .is_ok(),
        };
        sent.then_some(()).ok_or(CommandError::Unavailable)
    }
}
