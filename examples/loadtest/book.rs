//! What the load test was told: every customer it sent a command for, every acknowledged
//! registration and change, and the time of every 503. The audit checks the service
//! against this book.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub struct Book {
    /// A prefix that makes this run's customers its own.
    pub run: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    customers: BTreeSet<String>,
    registered: Vec<u64>,
    changed: Vec<(u64, u64)>,
    head: u64,
    unavailable: Vec<Duration>,
}

static BOOK: OnceLock<Arc<Book>> = OnceLock::new();

impl Book {
    pub fn install() -> Arc<Book> {
        BOOK.get_or_init(|| {
            Arc::new(Book {
                run: format!("lt{:08x}", rand::random::<u32>()),
                inner: Mutex::default(),
            })
        })
        .clone()
    }

    pub fn get() -> &'static Book {
        BOOK.get().expect("the book is installed before the run")
    }

    /// Noted before its first command is sent, so the audit covers it even when the
    /// answer is lost.
    pub fn customer(&self, customer: &str) {
        self.inner
            .lock()
            .unwrap()
            .customers
            .insert(customer.to_owned());
    }

    pub fn registered(&self, id: u64, position: u64) {
        let mut inner = self.inner.lock().unwrap();
        inner.registered.push(id);
        inner.head = inner.head.max(position);
    }

    pub fn changed(&self, id: u64, version: u64, position: u64) {
        let mut inner = self.inner.lock().unwrap();
        inner.changed.push((id, version));
        inner.head = inner.head.max(position);
    }

    pub fn unavailable(&self, took: Duration) {
        self.inner.lock().unwrap().unavailable.push(took);
    }

    pub fn customers(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .customers
            .iter()
            .cloned()
            .collect()
    }

    pub fn acknowledged(&self) -> (Vec<u64>, Vec<(u64, u64)>, u64) {
        let inner = self.inner.lock().unwrap();
        (inner.registered.clone(), inner.changed.clone(), inner.head)
    }

    pub fn unavailable_times(&self) -> Vec<Duration> {
        self.inner.lock().unwrap().unavailable.clone()
    }
}
