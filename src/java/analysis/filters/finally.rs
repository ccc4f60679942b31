//! Duplicated `finally` blocks: javac copies the finally code to every exit of the try and
//! catch regions, plus once into a catch-any handler. Each copy at an exit is merged into the
//! handler's copy, so a line of the finally block counts once and is covered when any copy ran.

use super::ClassContext;
use super::FilterOutput;
use super::matcher::{ALOAD, ASTORE, ATHROW, GOTO};
use crate::java::analysis::body::{MethodBody, Node, TryCatch, is_jump, is_return_or_throw};
use crate::java::classfile::Operand;

/// Next instruction node after `node`.
pub(crate) fn next_insn(body: &MethodBody<'_>, node: Option<usize>) -> Option<usize> {
    let mut n = node? + 1;
    while n < body.nodes.len() {
        if matches!(body.nodes[n], Node::Insn(_)) {
            return Some(n);
        }
        n += 1;
    }
    None
}

fn var_of(body: &MethodBody<'_>, node: usize) -> Option<u16> {
    match body.nodes[node] {
        Node::Insn(i) => match body.operand(i) {
            Operand::Var(v) => Some(*v),
            _ => None,
        },
        _ => None,
    }
}

fn jump_target_node(body: &MethodBody<'_>, node: usize) -> Option<usize> {
    body.jump_label_node(node)
}

pub(crate) fn filter(_ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    for (k, tc) in body.try_catch.iter().enumerate() {
        if tc.catch_type == 0 {
            filter_block(body, out, k, tc);
        }
    }
}

/// Instructions of the catch-any handler between its `astore` and the `aload; athrow` that
/// rethrows, or 0 when the handler does not have that shape.
fn handler_size(body: &MethodBody<'_>, e: usize) -> usize {
    if body.opcode(e) != Some(ASTORE) {
        return 0;
    }
    let var = var_of(body, e);
    let mut size = 0usize;
    let mut i = Some(e);
    loop {
        i = next_insn(body, i);
        let Some(n) = i else { return 0 };
        if body.opcode(n) == Some(ALOAD) && var_of(body, n) == var {
            break;
        }
        size += 1;
    }
    match next_insn(body, i) {
        Some(n) if body.opcode(n) == Some(ATHROW) => size,
        _ => 0,
    }
}

fn filter_block(body: &MethodBody<'_>, out: &mut FilterOutput, k: usize, catch_any: &TryCatch) {
    let handler = body.label_node[catch_any.handler as usize] as usize;
    let Some(e) = next_insn(body, Some(handler)) else {
        return;
    };
    let size = handler_size(body, e);
    if size == 0 {
        return;
    }
    let mut inside = vec![false; body.nodes.len()];
    let range = |t: &TryCatch| {
        let s = body.label_node[t.start as usize] as usize;
        let end = body.label_node[t.end as usize] as usize;
        (s, end.max(s))
    };
    for t in &body.try_catch {
        if t.handler == catch_any.handler {
            let (s, end) = range(t);
            inside[s..end].iter_mut().for_each(|x| *x = true);
        }
    }
    let is_inside = |n: Option<usize>| n.is_some_and(|n| inside[n]);
    for (j, t) in body.try_catch.iter().enumerate() {
        if t.handler == catch_any.handler {
            let (s, end) = range(t);
            let mut continues = false;
            for i in s..end {
                let Some(op) = body.opcode(i) else { continue };
                if is_jump(op) || op == crate::java::analysis::body::JSR {
                    let target = next_insn(body, jump_target_node(body, i));
                    if !is_inside(target) {
                        merge(body, out, size, e, target);
                    }
                    continues = op != GOTO;
                } else {
                    continues = !is_return_or_throw(op);
                }
            }
            let after = next_insn(body, Some(end));
            if continues && !is_inside(after) {
                merge(body, out, size, e, after);
            }
        }
        if j != k && t.start == catch_any.start && t.end == catch_any.end {
            let h = body.label_node[t.handler as usize] as usize;
            let i = next_insn(body, next_insn(body, Some(h)));
            if !is_inside(i) {
                // javac's empty catch: the duplicate follows the handler's astore.
                merge(body, out, size, e, i);
            }
        }
    }
}

fn is_same(body: &MethodBody<'_>, size: usize, e: usize, n: Option<usize>) -> bool {
    let mut e = next_insn(body, Some(e));
    let mut n = n;
    for _ in 0..size {
        let (Some(en), Some(nn)) = (e, n) else {
            return false;
        };
        if body.opcode(en) != body.opcode(nn) {
            return false;
        }
        e = next_insn(body, e);
        n = next_insn(body, n);
    }
    true
}

fn merge(body: &MethodBody<'_>, out: &mut FilterOutput, size: usize, e: usize, n: Option<usize>) {
    if !is_same(body, size, e, n) {
        return;
    }
    out.ignore(e, e);
    let mut e = next_insn(body, Some(e));
    let mut n = n;
    for _ in 0..size {
        if let (Some(en), Some(nn)) = (e, n) {
            out.merge(en as u32, nn as u32);
        }
        e = next_insn(body, e);
        n = next_insn(body, n);
    }
    if let Some(en) = e {
        let to = next_insn(body, Some(en)).unwrap_or(body.nodes.len() - 1);
        out.ignore(en, to);
    }
    if let Some(nn) = n
        && body.opcode(nn) == Some(GOTO)
    {
        // The goto closing a copy that did not run would leave the last line partly covered.
        out.ignore(nn, nn);
    }
}
