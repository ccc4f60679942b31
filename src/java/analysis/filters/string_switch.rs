//! The hash dispatch javac and ecj generate for a `switch` on a String.

use super::matcher::*;
use super::{ClassContext, FilterOutput};
use crate::java::analysis::body::{MethodBody, Node};
use crate::java::classfile::Operand;

fn switch_default_label_node(body: &MethodBody<'_>, node: usize) -> Option<(usize, usize)> {
    body.switch_default_node(node)
}

fn jump_label_node(body: &MethodBody<'_>, node: usize) -> Option<usize> {
    body.jump_label_node(node)
}

/// javac: `iconst_m1; istore c; aload s; invokevirtual hashCode; switch` whose cases compare
/// with `equals` and store a case number, then a second switch on that number. The first
/// switch and the comparisons are ignored; the second switch carries the source's branches.
pub(crate) fn javac(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    for start in 0..body.nodes.len() {
        if !matches!(body.opcode(start), Some(TABLESWITCH | LOOKUPSWITCH)) {
            continue;
        }
        let Some((dflt, _)) = switch_default_label_node(body, start) else {
            continue;
        };
        if javac_matches(ctx, body, start, dflt) {
            out.ignore(start, dflt);
        }
    }
}

fn javac_matches(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    start: usize,
    second: usize,
) -> bool {
    if start < 4 || body.opcode(start - 4) != Some(ICONST_M1) {
        return false;
    }
    let mut m = Matcher::new(ctx.cf, body);
    m.cursor = Some(start - 4);
    m.next_is_var(ISTORE, "c");
    m.next_is_var(ALOAD, "s");
    m.next_is_invoke(INVOKEVIRTUAL, "java/lang/String", "hashCode", "()I");
    m.next();
    loop {
        m.next_is_var(ALOAD, "s");
        m.next_is(LDC);
        m.next_is_invoke(
            INVOKEVIRTUAL,
            "java/lang/String",
            "equals",
            "(Ljava/lang/Object;)Z",
        );
        m.next_is(IFEQ);
        m.next();
        m.next_is_var(ISTORE, "c");
        let Some(c) = m.cursor else { return false };
        if c + 1 == second {
            break;
        }
        m.next_is(GOTO);
        let Some(g) = m.cursor else { return false };
        if jump_label_node(body, g) != Some(second) {
            return false;
        }
    }
    m.next_is_var(ILOAD, "c");
    m.next_is_switch();
    m.cursor.is_some()
}

/// ecj: `astore s; invokevirtual hashCode; switch`, each case comparing with `equals` and
/// jumping straight to the case code. The switch's branches become the case targets.
pub(crate) fn ecj(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    for start in 0..body.nodes.len() {
        if body.opcode(start) != Some(ASTORE) {
            continue;
        }
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = Some(start);
        m.next_is_invoke(INVOKEVIRTUAL, "java/lang/String", "hashCode", "()I");
        m.next_is_switch();
        let Some(s) = m.cursor else { continue };
        if let Some(Operand::Var(v)) = m_operand(body, start) {
            m.vars.insert("s".into(), v);
        }
        let Some((dflt, hash_codes)) = switch_default_label_node(body, s) else {
            continue;
        };
        let mut replacements = Vec::new();
        if let Some(d) = m.skip_non_opcodes(Some(dflt)) {
            replacements.push(d as u32);
        }
        if hash_codes == 0 {
            continue;
        }
        let mut ok = true;
        'cases: for _ in 0..hash_codes {
            loop {
                m.next_is_var(ALOAD, "s");
                m.next_is(LDC);
                m.next_is_invoke(
                    INVOKEVIRTUAL,
                    "java/lang/String",
                    "equals",
                    "(Ljava/lang/Object;)Z",
                );
                m.next_is(IFNE);
                let Some(c) = m.cursor else {
                    ok = false;
                    break 'cases;
                };
                if let Some(t) = m.skip_non_opcodes(jump_label_node(body, c)) {
                    replacements.push(t as u32);
                }
                if body.opcode(c + 1) == Some(GOTO) {
                    m.next_is(GOTO);
                    break;
                } else if c + 1 == dflt {
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        if let Some(end) = m.cursor {
            out.ignore(s + 1, end);
        } else {
            out.ignore(s + 1, body.nodes.len() - 1);
        }
        out.replace_branches(s as u32, replacements);
    }
}

fn m_operand(body: &MethodBody<'_>, node: usize) -> Option<Operand> {
    match body.nodes[node] {
        Node::Insn(i) => Some(body.operand(i).clone()),
        _ => None,
    }
}
