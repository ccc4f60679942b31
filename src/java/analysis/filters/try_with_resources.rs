//! The resource-closing code javac generates for try-with-resources. javac 11+ closes on the
//! normal path inline and in a `catch (Throwable)` handler with `addSuppressed`; javac 7-10 use
//! a `finally`-like shape (optionally through a synthetic `$closeResource`). The handler and the
//! close on the normal path are ignored.

use super::matcher::*;
use super::{ClassContext, FilterOutput};
use crate::java::analysis::body::MethodBody;

const THROWABLE: &str = "java/lang/Throwable";

fn throwable_handlers(ctx: &ClassContext<'_>, body: &MethodBody<'_>) -> Vec<usize> {
    body.try_catch
        .iter()
        .filter(|t| t.catch_type != 0 && ctx.cf.class_name(t.catch_type) == Some(THROWABLE))
        .map(|t| body.label_node[t.handler as usize] as usize)
        .collect()
}

struct CloseMatcher<'a, 'b> {
    m: Matcher<'a, 'b>,
    expected_owner: Option<&'b str>,
}

impl<'a, 'b> CloseMatcher<'a, 'b> {
    /// `aload r; invoke(virtual|interface) close()V` with one owner for every close.
    fn next_is_close(&mut self) {
        self.m.next_is_var(ALOAD, "r");
        self.m.next();
        if self.m.cursor.is_none() {
            return;
        }
        if !matches!(self.m.opcode(), Some(INVOKEINTERFACE | INVOKEVIRTUAL)) {
            self.m.cursor = None;
            return;
        }
        match self.m.member() {
            Some((owner, "close", "()V")) => match self.expected_owner {
                None => self.expected_owner = Some(owner),
                Some(e) if e == owner => {}
                Some(_) => self.m.cursor = None,
            },
            _ => self.m.cursor = None,
        }
    }

    /// Searches backwards from the handler for the close on the normal path and ignores it
    /// (with a following goto) together with the handler `start..=end`.
    fn ignore_normal_path(
        &mut self,
        start: usize,
        end: usize,
        out: &mut FilterOutput,
        mut matches_close: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        let Some(mut s) = start.checked_sub(1) else {
            return false;
        };
        self.m.cursor = Some(s);
        while !matches_close(self) {
            let Some(p) = s.checked_sub(1) else {
                return false;
            };
            s = p;
            self.m.cursor = Some(s);
        }
        let s = s + 1;
        let close = self.m.cursor;
        self.m.next();
        if self.m.opcode() != Some(GOTO) {
            self.m.cursor = close;
        }
        if let Some(c) = self.m.cursor {
            out.ignore(s, c);
        }
        out.ignore(start, end);
        true
    }
}

/// javac 11 and later.
pub(crate) fn javac11(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    if body.try_catch.is_empty() {
        return;
    }
    for handler in throwable_handlers(ctx, body) {
        for with_null_check in [true, false] {
            let mut cm = CloseMatcher {
                m: Matcher::new(ctx.cf, body),
                expected_owner: None,
            };
            javac11_match(&mut cm, handler, with_null_check, out);
        }
    }
}

fn javac11_close(cm: &mut CloseMatcher<'_, '_>, with_null_check: bool) -> bool {
    if with_null_check {
        cm.m.next_is_var(ALOAD, "r");
        cm.m.next_is(IFNULL);
    }
    cm.next_is_close();
    cm.m.cursor.is_some()
}

fn javac11_match(
    cm: &mut CloseMatcher<'_, '_>,
    start: usize,
    with_null_check: bool,
    out: &mut FilterOutput,
) {
    cm.m.cursor = start.checked_sub(1);
    cm.m.next_is_var(ASTORE, "primaryExc");
    javac11_close(cm, with_null_check);
    cm.m.next_is(GOTO);
    cm.m.next_is_var(ASTORE, "t");
    cm.m.next_is_var(ALOAD, "primaryExc");
    cm.m.next_is_var(ALOAD, "t");
    cm.m.next_is_invoke(
        INVOKEVIRTUAL,
        THROWABLE,
        "addSuppressed",
        "(Ljava/lang/Throwable;)V",
    );
    cm.m.next_is_var(ALOAD, "primaryExc");
    cm.m.next_is(ATHROW);
    let Some(end) = cm.m.cursor else { return };
    cm.ignore_normal_path(start, end, out, |cm| javac11_close(cm, with_null_check));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum JavacPattern {
    /// Resource loaded after primaryExc, no null check, `$closeResource`.
    Optimal,
    /// Resource loaded before primaryExc, both checked for null.
    Full,
    /// Resource loaded after primaryExc, no null check of the resource.
    OmittedNullCheck,
    /// Resource checked for null, then `$closeResource`.
    Method,
}

/// javac 7 to 10.
pub(crate) fn javac7(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    if body.try_catch.is_empty() {
        return;
    }
    for handler in throwable_handlers(ctx, body) {
        for p in [
            JavacPattern::Optimal,
            JavacPattern::Full,
            JavacPattern::OmittedNullCheck,
            JavacPattern::Method,
        ] {
            let mut cm = CloseMatcher {
                m: Matcher::new(ctx.cf, body),
                expected_owner: None,
            };
            cm.m.cursor = handler.checked_sub(1);
            if javac7_match(&mut cm, handler, p, out) {
                break;
            }
        }
    }
}

fn javac7_match(
    cm: &mut CloseMatcher<'_, '_>,
    start: usize,
    p: JavacPattern,
    out: &mut FilterOutput,
) -> bool {
    let m = &mut cm.m;
    m.next_is_var(ASTORE, "t1");
    m.next_is_var(ALOAD, "t1");
    m.next_is_var(ASTORE, "primaryExc");
    m.next_is_var(ALOAD, "t1");
    m.next_is(ATHROW);
    m.next_is_var(ASTORE, "t2");
    if !javac7_close(cm, p, "et") {
        return false;
    }
    cm.m.next_is_var(ALOAD, "t2");
    cm.m.next_is(ATHROW);
    let Some(end) = cm.m.cursor else { return false };
    cm.ignore_normal_path(start, end, out, |cm| javac7_close(cm, p, "nt"))
}

fn javac7_close(cm: &mut CloseMatcher<'_, '_>, p: JavacPattern, t: &'static str) -> bool {
    if cm.m.cursor.is_none() {
        return false;
    }
    if matches!(p, JavacPattern::Method | JavacPattern::Full) {
        cm.m.next_is_var(ALOAD, "r");
        cm.m.next_is(IFNULL);
    }
    match p {
        JavacPattern::Method | JavacPattern::Optimal => {
            cm.m.next_is_var(ALOAD, "primaryExc");
            cm.m.next_is_var(ALOAD, "r");
            cm.m.next_is(INVOKESTATIC);
            if cm.m.cursor.is_none() {
                return false;
            }
            matches!(
                cm.m.member(),
                Some((
                    _,
                    "$closeResource",
                    "(Ljava/lang/Throwable;Ljava/lang/AutoCloseable;)V"
                ))
            )
        }
        JavacPattern::Full | JavacPattern::OmittedNullCheck => {
            cm.m.next_is_var(ALOAD, "primaryExc");
            cm.m.next_is(IFNULL);
            cm.next_is_close();
            cm.m.next_is(GOTO);
            cm.m.next_is_var(ASTORE, t);
            cm.m.next_is_var(ALOAD, "primaryExc");
            cm.m.next_is_var(ALOAD, t);
            cm.m.next_is_invoke(
                INVOKEVIRTUAL,
                THROWABLE,
                "addSuppressed",
                "(Ljava/lang/Throwable;)V",
            );
            cm.m.next_is(GOTO);
            cm.next_is_close();
            cm.m.cursor.is_some()
        }
    }
}

/// ecj's try-with-resources (not yet reproduced: ecj-compiled classes keep the close logic).
pub(crate) fn ecj(_ctx: &ClassContext<'_>, _body: &MethodBody<'_>, _out: &mut FilterOutput) {}
