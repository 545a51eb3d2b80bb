//! The registry's history, usable: what an export read ([`show`]), what
//! changed between two points ([`diff`]), and an export run again at its
//! point to prove it reproduces ([`replay`]). docs/reproducibility.md
//! describes the model: points, REFs, and what an as-of read sees.

pub mod diff;
pub mod replay;
pub mod show;

use crate::registry::{Point, PointRef, Registry, RegistryError};

/// The export a REF names: an export id, or a tag that names an export.
pub(crate) fn export_named(
    registry: &Registry,
    reference: &PointRef,
) -> Result<(i64, Point), RegistryError> {
    let point = registry.resolve_point(reference)?;
    match point.export {
        Some(id) => Ok((id, point)),
        None => Err(RegistryError::NotFound {
            path: registry.path().to_path_buf(),
            message: format!(
                "{reference} names a point (seq:{}), not an export: give an export id or a tag \
                 made by `export --tag` or `exports tag NAME EXPORT_ID`",
                point.seq
            ),
        }),
    }
}
