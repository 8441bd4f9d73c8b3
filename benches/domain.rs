//! Validation and masking of numbers: the work every registration does at the edge.

use criterion::{Criterion, criterion_group, criterion_main};
use paytree::domain::paymethod::Fingerprinter;
use paytree::domain::{AccountNumber, CustomerId, Kind};
use std::hint::black_box;

fn validation(c: &mut Criterion) {
    c.bench_function("parse card number (19 chars, Luhn, brand)", |b| {
        b.iter(|| AccountNumber::parse(Kind::Card, black_box("4242 4242 4242 4242")).unwrap())
    });
    c.bench_function("parse bank account number", |b| {
        b.iter(|| AccountNumber::parse(Kind::Bank, black_box("110-123-456789")).unwrap())
    });
    c.bench_function("parse customer id", |b| {
        b.iter(|| CustomerId::parse(black_box("customer-00042")).unwrap())
    });
    let number = AccountNumber::parse(Kind::Card, "4242424242424242").unwrap();
    c.bench_function("mask a card number", |b| {
        b.iter(|| black_box(&number).masked())
    });
    let fp = Fingerprinter::new([7; 32]);
    c.bench_function("fingerprint a number (HMAC-SHA256)", |b| {
        b.iter(|| fp.of(black_box(&number)))
    });
}

criterion_group!(benches, validation);
criterion_main!(benches);
