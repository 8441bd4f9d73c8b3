//! Black-box tests against a real server on 127.0.0.1:0 with a temp data dir. Most build
//! paytree in this process (`spawn_app`); those that need a process of their own (kill -9,
//! SIGTERM, restarts on the same data dir, the server's log, metrics read as absolute values)
//! run the binary (`spawn_process`, `start_serve`). The simulated payment system runs in this
//! process where a test must stop, slow or audit it. `problems` drives the router alone.

mod helpers;

mod access;
mod aggregates;
mod backup;
mod breaker;
mod catalogue;
mod change;
mod crash;
mod dashboard;
mod disk;
mod drain;
mod handoff;
mod idempotency;
mod list;
mod messages;
mod mypage;
mod ops;
mod orders;
mod paths;
mod problems;
mod readme;
mod reconcile;
mod register;
mod remove;
mod replicas;
mod replicas_crash;
mod replicas_takeover;
mod restart;
mod saga;
mod secrecy;
mod serving;
mod supervision;
mod tls;
mod web;
mod webhook;
