//! Inlining of `jsr`/`ret` subroutines (class files before Java 7), the way JaCoCo sees them:
//! its method reader is ASM's subroutine inliner, so probes are placed in the inlined code.
//!
//! The main routine and each subroutine are the node sets reachable from their entry (following
//! jumps and switches, not `jsr`, plus the handlers of try ranges they touch). The code is then
//! emitted once per *instantiation*, breadth first from the main routine: each `jsr` becomes
//! `aconst_null; goto <copy of the subroutine>` followed by a fresh return label, each `ret` a
//! `goto` to the return label of the `jsr` that instantiated the copy, every label is cloned per
//! instantiation (consecutive labels sharing one clone), and try ranges are cloned per
//! instantiation when non-empty.

use std::collections::VecDeque;

use super::body::{BodyInsn, JSR, MethodBody, NONE, Node, RET, TryCatch, is_return_or_throw};
use rustc_hash::FxHashMap;

const GOTO: u8 = 0xA7;
const ACONST_NULL: u8 = 0x01;

struct Instantiation {
    parent: Option<usize>,
    /// Index into the routine node sets.
    routine: usize,
    return_label: u32,
    /// Clone of each original label.
    cloned: Vec<u32>,
}

struct Inliner<'b> {
    nodes: &'b [Node],
    insns: &'b [BodyInsn],
    label_node: &'b [u32],
    /// Node sets: [0] the main routine, then one per subroutine entry label.
    routines: Vec<Vec<bool>>,
    shared: Vec<bool>,
    routine_of_label: FxHashMap<u32, usize>,
    instances: Vec<Instantiation>,
    next_label: u32,
}

pub(crate) fn inline_subroutines(body: &mut MethodBody<'_>) -> Result<(), String> {
    let n = body.nodes.len();
    let mut inl = Inliner {
        nodes: &body.nodes,
        insns: &body.insns,
        label_node: &body.label_node,
        routines: vec![vec![false; n]],
        shared: vec![false; n],
        routine_of_label: FxHashMap::default(),
        instances: Vec::new(),
        next_label: 0,
    };
    for node in &body.nodes {
        if let Node::Insn(i) = node {
            let insn = &body.insns[*i as usize];
            if insn.opcode == JSR && !inl.routine_of_label.contains_key(&insn.jump) {
                inl.routine_of_label.insert(insn.jump, inl.routines.len());
                inl.routines.push(vec![false; n]);
            }
        }
    }
    // Find the nodes of every routine.
    let mut visited = vec![false; n];
    inl.find_routine(0, 0, &body.try_catch, &mut visited);
    let mut entries: Vec<(u32, usize)> =
        inl.routine_of_label.iter().map(|(l, r)| (*l, *r)).collect();
    entries.sort_by_key(|e| e.1);
    for (label, r) in entries {
        let start = inl.node_of(label)?;
        inl.find_routine(start, r, &body.try_catch, &mut visited);
    }
    // Emit the instantiations, breadth first.
    let mut nodes = Vec::with_capacity(n * 2);
    let mut insns = Vec::with_capacity(body.insns.len() * 2);
    let mut try_catch = Vec::new();
    let main = inl.instantiate(None, 0)?;
    let mut work = VecDeque::from([main]);
    while let Some(inst) = work.pop_front() {
        // Nested subroutines multiply the code; refuse pathological (crafted) growth.
        if nodes.len() > 4_000_000 || inl.instances.len() > 100_000 {
            return Err("subroutine inlining grows the method beyond 4M nodes".into());
        }
        inl.emit(
            inst,
            &mut work,
            &mut nodes,
            &mut insns,
            &mut try_catch,
            &body.try_catch,
        )?;
    }
    let mut label_node = vec![NONE; inl.next_label as usize];
    for (k, node) in nodes.iter().enumerate() {
        if let Node::Label(l) = node {
            label_node[*l as usize] = k as u32;
        }
    }
    for i in &insns {
        let BodyInsn { jump, switch, .. } = i;
        let mut targets: Vec<u32> = switch
            .iter()
            .flat_map(|s| std::iter::once(s.0).chain(s.1.iter().copied()))
            .collect();
        if *jump != NONE {
            targets.push(*jump);
        }
        if targets.iter().any(|&t| label_node[t as usize] == NONE) {
            return Err("jump to a label missing after subroutine inlining".into());
        }
    }
    body.nodes = nodes;
    body.insns = insns;
    body.label_node = label_node;
    body.try_catch = try_catch;
    Ok(())
}

impl Inliner<'_> {
    fn node_of(&self, label: u32) -> Result<usize, String> {
        match self.label_node.get(label as usize) {
            Some(&n) if n != NONE => Ok(n as usize),
            _ => Err(format!("label {label} of a subroutine is not in the code")),
        }
    }

    fn find_routine(
        &mut self,
        start: usize,
        r: usize,
        try_catch: &[TryCatch],
        visited: &mut [bool],
    ) {
        self.find_reachable(start, r, visited);
        loop {
            let mut found = false;
            for tc in try_catch {
                let (Ok(h), Ok(s), Ok(e)) = (
                    self.node_of(tc.handler),
                    self.node_of(tc.start),
                    self.node_of(tc.end),
                ) else {
                    continue;
                };
                if self.routines[r][h] {
                    continue;
                }
                let first = (s..self.nodes.len()).find(|&k| self.routines[r][k]);
                if first.is_some_and(|f| f < e) {
                    self.find_reachable(h, r, visited);
                    found = true;
                }
            }
            if !found {
                return;
            }
        }
    }

    fn find_reachable(&mut self, start: usize, r: usize, visited: &mut [bool]) {
        let mut stack = vec![start];
        while let Some(mut k) = stack.pop() {
            while k < self.nodes.len() {
                if self.routines[r][k] {
                    break;
                }
                self.routines[r][k] = true;
                if visited[k] {
                    self.shared[k] = true;
                }
                visited[k] = true;
                if let Node::Insn(i) = self.nodes[k] {
                    let insn = &self.insns[i as usize];
                    if insn.jump != NONE
                        && insn.opcode != JSR
                        && let Ok(t) = self.node_of(insn.jump)
                    {
                        stack.push(t);
                    }
                    if let Some(s) = &insn.switch {
                        for &l in std::iter::once(&s.0).chain(s.1.iter()) {
                            if let Ok(t) = self.node_of(l) {
                                stack.push(t);
                            }
                        }
                    }
                    let op = insn.opcode;
                    if op == GOTO || op == RET || insn.switch.is_some() || is_return_or_throw(op) {
                        break;
                    }
                }
                k += 1;
            }
        }
    }

    fn new_label(&mut self) -> u32 {
        self.next_label += 1;
        self.next_label - 1
    }

    fn owner(&self, inst: usize, k: usize) -> Option<usize> {
        let me = &self.instances[inst];
        if !self.routines[me.routine][k] {
            return None;
        }
        if !self.shared[k] {
            return Some(inst);
        }
        let mut owner = inst;
        let mut p = me.parent;
        while let Some(pi) = p {
            if self.routines[self.instances[pi].routine][k] {
                owner = pi;
            }
            p = self.instances[pi].parent;
        }
        Some(owner)
    }

    fn instantiate(&mut self, parent: Option<usize>, routine: usize) -> Result<usize, String> {
        let mut p = parent;
        while let Some(pi) = p {
            if self.instances[pi].routine == routine {
                return Err("recursive subroutine invocation".into());
            }
            p = self.instances[pi].parent;
        }
        let return_label = if parent.is_some() {
            self.new_label()
        } else {
            NONE
        };
        let id = self.instances.len();
        self.instances.push(Instantiation {
            parent,
            routine,
            return_label,
            cloned: vec![NONE; self.label_node.len()],
        });
        let mut cur = NONE;
        for k in 0..self.nodes.len() {
            match self.nodes[k] {
                Node::Label(l) => {
                    if cur == NONE {
                        cur = self.new_label();
                    }
                    self.instances[id].cloned[l as usize] = cur;
                }
                _ => {
                    if self.owner(id, k) == Some(id) {
                        cur = NONE;
                    }
                }
            }
        }
        Ok(id)
    }

    /// The clone of `label` a jump from instantiation `inst` goes to.
    fn jump_clone(&self, inst: usize, label: u32) -> Result<u32, String> {
        let k = self.node_of(label)?;
        let owner = self
            .owner(inst, k)
            .ok_or_else(|| format!("label {label} unreachable from its subroutine"))?;
        Ok(self.instances[owner].cloned[label as usize])
    }

    fn emit(
        &mut self,
        inst: usize,
        work: &mut VecDeque<usize>,
        nodes: &mut Vec<Node>,
        insns: &mut Vec<BodyInsn>,
        try_catch: &mut Vec<TryCatch>,
        original_try_catch: &[TryCatch],
    ) -> Result<(), String> {
        let mut previous = NONE;
        let push_insn = |nodes: &mut Vec<Node>, insns: &mut Vec<BodyInsn>, i: BodyInsn| {
            nodes.push(Node::Insn(insns.len() as u32));
            insns.push(i);
        };
        for k in 0..self.nodes.len() {
            match self.nodes[k] {
                Node::Label(l) => {
                    let c = self.instances[inst].cloned[l as usize];
                    if c != previous {
                        nodes.push(Node::Label(c));
                        previous = c;
                    }
                }
                node => {
                    if self.owner(inst, k) != Some(inst) {
                        continue;
                    }
                    match node {
                        Node::Line(line, l) => {
                            nodes.push(Node::Line(line, self.jump_clone(inst, l)?))
                        }
                        Node::Frame => nodes.push(Node::Frame),
                        Node::Insn(i) => {
                            let insn = &self.insns[i as usize];
                            if insn.opcode == RET {
                                let mut ret = NONE;
                                let mut p = Some(inst);
                                while let Some(pi) = p {
                                    let pi_inst = &self.instances[pi];
                                    if self.routines[pi_inst.routine][k] {
                                        ret = pi_inst.return_label;
                                    }
                                    p = pi_inst.parent;
                                }
                                if ret == NONE {
                                    return Err("ret outside of any subroutine".into());
                                }
                                push_insn(
                                    nodes,
                                    insns,
                                    BodyInsn {
                                        opcode: GOTO,
                                        source: NONE,
                                        jump: ret,
                                        switch: None,
                                    },
                                );
                            } else if insn.opcode == JSR {
                                let routine = self.routine_of_label[&insn.jump];
                                let target = insn.jump;
                                let child = self.instantiate(Some(inst), routine)?;
                                let entry = self.jump_clone(child, target)?;
                                push_insn(
                                    nodes,
                                    insns,
                                    BodyInsn {
                                        opcode: ACONST_NULL,
                                        source: NONE,
                                        jump: NONE,
                                        switch: None,
                                    },
                                );
                                push_insn(
                                    nodes,
                                    insns,
                                    BodyInsn {
                                        opcode: GOTO,
                                        source: NONE,
                                        jump: entry,
                                        switch: None,
                                    },
                                );
                                nodes.push(Node::Label(self.instances[child].return_label));
                                work.push_back(child);
                            } else {
                                let mut c = insn.clone();
                                if c.jump != NONE {
                                    c.jump = self.jump_clone(inst, c.jump)?;
                                }
                                if let Some(s) = &mut c.switch {
                                    s.0 = self.jump_clone(inst, s.0)?;
                                    for t in s.1.iter_mut() {
                                        *t = self.jump_clone(inst, *t)?;
                                    }
                                }
                                push_insn(nodes, insns, c);
                            }
                        }
                        Node::Label(_) => {}
                    }
                }
            }
        }
        for tc in original_try_catch {
            let me = &self.instances[inst];
            let (start, end) = (me.cloned[tc.start as usize], me.cloned[tc.end as usize]);
            if start != end {
                let handler = self.jump_clone(inst, tc.handler)?;
                try_catch.push(TryCatch {
                    start,
                    end,
                    handler,
                    catch_type: tc.catch_type,
                });
            }
        }
        Ok(())
    }
}
