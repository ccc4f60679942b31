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
#[derive(Debug, Clone)]
pub struct ReplicaEpochs<T> {
    /// Sum of every finished epoch's last dump.
    closed: Option<T>,
    /// The newest dump of the current epoch.
    current: Option<T>,
    instance: Option<String>,
    /// Number of epochs seen (1 after the first dump).
    epoch: u32,
    reset_pending: bool,
}

impl<T> Default for ReplicaEpochs<T> {
    fn default() -> Self {
        ReplicaEpochs {
            closed: None,
            current: None,
            instance: None,
            epoch: 0,
            reset_pending: false,
        }
    }
}

impl<T: Cumulative> ReplicaEpochs<T> {
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
        if new_epoch && let Some(cur) = self.current.take() {
            match &mut self.closed {
                Some(c) => c.absorb(&cur),
                None => self.closed = Some(cur),
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
        match (&self.closed, &self.current) {
            (Some(c), Some(cur)) => {
                let mut t = c.clone();
                t.absorb(cur);
                Some(t)
            }
            (Some(c), None) => Some(c.clone()),
            (None, Some(cur)) => Some(cur.clone()),
            (None, None) => None,
        }
    }
}

/// Every replica of one target.
#[derive(Debug, Clone)]
pub struct TargetAccumulator<T> {
    pub replicas: BTreeMap<String, ReplicaEpochs<T>>,
}

impl<T> Default for TargetAccumulator<T> {
    fn default() -> Self {
        TargetAccumulator {
            replicas: BTreeMap::new(),
        }
    }
}

impl<T: Cumulative> TargetAccumulator<T> {
    pub fn apply(&mut self, replica: &str, dump: T, instance: Option<String>) -> bool {
        self.replicas
            .entry(replica.to_string())
            .or_default()
            .apply(dump, instance)
    }

    pub fn mark_reset(&mut self, replica: &str) {
        self.replicas
            .entry(replica.to_string())
            .or_default()
            .mark_reset();
    }

    /// The pieces `total` would add up (each replica's finished epochs and current dump), for
    /// questions that need no sum, such as which classes any replica ran.
    pub fn parts(&self) -> impl Iterator<Item = &T> {
        self.replicas
            .values()
            .flat_map(|r| r.closed.iter().chain(r.current.iter()))
    }

    /// The sum over replicas and epochs.
    pub fn total(&self) -> Option<T> {
        let mut out: Option<T> = None;
        for r in self.replicas.values() {
            if let Some(t) = r.total() {
                match &mut out {
                    Some(o) => o.absorb(&t),
                    None => out = Some(t),
                }
            }
        }
        out
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
