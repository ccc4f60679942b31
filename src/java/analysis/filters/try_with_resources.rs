//! The resource-closing code javac generates for try-with-resources. javac 11+ closes on the
//! normal path inline and in a `catch (Throwable)` handler with `addSuppressed`; javac 7-10 use
//! a `finally`-like shape (optionally through a synthetic `$closeResource`); ecj has its own
//! shape. The handler and the close on the normal path are ignored.

use rustc_hash::FxHashMap;

use super::matcher::*;
use super::{ClassContext, FilterOutput};
use crate::java::analysis::body::{MethodBody, Node};

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

/// ecj: the resources are closed in a catch-any handler that also collects suppressed
/// exceptions, and inline on the normal path.
pub(crate) fn ecj(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    for tc in &body.try_catch {
        if tc.catch_type != 0 {
            continue;
        }
        let handler = body.label_node[tc.handler as usize] as usize;
        let mut em = EcjMatcher::new(ctx, body, handler);
        if !em.match_ecj(out) {
            let mut em = EcjMatcher::new(ctx, body, handler);
            em.match_no_flow_out(out);
        }
    }
}

struct EcjMatcher<'a, 'b> {
    m: Matcher<'a, 'b>,
    start: usize,
    owners: FxHashMap<String, &'b str>,
    labels: FxHashMap<String, usize>,
}

impl<'a, 'b> EcjMatcher<'a, 'b> {
    fn new(ctx: &'b ClassContext<'_>, body: &'b MethodBody<'a>, start: usize) -> Self {
        let mut m = Matcher::new(ctx.cf, body);
        m.cursor = start.checked_sub(1);
        EcjMatcher {
            m,
            start,
            owners: FxHashMap::default(),
            labels: FxHashMap::default(),
        }
    }

    fn match_ecj(&mut self, out: &mut FilterOutput) -> bool {
        self.m.next_is_var(ASTORE, "primaryExc");
        self.close_and_throw("r0");
        let mut resources = 1;
        let mut c = self.m.cursor;
        loop {
            let r = format!("r{resources}");
            if !self.close(&r) {
                break;
            }
            self.jump(GOTO, &format!("{r}.end"));
            self.suppress(&r);
            self.close_and_throw(&r);
            resources += 1;
            c = self.m.cursor;
        }
        self.m.cursor = c;
        self.suppress("last");
        self.m.next_is_var(ALOAD, "primaryExc");
        self.m.next_is(ATHROW);
        let Some(end) = self.m.cursor else {
            return false;
        };
        let Some(s) = self.find_normal_close() else {
            return false;
        };
        self.m.next();
        let Some(g) = self.m.cursor.filter(|_| self.m.opcode() == Some(GOTO)) else {
            return false;
        };
        out.ignore(s, g);
        out.ignore(self.start, end);
        true
    }

    fn match_no_flow_out(&mut self, out: &mut FilterOutput) -> bool {
        self.m.next_is_var(ASTORE, "primaryExc");
        let mut resources = 0;
        let mut c = self.m.cursor;
        loop {
            let r = format!("r{resources}");
            if !(self.close_and_throw(&r) && self.suppress(&r)) {
                break;
            }
            resources += 1;
            c = self.m.cursor;
        }
        self.m.cursor = c;
        self.m.next_is_var(ALOAD, "primaryExc");
        self.m.next_is(ATHROW);
        let Some(end) = self.m.cursor else {
            return false;
        };
        let Some(s) = self.find_normal_close() else {
            return false;
        };
        for i in 1..resources {
            if !self.close(&format!("r{i}")) {
                return false;
            }
        }
        let Some(c) = self.m.cursor else {
            return false;
        };
        out.ignore(s, c);
        out.ignore(self.start, end);
        true
    }

    /// Searches backwards from the handler for the close of `r0` on the normal path; returns the
    /// node where that code starts, with the cursor on the close.
    fn find_normal_close(&mut self) -> Option<usize> {
        let mut s = self.start.checked_sub(1)?;
        self.m.cursor = Some(s);
        while !self.close("r0") {
            s = s.checked_sub(1)?;
            self.m.cursor = Some(s);
        }
        Some(s + 1)
    }

    fn close(&mut self, name: &str) -> bool {
        self.m.next_is_var(ALOAD, name.to_owned());
        self.jump(IFNULL, &format!("{name}.end"));
        self.close_call(name);
        self.m.cursor.is_some()
    }

    fn close_and_throw(&mut self, name: &str) -> bool {
        self.m.next_is_var(ALOAD, name.to_owned());
        self.jump(IFNULL, name);
        self.close_call(name);
        self.label(name);
        self.m.next_is_var(ALOAD, "primaryExc");
        self.m.next_is(ATHROW);
        self.m.cursor.is_some()
    }

    fn suppress(&mut self, name: &str) -> bool {
        let t = format!("{name}.t");
        let start = format!("{name}.suppressStart");
        let end = format!("{name}.suppressEnd");
        self.m.next_is_var(ASTORE, t.clone());
        self.m.next_is_var(ALOAD, "primaryExc");
        self.jump(IFNONNULL, &start);
        self.m.next_is_var(ALOAD, t.clone());
        self.m.next_is_var(ASTORE, "primaryExc");
        self.jump(GOTO, &end);
        self.label(&start);
        self.m.next_is_var(ALOAD, "primaryExc");
        self.m.next_is_var(ALOAD, t.clone());
        self.jump(IF_ACMPEQ, &end);
        self.m.next_is_var(ALOAD, "primaryExc");
        self.m.next_is_var(ALOAD, t.clone());
        self.m.next_is_invoke(
            INVOKEVIRTUAL,
            THROWABLE,
            "addSuppressed",
            "(Ljava/lang/Throwable;)V",
        );
        self.label(&end);
        self.m.cursor.is_some()
    }

    fn close_call(&mut self, name: &str) {
        self.m.next_is_var(ALOAD, name.to_owned());
        self.m.next();
        if self.m.cursor.is_none() {
            return;
        }
        if !matches!(self.m.opcode(), Some(INVOKEINTERFACE | INVOKEVIRTUAL)) {
            self.m.cursor = None;
            return;
        }
        match self.m.member() {
            Some((owner, "close", "()V")) => match self.owners.get(name) {
                None => {
                    self.owners.insert(name.to_owned(), owner);
                }
                Some(e) if *e == owner => {}
                Some(_) => self.m.cursor = None,
            },
            _ => self.m.cursor = None,
        }
    }

    fn jump(&mut self, opcode: u8, name: &str) {
        self.m.next_is(opcode);
        let Some(c) = self.m.cursor else { return };
        let actual = jump_label_node(self.m.body, c);
        match self.labels.get(name) {
            None => {
                if let Some(a) = actual {
                    self.labels.insert(name.to_owned(), a);
                }
            }
            Some(e) if Some(*e) == actual => {}
            Some(_) => self.m.cursor = None,
        }
    }

    /// The very next node must be the label recorded under `name`.
    fn label(&mut self, name: &str) {
        let Some(c) = self.m.cursor else { return };
        let n = c + 1;
        let is_label = matches!(self.m.body.nodes.get(n), Some(Node::Label(_)));
        if is_label && self.labels.get(name) == Some(&n) {
            self.m.cursor = Some(n);
        } else {
            self.m.cursor = None;
        }
    }
}

fn jump_label_node(body: &MethodBody<'_>, node: usize) -> Option<usize> {
    body.jump_label_node(node)
}
