//! Black-box tests: each starts the real `paytree` binary on 127.0.0.1:0 with a temp data dir
//! (and `paytree provider` where a test must stop or slow the payment system).

mod helpers;

mod aggregates;
mod breaker;
mod change;
mod crash;
mod dashboard;
mod idempotency;
mod list;
mod messages;
mod mypage;
mod ops;
mod paths;
mod readme;
mod reconcile;
mod register;
mod remove;
mod restart;
mod secrecy;
mod supervision;
mod webhook;
