//! The sha256 of a table's Arrow IPC file bytes, without the file: what a
//! table held in memory is hashed by (its export record names it by this
//! hash, as a table read from disk is named by its file's). The batches
//! are serialised as `export --out table.arrow` writes them, into a sink
//! that hashes and counts the bytes and keeps none, on a thread of its own
//! so the export does not wait for it.

use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender};

use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use sha2::{Digest, Sha256};

use crate::threads::Background;

/// Batches handed to the hashing thread before the sender waits for it:
/// they share the caller's buffers, so the bound limits work in flight,
/// not copies.
const IN_FLIGHT: usize = 8;

/// A running hash of an Arrow IPC file: [`IpcDigest::add`] each batch in
/// order, then [`IpcDigest::finish`].
pub struct IpcDigest {
    batches: Option<SyncSender<RecordBatch>>,
    hashed: Background<Result<(String, u64), String>>,
}

impl IpcDigest {
    /// Start hashing a file of tables of `schema`.
    pub fn start(schema: SchemaRef) -> IpcDigest {
        let (sender, receiver) = sync_channel::<RecordBatch>(IN_FLIGHT);
        let hashed = Background::start(move || {
            let mut writer =
                FileWriter::try_new(HashingSink::default(), &schema).map_err(|e| e.to_string())?;
            for batch in receiver {
                writer.write(&batch).map_err(|e| e.to_string())?;
            }
            writer.finish().map_err(|e| e.to_string())?;
            let sink = writer.into_inner().map_err(|e| e.to_string())?;
            Ok((crate::digest::hex(&sink.hasher.finalize()), sink.bytes))
        });
        IpcDigest {
            batches: Some(sender),
            hashed,
        }
    }

    /// Hash `batch` next (a clone of its buffer references, not of its data).
    pub fn add(&self, batch: &RecordBatch) {
        if let Some(batches) = &self.batches {
            // A closed channel means the writer failed: `finish` says why.
            let _ = batches.send(batch.clone());
        }
    }

    /// The sha256 (hex) and the size in bytes of the IPC file.
    pub fn finish(mut self) -> Result<(String, u64), String> {
        drop(self.batches.take());
        self.hashed.join()
    }
}

/// Hashes and counts the bytes written to it, keeps none.
#[derive(Default)]
struct HashingSink {
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn the_hash_is_that_of_the_ipc_file_written() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("x", DataType::Float64, true),
        ]));
        let batches: Vec<RecordBatch> = (0..3)
            .map(|i| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(StringArray::from(vec![format!("a{i}"), format!("b{i}")])),
                        Arc::new(Float64Array::from(vec![Some(i as f64), None])),
                    ],
                )
                .unwrap()
            })
            .collect();
        let mut file = Vec::new();
        let mut writer = FileWriter::try_new(&mut file, &schema).unwrap();
        batches.iter().for_each(|b| writer.write(b).unwrap());
        writer.finish().unwrap();
        drop(writer);

        let digest = IpcDigest::start(schema);
        batches.iter().for_each(|b| digest.add(b));
        let (sha256, size) = digest.finish().unwrap();
        assert_eq!(size, file.len() as u64);
        assert_eq!(sha256, crate::digest::hex(&Sha256::digest(&file)));
    }
}
