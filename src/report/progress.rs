//! How far a report being written is: pages written of the pages to write. The writer counts,
//! whoever holds a clone reads (the screen's footer, while the export runs beside it).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A shared count of the files a report has written and will write. Clones count together.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    done: AtomicUsize,
    total: AtomicUsize,
}

impl Progress {
    /// The writer knows how many files it will write.
    pub fn set_total(&self, total: usize) {
        self.0.total.store(total, Ordering::Relaxed);
    }

    /// `n` more files written.
    pub fn advance(&self, n: usize) {
        self.0.done.fetch_add(n, Ordering::Relaxed);
    }

    /// (written, total); the total is 0 until the writer knows it.
    pub fn get(&self) -> (usize, usize) {
        (
            self.0.done.load(Ordering::Relaxed),
            self.0.total.load(Ordering::Relaxed),
        )
    }
}

/// Two handles are equal when they say the same: commands carrying one compare by what they say.
impl PartialEq for Progress {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Progress {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_count_together() {
        let p = Progress::default();
        let reader = p.clone();
        assert_eq!(reader.get(), (0, 0));
        p.set_total(3);
        p.advance(1);
        p.advance(2);
        assert_eq!(reader.get(), (3, 3));
        assert_ne!(reader, Progress::default());
    }
}
