//! TODO
use super::{ClassContext, FilterOutput};
use crate::java::analysis::body::MethodBody;
pub(crate) fn javac11(_ctx: &ClassContext<'_>, _body: &MethodBody<'_>, _out: &mut FilterOutput) {}
pub(crate) fn javac7(_ctx: &ClassContext<'_>, _body: &MethodBody<'_>, _out: &mut FilterOutput) {}
pub(crate) fn ecj(_ctx: &ClassContext<'_>, _body: &MethodBody<'_>, _out: &mut FilterOutput) {}
