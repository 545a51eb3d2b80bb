//! `second_opinion._native`: the Rust half of the Python package. Every
//! call hands the `second_opinion` library the same request the command
//! line builds, with the GIL released while it runs; the Python half
//! (`second_opinion/__init__.py`) turns arguments and answers into Python
//! types. Answers that are JSON on the command line (`--json`, reports)
//! cross as JSON text, so both show exactly the same shapes.

mod errors;
mod functions;
mod interrupt;
mod registry;
mod stream;
mod tables;

use pyo3::prelude::*;

/// The extension's own allocations (the returned tables' columns, the
/// kept score indexes) go to mimalloc, as the binary's do: every export
/// allocates a returned table's new columns, and glibc's allocator mapped
/// each large buffer afresh, so the kernel zeroed new pages on every call
/// and repeated W1 exports swung between 0.25 and 0.36 s (issue 16). See
/// `second_opinion::allocator`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The extension module.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    second_opinion::allocator::set_options(second_opinion::allocator::Owner::Extension);
    let py = module.py();
    module.add(
        "SecondOpinionError",
        py.get_type::<errors::SecondOpinionError>(),
    )?;
    module.add("DataError", py.get_type::<errors::DataError>())?;
    module.add("UsageError", py.get_type::<errors::UsageError>())?;
    module.add(
        "DEFAULT_REGISTRY",
        second_opinion::registry::DEFAULT_REGISTRY,
    )?;
    module.add("TOOL_VERSION", second_opinion::TOOL_VERSION)?;
    module.add_class::<registry::NativeRegistry>()?;
    module.add_function(wrap_pyfunction!(functions::materialize, module)?)?;
    module.add_function(wrap_pyfunction!(functions::audit, module)?)?;
    Ok(())
}
