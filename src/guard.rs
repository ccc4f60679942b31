//! The boundary between covtop and a bug in its handling of one input: a panic while decoding,
//! analysing or projecting one dump or one class is caught here and becomes an error message
//! about that input, so the other inputs are still used and the process goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`; a panic becomes `Err` with its message. What `f` changed before it panicked may be
/// half done: callers use this around work on one input whose result they drop on error.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        format!("covtop failed on it (a bug, please report it with the input): {text}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_naming_its_message() {
        assert_eq!(catch(|| 7), Ok(7));
        let e = catch(|| -> u8 { panic!("index {} out of range", 9) }).unwrap_err();
        assert!(e.contains("index 9 out of range"), "{e}");
        let e = catch(|| -> u8 { std::panic::panic_any(5u32) }).unwrap_err();
        assert!(e.contains("no message"), "{e}");
    }
}
