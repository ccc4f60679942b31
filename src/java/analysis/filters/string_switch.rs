//! TODO
use super::{ClassContext, FilterOutput};
use crate::java::analysis::body::MethodBody;
pub(crate) fn javac(_ctx: &ClassContext<'_>, _body: &MethodBody<'_>, _out: &mut FilterOutput) {}
pub(crate) fn ecj(_ctx: &ClassContext<'_>, _body: &MethodBody<'_>, _out: &mut FilterOutput) {}
