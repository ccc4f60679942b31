//! The session core: what a session's dumps add up to, per build, without git, disk or network.
//!
//! Every dump — replayed from the store or just polled — goes through [`SessionCore::apply`]. The
//! core decodes it, decides which build it belongs to and accumulates it there with epochs
//! ([`super::accumulate`]). One [`Build`] type holds every build: the current one (the configured
//! revision) and each older one (another revision, named by the agent or found by the block
//! layout). Data of different builds never merge.
//!
//! What needs the repository — does a revision name the current commit, does a Go block layout fit
//! the revision's sources or an older commit's — is asked of a [`Judge`], so the core is tested
//! with a judge of its own and the engine gives it one backed by git.

use super::accumulate::{Cumulative, TargetAccumulator};
use crate::go::layout::Misfit;
use crate::go::profile::{self, Profile};
use crate::java::exec::ExecData;
use crate::session::{DumpMeta, PayloadKind};
use std::collections::BTreeMap;

impl Cumulative for Profile {
    fn absorb(&mut self, other: &Self) {
        self.merge(other);
    }
    fn decreased_from(&self, earlier: &Self) -> bool {
        self.counts_decreased_from(earlier)
    }
}

/// Where a Go profile said to be of the current revision belongs, by its block layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoFit {
    /// Its blocks fit the current revision's sources: the current build.
    Fits,
    /// It fits an older commit of the branch (an old build of a rolling deploy): carried as that
    /// build, never merged into the current one.
    Older {
        revision: String,
        short: String,
        misfit: Misfit,
    },
    /// It fits no known commit: kept apart under its layout and named.
    Apart { layout: u64, misfit: Misfit },
}

/// What the core asks of the repository.
pub trait Judge {
    /// Whether a revision stored with a dump names the current build.
    fn is_current(&mut self, revision: &str) -> bool;
    /// Which build a Go profile said to be of the current revision is really of.
    fn place_go(&mut self, profile: &Profile) -> GoFit;
    /// The probe count of the JaCoCo class of id `id`, when its class file is known: data
    /// claiming more probes for it is refused at decode.
    fn class_probes(&self, _id: u64) -> Option<u32> {
        None
    }
}

/// Everything one target's replicas reported for one build.
#[derive(Debug, Clone, Default)]
pub struct BuildTarget {
    pub go: TargetAccumulator<Profile>,
    pub java: TargetAccumulator<ExecData>,
    /// Go data of layouts that fit no known commit, per `replica#layout`: kept apart.
    pub go_aside: TargetAccumulator<Profile>,
}

impl BuildTarget {
    /// The epoch a replica is in (0 before its first dump).
    pub fn epoch_of(&self, replica: &str) -> u32 {
        self.go
            .replicas
            .get(replica)
            .or_else(|| self.go_aside.replicas.get(replica))
            .map(|r| r.epoch())
            .or_else(|| self.java.replicas.get(replica).map(|r| r.epoch()))
            .unwrap_or(0)
    }

    fn mark_reset(&mut self, replica: &str) {
        if self.go.replicas.contains_key(replica) {
            self.go.mark_reset(replica);
        }
        if self.java.replicas.contains_key(replica) {
            self.java.mark_reset(replica);
        }
        let prefix = format!("{replica}#");
        let aside: Vec<String> = self
            .go_aside
            .replicas
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for key in aside {
            self.go_aside.mark_reset(&key);
        }
    }
}

/// Everything stored for one build: the data of every target, accumulated with epochs.
#[derive(Debug, Clone, Default)]
pub struct Build {
    /// The revision as stored with the dumps (a full commit id, or what an agent's extra said
    /// when the repository does not have it).
    pub revision: String,
    pub targets: BTreeMap<String, BuildTarget>,
    /// The sequence number of its first dump: builds are listed in the order they appeared.
    pub first_seq: u64,
    /// Dumps applied (reset markers not counted).
    pub dumps: usize,
}

impl Build {
    fn new(revision: &str, first_seq: u64) -> Self {
        Build {
            revision: revision.to_string(),
            first_seq,
            ..Build::default()
        }
    }

    pub fn target(&self, name: &str) -> Option<&BuildTarget> {
        self.targets.get(name)
    }

    /// True when this build holds data of `target`.
    pub fn has_target(&self, target: &str) -> bool {
        self.targets.get(target).is_some_and(|t| {
            !t.go.replicas.is_empty()
                || !t.java.replicas.is_empty()
                || !t.go_aside.replicas.is_empty()
        })
    }

    /// The merged Go profile of every target (every replica and epoch); data kept apart is not
    /// part of it.
    pub fn go_total(&self) -> Option<Profile> {
        merged(self.targets.values().filter_map(|t| t.go.total()))
    }

    /// Each target's JaCoCo data: the OR of every replica and epoch.
    pub fn java_totals(&self) -> Vec<(String, ExecData)> {
        self.targets
            .iter()
            .filter_map(|(name, t)| t.java.total().map(|e| (name.clone(), e)))
            .collect()
    }

    fn target_mut(&mut self, name: &str) -> &mut BuildTarget {
        self.targets.entry(name.to_string()).or_default()
    }
}

/// The sum of Go profiles (None when there is none).
pub fn merged(profiles: impl Iterator<Item = Profile>) -> Option<Profile> {
    let mut out: Option<Profile> = None;
    for p in profiles {
        match &mut out {
            Some(o) => {
                o.merge(&p);
            }
            None => out = Some(p),
        }
    }
    out
}

/// Where a replica's newest data went, when not into the current build (for diagnostics).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Placement {
    /// Kept apart: a Go layout that fits no known commit.
    Apart {
        layout: u64,
        misfit: Misfit,
        blocks: usize,
    },
    /// An older commit's build, found by its Go block layout.
    Older { short: String, misfit: Misfit },
}

/// Where one dump went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Into the current build.
    Current,
    /// Into the build of another revision named with the dump (an agent's extra).
    Named(String),
    /// Into an older build found by its Go block layout (the full revision).
    OlderLayout(String),
    /// Kept apart (a Go layout that fits no known commit).
    Apart,
    /// A reset marker: the replica's next dump opens a new epoch.
    Reset,
}

impl Applied {
    /// True when the dump's data is not the current build's.
    pub fn is_other_build(&self) -> bool {
        matches!(
            self,
            Applied::Named(_) | Applied::OlderLayout(_) | Applied::Apart
        )
    }
}

/// A dump the core could not decode: it is kept on disk, never applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Undecodable(pub String);

/// The builds of one session.
#[derive(Debug, Clone)]
pub struct SessionCore {
    /// The configured revision (full id): the current build's.
    pub(crate) current: String,
    /// Every build, in the order of their first dump; the current one among them once it has
    /// data.
    pub(crate) builds: Vec<Build>,
    /// Per (target, replica): where its newest data went when that was not the current build.
    pub(crate) placements: BTreeMap<(String, String), Placement>,
    /// Targets with data of any build (kept apart included).
    pub(crate) with_data: std::collections::BTreeSet<String>,
}

impl SessionCore {
    pub fn new(current: &str) -> Self {
        SessionCore {
            current: current.to_string(),
            builds: Vec::new(),
            placements: BTreeMap::new(),
            with_data: Default::default(),
        }
    }

    /// The configured revision.
    pub fn current_revision(&self) -> &str {
        &self.current
    }

    /// The current build (empty until a dump of it arrives).
    pub fn current(&self) -> Option<&Build> {
        self.builds.iter().find(|b| b.revision == self.current)
    }

    /// The data of `target` in the current build.
    pub fn current_target(&self, target: &str) -> Option<&BuildTarget> {
        self.current().and_then(|b| b.target(target))
    }

    /// Every build other than the current one, in the order they appeared.
    pub fn older(&self) -> impl Iterator<Item = &Build> {
        self.builds.iter().filter(|b| b.revision != self.current)
    }

    /// Every build, the current one included, in the order they appeared.
    pub fn builds(&self) -> &[Build] {
        &self.builds
    }

    /// True when any dump of `target` was decoded, whatever its build.
    pub fn has_data(&self, target: &str) -> bool {
        self.with_data.contains(target)
    }

    /// The replicas of `target` whose newest data is not of the current build, and where it went.
    pub fn placements(&self, target: &str) -> impl Iterator<Item = (&str, &Placement)> {
        self.placements
            .iter()
            .filter(move |((t, _), _)| t == target)
            .map(|((_, r), p)| (r.as_str(), p))
    }

    /// The epoch a replica of `target` is in, in the current build.
    pub fn epoch_of(&self, target: &str, replica: &str) -> u32 {
        self.current_target(target)
            .map_or(0, |t| t.epoch_of(replica))
    }

    fn build_mut(&mut self, revision: &str, seq: u64) -> &mut Build {
        let i = match self.builds.iter().position(|b| b.revision == revision) {
            Some(i) => i,
            None => {
                self.builds.push(Build::new(revision, seq));
                self.builds.len() - 1
            }
        };
        &mut self.builds[i]
    }

    /// [`SessionCore::apply`] at the boundary of one dump: a panic while applying it (a bug on
    /// this input, in covtop or a dependency) is an [`Undecodable`] naming it, so the caller sets
    /// the dump aside and goes on with the next. Every dump — polled, replayed, folded or
    /// followed — goes through here. What the dump changed before the panic may be half done.
    pub fn apply_guarded(
        &mut self,
        meta: &DumpMeta,
        payload: &[u8],
        origin: &str,
        judge: &mut dyn Judge,
    ) -> Result<Applied, Undecodable> {
        crate::guard::catch(|| self.apply(meta, payload, origin, judge))
            .unwrap_or_else(|e| Err(Undecodable(e)))
    }

    /// Applies one dump (`meta` as stored, `payload` its bytes; `origin` names it in errors).
    /// A reset marker opens a new epoch for its replica in every build. A dump stored with the
    /// current revision goes to the current build, unless it is a Go profile whose layout the
    /// judge places elsewhere; a dump stored with another revision goes to that build. Callers
    /// outside unit tests use [`SessionCore::apply_guarded`].
    pub fn apply(
        &mut self,
        meta: &DumpMeta,
        payload: &[u8],
        origin: &str,
        judge: &mut dyn Judge,
    ) -> Result<Applied, Undecodable> {
        if meta.reset_after {
            for b in &mut self.builds {
                if let Some(t) = b.targets.get_mut(&meta.target) {
                    t.mark_reset(&meta.replica);
                }
            }
            return Ok(Applied::Reset);
        }
        let current = meta.revision == self.current || judge.is_current(&meta.revision);
        let key = (meta.target.clone(), meta.replica.clone());
        let (revision, as_stored) = if current {
            (self.current.clone(), Applied::Current)
        } else {
            (meta.revision.clone(), Applied::Named(meta.revision.clone()))
        };
        let applied = match meta.kind {
            PayloadKind::GoProfile => {
                let p = profile::parse(payload, origin).map_err(|e| Undecodable(e.to_string()))?;
                let fit = if current {
                    judge.place_go(&p)
                } else {
                    GoFit::Fits
                };
                // Where it goes: (build, what happened, the key it is kept apart under).
                let (revision, applied, aside) = match fit {
                    GoFit::Fits => {
                        if current {
                            // It runs the configured build now; what it ran before stays.
                            self.placements.remove(&key);
                        }
                        (revision, as_stored, None)
                    }
                    GoFit::Older {
                        revision,
                        short,
                        misfit,
                    } => {
                        self.placements
                            .insert(key, Placement::Older { short, misfit });
                        (revision.clone(), Applied::OlderLayout(revision), None)
                    }
                    GoFit::Apart { layout, misfit } => {
                        let blocks = p.block_count();
                        self.placements.insert(
                            key,
                            Placement::Apart {
                                layout,
                                misfit,
                                blocks,
                            },
                        );
                        let aside = format!("{}#{layout:016x}", meta.replica);
                        (revision, Applied::Apart, Some(aside))
                    }
                };
                let b = self.build_mut(&revision, meta.seq);
                if aside.is_none() {
                    b.dumps += 1;
                }
                let t = b.target_mut(&meta.target);
                let (acc, replica) = match &aside {
                    Some(k) => (&mut t.go_aside, k.as_str()),
                    None => (&mut t.go, meta.replica.as_str()),
                };
                acc.apply_at(replica, p, meta.instance.clone(), meta.requested_at_ms);
                applied
            }
            PayloadKind::JacocoExec => {
                let known = |id| judge.class_probes(id);
                let e = crate::java::exec::parse_known(payload, origin, &known)
                    .map_err(|e| Undecodable(e.to_string()))?;
                let b = self.build_mut(&revision, meta.seq);
                b.dumps += 1;
                b.target_mut(&meta.target).java.apply_at(
                    &meta.replica,
                    e,
                    meta.instance.clone(),
                    meta.requested_at_ms,
                );
                as_stored
            }
        };
        self.with_data.insert(meta.target.clone());
        Ok(applied)
    }
}

/// A judge that trusts every stored revision and fits every layout: for dumps whose build is
/// already known (a baseline's dumps are grouped by the revision they were stored with).
pub struct Trusting;

impl Judge for Trusting {
    fn is_current(&mut self, _revision: &str) -> bool {
        false
    }
    fn place_go(&mut self, _profile: &Profile) -> GoFit {
        GoFit::Fits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::go::layout::MisfitReason;

    /// A judge with fixed answers: `current` names the revisions that are the current build,
    /// layouts by the first block's start line: 1 fits, 2 is an older commit, else apart.
    struct Fixed {
        current: Vec<&'static str>,
    }

    impl Judge for Fixed {
        fn is_current(&mut self, revision: &str) -> bool {
            self.current.contains(&revision)
        }
        fn place_go(&mut self, p: &Profile) -> GoFit {
            let misfit = Misfit {
                file: "calc.go".into(),
                block: (9, 1, 9, 2),
                reason: MisfitReason::PastEndOfFile,
            };
            let first = p
                .files()
                .next()
                .and_then(|(_, b)| b.first())
                .map(|b| b.start_line);
            match first {
                Some(1) => GoFit::Fits,
                Some(2) => GoFit::Older {
                    revision: "old".into(),
                    short: "old".into(),
                    misfit,
                },
                _ => GoFit::Apart { layout: 7, misfit },
            }
        }
    }

    fn judge() -> Fixed {
        Fixed {
            current: vec!["cur", "cur-short"],
        }
    }

    fn meta(target: &str, replica: &str, revision: &str, seq: u64) -> DumpMeta {
        let mut m = DumpMeta::new(target, replica, None, seq, revision, PayloadKind::GoProfile);
        m.seq = seq;
        m
    }

    fn go(line: u32, count: u64) -> Vec<u8> {
        format!("mode: count\nm/calc.go:{line}.1,{line}.9 1 {count}\n").into_bytes()
    }

    fn count(p: &Profile) -> u64 {
        p.files().flat_map(|(_, b)| b.iter()).map(|b| b.count).sum()
    }

    #[test]
    fn builds_never_merge_and_revisions_naming_the_current_commit_are_current() {
        let mut core = SessionCore::new("cur");
        let mut j = judge();
        let a = core.apply(&meta("svc", "a", "cur", 1), &go(1, 3), "d1", &mut j);
        let b = core.apply(&meta("svc", "b", "cur-short", 2), &go(1, 4), "d2", &mut j);
        let c = core.apply(&meta("svc", "c", "v0", 3), &go(1, 5), "d3", &mut j);
        assert_eq!(a, Ok(Applied::Current));
        assert_eq!(b, Ok(Applied::Current));
        assert_eq!(c, Ok(Applied::Named("v0".into())));
        let cur = core.current().unwrap();
        assert_eq!(count(&cur.go_total().unwrap()), 7, "a and b merge");
        let older: Vec<&Build> = core.older().collect();
        assert_eq!(older.len(), 1);
        assert_eq!(older[0].revision, "v0");
        assert_eq!(
            count(&older[0].go_total().unwrap()),
            5,
            "c stays in its build"
        );
    }

    #[test]
    fn layouts_decide_the_build_of_go_data_said_to_be_current() {
        let mut core = SessionCore::new("cur");
        let mut j = judge();
        let older = core.apply(&meta("svc", "a", "cur", 1), &go(2, 3), "d1", &mut j);
        let apart = core.apply(&meta("svc", "b", "cur", 2), &go(5, 9), "d2", &mut j);
        assert_eq!(older, Ok(Applied::OlderLayout("old".into())));
        assert_eq!(apart, Ok(Applied::Apart));
        assert!(
            core.current().unwrap().go_total().is_none(),
            "nothing merged"
        );
        assert_eq!(core.older().count(), 1);
        let placed: Vec<&str> = core.placements("svc").map(|(r, _)| r).collect();
        assert_eq!(placed, vec!["a", "b"]);
        assert!(core.has_data("svc"));
        // Replica a now runs the current build: it is no longer placed elsewhere, and what it
        // ran before stays in the older build.
        core.apply(&meta("svc", "a", "cur", 3), &go(1, 1), "d3", &mut j)
            .unwrap();
        let placed: Vec<&str> = core.placements("svc").map(|(r, _)| r).collect();
        assert_eq!(placed, vec!["b"]);
        assert_eq!(count(&core.older().next().unwrap().go_total().unwrap()), 3);
    }

    #[test]
    fn a_reset_marker_opens_a_new_epoch_in_every_build_of_the_replica() {
        let mut core = SessionCore::new("cur");
        let mut j = judge();
        core.apply(&meta("svc", "a", "cur", 1), &go(1, 5), "d1", &mut j)
            .unwrap();
        core.apply(&meta("svc", "a", "v0", 2), &go(1, 5), "d2", &mut j)
            .unwrap();
        let mut marker = meta("svc", "a", "cur", 3);
        marker.reset_after = true;
        assert_eq!(core.apply(&marker, &[], "m", &mut j), Ok(Applied::Reset));
        // After the reset the counters restart but grow beyond the old ones: a new epoch all
        // the same, so both dumps count.
        core.apply(&meta("svc", "a", "cur", 4), &go(1, 6), "d4", &mut j)
            .unwrap();
        core.apply(&meta("svc", "a", "v0", 5), &go(1, 6), "d5", &mut j)
            .unwrap();
        assert_eq!(count(&core.current().unwrap().go_total().unwrap()), 11);
        assert_eq!(count(&core.older().next().unwrap().go_total().unwrap()), 11);
        assert_eq!(core.epoch_of("svc", "a"), 2);
    }

    #[test]
    fn java_data_accumulate_per_build_and_undecodable_dumps_change_nothing() {
        use crate::java::exec::{ClassProbes, ExecData};
        let mut exec = ExecData::default();
        exec.classes.insert(
            1,
            ClassProbes {
                name: "a/B".into(),
                probes: vec![true, false].into(),
            },
        );
        let bytes = exec.to_bytes().unwrap();
        let mut core = SessionCore::new("cur");
        let mut j = judge();
        let mut m = meta("jvm", "r", "cur", 1);
        m.kind = PayloadKind::JacocoExec;
        assert_eq!(core.apply(&m, &bytes, "d1", &mut j), Ok(Applied::Current));
        let bad = core.apply(&m, b"not exec", "d2", &mut j);
        assert!(bad.is_err());
        let totals = core.current().unwrap().java_totals();
        assert_eq!(totals.len(), 1);
        let probes: Vec<bool> = totals[0].1.classes[&1].probes.iter().collect();
        assert_eq!(probes, vec![true, false]);
        assert!(
            core.apply(&meta("svc", "a", "cur", 3), b"garbage", "d3", &mut j)
                .is_err()
        );
        assert!(!core.has_data("svc"), "nothing decoded for svc");
    }
}
