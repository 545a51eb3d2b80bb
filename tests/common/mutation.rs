//! What the mutation tests share: a small seeded generator and the words
//! that stand for damaged lengths and offsets.

/// splitmix64: small, deterministic, no dependency, so every run damages
/// its inputs the same way and a failure names a reproducible input.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that make a reader trust a length or an offset too far, written
/// as 4- or 8-byte little-endian words over a binary format.
pub const EXTREME_WORDS: &[u64] = &[
    0,
    1,
    0x7f,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    500_000_000_000_000,
    0x7fff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
];
