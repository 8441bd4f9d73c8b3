//! What authenticating a request costs: the keyed hash of the key and the lookup among many
//! keys, plus the per-key token bucket, as `Keys` does them for every request.

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use paytree::actors::kernel::{Slot, Writer};
use paytree::auth::{ApiKey, KeyHasher, KeyId, KeyRecord, Keys, Role};
use paytree::domain::Timestamp;
use paytree::store::{Command, CreateKey, Store};
use std::hint::black_box;
use std::time::Duration;

const KEYS: usize = 100_000;

fn authentication(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().unwrap();
    let store = Store::open(&dir.path().join("bench.redb")).unwrap();
    let hasher = KeyHasher::new([7; 32]);
    let keys: Vec<ApiKey> = (0..KEYS).map(|_| ApiKey::generate()).collect();
    let commands: Vec<Command> = keys
        .iter()
        .map(|key| {
            let record = KeyRecord {
                id: KeyId::generate(),
                hash: hasher.hash(key),
                role: Role::Service,
                customer_id: None,
                name: String::new(),
                prefix: key.display_prefix().to_owned(),
                created_at: Timestamp::now(),
                expires_at: None,
                revoked_at: None,
                last_used_at: None,
            };
            CreateKey {
                record,
                audit: None,
            }
            .into()
        })
        .collect();
    // The store's calls are async; the benchmarked ones are not.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(store.commit(commands)).unwrap();
    // No store writer: authenticating never writes.
    let writer = Writer::new(Slot::default(), Duration::from_secs(1));
    let registry = runtime
        .block_on(Keys::load(&store, hasher.clone(), writer, 1_000_000_000))
        .unwrap();

    c.bench_function("hash a key (HMAC-SHA256)", |b| {
        b.iter(|| hasher.hash(black_box(&keys[0])))
    });
    let header = format!("Bearer {}", keys[KEYS / 2].expose());
    c.bench_function(
        "authenticate a header among 100,000 keys, take from its bucket",
        |b| {
            b.iter(|| {
                let key = ApiKey::from_bearer(black_box(&header)).unwrap();
                // Without replicas it reads nothing: ready at the first poll.
                let caller = registry.authenticate(&key).now_or_never().unwrap();
                let caller = caller.unwrap().unwrap();
                caller.take_request().unwrap();
            })
        },
    );
    let unknown = ApiKey::generate();
    c.bench_function("refuse an unknown key among 100,000", |b| {
        b.iter(|| {
            let caller = registry.authenticate(black_box(&unknown)).now_or_never();
            caller.unwrap().unwrap().is_none()
        })
    });
}

criterion_group!(benches, authentication);
criterion_main!(benches);
