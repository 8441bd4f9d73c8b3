//! The data directory's disk use: its files' sizes and the free space of its file system
//! (`statvfs`, through rustix). Read for each `/metrics` scrape and before each backup.

use std::path::Path;

/// What the data directory takes and has left, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// The store's file.
    pub store: u64,
    /// Every file in the data directory, the store included (and a backup being made).
    pub files: u64,
    /// Free space on its file system for an unprivileged process, and the file system's size.
    pub free: Option<Space>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub available: u64,
    pub capacity: u64,
}

/// Reads the sizes now. A file that vanishes while being read counts as empty.
pub fn usage(dir: &Path) -> Usage {
    let store = file_size(&dir.join(super::STORE_FILE));
    let files = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    Usage {
        store,
        files,
        free: free_space(dir),
    }
}

/// The free space of the file system `dir` is on.
pub fn free_space(dir: &Path) -> Option<Space> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(Space {
        available: stat.f_bavail.saturating_mul(stat.f_frsize),
        capacity: stat.f_blocks.saturating_mul(stat.f_frsize),
    })
}

pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes for people: `123,456,789 bytes (117.7 MiB)`.
pub fn show_bytes(bytes: u64) -> String {
    format!(
        "{} bytes ({:.1} MiB)",
        crate::domain::message::thousands(bytes),
        bytes as f64 / (1024.0 * 1024.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_the_store_and_every_file_beside_it() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join(crate::maintenance::STORE_FILE), [0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("secret.key"), [0u8; 64]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let usage = usage(dir.path());
        assert_eq!((usage.store, usage.files), (1000, 1064));
        let space = usage.free.expect("statvfs answers on a temp dir");
        assert!(
            0 < space.available && space.available <= space.capacity,
            "{space:?}"
        );
    }

    #[test]
    fn bytes_are_shown_grouped_and_in_mebibytes() {
        assert_eq!(show_bytes(0), "0 bytes (0.0 MiB)");
        assert_eq!(show_bytes(123_456_789), "123,456,789 bytes (117.7 MiB)");
    }
}
