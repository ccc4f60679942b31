//! TODO
use super::{ClassContext, FilterOutput};
use crate::java::analysis::body::MethodBody;
pub(crate) fn filter(_ctx: &ClassContext<'_>, _body: &MethodBody<'_>, _out: &mut FilterOutput) {}
