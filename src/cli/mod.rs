//! The binary's own modules, over the library: flags ([`args`]), one
//! function per command ([`commands`]), and how answers are shown
//! ([`render`], [`progress`]). Declared from `main.rs`, not from `lib.rs`:
//! nothing here is library API.

/// `println!` for what is shown to a person: control characters from the
/// data (a key or scorer name holding ESC, CR, a bidi override) are shown
/// escaped, never sent to the terminal. JSON output escapes its own.
macro_rules! say {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::cli::render::shown(&format!($($arg)*))) };
}

/// `eprintln!` with control characters escaped, as [`say!`].
macro_rules! tell {
    ($($arg:tt)*) => { eprintln!("{}", $crate::cli::render::shown(&format!($($arg)*))) };
}

pub mod args;
pub mod commands;
mod enum_value;
pub mod progress;
pub mod render;
