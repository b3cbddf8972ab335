//! Seeded test data with random access: the byte at any offset is a pure
//! function of the seed, so a reader checks every byte without storing the
//! stream.

use flow_api::Bytes;

fn mix(mut z: u64) -> u64 {
    // SplitMix64's finaliser: a good 64-bit mix in a few instructions.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An endless seeded byte stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pattern {
    seed: u64,
}

impl Pattern {
    pub(crate) fn new(seed: u64) -> Self {
        Pattern { seed: mix(seed) }
    }

    fn byte(&self, offset: u64) -> u8 {
        (mix(self.seed ^ (offset >> 3)) >> ((offset & 7) * 8)) as u8
    }

    /// `len` bytes of the stream starting at `offset`.
    pub(crate) fn chunk(&self, offset: u64, len: usize) -> Bytes {
        let mut out = Vec::with_capacity(len);
        let mut at = offset;
        while out.len() < len {
            let word = mix(self.seed ^ (at >> 3)).to_le_bytes();
            let start = (at & 7) as usize;
            let take = (8 - start).min(len - out.len());
            out.extend_from_slice(&word[start..start + take]);
            at += take as u64;
        }
        Bytes::from(out)
    }

    /// The offset of the first byte of `data` that differs from the stream
    /// at `offset`, if any.
    pub(crate) fn mismatch(&self, offset: u64, data: &[u8]) -> Option<u64> {
        let expected = self.chunk(offset, data.len());
        if expected.as_ref() == data {
            return None;
        }
        let at = expected.iter().zip(data).position(|(e, d)| e != d).unwrap_or(0);
        debug_assert_ne!(self.byte(offset + at as u64), data[at]);
        Some(offset + at as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_agree_at_any_split() {
        let p = Pattern::new(42);
        let whole = p.chunk(3, 100);
        for cut in 0..100 {
            let a = p.chunk(3, cut);
            let b = p.chunk(3 + cut as u64, 100 - cut);
            assert_eq!([a.as_ref(), b.as_ref()].concat(), whole.as_ref(), "cut at {cut}");
        }
        assert_eq!(p.mismatch(3, &whole), None);
        let mut bad = whole.to_vec();
        bad[57] ^= 1;
        assert_eq!(p.mismatch(3, &bad), Some(60));
        assert_ne!(Pattern::new(43).chunk(0, 64), p.chunk(0, 64), "seeds must matter");
    }
}
