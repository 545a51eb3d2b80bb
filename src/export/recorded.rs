//! The last steps of an export that a registry records: its record is
//! committed first (pending), its outputs are renamed into place, and the
//! record is confirmed. A crash in between leaves a pending record that
//! the next export settles, so an output never goes unrecorded.

use crate::atomic_file::{publish_all, PartlyPublished, Staged};
use crate::registry::exports::{PublishState, Settled};
use crate::registry::Registry;

/// Put a recorded export's table and reports in place, then confirm the
/// record: abandoned when the table could not be put in place, confirmed
/// when it was (even if a report then failed: the table is the export).
pub fn publish_recorded(
    registry: &Registry,
    id: i64,
    table: Staged,
    reports: Vec<Staged>,
) -> Result<(), PartlyPublished> {
    let published = publish_all(std::iter::once(table).chain(reports).collect());
    let table_in_place = match &published {
        Ok(()) => true,
        Err(failure) => !failure.published.is_empty(),
    };
    crate::crash_point::crash_point("export-published");
    // A record left pending here is settled by the next export.
    let _ = if table_in_place {
        registry.confirm_export(id)
    } else {
        registry.abandon_export(id)
    };
    published
}

/// The warning that tells of an export a killed run left pending.
pub fn settled_warning(settled: &Settled) -> String {
    match settled.state {
        PublishState::Published => format!(
            "export {} ({}) was left unconfirmed by a run that stopped; its output is in place: recorded as published",
            settled.id, settled.output_path
        ),
        _ => format!(
            "export {} ({}) was recorded by a run that stopped before its output was in place: recorded as abandoned",
            settled.id, settled.output_path
        ),
    }
}
