//! Probe placement and the instruction graph of one method (spec §4.2–4.5).
//!
//! Pass 1 flags labels (target, successor, multi-target, start of a line with a call). Pass 2
//! walks the same events, hands out probe ids exactly where JaCoCo's instrumenter puts probes,
//! and records the edges between instructions and from instructions to probes, in the order
//! JaCoCo creates them. Projection replays those edges against a probe array.

use super::AnalysisError;
use super::body::{GOTO, JSR, MethodBody, NONE, Node, RET, is_invoke, is_jump, is_return_or_throw};

/// One edge, replayed in order when projecting a probe array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `src` continues into instruction `target` as branch `branch`.
    Edge { src: u32, target: u32, branch: u32 },
    /// `src` leaves through probe `probe` as branch `branch`.
    Probe { src: u32, probe: u32, branch: u32 },
}

/// The flow of one method. One value is reused for every method of a class (cleared by
/// [`analyze_flow`]), so its arrays are allocated once per class, not once per method.
#[derive(Default)]
pub(crate) struct MethodFlow {
    /// Source line of each instruction, -1 when none is known.
    pub line: Vec<i32>,
    /// Outgoing edge count of each instruction.
    pub branches: Vec<u32>,
    /// One more than the highest branch index used by each instruction.
    pub width: Vec<u32>,
    pub ops: Vec<Op>,
    /// Working arrays of [`analyze_flow`]: label flags, pending jumps, labels before the next
    /// instruction.
    labels: Vec<LabelFlags>,
    jumps: Vec<(u32, u32, u32)>,
    pending: Vec<u32>,
}

#[derive(Clone, Copy, Default)]
struct LabelFlags {
    target: bool,
    successor: bool,
    multi: bool,
    call_line: bool,
    done: bool,
    probe: u32,
    insn: u32,
}

impl LabelFlags {
    fn set_target(&mut self) {
        if self.target || self.successor {
            self.multi = true;
        } else {
            self.target = true;
        }
    }
    fn set_successor(&mut self) {
        self.successor = true;
        if self.target {
            self.multi = true;
        }
    }
    fn needs_probe(&self) -> bool {
        self.successor && (self.multi || self.call_line)
    }
}

fn switch_labels(body: &MethodBody<'_>, idx: u32) -> Option<(u32, Vec<u32>)> {
    body.insns[idx as usize]
        .switch
        .as_ref()
        .map(|s| (s.0, s.1.clone()))
}

fn jump_label(body: &MethodBody<'_>, idx: u32) -> u32 {
    body.insns[idx as usize].jump
}

/// Builds the flow of one method into `flow` (whatever it held is replaced), taking probe ids
/// from `next_probe` (class-wide counter).
pub(crate) fn analyze_flow(
    body: &MethodBody<'_>,
    next_probe: &mut u32,
    class: &str,
    flow: &mut MethodFlow,
) -> Result<(), AnalysisError> {
    let bad = |what: &str| AnalysisError::BadCode {
        class: class.to_owned(),
        method: format!("{}{}", body.info.name, body.info.descriptor),
        what: what.to_owned(),
    };
    let MethodFlow {
        line: lines,
        branches,
        width,
        ops,
        labels,
        jumps,
        pending,
    } = flow;
    labels.clear();
    labels.resize(
        body.label_count(),
        LabelFlags {
            probe: NONE,
            insn: NONE,
            ..Default::default()
        },
    );

    // Pass 1: label flags.
    for tc in body.try_catch.iter().rev() {
        labels[tc.start as usize].set_target();
        labels[tc.handler as usize].set_target();
    }
    let (mut successor, mut first) = (false, true);
    let mut line_start = NONE;
    for node in &body.nodes {
        match *node {
            Node::Label(l) => {
                if first {
                    labels[l as usize].set_target();
                }
                if successor {
                    labels[l as usize].set_successor();
                }
            }
            Node::Line(_, l) => line_start = l,
            Node::Frame => {}
            Node::Insn(i) => {
                let op = body.insns[i as usize].opcode;
                if op == JSR || op == RET {
                    return Err(bad("jsr/ret left after subroutine inlining"));
                }
                if is_jump(op) {
                    labels[jump_label(body, i) as usize].set_target();
                    successor = op != GOTO;
                } else if let Some((dflt, targets)) = switch_labels(body, i) {
                    labels[dflt as usize].done = false;
                    for &t in &targets {
                        labels[t as usize].done = false;
                    }
                    for t in std::iter::once(dflt).chain(targets) {
                        let f = &mut labels[t as usize];
                        if !f.done {
                            f.set_target();
                            f.done = true;
                        }
                    }
                    successor = false;
                } else if is_return_or_throw(op) {
                    successor = false;
                } else {
                    successor = true;
                    if is_invoke(op) && line_start != NONE {
                        labels[line_start as usize].call_line = true;
                    }
                }
                first = false;
            }
        }
    }

    // Pass 2: probes and the instruction graph.
    let n = body.insns.len();
    lines.clear();
    lines.reserve(n);
    branches.clear();
    branches.resize(n, 0);
    width.clear();
    width.resize(n, 1);
    ops.clear();
    ops.reserve(n + 4);
    jumps.clear();
    pending.clear();
    let mut cur = NONE;
    let mut line: i32 = -1;
    let mut next_id = || {
        let id = *next_probe;
        *next_probe += 1;
        id
    };
    let mut add = |op: Op| {
        let (src, branch) = match op {
            Op::Edge { src, branch, .. } | Op::Probe { src, branch, .. } => (src, branch),
        };
        branches[src as usize] += 1;
        let w = &mut width[src as usize];
        *w = (*w).max(branch + 1);
        ops.push(op);
    };
    for node in &body.nodes {
        match *node {
            Node::Label(l) => {
                if labels[l as usize].needs_probe() {
                    let id = next_id();
                    if cur == NONE {
                        return Err(bad("probe without a preceding instruction"));
                    }
                    add(Op::Probe {
                        src: cur,
                        probe: id,
                        branch: 0,
                    });
                    cur = NONE;
                }
                pending.push(l);
                if !labels[l as usize].successor {
                    cur = NONE;
                }
            }
            Node::Line(n, _) => line = n as i32,
            Node::Frame => {}
            Node::Insn(i) => {
                // addInstruction
                for &l in pending.iter() {
                    labels[l as usize].insn = i;
                }
                pending.clear();
                lines.push(line);
                if cur != NONE {
                    add(Op::Edge {
                        src: cur,
                        target: i,
                        branch: 0,
                    });
                }
                cur = i;
                let op = body.insns[i as usize].opcode;
                if is_return_or_throw(op) {
                    let id = next_id();
                    add(Op::Probe {
                        src: i,
                        probe: id,
                        branch: 0,
                    });
                } else if is_jump(op) {
                    let t = jump_label(body, i);
                    if labels[t as usize].multi {
                        let id = next_id();
                        add(Op::Probe {
                            src: i,
                            probe: id,
                            branch: 1,
                        });
                    } else {
                        jumps.push((i, t, 1));
                    }
                } else if let Some((dflt, targets)) = switch_labels(body, i) {
                    // Probe ids for multi-target switch targets, once per target.
                    let mut with_probes = false;
                    for &t in &targets {
                        labels[t as usize].done = false;
                    }
                    if labels[dflt as usize].multi {
                        labels[dflt as usize].probe = next_id();
                        with_probes = true;
                    }
                    labels[dflt as usize].done = true;
                    for &t in &targets {
                        let f = &mut labels[t as usize];
                        if f.multi && !f.done {
                            f.probe = next_id();
                            with_probes = true;
                        }
                        f.done = true;
                    }
                    if with_probes {
                        labels[dflt as usize].done = false;
                        for &t in &targets {
                            labels[t as usize].done = false;
                        }
                        for (b, t) in std::iter::once(dflt).chain(targets).enumerate() {
                            let f = &mut labels[t as usize];
                            if !f.done {
                                if f.probe == NONE {
                                    jumps.push((i, t, b as u32));
                                } else {
                                    add(Op::Probe {
                                        src: i,
                                        probe: f.probe,
                                        branch: b as u32,
                                    });
                                }
                                labels[t as usize].done = true;
                            }
                        }
                    } else {
                        for &t in &targets {
                            labels[t as usize].done = false;
                        }
                        let mut b = 0;
                        jumps.push((i, dflt, 0));
                        labels[dflt as usize].done = true;
                        for &t in &targets {
                            if !labels[t as usize].done {
                                b += 1;
                                jumps.push((i, t, b));
                                labels[t as usize].done = true;
                            }
                        }
                    }
                }
            }
        }
    }
    for &(src, label, branch) in jumps.iter() {
        let target = labels[label as usize].insn;
        if target == NONE {
            return Err(bad("jump to a label without an instruction"));
        }
        add(Op::Edge {
            src,
            target,
            branch,
        });
    }
    Ok(())
}
