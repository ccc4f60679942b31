//! Accumulation with epochs.
//!
//! An agent's counters are cumulative since its start or last reset, so successive dumps of one
//! replica supersede each other — until the replica restarts or is reset. That opens a new epoch:
//! the finished epoch's last dump is kept, and epochs add up. Nothing an agent reported is lost
//! when its counters go down.

use std::collections::BTreeMap;

/// Coverage data that accumulates across epochs.
pub trait Cumulative: Clone {
    /// Adds `other` into `self` (sum of counts, or OR of probes).
    fn absorb(&mut self, other: &Self);
    /// True when some counter in `self` is lower than in `earlier` (a restart or reset happened).
    fn decreased_from(&self, earlier: &Self) -> bool;
}

/// The epochs of one replica.
///
/// Dumps normally arrive in the order they were requested. One that was requested before the
/// newest dump held (a poll in flight while another covtop stored a newer dump and reset the
/// agent) is *late*: it is placed by its data, never counted as a new epoch on top of the one
/// it belongs to (see [`ReplicaEpochs::apply_at`]).
#[derive(Debug, Clone)]
pub struct ReplicaEpochs<T> {
    /// Sum of the finished epochs' last dumps, all but the newest finished epoch.
    pub(crate) closed: Option<T>,
    /// The last dump of the newest finished epoch (kept apart so a late dump of that epoch can
    /// replace it).
    pub(crate) closed_last: Option<T>,
    /// The newest dump of the current epoch.
    pub(crate) current: Option<T>,
    /// When `current` was requested (ms since the Unix epoch), when known.
    pub(crate) current_requested_at: Option<u64>,
    pub(crate) instance: Option<String>,
    /// Number of epochs seen (1 after the first dump).
    pub(crate) epoch: u32,
    pub(crate) reset_pending: bool,
}

impl<T> Default for ReplicaEpochs<T> {
    fn default() -> Self {
        ReplicaEpochs {
            closed: None,
            closed_last: None,
            current: None,
            current_requested_at: None,
            instance: None,
            epoch: 0,
            reset_pending: false,
        }
    }
}

impl<T: Cumulative> ReplicaEpochs<T> {
    /// Applies a dump requested at `requested_at` (ms since the Unix epoch; `None` when not
    /// known, as in sessions stored by older versions). A dump requested before the newest one
    /// held is late: when the newest one already holds everything it says (same epoch, counters
    /// not lower) it adds nothing; when it extends the previous epoch's last dump it replaces
    /// that; only otherwise does it count as an epoch of its own (nothing is ever lost).
    pub fn apply_at(
        &mut self,
        dump: T,
        instance: Option<String>,
        requested_at: Option<u64>,
    ) -> bool {
        let late = matches!(
            (requested_at, self.current_requested_at),
            (Some(t), Some(cur)) if t < cur
        );
        let same_process = match (&self.instance, &instance) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if late && same_process {
            if self
                .current
                .as_ref()
                .is_some_and(|cur| !cur.decreased_from(&dump))
            {
                return false;
            }
            if let Some(last) = &mut self.closed_last
                && !dump.decreased_from(last)
            {
                *last = dump;
                return false;
            }
        }
        let opened = self.apply(dump, instance);
        if !late {
            self.current_requested_at = requested_at;
        }
        opened
    }

    /// Applies a new dump; returns true if it opened a new epoch.
    pub fn apply(&mut self, dump: T, instance: Option<String>) -> bool {
        let restarted = match (&self.instance, &instance) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        let decreased = self
            .current
            .as_ref()
            .is_some_and(|cur| dump.decreased_from(cur));
        let new_epoch = self.current.is_none() || self.reset_pending || restarted || decreased;
        if new_epoch
            && let Some(cur) = self.current.take()
            && let Some(last) = self.closed_last.replace(cur)
        {
            match &mut self.closed {
                Some(c) => c.absorb(&last),
                None => self.closed = Some(last),
            }
        }
        if new_epoch {
            self.epoch += 1;
        }
        self.current = Some(dump);
        if instance.is_some() {
            self.instance = instance;
        }
        self.reset_pending = false;
        new_epoch && self.epoch > 1
    }

    /// The replica was reset: its next dump starts a new epoch whatever its counters say.
    pub fn mark_reset(&mut self) {
        self.reset_pending = true;
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Everything this replica ever reported.
    pub fn total(&self) -> Option<T> {
        let mut out: Option<T> = None;
        for part in self.parts() {
            match &mut out {
                Some(o) => o.absorb(part),
                None => out = Some(part.clone()),
            }
        }
        out
    }

    /// The pieces [`ReplicaEpochs::total`] adds up.
    fn parts(&self) -> impl Iterator<Item = &T> {
        self.closed
            .iter()
            .chain(self.closed_last.iter())
            .chain(self.current.iter())
    }
}

/// Every replica of one target.
#[derive(Debug, Clone)]
pub struct TargetAccumulator<T> {
    pub replicas: BTreeMap<String, ReplicaEpochs<T>>,
    /// The sum, computed once after each change (every View asks for it; a poll of another
    /// target changes nothing here) and shared, not copied.
    total: std::sync::OnceLock<Option<std::sync::Arc<T>>>,
    /// Stamped anew (unique in the process) at every change: equal stamps mean equal content,
    /// so a caller can keep what it derived from the data until the stamp moves.
    stamp: u64,
}

/// The next [`TargetAccumulator`] stamp.
static NEXT_STAMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_stamp() -> u64 {
    NEXT_STAMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl<T> Default for TargetAccumulator<T> {
    fn default() -> Self {
        TargetAccumulator {
            replicas: BTreeMap::new(),
            total: std::sync::OnceLock::new(),
            stamp: 0,
        }
    }
}

impl<T: Cumulative> TargetAccumulator<T> {
    pub fn apply(&mut self, replica: &str, dump: T, instance: Option<String>) -> bool {
        self.apply_at(replica, dump, instance, None)
    }

    /// Like [`TargetAccumulator::apply`], with the time the dump was requested (see
    /// [`ReplicaEpochs::apply_at`]).
    pub fn apply_at(
        &mut self,
        replica: &str,
        dump: T,
        instance: Option<String>,
        requested_at: Option<u64>,
    ) -> bool {
        self.total = std::sync::OnceLock::new();
        self.stamp = next_stamp();
        self.replicas
            .entry(replica.to_string())
            .or_default()
            .apply_at(dump, instance, requested_at)
    }

    pub fn mark_reset(&mut self, replica: &str) {
        self.total = std::sync::OnceLock::new();
        self.stamp = next_stamp();
        self.replicas
            .entry(replica.to_string())
            .or_default()
            .mark_reset();
    }

    /// Identifies the content: changes at every change (0 while nothing was ever applied).
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The pieces `total` would add up (each replica's finished epochs and current dump), for
    /// questions that need no sum, such as which classes any replica ran.
    pub fn parts(&self) -> impl Iterator<Item = &T> {
        self.replicas.values().flat_map(|r| r.parts())
    }

    /// The sum over replicas and epochs.
    pub fn total(&self) -> Option<T> {
        self.total_shared().map(|t| T::clone(&t))
    }

    /// The sum over replicas and epochs, shared with the accumulator until its next change.
    pub fn total_shared(&self) -> Option<std::sync::Arc<T>> {
        self.total
            .get_or_init(|| {
                let mut out: Option<T> = None;
                for r in self.replicas.values() {
                    if let Some(t) = r.total() {
                        match &mut out {
                            Some(o) => o.absorb(&t),
                            None => out = Some(t),
                        }
                    }
                }
                out.map(std::sync::Arc::new)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two counters, summed.
    #[derive(Debug, Clone, PartialEq)]
    struct C(Vec<u64>);
    impl Cumulative for C {
        fn absorb(&mut self, o: &Self) {
            for (a, b) in self.0.iter_mut().zip(&o.0) {
                *a += b;
            }
        }
        fn decreased_from(&self, e: &Self) -> bool {
            self.0.iter().zip(&e.0).any(|(a, b)| a < b)
        }
    }

    #[test]
    fn newer_dump_supersedes_within_an_epoch() {
        let mut r = ReplicaEpochs::default();
        r.apply(C(vec![1, 0]), None);
        r.apply(C(vec![3, 1]), None);
        assert_eq!(r.total(), Some(C(vec![3, 1])));
        assert_eq!(r.epoch(), 1);
    }

    #[test]
    fn counters_going_down_open_a_new_epoch_and_nothing_is_lost() {
        let mut r = ReplicaEpochs::default();
        r.apply(C(vec![5, 2]), None);
        assert!(r.apply(C(vec![1, 0]), None), "restart detected");
        r.apply(C(vec![2, 4]), None);
        assert_eq!(r.total(), Some(C(vec![7, 6])));
        assert_eq!(r.epoch(), 2);
    }

    #[test]
    fn instance_change_or_reset_opens_a_new_epoch_even_if_counts_grow() {
        let mut r = ReplicaEpochs::default();
        r.apply(C(vec![1, 1]), Some("pid=1".into()));
        r.apply(C(vec![2, 2]), Some("pid=2".into()));
        assert_eq!(r.total(), Some(C(vec![3, 3])));
        r.mark_reset();
        r.apply(C(vec![9, 9]), Some("pid=2".into()));
        assert_eq!(r.total(), Some(C(vec![12, 12])));
        assert_eq!(r.epoch(), 3);
    }

    #[test]
    fn a_late_dump_of_the_epoch_before_a_reset_is_not_counted_again() {
        // A poll requested at t=10 answers after another covtop stored a dump requested at
        // t=20 and reset the agent.
        let mut r = ReplicaEpochs::default();
        r.apply_at(C(vec![7, 1]), None, Some(20));
        r.mark_reset();
        assert!(
            !r.apply_at(C(vec![7, 1]), None, Some(10)),
            "late: nothing new"
        );
        r.apply_at(C(vec![2, 0]), None, Some(30));
        assert_eq!(r.total(), Some(C(vec![9, 1])));

        // The late dump saw more than the newest dump of that epoch: it replaces it.
        let mut r = ReplicaEpochs::default();
        r.apply_at(C(vec![5, 0]), None, Some(20));
        r.mark_reset();
        r.apply_at(C(vec![1, 0]), None, Some(30));
        r.apply_at(C(vec![6, 2]), None, Some(25));
        assert_eq!(r.total(), Some(C(vec![7, 2])), "6+1, 2+0");
        assert_eq!(r.epoch(), 2);

        // A late dump of the current epoch adds nothing.
        let mut r = ReplicaEpochs::default();
        r.apply_at(C(vec![3, 3]), None, Some(20));
        r.apply_at(C(vec![2, 3]), None, Some(10));
        assert_eq!(r.total(), Some(C(vec![3, 3])));
        // Without times (older sessions) dumps count in the order they come.
        let mut r = ReplicaEpochs::default();
        r.apply_at(C(vec![3, 3]), None, None);
        r.apply_at(C(vec![2, 3]), None, None);
        assert_eq!(r.total(), Some(C(vec![5, 6])));
    }

    #[test]
    fn replicas_add_up() {
        let mut t = TargetAccumulator::default();
        t.apply("a", C(vec![1, 0]), None);
        t.apply("b", C(vec![0, 2]), None);
        t.apply("a", C(vec![0, 0]), None);
        assert_eq!(t.total(), Some(C(vec![1, 2])));
        // The parts are what the total adds up: a's finished epoch and newest dump, b's dump.
        let mut parts: Vec<C> = t.parts().cloned().collect();
        parts.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(parts, vec![C(vec![0, 0]), C(vec![0, 2]), C(vec![1, 0])]);
    }
}
