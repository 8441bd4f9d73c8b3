//! The tree paytree runs: what the root supervisor starts, in start order, and the slots and
//! shared state through which the children and the handle reach each other. Shutdown stops
//! them in reverse: the aggregates (through their router) first, the store writer last.

use super::breaker::{Breaker, BreakerConfig};
use super::kernel::{ChildSpec, RouterActor, RouterArgs, RouterMessage, Slot, StopBy, Writer};
use super::notifier::{self, NotifierActor, NotifierArgs, NotifierMessage};
use super::payment::breaker_record;
use super::payment::{PaymentActor, PaymentArgs, PaymentMessage};
use super::paymethod::{Paymethod, PaymethodServices};
use super::projector::{ProjectorActor, ProjectorArgs, ProjectorMessage, Views};
use super::reconciler::{ReconcilerActor, ReconcilerArgs, ReconcilerMessage};
use super::store_writer::{StoreWriterActor, StoreWriterArgs};
use crate::domain::Position;
use crate::domain::paymethod::Fingerprinter;
use crate::provider::PaymentSystem;
use crate::store::Store;
use ractor::Actor;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What the tree needs to start.
#[derive(Debug)]
pub struct TreeOptions {
    pub store: Store,
    pub system: PaymentSystem,
    pub breaker: BreakerConfig,
    pub max_payment_calls: usize,
    pub max_batch: usize,
    pub fingerprinter: Fingerprinter,
    /// Aggregates idle this long are passivated.
    pub idle_timeout: Duration,
    /// Where messages go besides the inbox.
    pub webhook: Option<notifier::WebhookChannel>,
    pub aggregates: crate::config::AggregateLimits,
    pub reconcile: crate::config::ReconcileConfig,
    /// Test only: acknowledge registrations before their commit (a deliberate bug).
    pub ack_before_commit: bool,
}

impl TreeOptions {
    /// The tree as `settings` describe it, inbox only (the caller adds a webhook channel).
    pub fn from_settings(
        settings: &crate::config::Settings,
        store: Store,
        system: PaymentSystem,
        fingerprinter: Fingerprinter,
    ) -> Self {
        Self {
            store,
            system,
            breaker: settings.breaker.clone(),
            max_payment_calls: settings.max_payment_calls,
            max_batch: 512,
            fingerprinter,
            idle_timeout: settings.passivate_after,
            webhook: None,
            aggregates: settings.aggregates.clone(),
            reconcile: settings.reconcile.clone(),
            ack_before_commit: settings.test_ack_before_commit,
        }
    }
}

/// The slots the supervisor fills and the state the children share.
pub(super) struct Tree {
    pub writer: Writer,
    pub payment: Slot<PaymentMessage>,
    pub paymethods: Arc<PaymethodServices>,
    pub router: Slot<RouterMessage<Paymethod>>,
    pub notifier: Slot<NotifierMessage>,
    pub projector: Slot<ProjectorMessage>,
    pub reconciler: Slot<ReconcilerMessage>,
    pub views: Arc<Views>,
    /// The last committed event position, published by the store writer.
    pub commits: Arc<watch::Sender<Position>>,
    /// Shared with the payment actor, so a restart of it keeps the breaker's state.
    pub breaker: Breaker,
}

impl Tree {
    /// Empty slots, and the breaker as the store last recorded it.
    pub fn new(options: &TreeOptions, head: Position) -> Self {
        let payment_wait = options.breaker.call_timeout + Duration::from_secs(1);
        let writer = Writer::new(Slot::default(), Duration::from_secs(10));
        let payment = Slot::default();
        let breaker = Breaker::new(options.breaker.clone());
        breaker_record::restore(&options.store, &breaker);
        breaker_record::keep_openings(&breaker, writer.clone());
        Self {
            paymethods: Arc::new(PaymethodServices {
                store: options.store.clone(),
                writer: writer.clone(),
                payment: payment.clone(),
                fingerprinter: options.fingerprinter.clone(),
                payment_wait,
            }),
            writer,
            payment,
            router: Slot::default(),
            notifier: Slot::default(),
            projector: Slot::default(),
            reconciler: Slot::default(),
            views: Arc::new(Views::default()),
            commits: Arc::new(watch::channel(head).0),
            breaker,
        }
    }

    /// The children, in start order.
    pub fn children(&self, o: TreeOptions) -> Vec<ChildSpec> {
        let (store, writer, commits) = (o.store.clone(), self.writer.clone(), self.commits.clone());
        let (max_batch, ack_before_commit) = (o.max_batch, o.ack_before_commit);
        let store_writer = ChildSpec::new(
            "store_writer",
            writer.slot().clone(),
            StopBy::Drain,
            move |sup| {
                let args = StoreWriterArgs {
                    store: store.clone(),
                    max_batch,
                    commits: commits.clone(),
                    ack_before_commit,
                };
                async move {
                    Ok(Actor::spawn_linked(None, StoreWriterActor, args, sup)
                        .await?
                        .0)
                }
            },
        );

        let (store, writer, commits) = (o.store.clone(), self.writer.clone(), self.commits.clone());
        let webhook = o.webhook.clone();
        let notifier = ChildSpec::new(
            "notifier",
            self.notifier.clone(),
            StopBy::Drain,
            move |sup| {
                let args = NotifierArgs {
                    store: store.clone(),
                    writer: writer.clone(),
                    commits: commits.subscribe(),
                    webhook: webhook.clone(),
                };
                async move { Ok(Actor::spawn_linked(None, NotifierActor, args, sup).await?.0) }
            },
        );

        let (store, writer, commits) = (o.store.clone(), self.writer.clone(), self.commits.clone());
        let views = self.views.clone();
        let projector = ChildSpec::new(
            "projector",
            self.projector.clone(),
            StopBy::Drain,
            move |sup| {
                let args = ProjectorArgs {
                    store: store.clone(),
                    writer: writer.clone(),
                    commits: commits.subscribe(),
                    views: views.clone(),
                };
                async move {
                    Ok(Actor::spawn_linked(None, ProjectorActor, args, sup)
                        .await?
                        .0)
                }
            },
        );

        let (system, breaker) = (o.system.clone(), self.breaker.clone());
        let max_in_flight = o.max_payment_calls;
        let payment = ChildSpec::new("payment", self.payment.clone(), StopBy::Drain, move |sup| {
            let args = PaymentArgs {
                system: system.clone(),
                breaker: breaker.clone(),
                max_in_flight,
            };
            async move { Ok(Actor::spawn_linked(None, PaymentActor, args, sup).await?.0) }
        });

        let (store, writer, system) = (o.store.clone(), self.writer.clone(), o.system.clone());
        let (reconcile, breaker) = (o.reconcile.clone(), self.breaker.clone());
        // Its next round is on a timer; whatever a round leaves undone waits in the store.
        let reconciler = ChildSpec::new(
            "reconciler",
            self.reconciler.clone(),
            StopBy::Stop,
            move |sup| {
                let args = ReconcilerArgs {
                    store: store.clone(),
                    writer: writer.clone(),
                    system: system.clone(),
                    after: reconcile.after,
                    retention: reconcile.retention,
                    breaker: breaker.clone(),
                };
                async move {
                    Ok(Actor::spawn_linked(None, ReconcilerActor, args, sup)
                        .await?
                        .0)
                }
            },
        );

        let (services, writer) = (self.paymethods.clone(), self.writer.clone());
        let (limits, idle_timeout) = (o.aggregates.clone(), o.idle_timeout);
        let router = ChildSpec::new(
            "router",
            self.router.clone(),
            StopBy::DrainChildrenFirst,
            move |sup| {
                let args = RouterArgs {
                    services: services.clone(),
                    writer: writer.clone(),
                    limits: limits.clone(),
                    idle_timeout,
                };
                let router = RouterActor::<Paymethod>::default();
                async move { Ok(Actor::spawn_linked(None, router, args, sup).await?.0) }
            },
        );

        vec![
            store_writer,
            notifier,
            projector,
            payment,
            reconciler,
            router,
        ]
    }
}
