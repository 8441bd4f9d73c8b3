//! The disk's durable-commit rate, the physical limit a durable write cannot beat:
//! - raw: append 512 bytes and `fdatasync`, one at a time;
//! - redb: one-row write transactions with `Durability::Immediate`, one at a time (what a
//!   store writer that did not group commits could reach).
//!
//! `cargo run --release --example fsync -- DIR [SECONDS]` (DIR on the disk to measure).

use redb::{Database, Durability, TableDefinition};
use std::io::Write;
use std::time::{Duration, Instant};

const ROWS: TableDefinition<u64, &[u8]> = TableDefinition::new("rows");

fn rate(seconds: f64, mut once: impl FnMut(u64) -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        once(n)?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let seconds: f64 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;

    let path = dir.join("fsync-probe.bin");
    let mut file = std::fs::File::create(&path)?;
    let raw = rate(seconds, |_| {
        file.write_all(&[7u8; 512])?;
        file.sync_data()?;
        Ok(())
    })?;
    std::fs::remove_file(&path)?;

    let path = dir.join("fsync-probe.redb");
    let db = Database::create(&path)?;
    let redb = rate(seconds, |n| {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(ROWS)?.insert(n, [7u8; 200].as_slice())?;
        txn.commit()?;
        Ok(())
    })?;
    drop(db);
    std::fs::remove_file(&path)?;

    println!("FSYNC\traw\t{raw:.0}");
    println!("FSYNC\tredb\t{redb:.0}");
    eprintln!(
        "fdatasync: {raw:.0}/s; redb one-row Immediate commits: {redb:.0}/s ({})",
        dir.display()
    );
    Ok(())
}
