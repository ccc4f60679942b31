//! Limits shared by every client in the process: how many connections to agents may be open at
//! once (sized from the process's file-descriptor limit, so a target with hundreds of replicas
//! queues instead of failing with "Too many open files"), and one byte budget for every response
//! body being read (so many replicas sending endless or huge bodies together stay bounded).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// File descriptors kept for everything but agent connections: the session store, the
/// repository, the terminal, watch streams, exports.
const RESERVED_FDS: u64 = 96;
/// Never more connections than this at once, however high the limit.
const MAX_CONNECTIONS: u64 = 512;
/// Never fewer (a tiny limit still makes progress, one replica after another).
const MIN_CONNECTIONS: u64 = 4;
/// Every response body in flight together: at most this many bytes. Below the 256 MiB that a
/// hostile input may add to covtop's normal use, with room for the rest of the process.
pub const BODY_BUDGET: usize = 192 << 20;

/// The soft `RLIMIT_NOFILE` of this process (1024 when it cannot be read).
pub fn open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if ok && limit.rlim_cur != libc::RLIM_INFINITY {
        limit.rlim_cur
    } else if ok {
        u64::MAX
    } else {
        1024
    }
}

/// How many agent connections may be open at once for a file-descriptor limit of `nofile`: half
/// of what is left after the reserve (a connection may briefly hold a second descriptor while
/// resolving or closing), within [`MIN_CONNECTIONS`, `MAX_CONNECTIONS`].
pub fn connections_for(nofile: u64) -> usize {
    (nofile.saturating_sub(RESERVED_FDS) / 2).clamp(MIN_CONNECTIONS, MAX_CONNECTIONS) as usize
}

struct Limits {
    connections: Semaphore,
    bodies: Budget,
}

fn limits() -> &'static Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    LIMITS.get_or_init(|| Limits {
        connections: Semaphore::new(connections_for(open_file_limit())),
        bodies: Budget::new(BODY_BUDGET),
    })
}

/// Waits for a free connection slot; hold the permit while the connection is open. Time spent
/// waiting here is not part of an exchange's timeout: a queued replica is not a slow one.
pub async fn connection() -> SemaphorePermit<'static> {
    limits()
        .connections
        .acquire()
        .await
        .expect("the connection semaphore is never closed")
}

/// The number of connection slots of this process.
pub fn connection_slots() -> usize {
    connections_for(open_file_limit())
}

/// A byte budget shared by exchanges.
#[derive(Clone)]
pub struct Budget {
    sem: Arc<Semaphore>,
    total: usize,
    /// The most bytes held at once.
    high_water: Arc<AtomicUsize>,
}

impl Budget {
    pub fn new(total: usize) -> Budget {
        Budget {
            sem: Arc::new(Semaphore::new(total)),
            total,
            high_water: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The budget of every response body in flight in this process ([`BODY_BUDGET`]).
    pub fn bodies() -> &'static Budget {
        &limits().bodies
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// The most bytes held at once so far.
    pub fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }

    /// An empty hold on this budget, for one body.
    pub fn hold(&self) -> BodyBytes {
        BodyBytes {
            budget: self.clone(),
            held: None,
        }
    }
}

/// The body bytes of one exchange, counted against a [`Budget`]; released when dropped.
pub struct BodyBytes {
    budget: Budget,
    held: Option<OwnedSemaphorePermit>,
}

/// The budget of bodies in flight was not available in time.
#[derive(Debug, Clone, Copy)]
pub struct BudgetExhausted;

impl BodyBytes {
    /// Grows what this exchange holds to `total` bytes (a buffer's capacity), waiting up to
    /// `wait` for other exchanges to release theirs.
    pub async fn grow_to(&mut self, total: usize, wait: Duration) -> Result<(), BudgetExhausted> {
        let held = self.held.as_ref().map_or(0, |p| p.num_permits());
        if total <= held {
            return Ok(());
        }
        if total > self.budget.total {
            return Err(BudgetExhausted);
        }
        let more = u32::try_from(total - held).map_err(|_| BudgetExhausted)?;
        let sem = self.budget.sem.clone();
        let permit = match sem.clone().try_acquire_many_owned(more) {
            Ok(p) => p,
            Err(_) => tokio::time::timeout(wait, sem.acquire_many_owned(more))
                .await
                .map_err(|_| BudgetExhausted)?
                .map_err(|_| BudgetExhausted)?,
        };
        match &mut self.held {
            Some(p) => p.merge(permit),
            None => self.held = Some(permit),
        }
        let in_use = self.budget.total - self.budget.sem.available_permits();
        self.budget.high_water.fetch_max(in_use, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_follow_the_descriptor_limit() {
        assert_eq!(connections_for(256), 80);
        assert_eq!(connections_for(1024), 464);
        assert_eq!(connections_for(1 << 20), MAX_CONNECTIONS as usize);
        assert_eq!(connections_for(20), MIN_CONNECTIONS as usize);
        assert!(open_file_limit() > 0);
    }

    #[tokio::test]
    async fn body_bytes_are_bounded_in_total_and_released_on_drop() {
        let budget = Budget::new(1000);
        let mut a = budget.hold();
        a.grow_to(990, Duration::from_millis(10)).await.unwrap();
        let mut b = budget.hold();
        assert!(b.grow_to(100, Duration::from_millis(20)).await.is_err());
        b.grow_to(10, Duration::from_millis(10)).await.unwrap();
        drop(a);
        b.grow_to(1000, Duration::from_millis(10)).await.unwrap();
        assert_eq!(budget.high_water(), 1000);
        assert!(budget.hold().grow_to(1001, Duration::ZERO).await.is_err());
        assert_eq!(Budget::bodies().total(), BODY_BUDGET);
    }
}
