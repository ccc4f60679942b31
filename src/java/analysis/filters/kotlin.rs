//! JaCoCo 0.8.6's Kotlin filters: code kotlinc 1.3 generates for null checks, casts, `when`,
//! lateinit properties, default arguments, interface default methods, inlined functions and
//! coroutine state machines. Shapes were taken from javap of kotlinc 1.3.31 output and the
//! verdicts checked against JaCoCo 0.8.6 (tests/jacoco_oracle.rs, kotlin_* tests).

use super::matcher::*;
use super::{ClassContext, FilterOutput};
use crate::java::analysis::body::{MethodBody, Node};
use crate::java::classfile::{ACC_SYNTHETIC, Operand};

const NEW: u8 = 0xBB;
const DUP: u8 = 0x59;
const IAND: u8 = 0x7E;
const IF_ACMPNE: u8 = 0xA6;
const GETFIELD: u8 = 0xB4;

fn ignore_method(body: &MethodBody<'_>, out: &mut FilterOutput) {
    if !body.nodes.is_empty() {
        out.ignore_all();
    }
}

impl Matcher<'_, '_> {
    /// `new`/`checkcast`/`instanceof` of the given class.
    fn next_is_type(&mut self, opcode: u8, class: &str) {
        self.next_is(opcode);
        if self.cursor.is_none() {
            return;
        }
        let ok = match self.operand() {
            Some(Operand::Type(i)) => self.cf.class_name(*i) == Some(class),
            _ => false,
        };
        if !ok {
            self.cursor = None;
        }
    }

    fn ldc_string(&self) -> Option<&str> {
        match self.operand()? {
            Operand::Ldc(i) => self.cf.string_constant(*i),
            _ => None,
        }
    }
}

/// Methods of a Kotlin class without any line number: kotlinc's generated members (data
/// class `componentN`, `copy`, `toString`, `hashCode`, `equals`, and the like).
pub(crate) fn generated(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    if !ctx.is_kotlin {
        return;
    }
    if body.nodes.iter().any(|n| matches!(n, Node::Line(..))) {
        return;
    }
    ignore_method(body, out);
}

/// `ifnonnull; ldc name; invokestatic Intrinsics.throwUninitializedPropertyAccessException`:
/// reading a `lateinit` property.
pub(crate) fn lateinit(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    for start in 0..body.nodes.len() {
        if body.opcode(start) != Some(IFNONNULL) {
            continue;
        }
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = Some(start);
        m.next_is(LDC);
        m.next_is_invoke(
            INVOKESTATIC,
            "kotlin/jvm/internal/Intrinsics",
            "throwUninitializedPropertyAccessException",
            "(Ljava/lang/String;)V",
        );
        if let Some(end) = m.cursor {
            out.ignore(start, end);
        }
    }
}

/// `ifnonnull; invokestatic Intrinsics.throwNpe()`: the `!!` operator.
pub(crate) fn not_null_operator(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    out: &mut FilterOutput,
) {
    for start in 0..body.nodes.len() {
        if body.opcode(start) != Some(IFNONNULL) {
            continue;
        }
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = Some(start);
        m.next_is_invoke(
            INVOKESTATIC,
            "kotlin/jvm/internal/Intrinsics",
            "throwNpe",
            "()V",
        );
        if let Some(end) = m.cursor {
            out.ignore(start, end);
        }
    }
}

/// `ifnonnull; new TypeCastException("null cannot be cast to non-null type ..."); athrow`:
/// the `as` operator on a nullable value.
pub(crate) fn unsafe_cast_operator(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    out: &mut FilterOutput,
) {
    for start in 0..body.nodes.len() {
        if body.opcode(start) != Some(IFNONNULL) {
            continue;
        }
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = Some(start);
        m.next_is_type(NEW, "kotlin/TypeCastException");
        m.next_is(DUP);
        m.next_is(LDC);
        if m.cursor.is_none()
            || !m
                .ldc_string()
                .is_some_and(|s| s.starts_with("null cannot be cast to non-null type"))
        {
            continue;
        }
        m.next_is_invoke(
            INVOKESPECIAL,
            "kotlin/TypeCastException",
            "<init>",
            "(Ljava/lang/String;)V",
        );
        m.next_is(ATHROW);
        let Some(end) = m.cursor else { continue };
        // Observed (kotlin-stdlib, kotlin-reflect): 0.8.6 leaves the check alone unless the
        // `ifnonnull` jumps right behind the `athrow`; `if (c) x as T else null` puts the
        // `else` code there and keeps its branches.
        let next_insn = m
            .skip_non_opcodes(Some(end + 1))
            .unwrap_or(body.nodes.len());
        if body
            .jump_label_node(start)
            .is_some_and(|t| t > end && t < next_insn)
        {
            out.ignore(start, end);
        }
    }
}

fn switch_case_nodes(body: &MethodBody<'_>, node: usize) -> Option<(usize, Vec<usize>)> {
    match body.nodes.get(node)? {
        Node::Insn(i) => {
            let s = body.insns[*i as usize].switch.as_ref()?;
            Some((
                body.label_node[s.0 as usize] as usize,
                s.1.iter()
                    .map(|l| body.label_node[*l as usize] as usize)
                    .collect(),
            ))
        }
        _ => None,
    }
}

/// The `throw NoWhenBranchMatchedException()` of an exhaustive `when` (enum, sealed class): the
/// throw is ignored, and so is the branch that leads to it (the last `instanceof` test's
/// `ifeq`, or the `default` of a switch, whose branches become its case targets only).
pub(crate) fn when_exhaustive(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    out: &mut FilterOutput,
) {
    const EXCEPTION: &str = "kotlin/NoWhenBranchMatchedException";
    for start in 0..body.nodes.len() {
        if !matches!(body.nodes[start], Node::Label(_)) {
            continue;
        }
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = Some(start);
        m.next_is_type(NEW, EXCEPTION);
        m.next_is(DUP);
        m.next_is_invoke(INVOKESPECIAL, EXCEPTION, "<init>", "()V");
        m.next_is(ATHROW);
        let Some(end) = m.cursor else { continue };
        // Only a throw reached by an `ifeq` or a switch default goes (observed on kotlin-reflect:
        // one reached by `ifnonnull` stays, throw included).
        for i in (0..=start).rev() {
            if body.opcode(i) == Some(IFEQ) && body.jump_label_node(i) == Some(start) {
                out.ignore(start, end);
                out.ignore(i, i);
                break;
            }
            if let Some((dflt, cases)) = switch_case_nodes(body, i)
                && dflt == start
            {
                let targets = cases
                    .into_iter()
                    .filter_map(|c| m.skip_non_opcodes(Some(c)))
                    .map(|n| n as u32)
                    .collect();
                out.ignore(start, end);
                out.replace_branches(i as u32, targets);
                break;
            }
        }
    }
}

/// kotlinc's `when` on a String: `astore s; aload s; invokevirtual hashCode; switch`, each hash
/// bucket comparing with `equals`, `ifeq` to the next comparison (or the else branch) and `goto`
/// the case. The comparisons are ignored; the switch's branches become the cases and the else.
pub(crate) fn when_string(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    for start in 0..body.nodes.len() {
        if body.opcode(start).is_none() {
            continue;
        }
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = Some(start);
        m.next_is_var(ASTORE, "s");
        m.next_is_var(ALOAD, "s");
        m.next_is_invoke(INVOKEVIRTUAL, "java/lang/String", "hashCode", "()I");
        m.next_is_switch();
        let Some(s) = m.cursor else { continue };
        let Some((dflt, cases)) = switch_case_nodes(body, s) else {
            continue;
        };
        let mut buckets = cases.clone();
        buckets.sort_unstable();
        buckets.dedup();
        let buckets = buckets.into_iter().filter(|c| *c != dflt).count();
        let mut replacements: Vec<u32> = m
            .skip_non_opcodes(Some(dflt))
            .map(|n| n as u32)
            .into_iter()
            .collect();
        let mut ok = true;
        'buckets: for _ in 0..buckets {
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
                let Some(ifeq) = m.cursor else {
                    ok = false;
                    break 'buckets;
                };
                m.next_is(GOTO);
                let Some(g) = m.cursor else {
                    ok = false;
                    break 'buckets;
                };
                if let Some(t) = m.skip_non_opcodes(body.jump_label_node(g)) {
                    replacements.push(t as u32);
                }
                if body.jump_label_node(ifeq) == Some(dflt) {
                    break;
                }
            }
        }
        let Some(end) = m.cursor.filter(|_| ok) else {
            continue;
        };
        out.ignore(s + 1, end);
        out.replace_branches(s as u32, replacements);
    }
}

fn argument_slots(desc: &str) -> Option<(Vec<u16>, Vec<String>)> {
    let args = desc.strip_prefix('(')?.split(')').next()?;
    let b = args.as_bytes();
    let (mut sizes, mut types) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] == b'[' {
            i += 1;
        }
        if i < b.len() && b[i] == b'L' {
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
        }
        i += 1;
        let t = args.get(start..i.min(args.len()))?;
        sizes.push(if t == "J" || t == "D" { 2 } else { 1 });
        types.push(t.to_owned());
    }
    Some((sizes, types))
}

/// The synthetic `f$default` methods and constructors with a `DefaultConstructorMarker`: the
/// `(mask & bit) == 0` test of each optional parameter is no branch of the source, and the
/// "Super calls with default arguments not supported" guard is no code of it.
pub(crate) fn default_arguments(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    out: &mut FilterOutput,
) {
    let info = body.info;
    if info.access & ACC_SYNTHETIC == 0 {
        return;
    }
    let Some((sizes, types)) = argument_slots(&info.descriptor) else {
        return;
    };
    let n = types.len();
    let is_method = info.name.ends_with("$default");
    let is_constructor = &*info.name == "<init>"
        && n >= 2
        && types[n - 1] == "Lkotlin/jvm/internal/DefaultConstructorMarker;"
        && types[n - 2] == "I";
    if !is_method && !is_constructor {
        return;
    }
    let mut m = Matcher::new(ctx.cf, body);
    m.cursor = m.skip_non_opcodes(Some(0));
    let first = m.cursor;
    if is_method {
        m.next_is(IFNULL);
        m.next_is_type(NEW, "java/lang/UnsupportedOperationException");
        m.next_is(DUP);
        m.next_is(LDC);
        m.next_is_invoke(
            INVOKESPECIAL,
            "java/lang/UnsupportedOperationException",
            "<init>",
            "(Ljava/lang/String;)V",
        );
        m.next_is(ATHROW);
        match (first, m.cursor) {
            (Some(f), Some(end)) => {
                out.ignore(f, end);
                m.next();
            }
            _ => m.cursor = first,
        }
    }
    // The first mask: the parameter after the last original one (constructors: after `this`).
    let this_slot = u16::from(is_constructor);
    let original = n - 2;
    let mask: u16 = this_slot + sizes[..original].iter().sum::<u16>();
    // Observed with JaCoCo 0.8.6 on kotlin-stdlib: the `$default` of an inline function, whose
    // body reuses the mask's slot (`iconst_0; istore mask` for `$i$f$name`), keeps its branches.
    let reuses_mask = body.nodes.iter().enumerate().any(|(i, _)| {
        body.opcode(i) == Some(ISTORE)
            && matches!(m_operand(body, i), Some(Operand::Var(v)) if *v == mask)
    });
    if reuses_mask {
        return;
    }
    loop {
        if m.opcode() != Some(ILOAD) || m.operand() != Some(&Operand::Var(mask)) {
            break;
        }
        m.next();
        m.next_is(IAND);
        m.next_is(IFEQ);
        let Some(ifeq) = m.cursor else { break };
        out.ignore(ifeq, ifeq);
        m.cursor = m.skip_non_opcodes(body.jump_label_node(ifeq));
    }
}

/// A class's forwarder to an interface's default method without arguments: `aload 0;
/// invokestatic I$DefaultImpls.f`. (0.8.6 matches only that shape: forwarders that pass
/// arguments stay, as kotlin-reflect, kotlin-test and kotlinx-coroutines show.)
pub(crate) fn default_methods(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    out: &mut FilterOutput,
) {
    if !ctx.is_kotlin {
        return;
    }
    let mut m = Matcher::new(ctx.cf, body);
    m.first_is_aload0();
    m.next_is(INVOKESTATIC);
    if m.cursor.is_some()
        && m.member()
            .is_some_and(|(owner, _, _)| owner.ends_with("$DefaultImpls"))
    {
        ignore_method(body, out);
    }
}

/// The first line number kotlinc gave to inlined code: Kotlin's SMAP (SourceDebugExtension)
/// maps the lines of the class's own source file onto themselves; every other mapping's output
/// line is code inlined from elsewhere. None when there is no SMAP or it is not Kotlin's.
pub(crate) fn first_inlined_line(source_file: &str, smap: &str) -> Option<u32> {
    let mut lines = smap.lines();
    let mut expect = |want: &str| lines.next().is_some_and(|l| l == want);
    if !(expect("SMAP")
        && expect(source_file)
        && expect("Kotlin")
        && expect("*S Kotlin")
        && expect("*F"))
    {
        return None;
    }
    let mut own_ids = Vec::new();
    loop {
        let line = lines.next()?;
        if line == "*L" {
            break;
        }
        let rest = line.strip_prefix('+')?.trim_start();
        let (id, name) = rest.split_once(' ')?;
        let id: u32 = id.parse().ok()?;
        lines.next()?; // the file's path
        if name.trim_start() == source_file {
            own_ids.push(id);
        }
    }
    if own_ids.is_empty() {
        return None;
    }
    let mut min = u32::MAX;
    loop {
        let line = lines.next()?;
        if line == "*E" || line == "*S KotlinDebug" {
            break;
        }
        // InputStartLine[#LineFileID][,RepeatCount]:OutputStartLine[,OutputLineIncrement]
        let (input, output) = line.split_once(':')?;
        let (input, file) = match input.split_once('#') {
            Some((i, rest)) => (i, Some(rest)),
            None => (input, None),
        };
        let input_start: u32 = input.parse().ok()?;
        let file_id: Option<u32> = match file {
            Some(f) => Some(f.split(',').next()?.parse().ok()?),
            None => None,
        };
        let output_start: u32 = output.split(',').next()?.parse().ok()?;
        let own = file_id.is_some_and(|f| own_ids.contains(&f));
        if own && input_start == output_start {
            continue;
        }
        min = min.min(output_start);
    }
    Some(min)
}

/// Instructions on lines past the class's own source: bodies of inlined functions.
pub(crate) fn inline(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    let Some(first) = ctx.first_inlined_line else {
        return;
    };
    let mut line = 0;
    for (i, n) in body.nodes.iter().enumerate() {
        if let Node::Line(l, _) = n {
            line = *l;
        }
        if line >= first {
            out.ignore(i, i);
        }
    }
}

/// The state machine of a suspending function or lambda: the continuation preamble and the
/// dispatch on `label` by its `tableswitch`, state 0's `throwOnFailure`, the `if (result == COROUTINE_SUSPENDED) return` after each suspension point,
/// the `throwOnFailure` on resumption and the "call to 'resume' before 'invoke'" default.
pub(crate) fn coroutine(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    if !ctx.is_kotlin {
        return;
    }
    // Find `invokestatic getCOROUTINE_SUSPENDED; astore; aload; getfield label; tableswitch`.
    let mut found = None;
    for start in 0..body.nodes.len() {
        if body.opcode(start) != Some(INVOKESTATIC) {
            continue;
        }
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = Some(start);
        if m.member()
            != Some((
                "kotlin/coroutines/intrinsics/IntrinsicsKt",
                "getCOROUTINE_SUSPENDED",
                "()Ljava/lang/Object;",
            ))
        {
            continue;
        }
        m.next_is_var(ASTORE, "COROUTINE_SUSPENDED");
        m.next_is(ALOAD);
        m.next_is(GETFIELD);
        m.next_is(TABLESWITCH);
        if let Some(s) = m.cursor {
            found = Some((s, m.vars.clone()));
            break;
        }
    }
    let Some((s, vars)) = found else {
        return;
    };
    let Some((dflt, cases)) = switch_case_nodes(body, s) else {
        return;
    };
    let mut ignores = Vec::new();
    // state 0: `aload result; invokestatic ResultKt.throwOnFailure`
    let mut suspension = 1;
    let mut i = s;
    while suspension < cases.len() && i < body.nodes.len() {
        let mut m = Matcher::new(ctx.cf, body);
        m.vars = vars.clone();
        m.cursor = Some(i);
        m.next_is_var(ALOAD, "COROUTINE_SUSPENDED");
        m.next_is(IF_ACMPNE);
        let Some(jump) = m.cursor else {
            i += 1;
            continue;
        };
        let after = m.skip_non_opcodes(body.jump_label_node(jump));
        m.next_is_var(ALOAD, "COROUTINE_SUSPENDED");
        m.next_is(ARETURN);
        let Some(ret) = m.cursor else {
            i += 1;
            continue;
        };
        if m.skip_non_opcodes(Some(ret + 1)) != m.skip_non_opcodes(Some(cases[suspension])) {
            i += 1;
            continue;
        }
        // `dup` before `aload COROUTINE_SUSPENDED`
        let first = if i > 0 && body.opcode(i) == Some(DUP) {
            i
        } else {
            i + 1
        };
        ignores.push((first, ret));
        if let Some(after) = after {
            ignores.push((cases[suspension], after.saturating_sub(1)));
        }
        suspension += 1;
        i = ret + 1;
    }
    let mut m = Matcher::new(ctx.cf, body);
    m.cursor = Some(dflt);
    m.next_is_type(NEW, "java/lang/IllegalStateException");
    m.next_is(DUP);
    m.next_is(LDC);
    if m.cursor.is_none()
        || m.ldc_string() != Some("call to 'resume' before 'invoke' with coroutine")
    {
        return;
    }
    m.next_is_invoke(
        INVOKESPECIAL,
        "java/lang/IllegalStateException",
        "<init>",
        "(Ljava/lang/String;)V",
    );
    m.next_is(ATHROW);
    let Some(end) = m.cursor else { return };
    // A suspending function first finds or creates its continuation: that preamble up to the
    // dispatch is no code of the source either.
    out.ignore(0, s);
    out.ignore(dflt, end);
    // State 0 starts with `aload result; invokestatic ResultKt.throwOnFailure`.
    if let Some(&first_state) = cases.first() {
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = m.skip_non_opcodes(Some(first_state));
        let from = m.cursor;
        if m.opcode() == Some(ALOAD) {
            m.next_is_invoke(
                INVOKESTATIC,
                "kotlin/ResultKt",
                "throwOnFailure",
                "(Ljava/lang/Object;)V",
            );
            if let (Some(a), Some(b)) = (from, m.cursor) {
                out.ignore(a, b);
            }
        }
    }
    for (a, b) in ignores {
        out.ignore(a, b);
    }
}

fn m_operand<'a>(body: &MethodBody<'a>, node: usize) -> Option<&'a Operand> {
    match body.nodes.get(node)? {
        Node::Insn(i) => Some(body.operand(*i)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smap_of_a_file_with_inlined_code() {
        let smap = "SMAP\nMain.kt\nKotlin\n*S Kotlin\n*F\n+ 1 Main.kt\nkcorpus/Main.kt\n\
                    + 2 Inlines.kt\nkcorpus/InlinesKt\n*L\n1#1,160:1\n4#2,5:161\n*E\n";
        assert_eq!(first_inlined_line("Main.kt", smap), Some(161));
        assert_eq!(first_inlined_line("Other.kt", smap), None);
        assert_eq!(first_inlined_line("Main.kt", "garbage"), None);
        // Several identity ranges of the own file, and the KotlinDebug stratum after them.
        let smap = "SMAP\nA.kt\nKotlin\n*S Kotlin\n*F\n+ 1 A.kt\np/A.kt\n+ 2 B.kt\np/B.kt\n*L\n\
                    1#1,10:1\n12#1,3:12\n3#2:40\n5#2,2:41,2\n*S KotlinDebug\n*F\n";
        assert_eq!(first_inlined_line("A.kt", smap), Some(40));
        // A cut SMAP is no SMAP.
        assert_eq!(
            first_inlined_line("A.kt", "SMAP\nA.kt\nKotlin\n*S Kotlin\n*F\n+ 1 A.kt\n"),
            None
        );
    }

    #[test]
    fn argument_slots_count_longs_and_doubles_twice() {
        let (sizes, types) = argument_slots("(IJLa/B;[DD)V").unwrap();
        assert_eq!(sizes, vec![1, 2, 1, 1, 2]);
        assert_eq!(types, vec!["I", "J", "La/B;", "[D", "D"]);
    }
}
