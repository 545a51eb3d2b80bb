//! The binary's own modules, over the library: flags ([`args`]), one
//! function per command ([`commands`]), and how answers are shown
//! ([`render`], [`progress`]). Declared from `main.rs`, not from `lib.rs`:
//! nothing here is library API.

pub mod args;
pub mod commands;
mod enum_value;
pub mod progress;
pub mod render;
