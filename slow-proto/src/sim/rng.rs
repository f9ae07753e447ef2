//! The seeded random generator behind every choice of a run.

use core::time::Duration;

/// A small seeded pseudo-random generator (splitmix64), so that a simulation
/// is reproducible from one `u64`.
///
/// Not for cryptography: it only has to be fast, well mixed and identical on
/// every platform.
///
/// ```
/// use slow_proto::sim::Rng;
///
/// let mut a = Rng::new(7);
/// let mut b = Rng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let roll = a.range(1, 6);
/// assert!((1..=6).contains(&roll));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole sequence is determined by `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        // splitmix64 (Steele, Lea, Flood 2014): a Weyl sequence, then a mix.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A uniform value in `0..n`; `0` when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Rejection sampling keeps the result exactly uniform.
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let x = self.next_u64();
            if x <= zone {
                return x % n;
            }
        }
    }

    /// A uniform value in `lo..=hi`; `lo` when `hi < lo`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// A uniform `usize` in `lo..=hi`; `lo` when `hi < lo`.
    pub fn range_usize(&mut self, lo: usize, hi: usize) -> usize {
        // usize is at most 64 bits on every target Rust supports.
        self.range(lo as u64, hi as u64) as usize
    }

    /// True with probability `num / den` (always false when `den` is 0).
    pub fn ratio(&mut self, num: u64, den: u64) -> bool {
        den != 0 && self.below(den) < num
    }

    /// A uniform duration in `lo..=hi`, at microsecond resolution.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let lo = u64::try_from(lo.as_micros()).unwrap_or(u64::MAX);
        let hi = u64::try_from(hi.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.range(lo, hi))
    }

    /// One element of `items` chosen uniformly, or `None` when it is empty.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A new generator whose sequence is independent of this one's, for a
    /// sub-task that must not disturb this one's sequence.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}
