//! The last line of defence around third-party decoders: a panic inside
//! one (arrow-ipc and parquet assert on some damaged inputs) becomes an
//! error the caller reports with the file's name, instead of ending the
//! process. The readers check what they can before decoding (see
//! `table/ipc_layout.rs`); this catches what those checks do not.
//!
//! A contained panic is reported through the error, so the panic message
//! the default hook prints would only say the same thing louder: the
//! binary installs [`quiet_contained_panics`], which keeps the default
//! hook for every other panic.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    /// How many [`contain`] calls the current thread is inside.
    static CONTAINING: Cell<u32> = const { Cell::new(0) };
}

/// Run `work`; a panic inside it comes back as `Err` with its message.
///
/// Only for work whose state is dropped after a panic (a reader that
/// panicked is never asked for another batch), so no broken invariant is
/// observed afterwards.
pub fn contain<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    CONTAINING.with(|depth| depth.set(depth.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(work));
    CONTAINING.with(|depth| depth.set(depth.get() - 1));
    outcome.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// Whether the current thread is inside [`contain`].
pub fn is_containing() -> bool {
    CONTAINING.with(|depth| depth.get() > 0)
}

/// Install a panic hook that stays silent for contained panics and hands
/// every other one to the hook that was installed before.
pub fn quiet_contained_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_containing() {
            previous(info)
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_comes_back_as_its_message() {
        assert_eq!(contain(|| 7), Ok(7));
        assert_eq!(
            contain(|| -> u8 { panic!("offset {} past the end", 9) }),
            Err("offset 9 past the end".to_string())
        );
        assert_eq!(
            contain(|| -> u8 { panic!("fixed") }),
            Err("fixed".to_string())
        );
        assert!(!is_containing(), "the depth is restored after a panic");
    }
}
