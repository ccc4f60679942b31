//! A method's code as the event stream ASM's tree API presents it to JaCoCo: at each bytecode
//! offset that carries a label, the label, then its line numbers, then the stack map frame, then
//! the instruction. Labels exist exactly where ASM creates them (jump, switch and exception
//! targets, debug information, frames), because label placement decides probe placement.

use super::AnalysisError;
use crate::java::classfile::{Code, MethodInfo, Operand};

pub(crate) const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Label(u32),
    /// A line number entry (line, its start label).
    Line(u32, u32),
    Frame,
    /// An instruction: index into `MethodBody::insns` (and into the analysis' instruction arrays).
    Insn(u32),
}

/// One instruction of the (possibly subroutine-inlined) method.
#[derive(Debug, Clone)]
pub(crate) struct BodyInsn {
    pub opcode: u8,
    /// Index into `Code::insns` of the instruction it comes from; NONE for the `aconst_null` and
    /// `goto` that replace a `jsr`, and the `goto` that replaces a `ret`.
    pub source: u32,
    /// Target label of a jump, NONE otherwise.
    pub jump: u32,
    /// (default, targets) labels of a switch.
    pub switch: Option<Box<(u32, Vec<u32>)>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TryCatch {
    pub start: u32,
    pub end: u32,
    pub handler: u32,
    /// Constant-pool class index; 0 for catch-any.
    pub catch_type: u16,
}

pub(crate) struct MethodBody<'a> {
    pub info: &'a MethodInfo,
    pub code: &'a Code,
    pub nodes: Vec<Node>,
    pub insns: Vec<BodyInsn>,
    /// Node index of each label (NONE for a label that is not in the node list).
    pub label_node: Vec<u32>,
    pub try_catch: Vec<TryCatch>,
}

pub(crate) fn is_jump(op: u8) -> bool {
    matches!(op, 0x99..=0xA7 | 0xC6 | 0xC7)
}

pub(crate) fn is_return_or_throw(op: u8) -> bool {
    matches!(op, 0xAC..=0xB1 | 0xBF)
}

pub(crate) fn is_invoke(op: u8) -> bool {
    matches!(op, 0xB6..=0xBA)
}

pub(crate) const JSR: u8 = 0xA8;
pub(crate) const RET: u8 = 0xA9;
pub(crate) const GOTO: u8 = 0xA7;

/// The arrays [`MethodBody::build`] needs only while it runs, kept per thread and reused from
/// one method to the next (a big jar has tens of thousands of methods: these were seven
/// allocations each).
#[derive(Default)]
struct BuildScratch {
    offset_label: Vec<u32>,
    is_start: Vec<bool>,
    frame_at: Vec<bool>,
    lines_at: Vec<(u32, u32)>,
    first: Vec<(u32, u16)>,
    others: Vec<(u32, u16)>,
    have: rustc_hash::FxHashMap<u32, u16>,
}

/// The arrays of a [`MethodBody`], handed back when it is dropped and used again for the
/// thread's next method: the node and instruction lists were the largest allocations of the
/// whole analysis (tens of megabytes in total for a big jar, each fresh and cold).
#[derive(Default)]
struct BodyArrays {
    nodes: Vec<Node>,
    insns: Vec<BodyInsn>,
    label_node: Vec<u32>,
    try_catch: Vec<TryCatch>,
}

thread_local! {
    static BUILD_SCRATCH: std::cell::RefCell<BuildScratch> = Default::default();
    static BODY_ARRAYS: std::cell::RefCell<Option<BodyArrays>> = const { std::cell::RefCell::new(None) };
}

/// Arrays above this many elements are not kept for the next method (one huge method must not
/// hold its memory for the rest of the load).
const KEEP_ARRAYS_UP_TO: usize = 1 << 16;

impl BodyArrays {
    /// The thread's arrays, emptied (fresh ones when none were handed back).
    fn take() -> BodyArrays {
        let mut a = BODY_ARRAYS
            .try_with(|k| k.try_borrow_mut().ok().and_then(|mut k| k.take()))
            .ok()
            .flatten()
            .unwrap_or_default();
        a.nodes.clear();
        a.insns.clear();
        a.label_node.clear();
        a.try_catch.clear();
        a
    }

    fn give_back(self) {
        if self.nodes.capacity() > KEEP_ARRAYS_UP_TO || self.insns.capacity() > KEEP_ARRAYS_UP_TO {
            return;
        }
        let _ = BODY_ARRAYS.try_with(|k| {
            if let Ok(mut k) = k.try_borrow_mut() {
                *k = Some(self);
            }
        });
    }
}

impl Drop for MethodBody<'_> {
    fn drop(&mut self) {
        BodyArrays {
            nodes: std::mem::take(&mut self.nodes),
            insns: std::mem::take(&mut self.insns),
            label_node: std::mem::take(&mut self.label_node),
            try_catch: std::mem::take(&mut self.try_catch),
        }
        .give_back();
    }
}

impl<'a> MethodBody<'a> {
    pub fn build(
        class: &str,
        info: &'a MethodInfo,
        code: &'a Code,
    ) -> Result<MethodBody<'a>, AnalysisError> {
        BUILD_SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                let built = Self::build_with(class, info, code, &mut scratch);
                // A map once grown for a huge line table is not walked for every later method.
                if scratch.have.capacity() > 4096 {
                    scratch.have = Default::default();
                }
                built
            }
            Err(_) => Self::build_with(class, info, code, &mut BuildScratch::default()),
        })
    }

    fn build_with(
        class: &str,
        info: &'a MethodInfo,
        code: &'a Code,
        scratch: &mut BuildScratch,
    ) -> Result<MethodBody<'a>, AnalysisError> {
        let BuildScratch {
            offset_label,
            is_start,
            frame_at,
            lines_at,
            first,
            others,
            have,
        } = scratch;
        let len = code.code_length as usize;
        offset_label.clear();
        offset_label.resize(len + 1, NONE);
        is_start.clear();
        is_start.resize(len + 1, false);
        for i in &code.insns {
            is_start[i.offset as usize] = true;
        }
        is_start[len] = true;
        let mut mark = |off: u32| {
            if let Some(slot) = offset_label.get_mut(off as usize) {
                *slot = 0;
            }
        };
        for i in &code.insns {
            match &i.operand {
                Operand::Jump(t) => mark(*t),
                Operand::Switch(s) => {
                    mark(s.default);
                    s.targets.iter().for_each(|&t| mark(t));
                }
                _ => {}
            }
        }
        for e in &code.exception_table {
            mark(e.start);
            mark(e.end);
            mark(e.handler);
        }
        for &(pc, _) in &code.line_numbers {
            mark(pc);
        }
        for &o in code.extra_label_offsets.iter().chain(&code.frame_offsets) {
            mark(o);
        }
        // Number the labels in offset order.
        let mut label_count = 0u32;
        for slot in offset_label.iter_mut() {
            if *slot != NONE {
                *slot = label_count;
                label_count += 1;
            }
        }
        // Line numbers per offset, in ASM's order: the first non-zero one, then every later one.
        // (offset, line) in visit order
        lines_at.clear();
        {
            first.clear();
            others.clear();
            have.clear();
            for &(pc, line) in &code.line_numbers {
                let e = have.entry(pc).or_insert(0);
                if *e == 0 {
                    *e = line;
                } else {
                    others.push((pc, line));
                }
            }
            for (pc, line) in have.drain() {
                if line != 0 {
                    first.push((pc, line));
                }
            }
            first.sort_unstable();
            for &(pc, line) in first.iter() {
                lines_at.push((pc, line as u32));
                for &(p, l) in others.iter() {
                    if p == pc {
                        lines_at.push((pc, l as u32));
                    }
                }
            }
        }
        frame_at.clear();
        frame_at.resize(len + 1, false);
        for &f in &code.frame_offsets {
            if let Some(s) = frame_at.get_mut(f as usize) {
                *s = true;
            }
        }
        let BodyArrays {
            mut nodes,
            mut insns,
            mut label_node,
            mut try_catch,
        } = BodyArrays::take();
        nodes.reserve(code.insns.len() * 2 + 4);
        label_node.resize(label_count as usize, NONE);
        let mut line_cursor = 0;
        let mut emit_label = |nodes: &mut Vec<Node>, off: u32, label_node: &mut Vec<u32>| {
            let l = offset_label[off as usize];
            if l != NONE {
                label_node[l as usize] = nodes.len() as u32;
                nodes.push(Node::Label(l));
                while line_cursor < lines_at.len() && lines_at[line_cursor].0 < off {
                    line_cursor += 1;
                }
                while line_cursor < lines_at.len() && lines_at[line_cursor].0 == off {
                    nodes.push(Node::Line(lines_at[line_cursor].1, l));
                    line_cursor += 1;
                }
            }
        };
        for (idx, insn) in code.insns.iter().enumerate() {
            emit_label(&mut nodes, insn.offset, &mut label_node);
            if frame_at[insn.offset as usize] {
                nodes.push(Node::Frame);
            }
            nodes.push(Node::Insn(idx as u32));
        }
        emit_label(&mut nodes, len as u32, &mut label_node);
        // A label that is never visited (inside an instruction) but referenced by code or an
        // exception range makes JaCoCo fail; say so instead of guessing.
        let check = |off: u32, what: &str| -> Result<u32, AnalysisError> {
            let l = offset_label[off as usize];
            if !is_start[off as usize] || l == NONE {
                return Err(AnalysisError::BadCode {
                    class: class.to_owned(),
                    method: format!("{}{}", info.name, info.descriptor),
                    what: format!("{what} at offset {off} is not an instruction boundary"),
                });
            }
            Ok(l)
        };
        for i in &code.insns {
            match &i.operand {
                Operand::Jump(t) => {
                    check(*t, "jump target")?;
                }
                Operand::Switch(s) => {
                    check(s.default, "switch target")?;
                    for &t in &s.targets {
                        check(t, "switch target")?;
                    }
                }
                _ => {}
            }
        }
        try_catch.reserve(code.exception_table.len());
        for e in &code.exception_table {
            try_catch.push(TryCatch {
                start: check(e.start, "try start")?,
                end: check(e.end, "try end")?,
                handler: check(e.handler, "exception handler")?,
                catch_type: e.catch_type,
            });
        }
        insns.reserve(code.insns.len());
        insns.extend(code.insns.iter().enumerate().map(|(k, i)| {
            BodyInsn {
                opcode: i.opcode,
                source: k as u32,
                jump: match i.operand {
                    Operand::Jump(t) => offset_label[t as usize],
                    _ => NONE,
                },
                switch: match &i.operand {
                    Operand::Switch(s) => Some(Box::new((
                        offset_label[s.default as usize],
                        s.targets
                            .iter()
                            .map(|&t| offset_label[t as usize])
                            .collect(),
                    ))),
                    _ => None,
                },
            }
        }));
        let mut body = MethodBody {
            info,
            code,
            nodes,
            insns,
            label_node,
            try_catch,
        };
        if body
            .insns
            .iter()
            .any(|i| i.opcode == JSR || i.opcode == RET)
        {
            super::jsr::inline_subroutines(&mut body).map_err(|what| AnalysisError::BadCode {
                class: class.to_owned(),
                method: format!("{}{}", info.name, info.descriptor),
                what,
            })?;
        }
        Ok(body)
    }

    /// The operand as decoded from the class file (`Operand::None` for inserted instructions).
    /// Jump and switch targets are in `BodyInsn::{jump, switch}`, not here.
    pub fn operand(&self, idx: u32) -> &'a Operand {
        const NO_OPERAND: &Operand = &Operand::None;
        match self.insns[idx as usize].source {
            NONE => NO_OPERAND,
            k => &self.code.insns[k as usize].operand,
        }
    }

    /// Node index of the label a jump at `node` targets.
    pub fn jump_label_node(&self, node: usize) -> Option<usize> {
        match self.nodes.get(node)? {
            Node::Insn(i) => match self.insns[*i as usize].jump {
                NONE => None,
                l => Some(self.label_node[l as usize] as usize),
            },
            _ => None,
        }
    }

    /// Node index of the default label of a switch at `node`, and its number of targets.
    pub fn switch_default_node(&self, node: usize) -> Option<(usize, usize)> {
        match self.nodes.get(node)? {
            Node::Insn(i) => {
                let s = self.insns[*i as usize].switch.as_ref()?;
                Some((self.label_node[s.0 as usize] as usize, s.1.len()))
            }
            _ => None,
        }
    }

    pub fn label_count(&self) -> usize {
        self.label_node.len()
    }

    /// Opcode at a node, or None for labels, lines and frames.
    pub fn opcode(&self, node: usize) -> Option<u8> {
        match self.nodes.get(node)? {
            Node::Insn(i) => Some(self.insns[*i as usize].opcode),
            _ => None,
        }
    }
}
