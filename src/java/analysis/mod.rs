//! Native JaCoCo class analysis: what JaCoCo 0.8.6's `Analyzer` reports per line, computed from
//! the class bytes and a probe array without a JVM.
//!
//! [`analyze_class`] runs once per class file: it parses the class, places probes exactly as the
//! JaCoCo agent does (so probe ids match the agent's arrays), builds the instruction graph of
//! every method, and applies 0.8.6's filters. What remains is a flat plan; [`ClassAnalysis::project`]
//! replays it against a probe array in one tight pass, so re-projecting after every dump is cheap.

mod body;
mod filters;
mod flow;
mod jsr;

use std::cell::RefCell;
use std::sync::Arc;

use body::{MethodBody, NONE};
use flow::{Op, analyze_flow};
use thiserror::Error;

use crate::java::classfile::{ACC_MODULE, ACC_SYNTHETIC, ClassFile, ClassFileError, parse_class};
use crate::java::probes::Probes;
use crate::model::{LineCoverage, LineStatus};

/// Why a class could not be analysed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AnalysisError {
    #[error(transparent)]
    ClassFile(#[from] ClassFileError),
    #[error(
        "class {class} is already instrumented by JaCoCo ({member}): analyse the original class files, not the instrumented ones"
    )]
    AlreadyInstrumented { class: String, member: String },
    #[error("class {class}, method {method}: {what}")]
    BadCode {
        class: String,
        method: String,
        what: String,
    },
}

/// Counters of one source line in one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounters {
    pub line: u32,
    /// Instructions (covered, missed).
    pub insn: (u32, u32),
    /// Branches (covered, missed).
    pub branches: (u32, u32),
}

impl LineCounters {
    /// JaCoCo's line status: instruction status OR branch status.
    pub fn status(&self) -> LineStatus {
        status_of(self.insn, self.branches)
    }
}

fn counter_status((covered, missed): (u32, u32)) -> u8 {
    if covered + missed == 0 {
        0
    } else if covered == 0 {
        1
    } else if missed == 0 {
        2
    } else {
        3
    }
}

/// JaCoCo's `ICounter` status code of a line (0 empty, 1 not covered, 2 fully, 3 partly).
pub fn jacoco_status_code(insn: (u32, u32), branches: (u32, u32)) -> u8 {
    counter_status(insn) | counter_status(branches)
}

fn status_of(insn: (u32, u32), branches: (u32, u32)) -> LineStatus {
    match jacoco_status_code(insn, branches) {
        0 => LineStatus::NotCoverable,
        1 => LineStatus::Missed,
        2 => LineStatus::Covered,
        _ => LineStatus::Partial,
    }
}

/// Counters of one method that contains code after filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodCounters {
    pub name: Arc<str>,
    pub descriptor: Arc<str>,
    /// Instructions (covered, missed).
    pub insn: (u32, u32),
    /// Branches (covered, missed).
    pub branches: (u32, u32),
}

/// What one probe array means for one class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassCoverage {
    /// Lines with code, sorted.
    pub lines: Vec<LineCounters>,
    /// (covered, missed)
    pub instructions: (u32, u32),
    /// (covered, missed)
    pub branches: (u32, u32),
    /// Methods with code: (covered, missed).
    pub methods: (u32, u32),
    pub method_counters: Vec<MethodCounters>,
}

struct MethodPlan {
    name: Arc<str>,
    descriptor: Arc<str>,
    /// Range of this method's instructions in the class arrays.
    insns: std::ops::Range<u32>,
}

/// Per-thread scratch arrays for projection, reused so that re-projecting thousands of classes
/// after every dump allocates only the results.
#[derive(Default)]
struct Scratch {
    slots: Vec<bool>,
    covered: Vec<bool>,
    pred: Vec<(u32, u32)>,
    slot_base: Vec<u32>,
    representative: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// A per-instruction count kept in one byte; [`SMALL_ESCAPE`] means "look it up in the sparse
/// list of large values" (switches with 255 or more targets).
const SMALL_ESCAPE: u8 = u8::MAX;

/// The analysis of one class file, ready to be projected onto probe arrays.
///
/// Kept compact (a few bytes per instruction): a session holds the analyses of every class of
/// every build it shows. Per instruction only its outgoing edge count and slot width (one byte
/// each) and a flag byte are stored; the edges are a varint stream; lines, merges and
/// replacements are sparse. [`ClassAnalysis::project`] expands what it needs into per-thread
/// scratch arrays.
pub struct ClassAnalysis {
    name: String,
    source_file: Option<String>,
    /// Carries a `PermittedSubclasses` attribute (see [`ClassAnalysis::is_sealed`]).
    sealed: bool,
    probe_count: usize,
    methods: Vec<MethodPlan>,
    /// Edges of all methods in creation order, instruction indices class-wide, encoded by
    /// [`encode_ops`].
    ops: Vec<u8>,
    /// Per instruction: outgoing edge count ([`SMALL_ESCAPE`]: in `large_branches`).
    branches: Vec<u8>,
    /// (instruction, count) for counts of [`SMALL_ESCAPE`] or more, by instruction.
    large_branches: Vec<(u32, u32)>,
    /// Per instruction: slots (branch indices) it owns ([`SMALL_ESCAPE`]: in `large_widths`).
    widths: Vec<u8>,
    large_widths: Vec<(u32, u32)>,
    /// Per instruction: [`IGNORED`] when a filter removed it (or it is a merged copy).
    flags: Vec<u8>,
    /// (first instruction, index into `lines` or NONE) runs, by instruction.
    line_runs: Vec<(u32, u32)>,
    lines: Vec<u32>,
    /// (instruction, representative) for every merged copy of a finally block, by instruction.
    merged: Vec<(u32, u32)>,
    /// (instruction, start, end) into `replacement_targets` of each instruction whose branches a
    /// filter replaced, by instruction.
    replacement: Vec<(u32, u32, u32)>,
    replacement_targets: Vec<u32>,
}

const IGNORED: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn get_varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Appends `ops` to the stream: per op, `zigzag(src - previous src) << 1 | is_probe`, then
/// `zigzag(target - src)` (edge) or the probe id (probe), then the branch index. A fall-through
/// edge takes three bytes.
fn encode_ops(out: &mut Vec<u8>, prev_src: &mut u32, ops: impl Iterator<Item = Op>) {
    for op in ops {
        let (src, kind) = match op {
            Op::Edge { src, .. } => (src, 0),
            Op::Probe { src, .. } => (src, 1),
        };
        put_varint(
            out,
            (zigzag(i64::from(src) - i64::from(*prev_src)) << 1) | kind,
        );
        *prev_src = src;
        match op {
            Op::Edge { target, branch, .. } => {
                put_varint(out, zigzag(i64::from(target) - i64::from(src)));
                put_varint(out, u64::from(branch));
            }
            Op::Probe { probe, branch, .. } => {
                put_varint(out, u64::from(probe));
                put_varint(out, u64::from(branch));
            }
        }
    }
}

/// The ops of [`encode_ops`], in order.
struct OpsReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    src: u32,
}

impl Iterator for OpsReader<'_> {
    type Item = Op;

    #[inline]
    fn next(&mut self) -> Option<Op> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let head = get_varint(self.bytes, &mut self.pos);
        let src = (i64::from(self.src) + unzigzag(head >> 1)) as u32;
        self.src = src;
        let x = get_varint(self.bytes, &mut self.pos);
        let branch = get_varint(self.bytes, &mut self.pos) as u32;
        Some(if head & 1 == 0 {
            Op::Edge {
                src,
                target: (i64::from(src) + unzigzag(x)) as u32,
                branch,
            }
        } else {
            Op::Probe {
                src,
                probe: x as u32,
                branch,
            }
        })
    }
}

/// Stores `v` in one byte, or the escape and `(i, v)` in `large`.
fn push_small(small: &mut Vec<u8>, large: &mut Vec<(u32, u32)>, v: u32) {
    if v < u32::from(SMALL_ESCAPE) {
        small.push(v as u8);
    } else {
        large.push((small.len() as u32, v));
        small.push(SMALL_ESCAPE);
    }
}

#[inline]
fn small_value(small: &[u8], large: &[(u32, u32)], i: usize) -> u32 {
    match small[i] {
        SMALL_ESCAPE => large
            .binary_search_by_key(&(i as u32), |&(at, _)| at)
            .map_or(0, |k| large[k].1),
        v => u32::from(v),
    }
}

/// Analyses one class file. `None` for classes 0.8.6's Analyzer skips (module-info, synthetic).
pub fn analyze_class(bytes: &[u8]) -> Result<Option<ClassAnalysis>, AnalysisError> {
    let cf = parse_class(bytes)?;
    analyze_parsed(&cf)
}

/// [`analyze_class`], where a bug on this class (a panic: never seen, the analysis is fuzzed)
/// costs this class only: it becomes an error naming the class.
pub fn analyze_class_guarded(bytes: &[u8]) -> Result<Option<ClassAnalysis>, AnalysisError> {
    crate::guard::catch(|| analyze_class(bytes)).unwrap_or_else(|what| {
        Err(AnalysisError::BadCode {
            class: crate::java::classfile::parse_class(bytes)
                .map_or_else(|_| "(unnamed)".into(), |cf| cf.this_class),
            method: "-".into(),
            what,
        })
    })
}

/// Analyses many class files on every available core; results come back in input order. Work is
/// handed out one class at a time, so a few huge classes do not leave a core idle.
pub fn analyze_many<B: AsRef<[u8]> + Sync>(
    classes: &[B],
) -> Vec<Result<Option<ClassAnalysis>, AnalysisError>> {
    crate::java::parallel::map_in_order(
        classes,
        32,
        1,
        || (),
        |(), c| analyze_class_guarded(c.as_ref()),
        |i| {
            Err(AnalysisError::BadCode {
                class: format!("#{i}"),
                method: "-".into(),
                what: "the analysis worker failed".into(),
            })
        },
    )
}

/// Like [`analyze_class`], for an already parsed class.
pub fn analyze_parsed(cf: &ClassFile) -> Result<Option<ClassAnalysis>, AnalysisError> {
    if cf.access & (ACC_MODULE | ACC_SYNTHETIC) != 0 {
        return Ok(None);
    }
    let class = cf.this_class.as_str();
    if let Some(f) = cf.fields.iter().find(|f| cf.field_name(f) == "$jacocoData") {
        return Err(AnalysisError::AlreadyInstrumented {
            class: class.to_owned(),
            member: cf.field_name(f).to_owned(),
        });
    }
    if let Some(m) = cf.methods.iter().find(|m| &*m.name == "$jacocoInit") {
        return Err(AnalysisError::AlreadyInstrumented {
            class: class.to_owned(),
            member: m.name.to_string(),
        });
    }
    let mut a = ClassAnalysis {
        name: cf.this_class.clone(),
        source_file: cf.source_file.clone(),
        sealed: cf
            .attribute_names
            .iter()
            .any(|n| n == "PermittedSubclasses"),
        probe_count: 0,
        methods: Vec::new(),
        ops: Vec::new(),
        branches: Vec::new(),
        large_branches: Vec::new(),
        widths: Vec::new(),
        large_widths: Vec::new(),
        flags: Vec::new(),
        line_runs: Vec::new(),
        lines: Vec::new(),
        merged: Vec::new(),
        replacement: Vec::new(),
        replacement_targets: Vec::new(),
    };
    let ctx = filters::ClassContext::new(cf);
    let mut next_probe = 0u32;
    // Per-instruction arrays sized once (subroutine inlining may add a few instructions).
    let insn_count: usize = cf
        .methods
        .iter()
        .filter_map(|m| m.code.as_ref())
        .map(|c| c.insns.len())
        .sum();
    let mut raw_lines: Vec<i32> = Vec::with_capacity(insn_count);
    let mut widths: Vec<u32> = Vec::with_capacity(insn_count);
    let mut ignored_all: Vec<bool> = Vec::with_capacity(insn_count);
    a.branches.reserve(insn_count);
    // A fall-through edge takes three bytes, most instructions have one.
    a.ops.reserve(insn_count * 3);
    let mut prev_src = 0u32;
    let mut flow = flow::MethodFlow::default();
    let mut out = filters::FilterOutput::default();
    for m in &cf.methods {
        let Some(code) = &m.code else { continue };
        let body = MethodBody::build(class, m, code)?;
        analyze_flow(&body, &mut next_probe, class, &mut flow)?;
        filters::apply(&ctx, &body, &mut out);
        let base = ignored_all.len() as u32;
        let n = flow.line.len() as u32;
        encode_ops(
            &mut a.ops,
            &mut prev_src,
            flow.ops.iter().map(|op| match *op {
                Op::Edge {
                    src,
                    target,
                    branch,
                } => Op::Edge {
                    src: src + base,
                    target: target + base,
                    branch,
                },
                Op::Probe { src, probe, branch } => Op::Probe {
                    src: src + base,
                    probe,
                    branch,
                },
            }),
        );
        for &b in &flow.branches {
            push_small(&mut a.branches, &mut a.large_branches, b);
        }
        raw_lines.extend(&flow.line);
        widths.extend(&flow.width);
        // Resolve the filter output to instruction indices.
        let node_insn = |node: u32| match body.nodes[node as usize] {
            body::Node::Insn(i) => Some(i),
            _ => None,
        };
        ignored_all.resize(base as usize + n as usize, false);
        let ignored = &mut ignored_all[base as usize..];
        for (node, &ign) in out.ignored.iter().enumerate() {
            if ign && let Some(i) = node_insn(node as u32) {
                ignored[i as usize] = true;
            }
        }
        if out.merged_nodes().next().is_some() {
            let mut rep: Vec<u32> = (0..n).collect();
            for (node, _) in out.merged_nodes() {
                let r = out.representative(node);
                if let (Some(i), Some(ri)) = (node_insn(node), node_insn(r)) {
                    rep[i as usize] = ri;
                    ignored[i as usize] = true;
                }
            }
            for (i, &r) in rep.iter().enumerate() {
                if r as usize != i {
                    let w = widths[base as usize + i];
                    let rw = &mut widths[base as usize + r as usize];
                    *rw = (*rw).max(w);
                    a.merged.push((i as u32 + base, r + base));
                }
            }
        }
        let first = a.replacement.len();
        for (node, targets) in &out.replacements {
            if let Some(i) = node_insn(*node) {
                let start = a.replacement_targets.len() as u32;
                for t in targets {
                    if let Some(ti) = node_insn(*t) {
                        a.replacement_targets.push(ti + base);
                    }
                }
                a.replacement
                    .push((i + base, start, a.replacement_targets.len() as u32));
            }
        }
        a.replacement[first..].sort_by_key(|r| r.0);
        a.methods.push(MethodPlan {
            name: m.name.clone(),
            descriptor: m.descriptor.clone(),
            insns: base..base + n,
        });
    }
    a.probe_count = next_probe as usize;
    for &w in &widths {
        push_small(&mut a.widths, &mut a.large_widths, w);
    }
    a.flags = ignored_all
        .iter()
        .map(|&ign| if ign { IGNORED } else { 0 })
        .collect();
    // Dense line table over instructions that count.
    // Consecutive instructions mostly share a line: drop those repeats before sorting.
    let mut lines: Vec<u32> = Vec::new();
    for (&l, &ign) in raw_lines.iter().zip(&ignored_all) {
        if l >= 0 && !ign && lines.last() != Some(&(l as u32)) {
            lines.push(l as u32);
        }
    }
    lines.sort_unstable();
    lines.dedup();
    let mut last = None;
    // Runs of one line are the rule: search the table only when the line changes.
    let mut seen: Option<(i32, u32)> = None;
    for (i, &l) in raw_lines.iter().enumerate() {
        let li = match seen {
            Some((line, li)) if line == l => li,
            _ => {
                let li = if l < 0 {
                    NONE
                } else {
                    lines.binary_search(&(l as u32)).map_or(NONE, |i| i as u32)
                };
                seen = Some((l, li));
                li
            }
        };
        if last != Some(li) {
            a.line_runs.push((i as u32, li));
            last = Some(li);
        }
    }
    a.lines = lines;
    a.ops.shrink_to_fit();
    a.merged.shrink_to_fit();
    a.replacement.shrink_to_fit();
    a.replacement_targets.shrink_to_fit();
    a.line_runs.shrink_to_fit();
    a.branches.shrink_to_fit();
    a.widths.shrink_to_fit();
    Ok(Some(a))
}

impl ClassAnalysis {
    /// Internal VM name, e.g. `a/b/C$D`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source_file(&self) -> Option<&str> {
        self.source_file.as_deref()
    }

    /// Package in internal form (`a/b`), empty for the default package.
    pub fn package(&self) -> &str {
        self.name.rfind('/').map_or("", |i| &self.name[..i])
    }

    /// True for a sealed class (a `PermittedSubclasses` attribute; javac 17 also writes one for
    /// an enum whose constants have bodies). JaCoCo 0.8.6 cannot instrument such a class (its
    /// agent fails with "PermittedSubclasses requires ASM9" and the JVM runs the class without
    /// probes) nor analyse it, so with that agent no data can exist for it. Newer agents
    /// instrument it with the probes [`ClassAnalysis::probe_count`] counts.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Number of probes the JaCoCo agent inserts into this class.
    pub fn probe_count(&self) -> usize {
        self.probe_count
    }

    /// Coverage for one probe array (`None`: no execution data, every probe false). A shorter
    /// array reads as false beyond its end.
    pub fn project(&self, probes: Option<&Probes>) -> ClassCoverage {
        self.project_counting(probes, true)
    }

    /// [`ClassAnalysis::project`] without the per-method counters (`method_counters` is left
    /// empty; every other counter is the same): what a per-file fold of lines needs. Cloning each
    /// method's name and descriptor (shared `Arc`s, so two atomic increments per method on
    /// memory another core wrote) was a sixth of the projection of a big build.
    pub fn project_lines(&self, probes: Option<&Probes>) -> ClassCoverage {
        self.project_counting(probes, false)
    }

    fn project_counting(&self, probes: Option<&Probes>, methods: bool) -> ClassCoverage {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let Scratch {
                slots,
                covered,
                pred,
                slot_base,
                representative,
            } = &mut *s;
            let n = self.flags.len();
            slot_base.clear();
            slot_base.reserve(n + 1);
            let mut slot = 0u32;
            for i in 0..n {
                slot_base.push(slot);
                slot += self.width(i);
            }
            slot_base.push(slot);
            slots.clear();
            slots.resize(slot as usize, false);
            covered.clear();
            covered.resize(n, false);
            let none = Probes::default();
            let probes = probes.unwrap_or(&none);
            // Without a probe hit nothing is covered: the edge replay would change nothing.
            let any_hit = probes.iter().take(self.probe_count).any(|p| p);
            pred.clear();
            if any_hit {
                pred.resize(n, (NONE, 0));
            }
            representative.clear();
            if !self.replacement.is_empty() {
                representative.extend(0..n as u32);
                for &(i, r) in &self.merged {
                    representative[i as usize] = r;
                }
            }
            self.project_with(
                probes,
                any_hit,
                slots,
                covered,
                pred,
                slot_base,
                representative,
                methods,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn project_with(
        &self,
        probes: &Probes,
        any_hit: bool,
        slots: &mut [bool],
        covered: &mut [bool],
        pred: &mut [(u32, u32)],
        slot_base: &[u32],
        representative: &[u32],
        methods: bool,
    ) -> ClassCoverage {
        let propagate = |slots: &mut [bool],
                         covered: &mut [bool],
                         pred: &[(u32, u32)],
                         mut i: u32,
                         mut b: u32| {
            while i != NONE {
                let iu = i as usize;
                slots[(slot_base[iu] + b) as usize] = true;
                if covered[iu] {
                    break;
                }
                covered[iu] = true;
                (i, b) = pred[iu];
            }
        };
        let ops = OpsReader {
            bytes: if any_hit { &self.ops } else { &[] },
            pos: 0,
            src: 0,
        };
        for op in ops {
            match op {
                Op::Edge {
                    src,
                    target,
                    branch,
                } => {
                    pred[target as usize] = (src, branch);
                    if covered[target as usize] {
                        propagate(slots, covered, pred, src, branch);
                    }
                }
                Op::Probe { src, probe, branch } => {
                    if probes.get(probe as usize) {
                        propagate(slots, covered, pred, src, branch);
                    }
                }
            }
        }
        // Merged copies of finally blocks report into their representative.
        for &(i, r) in &self.merged {
            let (i, r) = (i as usize, r as usize);
            let (b, w) = (
                slot_base[i] as usize,
                (slot_base[i + 1] - slot_base[i]) as usize,
            );
            let rb = slot_base[r] as usize;
            for k in 0..w {
                if slots[b + k] {
                    slots[rb + k] = true;
                    covered[r] = true;
                }
            }
        }
        let mut out = ClassCoverage {
            lines: self
                .lines
                .iter()
                .map(|&line| LineCounters {
                    line,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let mut run = 0usize;
        let mut repl = 0usize;
        for m in &self.methods {
            let mut mi = (0u32, 0u32);
            let mut mb = (0u32, 0u32);
            for i in m.insns.clone() {
                let iu = i as usize;
                if self.flags[iu] & IGNORED != 0 {
                    continue;
                }
                while repl < self.replacement.len() && self.replacement[repl].0 < i {
                    repl += 1;
                }
                let (total, cov, insn_cov) = match self.replacement.get(repl) {
                    Some(&(at, start, end)) if at == i => {
                        let targets = &self.replacement_targets[start as usize..end as usize];
                        let c = targets
                            .iter()
                            .filter(|&&t| covered[representative[t as usize] as usize])
                            .count() as u32;
                        (targets.len() as u32, c, c > 0)
                    }
                    _ => {
                        let (b, e) = (slot_base[iu] as usize, slot_base[iu + 1] as usize);
                        let c = slots[b..e].iter().filter(|&&s| s).count() as u32;
                        (
                            small_value(&self.branches, &self.large_branches, iu),
                            c,
                            covered[iu],
                        )
                    }
                };
                let insn = if insn_cov { (1, 0) } else { (0, 1) };
                let br = if total < 2 {
                    (0, 0)
                } else {
                    (cov, total.wrapping_sub(cov))
                };
                mi = (mi.0 + insn.0, mi.1 + insn.1);
                mb = (mb.0 + br.0, mb.1.wrapping_add(br.1));
                while run + 1 < self.line_runs.len() && self.line_runs[run + 1].0 <= i {
                    run += 1;
                }
                let li = self
                    .line_runs
                    .get(run)
                    .filter(|r| r.0 <= i)
                    .map_or(NONE, |r| r.1);
                if li != NONE {
                    let l = &mut out.lines[li as usize];
                    l.insn = (l.insn.0 + insn.0, l.insn.1 + insn.1);
                    l.branches = (l.branches.0 + br.0, l.branches.1.wrapping_add(br.1));
                }
            }
            if mi.0 + mi.1 == 0 {
                continue;
            }
            out.instructions = (out.instructions.0 + mi.0, out.instructions.1 + mi.1);
            out.branches = (out.branches.0 + mb.0, out.branches.1.wrapping_add(mb.1));
            if mi.0 > 0 {
                out.methods.0 += 1;
            } else {
                out.methods.1 += 1;
            }
            if !methods {
                continue;
            }
            out.method_counters.push(MethodCounters {
                name: m.name.clone(),
                descriptor: m.descriptor.clone(),
                insn: mi,
                branches: mb,
            });
        }
        out.lines.retain(|l| l.insn.0 + l.insn.1 > 0);
        out
    }

    fn width(&self, i: usize) -> u32 {
        small_value(&self.widths, &self.large_widths, i)
    }
}

/// Folds the coverage of the classes of one source file into per-line coverage with JaCoCo's
/// status rule (instruction status OR branch status); counters add up across classes.
pub fn fold_source_lines<'a>(
    classes: impl IntoIterator<Item = &'a ClassCoverage>,
) -> Vec<LineCoverage> {
    // (line, instructions, branches), counters (covered, missed); sorted by line, then summed.
    type Entry = (u32, (u32, u32), (u32, u32));
    let entry = |l: &LineCounters| -> Entry { (l.line, l.insn, l.branches) };
    let mut classes = classes.into_iter();
    let first = classes.next();
    let second = classes.next();
    match (first, second) {
        (None, _) => Vec::new(),
        // Most source files hold one class, whose lines are sorted already: no copy, no sort.
        (Some(one), None) if one.lines.is_sorted_by_key(|l| l.line) => {
            fold_sorted(one.lines.iter().map(entry))
        }
        (Some(first), second) => {
            let mut all: Vec<Entry> = Vec::new();
            for c in [first].into_iter().chain(second).chain(classes) {
                all.extend(c.lines.iter().map(entry));
            }
            all.sort_unstable_by_key(|e| e.0);
            fold_sorted(all.into_iter())
        }
    }
}

/// Sums the counters of each line of `entries` (sorted by line) and keeps the coverable lines.
fn fold_sorted(entries: impl Iterator<Item = (u32, (u32, u32), (u32, u32))>) -> Vec<LineCoverage> {
    let mut out: Vec<LineCoverage> = Vec::with_capacity(entries.size_hint().0);
    let mut entries = entries.peekable();
    while let Some((line, mut insn, mut branches)) = entries.next() {
        while let Some(&(_, n, b)) = entries.peek().filter(|e| e.0 == line) {
            insn = (insn.0 + n.0, insn.1 + n.1);
            branches = (branches.0 + b.0, branches.1 + b.1);
            entries.next();
        }
        let status = status_of(insn, branches);
        if status.is_coverable() {
            out.push(LineCoverage {
                line,
                status,
                hits: None,
                units: insn,
                branches,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyze_many_keeps_input_order_on_every_core() {
        let many: Vec<&[u8]> = (0..200)
            .map(|i| if i % 7 == 0 { &b"garbage"[..] } else { TINY })
            .collect();
        let out = analyze_many(&many);
        assert_eq!(out.len(), 200);
        for (i, r) in out.iter().enumerate() {
            assert_eq!(r.is_err(), i % 7 == 0, "class {i}");
        }
    }

    const TINY: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/java-corpus/fixtures/Tiny.class"
    ));

    fn tiny() -> ClassAnalysis {
        analyze_class(TINY).unwrap().unwrap()
    }

    #[test]
    fn no_data_means_everything_missed() {
        let a = tiny();
        assert_eq!(a.name(), "Tiny");
        assert_eq!(a.package(), "");
        assert_eq!(a.source_file(), Some("Tiny.java"));
        let none = a.project(None);
        let zeros = a.project(Some(&vec![false; a.probe_count()].into()));
        assert_eq!(none, zeros);
        assert_eq!(none.instructions.0, 0);
        assert!(none.instructions.1 > 20);
        assert!(none.lines.iter().all(|l| l.status() == LineStatus::Missed));
        assert_eq!(none.methods, (0, 3));
    }

    #[test]
    fn every_probe_set_covers_every_instruction() {
        let a = tiny();
        let all = a.project(Some(&vec![true; a.probe_count()].into()));
        assert_eq!(all.instructions.1, 0, "{all:?}");
        assert_eq!(all.branches.1, 0);
        assert!(all.branches.0 >= 8, "two switches and a ternary");
        assert_eq!(all.methods, (3, 0));
        let sum: u32 = all.lines.iter().map(|l| l.insn.0).sum();
        assert_eq!(
            sum, all.instructions.0,
            "every instruction of Tiny has a line"
        );
    }

    #[test]
    fn a_single_probe_covers_its_predecessors_only() {
        let a = tiny();
        let mut seen = std::collections::BTreeSet::new();
        for p in 0..a.probe_count() {
            let mut probes = vec![false; a.probe_count()];
            probes[p] = true;
            let c = a.project(Some(&probes.into()));
            assert!(c.instructions.0 > 0, "probe {p} covers something");
            seen.insert(c.instructions.0);
        }
        assert!(seen.len() > 3, "probes cover different paths");
    }

    #[test]
    fn projecting_lines_only_leaves_out_the_method_counters_alone() {
        let a = tiny();
        let n = a.probe_count();
        let mut cases: Vec<Option<Probes>> = vec![None, Some(vec![true; n].into())];
        for p in 0..n {
            let mut probes = vec![false; n];
            probes[p] = true;
            probes[(p * 3 + 1) % n] = true;
            cases.push(Some(probes.into()));
        }
        for probes in &cases {
            let full = a.project(probes.as_ref());
            let lines = a.project_lines(probes.as_ref());
            assert!(!full.method_counters.is_empty());
            assert!(lines.method_counters.is_empty());
            assert_eq!(
                ClassCoverage {
                    method_counters: Vec::new(),
                    ..full
                },
                lines
            );
        }
    }

    #[test]
    fn module_and_synthetic_classes_are_skipped_and_instrumented_ones_rejected() {
        let mut cf = parse_class(TINY).unwrap();
        cf.access |= ACC_SYNTHETIC;
        assert!(analyze_parsed(&cf).unwrap().is_none());
        cf.access = ACC_MODULE;
        assert!(analyze_parsed(&cf).unwrap().is_none());
        let mut cf = parse_class(TINY).unwrap();
        cf.methods[0].name = "$jacocoInit".into();
        assert!(matches!(
            analyze_parsed(&cf),
            Err(AnalysisError::AlreadyInstrumented { .. })
        ));
        assert!(analyze_class(b"\xca\xfe\xba\xbe").is_err());
    }

    #[test]
    fn sealed_classes_are_recognised_by_their_permitted_subclasses() {
        assert!(!tiny().is_sealed());
        let mut cf = parse_class(TINY).unwrap();
        cf.attribute_names.push("PermittedSubclasses".into());
        let a = analyze_parsed(&cf).unwrap().unwrap();
        assert!(a.is_sealed());
        // Still analysed: a newer agent's data for it is projected as usual.
        assert_eq!(a.probe_count(), tiny().probe_count());
    }

    #[test]
    fn mutated_classes_never_panic() {
        // Every byte replaced by a few values: parse, analyse and project must fail cleanly or
        // succeed, never panic (offsets, indices and lengths all come from the file).
        let mut ok = 0;
        for i in 0..TINY.len() {
            for v in [0x00u8, 0xA7, 0xFF] {
                let mut b = TINY.to_vec();
                if b[i] == v {
                    continue;
                }
                b[i] = v;
                if let Ok(Some(a)) = analyze_class(&b) {
                    let n = a.probe_count();
                    a.project(Some(&vec![true; n].into()));
                    a.project(Some(&[true].into()));
                    ok += 1;
                }
            }
        }
        assert!(ok > 100, "many mutations still analyse ({ok})");
    }

    #[test]
    fn folding_adds_counters_and_applies_the_status_rule() {
        let a = ClassCoverage {
            lines: vec![
                LineCounters {
                    line: 3,
                    insn: (2, 0),
                    branches: (0, 0),
                },
                LineCounters {
                    line: 5,
                    insn: (0, 2),
                    branches: (0, 2),
                },
            ],
            ..Default::default()
        };
        let b = ClassCoverage {
            lines: vec![
                LineCounters {
                    line: 5,
                    insn: (1, 0),
                    branches: (0, 0),
                },
                LineCounters {
                    line: 9,
                    insn: (1, 0),
                    branches: (1, 1),
                },
            ],
            ..Default::default()
        };
        let folded = fold_source_lines([&a, &b]);
        let got: Vec<_> = folded
            .iter()
            .map(|l| (l.line, l.status, l.units, l.branches))
            .collect();
        assert_eq!(
            got,
            vec![
                (3u32, LineStatus::Covered, (2u32, 0u32), (0u32, 0u32)),
                (5, LineStatus::Partial, (1, 2), (0, 2)),
                (9, LineStatus::Partial, (1, 0), (1, 1)),
            ]
        );
        assert!(folded.iter().all(|l| l.hits.is_none()));
        // The classes' order does not matter; one class alone is folded without a sort (its
        // lines sorted) or, lines out of order, with one: the same lines either way.
        assert_eq!(fold_source_lines([&b, &a]), folded);
        let alone = fold_source_lines([&b]);
        let mut reversed = b.clone();
        reversed.lines.reverse();
        assert_eq!(fold_source_lines([&reversed]), alone);
        assert_eq!(
            alone.iter().map(|l| (l.line, l.status)).collect::<Vec<_>>(),
            vec![(5, LineStatus::Covered), (9, LineStatus::Partial)]
        );
        assert!(fold_source_lines(std::iter::empty::<&ClassCoverage>()).is_empty());
        assert_eq!(jacoco_status_code((0, 3), (0, 0)), 1);
        assert_eq!(jacoco_status_code((0, 0), (0, 0)), 0);
    }
}
