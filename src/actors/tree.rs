//! The tree paytree runs: what the root supervisor starts, in start order, and the slots and
//! shared state through which the children and the handle reach each other. Shutdown stops
//! them in reverse: the aggregates (through their router) first, the store writer last.

use super::breaker::{Breaker, BreakerConfig};
use super::kernel::{
    Aggregate, Aggregates, ChildSpec, RouterActor, RouterArgs, RouterMessage, Slot, StopBy, Writer,
};
use super::notifier::{self, NotifierActor, NotifierArgs, NotifierMessage};
use super::order::{OrderAggregate, OrderServices};
use super::payment::breaker_record;
use super::payment::call::PaymentLine;
use super::payment::{PaymentActor, PaymentArgs, PaymentMessage};
use super::paymethod::{Paymethod, PaymethodServices};
use super::projector::{ProjectorActor, ProjectorArgs, ProjectorMessage, Views};
use super::reconciler::{ReconcilerActor, ReconcilerArgs, ReconcilerMessage};
use super::saga::{SagaActor, SagaArgs, SagaMessage};
use super::shipment::{ShipmentAggregate, ShipmentServices};
use super::shipping::{ShippingActor, ShippingArgs, ShippingMessage};
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
    pub router: Aggregates<Paymethod>,
    pub order_services: Arc<OrderServices>,
    pub orders: Aggregates<OrderAggregate>,
    pub shipment_services: Arc<ShipmentServices>,
    pub shipments: Aggregates<ShipmentAggregate>,
    pub shipping: Slot<ShippingMessage>,
    pub saga: Slot<SagaMessage>,
    pub shipping_paused: Arc<watch::Sender<bool>>,
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
    pub async fn new(options: &TreeOptions, head: Position) -> Self {
        let payment_wait = options.breaker.call_timeout + Duration::from_secs(1);
        let writer = Writer::new(Slot::default(), Duration::from_secs(10));
        let payment = Slot::default();
        let breaker = Breaker::new(options.breaker.clone());
        breaker_record::restore(&options.store, &breaker).await;
        breaker_record::keep_openings(&breaker, writer.clone());
        let line = PaymentLine {
            actor: payment.clone(),
            wait: payment_wait,
        };
        let queue_wait = options.aggregates.queue_wait;
        // Once started, a command makes at most two payment calls and three durable writes:
        // a caller that waits this long always hears how a command it started ended.
        let command_wait = queue_wait + 2 * payment_wait + 3 * writer.wait();
        Self {
            shipment_services: Arc::new(ShipmentServices {
                store: options.store.clone(),
                writer: writer.clone(),
            }),
            shipments: Aggregates::new(Slot::default(), queue_wait, command_wait),
            shipping: Slot::default(),
            saga: Slot::default(),
            shipping_paused: Arc::new(watch::channel(false).0),
            order_services: Arc::new(OrderServices {
                store: options.store.clone(),
                writer: writer.clone(),
                payment: line.clone(),
            }),
            orders: Aggregates::new(Slot::default(), queue_wait, command_wait),
            paymethods: Arc::new(PaymethodServices {
                store: options.store.clone(),
                writer: writer.clone(),
                payment: line,
                fingerprinter: options.fingerprinter.clone(),
            }),
            writer,
            payment,
            router: Aggregates::new(Slot::default(), queue_wait, command_wait),
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

        let routers = Routers {
            writer: self.writer.clone(),
            limits: o.aggregates.clone(),
            idle_timeout: o.idle_timeout,
        };
        let router = routers.child("router", self.router.router(), &self.paymethods);
        let orders = routers.child("orders", self.orders.router(), &self.order_services);
        let shipments = routers.child(
            "shipments",
            self.shipments.router(),
            &self.shipment_services,
        );

        let (store, writer, commits) = (o.store.clone(), self.writer.clone(), self.commits.clone());
        let paused = self.shipping_paused.clone();
        let shipping = ChildSpec::new(
            "shipping",
            self.shipping.clone(),
            StopBy::Drain,
            move |sup| {
                let args = ShippingArgs {
                    store: store.clone(),
                    writer: writer.clone(),
                    commits: commits.subscribe(),
                    paused: paused.clone(),
                };
                async move { Ok(Actor::spawn_linked(None, ShippingActor, args, sup).await?.0) }
            },
        );

        let (store, writer, commits) = (o.store.clone(), self.writer.clone(), self.commits.clone());
        let (orders_handle, shipments_handle) = (self.orders.clone(), self.shipments.clone());
        // Steps in flight are stored; whatever a stop interrupts runs again at the next start.
        let saga = ChildSpec::new("saga", self.saga.clone(), StopBy::Stop, move |sup| {
            let args = SagaArgs {
                store: store.clone(),
                writer: writer.clone(),
                commits: commits.subscribe(),
                orders: orders_handle.clone(),
                shipments: shipments_handle.clone(),
            };
            async move { Ok(Actor::spawn_linked(None, SagaActor, args, sup).await?.0) }
        });

        vec![
            store_writer,
            notifier,
            projector,
            payment,
            reconciler,
            router,
            orders,
            shipments,
            shipping,
            saga,
        ]
    }
}

/// What every kind's router is started with.
struct Routers {
    writer: Writer,
    limits: crate::config::AggregateLimits,
    idle_timeout: Duration,
}

impl Routers {
    /// The child that runs the router of aggregate kind `A` in `slot`; it drains its
    /// aggregates before it stops.
    fn child<A: Aggregate>(
        &self,
        name: &'static str,
        slot: &Slot<RouterMessage<A>>,
        services: &Arc<A::Services>,
    ) -> ChildSpec {
        let (services, writer) = (services.clone(), self.writer.clone());
        let (limits, idle_timeout) = (self.limits.clone(), self.idle_timeout);
        ChildSpec::new(name, slot.clone(), StopBy::DrainChildrenFirst, move |sup| {
            let args = RouterArgs {
                services: services.clone(),
                writer: writer.clone(),
                limits: limits.clone(),
                idle_timeout,
            };
            async move {
                Ok(
                    Actor::spawn_linked(None, RouterActor::<A>::default(), args, sup)
                        .await?
                        .0,
                )
            }
        })
    }
}
