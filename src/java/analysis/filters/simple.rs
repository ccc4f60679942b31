//! The filters that judge a method by its flags, name or a short fixed pattern.

use super::matcher::*;
use super::{ClassContext, FilterOutput};
use crate::java::analysis::body::MethodBody;
use crate::java::classfile::{ACC_BRIDGE, ACC_PRIVATE, ACC_SYNTHETIC};

fn ignore_method(body: &MethodBody<'_>, out: &mut FilterOutput) {
    if !body.nodes.is_empty() {
        out.ignore_all();
    }
}

/// `values()` and `valueOf(String)` of enums.
pub(crate) fn enum_methods(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    if ctx.super_name != "java/lang/Enum" {
        return;
    }
    let class = &ctx.cf.this_class;
    let m = body.info;
    let values = &*m.name == "values" && *m.descriptor == format!("()[L{class};");
    let value_of =
        &*m.name == "valueOf" && *m.descriptor == format!("(Ljava/lang/String;)L{class};");
    if values || value_of {
        ignore_method(body, out);
    }
}

/// Synthetic methods, except lambda bodies (and Kotlin default-argument and coroutine methods).
pub(crate) fn synthetic(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    let m = body.info;
    if m.access & ACC_SYNTHETIC == 0 || m.name.starts_with("lambda$") {
        return;
    }
    if ctx.is_kotlin {
        if m.name.ends_with("$default") {
            return;
        }
        // Constructors taking a DefaultConstructorMarker after at least one other argument
        // (default arguments, sealed and inline classes); a marker-only constructor (the private
        // one of companions) is still filtered.
        if &*m.name == "<init>"
            && last_argument(&m.descriptor)
                == Some("Lkotlin/jvm/internal/DefaultConstructorMarker;")
            && !m
                .descriptor
                .starts_with("(Lkotlin/jvm/internal/DefaultConstructorMarker;)")
        {
            return;
        }
        if last_argument(&m.descriptor) == Some("Lkotlin/coroutines/Continuation;") {
            return;
        }
    }
    ignore_method(body, out);
}

fn last_argument(desc: &str) -> Option<&str> {
    let args = desc.strip_prefix('(')?.split(')').next()?;
    let mut last = None;
    let b = args.as_bytes();
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
        last = args.get(start..i.min(args.len()));
    }
    last
}

pub(crate) fn bridge(body: &MethodBody<'_>, out: &mut FilterOutput) {
    if body.info.access & ACC_BRIDGE != 0 {
        ignore_method(body, out);
    }
}

/// The exception handler javac and ecj generate to release the monitor of a `synchronized` block.
pub(crate) fn synchronized(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    for tc in &body.try_catch {
        if tc.catch_type != 0 || tc.start == tc.handler {
            continue;
        }
        let handler = body.label_node[tc.handler as usize] as usize;
        let mut m = Matcher::new(ctx.cf, body);
        // ecj: aload; monitorexit; athrow
        m.cursor = Some(handler);
        m.next_is(ALOAD);
        m.next_is(MONITOREXIT);
        m.next_is(ATHROW);
        let mut to = m.cursor;
        if to.is_none() {
            // javac: astore t; aload; monitorexit; aload t; athrow
            m.cursor = Some(handler);
            m.next_is_var(ASTORE, "t");
            m.next_is(ALOAD);
            m.next_is(MONITOREXIT);
            m.next_is_var(ALOAD, "t");
            m.next_is(ATHROW);
            to = m.cursor;
        }
        if let Some(to) = to {
            out.ignore(handler, to);
        }
    }
}

/// `private X() { super(); }`
pub(crate) fn private_empty_constructor(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    out: &mut FilterOutput,
) {
    let info = body.info;
    if info.access & ACC_PRIVATE == 0 || &*info.name != "<init>" || &*info.descriptor != "()V" {
        return;
    }
    let mut m = Matcher::new(ctx.cf, body);
    m.first_is_aload0();
    m.next_is_invoke(INVOKESPECIAL, ctx.super_name, "<init>", "()V");
    m.next_is(RETURN);
    if m.cursor.is_some() {
        ignore_method(body, out);
    }
}

/// An enum constructor that only calls `Enum(String, int)`.
pub(crate) fn enum_empty_constructor(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    out: &mut FilterOutput,
) {
    let info = body.info;
    if ctx.super_name != "java/lang/Enum"
        || &*info.name != "<init>"
        || &*info.descriptor != "(Ljava/lang/String;I)V"
    {
        return;
    }
    let mut m = Matcher::new(ctx.cf, body);
    m.first_is_aload0();
    m.next_is(ALOAD);
    m.next_is(ILOAD);
    m.next_is_invoke(
        INVOKESPECIAL,
        "java/lang/Enum",
        "<init>",
        "(Ljava/lang/String;I)V",
    );
    m.next_is(RETURN);
    if m.cursor.is_some() {
        ignore_method(body, out);
    }
}

/// The generated `toString`, `hashCode` and `equals` of records (ObjectMethods bootstrap).
pub(crate) fn records(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    if ctx.super_name != "java/lang/Record" {
        return;
    }
    let info = body.info;
    let mut m = Matcher::new(ctx.cf, body);
    let indy = |m: &mut Matcher<'_, '_>, name: &str| {
        m.next();
        if m.cursor.is_some() && !(m.opcode() == Some(INVOKEDYNAMIC) && m.indy_name() == Some(name))
        {
            m.cursor = None;
        }
    };
    let matched = match (&*info.name, &*info.descriptor) {
        ("toString", "()Ljava/lang/String;") => {
            m.first_is_aload0();
            indy(&mut m, "toString");
            m.next_is(ARETURN);
            m.cursor.is_some()
        }
        ("hashCode", "()I") => {
            m.first_is_aload0();
            indy(&mut m, "hashCode");
            m.next_is(IRETURN);
            m.cursor.is_some()
        }
        ("equals", "(Ljava/lang/Object;)Z") => {
            m.first_is_aload0();
            m.next_is(ALOAD);
            indy(&mut m, "equals");
            m.next_is(IRETURN);
            m.cursor.is_some()
        }
        _ => false,
    };
    if matched {
        ignore_method(body, out);
    }
}

fn is_generated(desc: &str) -> bool {
    let cut = desc.rfind(['/', '$']).map_or(0, |i| i + 1);
    desc[cut..].contains("Generated")
}

/// Classes and methods annotated with an annotation whose simple name contains `Generated`.
pub(crate) fn annotation_generated(
    ctx: &ClassContext<'_>,
    body: &MethodBody<'_>,
    out: &mut FilterOutput,
) {
    if ctx.cf.annotations.iter().any(|a| is_generated(a))
        || body.info.annotations.iter().any(|a| is_generated(a))
    {
        ignore_method(body, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_argument_of_descriptors() {
        assert_eq!(last_argument("(I[JLa/B;)V"), Some("La/B;"));
        assert_eq!(last_argument("(ILa/B;[[J)V"), Some("[[J"));
        assert_eq!(last_argument("()V"), None);
        assert!(is_generated("Llombok/Generated;"));
        assert!(is_generated("Ljavax/annotation/processing/Generated;"));
        assert!(!is_generated("Lcom/Generated$Not;"));
    }
}
