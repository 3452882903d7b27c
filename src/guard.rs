//! Panics turned into per-item errors. A batch (the CLI's folder run, the app's queue) must
//! report "internal error" for the one image that hit a bug and go on with the rest, in
//! one line, instead of ending the process with a multi-line panic message and no summary.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside `catch`, whose caller reports the panic itself.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// Where the last guarded panic on this thread happened, for the error line.
    static LOCATION: Cell<Option<String>> = const { Cell::new(None) };
}

/// Runs `f`; a panic inside it becomes `Err("internal error: <message> (at file:line)")`.
/// The default panic message is not printed for it (the caller prints the error) unless
/// RUST_BACKTRACE is set, for a bug report; panics elsewhere still print as usual.
pub fn catch<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let default = panic::take_hook();
        let backtrace = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) || backtrace {
                default(info);
            }
            if GUARDED.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|c| c.set(at));
            }
        }));
    });
    let outer = GUARDED.with(|g| g.replace(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    r.unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        let at = LOCATION
            .with(Cell::take)
            .map(|l| format!(" (at {l})"))
            .unwrap_or_default();
        Err(format!(
            "internal error: {}{at}",
            crate::error::one_line(&msg)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::catch;

    #[test]
    fn a_panic_becomes_a_one_line_error_and_results_pass_through() {
        assert_eq!(catch(|| Ok::<_, String>(7)), Ok(7));
        assert_eq!(
            catch(|| Err::<u8, _>("bad file".into())),
            Err("bad file".into())
        );
        let v: Vec<u8> = Vec::new();
        let e = catch(|| Ok::<u8, String>(v[3])).unwrap_err();
        assert!(e.starts_with("internal error: index out of bounds"), "{e}");
        assert!(e.contains("(at src/guard.rs:"), "the panic's location: {e}");
        assert!(!e.contains('\n'), "{e}");
        let e = catch(|| -> Result<(), String> { panic!("two\nlines") }).unwrap_err();
        assert!(e.starts_with("internal error: two: lines (at "), "{e}");
        // Nested: the inner guard must not un-guard the outer one.
        let e = catch(|| -> Result<(), String> {
            let inner = catch(|| -> Result<(), String> { panic!("inner") });
            assert!(inner.is_err());
            panic!("outer")
        });
        assert!(e.unwrap_err().starts_with("internal error: outer (at "));
    }
}
