//! JaCoCo 0.8.6's filters: compiler-generated code that must not count. Each filter looks at a
//! method's event stream and says which nodes to ignore, which duplicated instructions to merge
//! (copies of `finally` blocks), and which instructions get a new set of branches.

mod finally;
mod kotlin;
mod matcher;
mod simple;
mod string_switch;
mod try_with_resources;

use rustc_hash::FxHashMap;

use super::body::MethodBody;
use crate::java::classfile::{ClassFile, Constant};

/// What the filters know about the class.
pub(crate) struct ClassContext<'a> {
    pub cf: &'a ClassFile,
    pub super_name: &'a str,
    pub is_kotlin: bool,
    /// Kotlin classes with an SMAP: the first line number of inlined code.
    pub first_inlined_line: Option<u32>,
    /// The constant pool names a `kotlin/...` class: without one no instruction can reference
    /// the Kotlin runtime, so the filters that match such a reference cannot apply.
    pub kotlin_refs: bool,
    /// The constant pool holds `java/lang/String.hashCode()I`: the String-switch filters
    /// (javac, ecj, Kotlin `when`) all start from that call.
    pub string_hash_code: bool,
}

impl<'a> ClassContext<'a> {
    pub fn new(cf: &'a ClassFile) -> Self {
        let is_kotlin = cf.annotations.iter().any(|a| a == "Lkotlin/Metadata;");
        let first_inlined_line = match (&cf.source_file, &cf.source_debug_extension) {
            (Some(file), Some(smap)) if is_kotlin => kotlin::first_inlined_line(file, smap),
            _ => None,
        };
        let mut kotlin_refs = false;
        let mut string_hash_code = false;
        for (i, c) in cf.constant_pool.iter().enumerate() {
            match c {
                Constant::Class(_) => {
                    kotlin_refs |= cf
                        .class_name(i as u16)
                        .is_some_and(|n| n.starts_with("kotlin/"));
                }
                Constant::MemberRef { .. } => {
                    string_hash_code |=
                        cf.member(i as u16) == Some(("java/lang/String", "hashCode", "()I"));
                }
                _ => {}
            }
        }
        ClassContext {
            cf,
            super_name: cf.super_class.as_deref().unwrap_or(""),
            is_kotlin,
            first_inlined_line,
            kotlin_refs,
            string_hash_code,
        }
    }
}

/// The filters' verdict for one method, in node indices.
#[derive(Default)]
pub(crate) struct FilterOutput {
    pub ignored: Vec<bool>,
    merged: FxHashMap<u32, u32>,
    merge_order: Vec<u32>,
    /// (instruction node, nodes whose coverage become its branches); a later entry for the same
    /// node replaces the earlier one.
    pub replacements: Vec<(u32, Vec<u32>)>,
}

impl FilterOutput {
    /// Emptied for a method of `nodes` nodes, keeping what was allocated for the one before.
    fn reset(&mut self, nodes: usize) {
        self.ignored.clear();
        self.ignored.resize(nodes, false);
        self.merged.clear();
        self.merge_order.clear();
        self.replacements.clear();
    }

    pub fn ignore(&mut self, from: usize, to: usize) {
        let end = to.min(self.ignored.len().saturating_sub(1));
        if from <= end {
            self.ignored[from..=end].iter_mut().for_each(|x| *x = true);
        }
    }

    pub fn ignore_all(&mut self) {
        self.ignored.iter_mut().for_each(|x| *x = true);
    }

    pub fn representative(&self, mut node: u32) -> u32 {
        while let Some(&n) = self.merged.get(&node) {
            node = n;
        }
        node
    }

    pub fn merge(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.representative(a), self.representative(b));
        if ra != rb && self.merged.insert(rb, ra).is_none() {
            self.merge_order.push(rb);
        }
    }

    pub fn merged_nodes(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.merge_order.iter().map(|n| (*n, self.merged[n]))
    }

    pub fn replace_branches(&mut self, node: u32, mut targets: Vec<u32>) {
        let mut seen = rustc_hash::FxHashSet::default();
        targets.retain(|t| seen.insert(*t));
        self.replacements.retain(|(n, _)| *n != node);
        self.replacements.push((node, targets));
    }
}

/// Runs every 0.8.6 filter over one method, in JaCoCo's order, into `out` (emptied first:
/// one output serves every method of a class).
pub(crate) fn apply(ctx: &ClassContext<'_>, body: &MethodBody<'_>, out: &mut FilterOutput) {
    out.reset(body.nodes.len());
    let out = &mut *out;
    simple::enum_methods(ctx, body, out);
    simple::synthetic(ctx, body, out);
    simple::bridge(body, out);
    simple::synchronized(ctx, body, out);
    try_with_resources::javac11(ctx, body, out);
    try_with_resources::javac7(ctx, body, out);
    try_with_resources::ecj(ctx, body, out);
    finally::filter(ctx, body, out);
    simple::private_empty_constructor(ctx, body, out);
    if ctx.string_hash_code {
        string_switch::javac(ctx, body, out);
        string_switch::ecj(ctx, body, out);
    }
    simple::enum_empty_constructor(ctx, body, out);
    simple::records(ctx, body, out);
    simple::annotation_generated(ctx, body, out);
    kotlin::generated(ctx, body, out);
    // These match an instruction referencing the Kotlin runtime (or String.hashCode): skipped
    // when the constant pool has no such reference, which no instruction could then carry.
    if ctx.kotlin_refs {
        kotlin::lateinit(ctx, body, out);
        kotlin::when_exhaustive(ctx, body, out);
    }
    if ctx.string_hash_code {
        kotlin::when_string(ctx, body, out);
    }
    if ctx.kotlin_refs {
        kotlin::unsafe_cast_operator(ctx, body, out);
        kotlin::not_null_operator(ctx, body, out);
    }
    kotlin::default_arguments(ctx, body, out);
    kotlin::inline(ctx, body, out);
    kotlin::coroutine(ctx, body, out);
    kotlin::default_methods(ctx, body, out);
}
