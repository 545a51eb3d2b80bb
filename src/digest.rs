//! sha256 digests as the registry records them: lower-case hex.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};

use sha2::{Digest, Sha256};

use crate::threads::Background;

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 and size of a file, read in large chunks.
pub fn sha256_file_with_size(path: &Path) -> std::io::Result<(String, u64)> {
    sha256_of_reader(File::open(path)?)
}

/// The sha256 of an open file's first `end` bytes (fewer if it is
/// shorter), read from its start by position, so other threads may read
/// the same file meanwhile; with their count. `None` once `stop` is set:
/// the caller no longer wants it.
pub(crate) fn sha256_of_open_file(
    file: &File,
    end: u64,
    stop: &std::sync::atomic::AtomicBool,
) -> std::io::Result<Option<(String, u64)>> {
    use std::os::unix::fs::FileExt;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < end {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        let wanted = (buffer.len() as u64).min(end - at) as usize;
        let read = file.read_at(&mut buffer[..wanted], at)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        at += read as u64;
    }
    Ok(Some((hex(&hasher.finalize()), at)))
}

fn sha256_of_reader(mut file: impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((hex(&hasher.finalize()), size))
}

/// An order-independent digest of a set of scores: what an export read of
/// one scorer, whichever order the scores were read in (file order, hash
/// order, the registry's), so no one has to sort the keys to digest them.
///
/// Each score is hashed on its own, sha256 of its key, a 0x1f separator, the
/// value's bits (`u64::MAX` for none, little-endian) and 1 for a bad score
/// (0 otherwise). The hashes, read as 256-bit little-endian integers, are
/// summed modulo 2^256 per source file, together with a count. The digest
/// is sha256 over the source files in order of their sha256: each file's
/// sha256, 0x1f, its count (u64 little-endian), its sum, and a newline. The
/// same scores from the same files give the same digest.
#[derive(Clone, Debug, Default)]
pub struct ScoreSetDigest {
    /// Per source (a caller's dense index): how many scores, and the sum.
    sums: Vec<(u64, [u64; 4])>,
}

impl ScoreSetDigest {
    /// Take in one score read from source `source`.
    pub fn add(&mut self, source: usize, key: &str, score: Option<f64>, bad: bool) {
        self.add_sum(source, 1, &ScoreSum(score_hash(key, score, bad)));
    }

    /// Take in `count` scores of source `source` whose hashes sum to
    /// `sum` ([`ScoreSum`]): the same digest as adding each of them.
    pub fn add_sum(&mut self, source: usize, count: u64, sum: &ScoreSum) {
        if self.sums.len() <= source {
            self.sums.resize(source + 1, (0, [0; 4]));
        }
        let (total, words) = &mut self.sums[source];
        *total += count;
        add_words(words, &sum.0);
    }

    /// The digest (lower-case hex), given each source's file sha256.
    /// Sources with the same sha256 (the same bytes) count as one.
    pub fn finish<'a>(&self, sha256_of: impl Fn(usize) -> &'a str) -> String {
        let mut files: Vec<(&str, u64, [u64; 4])> = Vec::new();
        for (source, (count, sum)) in self.sums.iter().enumerate() {
            if *count > 0 {
                files.push((sha256_of(source), *count, *sum));
            }
        }
        files.sort_unstable();
        let mut merged: Vec<(&str, u64, [u64; 4])> = Vec::with_capacity(files.len());
        for (sha256, count, sum) in files {
            match merged.last_mut() {
                Some(last) if last.0 == sha256 => {
                    last.1 += count;
                    add_words(&mut last.2, &sum);
                }
                _ => merged.push((sha256, count, sum)),
            }
        }
        let mut digest = Sha256::new();
        for (sha256, count, sum) in merged {
            digest.update(sha256.as_bytes());
            digest.update([0x1f]);
            digest.update(count.to_le_bytes());
            for word in sum {
                digest.update(word.to_le_bytes());
            }
            digest.update(b"\n");
        }
        hex(&digest.finalize())
    }
}

/// The sum modulo 2^256 of some scores' hashes: what [`ScoreSetDigest`]
/// keeps per source file, kept by the registry per (file, scorer) so a
/// digest of millions of scores is summed without reading them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScoreSum([u64; 4]);

impl ScoreSum {
    /// Take in one score.
    pub fn add(&mut self, key: &str, score: Option<f64>, bad: bool) {
        add_words(&mut self.0, &score_hash(key, score, bad));
    }

    /// Take in the scores another sum holds.
    pub fn add_sum(&mut self, other: &ScoreSum) {
        add_words(&mut self.0, &other.0);
    }

    /// The 32 bytes the registry stores: the words, little-endian.
    pub fn to_bytes(self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// The sum stored as [`ScoreSum::to_bytes`]; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<ScoreSum> {
        if bytes.len() != 32 {
            return None;
        }
        let mut words = [0u64; 4];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        Some(ScoreSum(words))
    }
}

/// One score's hash as 256-bit little-endian words: sha256 of its key, a
/// 0x1f separator, the value's bits (`u64::MAX` for none, little-endian)
/// and 1 for a bad score (0 otherwise).
fn score_hash(key: &str, score: Option<f64>, bad: bool) -> [u64; 4] {
    let hash = Sha256::new()
        .chain_update(key.as_bytes())
        .chain_update([0x1f])
        .chain_update(score.map_or(u64::MAX, f64::to_bits).to_le_bytes())
        .chain_update([u8::from(bad)])
        .finalize();
    let mut words = [0u64; 4];
    for (word, bytes) in words.iter_mut().zip(hash.chunks_exact(8)) {
        *word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    }
    words
}

/// `sum += value` modulo 2^256, little-endian words.
fn add_words(sum: &mut [u64; 4], value: &[u64; 4]) {
    let mut carry = false;
    for (word, value) in sum.iter_mut().zip(value) {
        let (partial, overflow_a) = word.overflowing_add(*value);
        let (total, overflow_b) = partial.overflowing_add(u64::from(carry));
        *word = total;
        carry = overflow_a || overflow_b;
    }
}

/// A reader hashing the bytes read through it, so a file is hashed while
/// it is parsed instead of in a read of its own. Without a hasher it only
/// passes the bytes on (the hash was taken before).
pub(crate) struct HashingRead<R> {
    inner: R,
    hasher: Option<Hasher>,
    bytes: u64,
}

/// Where the bytes read are hashed.
enum Hasher {
    /// On the reading thread, as they are read.
    Here(Sha256),
    /// On a thread of its own, fed a copy of each read: for a reader with
    /// a core to spare, whose parse then no longer waits for sha256 (a
    /// quarter of W2's one score file's read, issue 18). Closing `chunks`
    /// ends the hash.
    Beside {
        chunks: Option<SyncSender<Vec<u8>>>,
        hashed: Background<String>,
    },
}

/// Chunks (of up to a read, 1 MiB through the readers' buffers) the
/// hashing thread may fall behind by.
const CHUNKS_IN_FLIGHT: usize = 8;

impl<R: Read> HashingRead<R> {
    /// Hash what is read from `inner` when `hash` is true.
    pub(crate) fn new(inner: R, hash: bool) -> Self {
        HashingRead {
            inner,
            hasher: hash.then(|| Hasher::Here(Sha256::new())),
            bytes: 0,
        }
    }

    /// Hash what is read from `inner` on a thread of its own.
    pub(crate) fn beside(inner: R) -> Self {
        let (chunks, received) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let hashed = Background::start(move || {
            let mut hasher = Sha256::new();
            for chunk in received {
                hasher.update(&chunk);
            }
            hex(&hasher.finalize())
        });
        HashingRead {
            inner,
            hasher: Some(Hasher::Beside {
                chunks: Some(chunks),
                hashed,
            }),
            bytes: 0,
        }
    }

    /// Read what the parser left unread too (a trailer), then the sha256
    /// (lower-case hex) and size of all the bytes, if hashing.
    pub(crate) fn finish(mut self) -> std::io::Result<Option<(String, u64)>> {
        if self.hasher.is_some() {
            std::io::copy(&mut self, &mut std::io::sink())?;
        }
        let bytes = self.bytes;
        Ok(self.hasher.map(|hasher| {
            let digest = match hasher {
                Hasher::Here(hasher) => hex(&hasher.finalize()),
                Hasher::Beside { chunks, hashed } => {
                    drop(chunks);
                    hashed.join()
                }
            };
            (digest, bytes)
        }))
    }
}

impl<R: Read> Read for HashingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        match &mut self.hasher {
            None => {}
            Some(Hasher::Here(hasher)) => hasher.update(&buf[..read]),
            Some(Hasher::Beside { chunks, .. }) => {
                if let (Some(sender), true) = (chunks, read > 0) {
                    // The hashing thread only stops when the channel closes.
                    let _ = sender.send(buf[..read].to_vec());
                }
            }
        }
        self.bytes += read as u64;
        Ok(read)
    }
}

/// The sha256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    sha256_file_with_size(path).map(|(digest, _)| digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_file_is_hashed_up_to_its_end_unless_stopped() {
        use std::io::Write;
        use std::sync::atomic::AtomicBool;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"hello world").unwrap();
        let going = AtomicBool::new(false);
        let whole = sha256_of_open_file(&file, u64::MAX, &going)
            .unwrap()
            .unwrap();
        assert_eq!(whole, (hex(&Sha256::digest(b"hello world")), 11));
        let part = sha256_of_open_file(&file, 5, &going).unwrap().unwrap();
        assert_eq!(part, (hex(&Sha256::digest(b"hello")), 5));
        let stopped = AtomicBool::new(true);
        assert_eq!(
            sha256_of_open_file(&file, u64::MAX, &stopped).unwrap(),
            None
        );
    }

    #[test]
    fn score_set_digest_ignores_order_and_sees_every_field() {
        let scores = [
            (0, "a.mp4", Some(1.5), false),
            (0, "b.mp4", None, true),
            (1, "c.mp4", Some(-2.0), false),
        ];
        let digest_of = |order: &[usize]| {
            let mut digest = ScoreSetDigest::default();
            for &i in order {
                let (source, key, score, bad) = scores[i];
                digest.add(source, key, score, bad);
            }
            digest.finish(|source| ["aa", "bb"][source])
        };
        let forward = digest_of(&[0, 1, 2]);
        assert_eq!(forward.len(), 64);
        assert_eq!(forward, digest_of(&[2, 0, 1]));
        assert_ne!(forward, digest_of(&[0, 1]));
        let mut other = ScoreSetDigest::default();
        other.add(0, "a.mp4", Some(1.5), true);
        other.add(0, "b.mp4", None, true);
        other.add(1, "c.mp4", Some(-2.0), false);
        assert_ne!(forward, other.finish(|source| ["aa", "bb"][source]));
        let mut same_bytes = ScoreSetDigest::default();
        for (source, key, score, bad) in scores {
            same_bytes.add(source + 2, key, score, bad);
        }
        assert_eq!(
            forward,
            same_bytes.finish(|source| ["", "", "aa", "bb"][source])
        );
        assert_eq!(
            ScoreSetDigest::default().finish(|_| ""),
            hex(&Sha256::digest(b""))
        );
    }

    #[test]
    fn kept_sums_give_the_digest_of_the_scores() {
        let mut each = ScoreSetDigest::default();
        let mut kept = [ScoreSum::default(), ScoreSum::default()];
        for (source, key, score, bad) in [
            (0, "a.mp4", Some(1.5), false),
            (1, "b.mp4", None, true),
            (0, "c.mp4", Some(-2.0), false),
        ] {
            each.add(source, key, score, bad);
            kept[source].add(key, score, bad);
        }
        let stored = ScoreSum::from_bytes(&kept[0].to_bytes()).unwrap();
        assert_eq!(stored, kept[0]);
        assert_eq!(ScoreSum::from_bytes(&[0u8; 31]), None);
        let mut summed = ScoreSetDigest::default();
        summed.add_sum(1, 1, &kept[1]);
        summed.add_sum(0, 2, &stored);
        let names = |source: usize| ["aa", "bb"][source];
        assert_eq!(each.finish(names), summed.finish(names));
    }

    #[test]
    fn hashing_read_hashes_the_bytes_read_and_those_left() {
        let bytes = b"line one\nline two\n";
        let mut reader = HashingRead::new(&bytes[..], true);
        let mut first = [0u8; 5];
        reader.read_exact(&mut first).unwrap();
        assert_eq!(
            reader.finish().unwrap(),
            Some((hex(&Sha256::digest(bytes)), bytes.len() as u64))
        );
        assert_eq!(HashingRead::new(&bytes[..], false).finish().unwrap(), None);
    }

    /// Hashed on a thread of its own, the digest and size are those of
    /// every byte in order, however the reads split them, the bytes the
    /// parser left unread included; and the reader hands on what it read.
    #[test]
    fn hashing_beside_the_reader_hashes_what_hashing_here_does() {
        let bytes: Vec<u8> = (0..(3 << 20) + 4321)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut reader = HashingRead::beside(&bytes[..]);
        let mut read = vec![0u8; 2 << 20];
        let mut taken = 0;
        while taken < read.len() {
            let end = (taken + 70_001).min(read.len());
            taken += reader.read(&mut read[taken..end]).unwrap();
        }
        assert_eq!(read, bytes[..2 << 20]);
        assert_eq!(
            reader.finish().unwrap(),
            Some((hex(&Sha256::digest(&bytes)), bytes.len() as u64))
        );
        let empty = HashingRead::beside(&b""[..]).finish().unwrap();
        assert_eq!(empty, Some((hex(&Sha256::digest(b"")), 0)));
    }

    #[test]
    fn sha256_of_a_known_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(
            sha256_file_with_size(&path).unwrap(),
            (
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string(),
                3
            )
        );
    }
}
