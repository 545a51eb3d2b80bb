//! What an Arrow IPC file says about its own layout, checked against the
//! file before arrow-ipc trusts it.
//!
//! arrow-ipc (59) reads each block the footer lists into a buffer of the
//! length the footer gives, slices every column buffer where the batch's
//! metadata says, and reserves the length a compressed buffer's prefix
//! claims before decompressing. A damaged length there is a request for
//! petabytes (an abort: "memory allocation of … bytes failed") or a slice
//! past the end (a panic). So before the reader is built, every block is
//! checked to lie inside the file, every buffer inside its block, and
//! every compressed buffer to claim no more than its codec can expand to.
//! What the checks pass, arrow-ipc validates as usual (validation is on:
//! this crate never calls `with_skip_validation`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use arrow::ipc::{root_as_footer, root_as_message, Block, CompressionType, MessageHeader};

/// The file ends in the footer, its length (4 bytes) and `ARROW1`.
const TAIL: u64 = 10;
/// `ARROW1` and two bytes of padding open the file.
const HEAD: u64 = 8;
/// A compressed buffer opens with its uncompressed length (8 bytes).
const PREFIX: u64 = 8;
/// The most an LZ4 frame expands to per byte: each extra byte of a match
/// length stands for 255 more bytes of output.
const LZ4_MAX_RATIO: u64 = 256;
/// The most a zstd frame expands to per byte: a 4-byte RLE block stands
/// for up to 128 KiB of output.
const ZSTD_MAX_RATIO: u64 = 32 * 1024;

/// Check the layout of the Arrow IPC file open in `file`; the error says
/// what is wrong, the caller adds the file's name.
pub(super) fn check(file: &mut File) -> Result<(), String> {
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if size < HEAD + TAIL {
        return Err(format!("{size} bytes are too few for an Arrow IPC file"));
    }
    let tail = read_at(file, size - TAIL, TAIL)?;
    if &tail[4..] != b"ARROW1" {
        return Err("the file does not end in the Arrow IPC footer (ARROW1)".to_string());
    }
    let footer_len = i32::from_le_bytes(tail[..4].try_into().expect("4 bytes"));
    let data_end = u64::try_from(footer_len)
        .ok()
        .and_then(|len| (size - TAIL).checked_sub(len))
        .filter(|&end| end >= HEAD)
        .ok_or_else(|| format!("a footer of {footer_len} bytes does not fit in {size} bytes"))?;
    let footer_bytes = read_at(file, data_end, size - TAIL - data_end)?;
    let footer =
        root_as_footer(&footer_bytes).map_err(|e| format!("the footer is damaged ({e})"))?;
    if footer.schema().is_none() {
        return Err("the footer holds no schema".to_string());
    }
    let dictionaries = footer.dictionaries().into_iter().flatten();
    let batches = footer.recordBatches().into_iter().flatten();
    for block in dictionaries.chain(batches) {
        check_block(file, block, data_end)?;
    }
    Ok(())
}

/// A block (its metadata, then its body) lies before the footer, and every
/// buffer of its batch inside the body.
fn check_block(file: &mut File, block: &Block, data_end: u64) -> Result<(), String> {
    let offset = block.offset();
    let (metadata_len, body_len) = (block.metaDataLength(), block.bodyLength());
    let outside = || {
        format!(
            "a block at offset {offset} of {metadata_len} + {body_len} bytes lies outside \
             the file's {data_end} bytes of data"
        )
    };
    let offset = u64::try_from(offset).map_err(|_| outside())?;
    let metadata_len = u64::try_from(metadata_len).map_err(|_| outside())?;
    let body_len = u64::try_from(body_len).map_err(|_| outside())?;
    let end = offset
        .checked_add(metadata_len)
        .and_then(|end| end.checked_add(body_len));
    if metadata_len < 8 || end.is_none_or(|end| end > data_end) {
        return Err(outside());
    }
    let metadata = read_at(file, offset, metadata_len)?;
    // The encapsulated message: an optional continuation marker, its
    // length, then the flatbuffer.
    let message = match metadata[..4] == [0xff; 4] {
        true => &metadata[8..],
        false => &metadata[4..],
    };
    let message = root_as_message(message)
        .map_err(|e| format!("the message of the block at offset {offset} is damaged ({e})"))?;
    let batch = match message.header_type() {
        MessageHeader::RecordBatch => message.header_as_record_batch(),
        MessageHeader::DictionaryBatch => message
            .header_as_dictionary_batch()
            .and_then(|dictionary| dictionary.data()),
        // arrow-ipc refuses any other message with an error of its own.
        _ => None,
    };
    let Some(batch) = batch else {
        return Ok(());
    };
    let max_ratio = match batch.compression().map(|c| c.codec()) {
        Some(CompressionType::LZ4_FRAME) => Some(LZ4_MAX_RATIO),
        Some(CompressionType::ZSTD) => Some(ZSTD_MAX_RATIO),
        _ => None,
    };
    let body_start = offset + metadata_len;
    for buffer in batch.buffers().into_iter().flatten() {
        let (start, len) = (buffer.offset(), buffer.length());
        let inside = u64::try_from(start)
            .ok()
            .zip(u64::try_from(len).ok())
            .filter(|(start, len)| start.checked_add(*len).is_some_and(|end| end <= body_len));
        let Some((start, len)) = inside else {
            return Err(format!(
                "a buffer at {start} of {len} bytes lies outside the {body_len}-byte body \
                 of the block at offset {offset}"
            ));
        };
        if let Some(max_ratio) = max_ratio.filter(|_| len >= PREFIX) {
            let prefix = read_at(file, body_start + start, PREFIX)?;
            let claimed = i64::from_le_bytes(prefix[..].try_into().expect("8 bytes"));
            // -1 marks a buffer stored uncompressed; arrow-ipc refuses
            // other negative lengths itself.
            let most = (len - PREFIX).saturating_mul(max_ratio);
            if u64::try_from(claimed).is_ok_and(|claimed| claimed > most) {
                return Err(format!(
                    "a compressed buffer of {len} bytes in the block at offset {offset} \
                     claims to expand to {claimed} bytes, more than its codec can"
                ));
            }
        }
    }
    Ok(())
}

/// `len` bytes at `offset`; the caller has checked they lie in the file.
fn read_at(file: &mut File, offset: u64, len: u64) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0; len as usize];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::ipc::writer::{FileWriter, IpcWriteOptions};

    use super::*;

    /// An LZ4-compressed Arrow IPC file of one batch.
    fn lz4_table() -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::LZ4_FRAME))
            .unwrap();
        let mut out = Vec::new();
        let mut writer = FileWriter::try_new_with_options(&mut out, &schema, options).unwrap();
        let values = Arc::new(Int64Array::from_iter_values(0..1000));
        writer
            .write(&RecordBatch::try_new(schema.clone(), vec![values]).unwrap())
            .unwrap();
        writer.finish().unwrap();
        drop(writer);
        out
    }

    fn checked(bytes: &[u8]) -> Result<(), String> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        check(&mut file)
    }

    /// The first batch's block record (offset, metadata length) as the
    /// footer stores it, and where the block's last buffer's
    /// compressed-length prefix lies.
    fn first_block_and_last_prefix(bytes: &[u8]) -> (Vec<u8>, usize) {
        let footer_len = i32::from_le_bytes(bytes[bytes.len() - 10..][..4].try_into().unwrap());
        let footer_start = bytes.len() - 10 - footer_len as usize;
        let footer = root_as_footer(&bytes[footer_start..bytes.len() - 10]).unwrap();
        let block = footer.recordBatches().unwrap().get(0);
        let metadata = &bytes[block.offset() as usize..][..block.metaDataLength() as usize];
        let message = root_as_message(&metadata[8..]).unwrap();
        let buffers = message.header_as_record_batch().unwrap().buffers().unwrap();
        let last = buffers.get(buffers.len() - 1);
        let body = block.offset() as usize + block.metaDataLength() as usize;
        let record = [
            &block.offset().to_le_bytes()[..],
            &block.metaDataLength().to_le_bytes()[..],
        ]
        .concat();
        (record, body + last.offset() as usize)
    }

    #[test]
    fn a_valid_table_passes() {
        assert_eq!(checked(&lz4_table()), Ok(()));
    }

    #[test]
    fn a_compressed_buffer_claiming_petabytes_is_refused() {
        let mut bytes = lz4_table();
        let (_, prefix) = first_block_and_last_prefix(&bytes);
        bytes[prefix..prefix + 8].copy_from_slice(&500_000_000_000_000i64.to_le_bytes());
        let refused = checked(&bytes).unwrap_err();
        assert!(
            refused.contains("claims to expand to 500000000000000 bytes"),
            "{refused}"
        );
    }

    #[test]
    fn a_block_past_the_end_or_a_short_file_is_refused() {
        let mut bytes = lz4_table();
        let (record, _) = first_block_and_last_prefix(&bytes);
        // The footer's block record leads with the offset: point it far away.
        let footer_len = i32::from_le_bytes(bytes[bytes.len() - 10..][..4].try_into().unwrap());
        let footer_start = bytes.len() - 10 - footer_len as usize;
        let at = bytes[footer_start..]
            .windows(record.len())
            .position(|w| w == record)
            .unwrap()
            + footer_start;
        bytes[at..at + 8].copy_from_slice(&(1i64 << 48).to_le_bytes());
        assert!(checked(&bytes).unwrap_err().contains("lies outside"));
        assert!(checked(b"ARROW1").unwrap_err().contains("too few"));
    }
}
