//! A class's probe array as bits: what JaCoCo keeps as a `boolean[]`, one bit per probe, so the
//! largest array a reply can carry (2^31 - 1 probes, 256 MiB on the wire) takes 256 MiB here,
//! not 2 GiB, and OR-merging two arrays works a word at a time.

/// Probes indexed by probe id; bits past [`Probes::len`] are always clear.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Probes {
    len: usize,
    words: Vec<u64>,
}

impl Probes {
    /// `len` probes, none hit.
    pub fn new(len: usize) -> Self {
        Probes {
            len,
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// From the exec format's packing: `len` probes, LSB first in each byte (`packed` holds at
    /// least `len.div_ceil(8)` bytes; bits beyond `len` are ignored).
    pub fn from_packed(packed: &[u8], len: usize) -> Self {
        let mut words = Vec::with_capacity(len.div_ceil(64));
        let bytes = &packed[..len.div_ceil(8)];
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            words.push(u64::from_le_bytes(w));
        }
        let mut p = Probes { len, words };
        p.clear_tail();
        p
    }

    /// The exec format's packing: `len.div_ceil(8)` bytes, LSB first.
    pub fn packed(&self) -> impl Iterator<Item = u8> + '_ {
        self.words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .take(self.len.div_ceil(8))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Probe `i`; false past the end (a shorter array reads as not hit).
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// Sets probe `i` to `hit`. Panics past the end, like indexing a slice.
    pub fn set(&mut self, i: usize, hit: bool) {
        assert!(i < self.len, "probe {i} of {}", self.len);
        let bit = 1u64 << (i % 64);
        if hit {
            self.words[i / 64] |= bit;
        } else {
            self.words[i / 64] &= !bit;
        }
    }

    /// Every probe in order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(|i| self.get(i))
    }

    /// True when at least one probe is hit.
    pub fn any(&self) -> bool {
        self.words.iter().any(|&w| w != 0)
    }

    /// The number of probes hit.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// ORs `other` in, over the shorter of the two lengths.
    pub fn or_assign(&mut self, other: &Probes) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
        self.clear_tail();
    }

    /// True when a probe hit in `self` is not hit in `other` (over the shorter length).
    pub fn any_lost_in(&self, other: &Probes) -> bool {
        let n = self.len.min(other.len);
        let full = n / 64;
        if self.words[..full]
            .iter()
            .zip(&other.words[..full])
            .any(|(a, b)| a & !b != 0)
        {
            return true;
        }
        (full * 64..n).any(|i| self.get(i) && !other.get(i))
    }

    /// Clears every probe.
    pub fn clear_all(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
    }

    /// Grows or shrinks to `len` probes; new ones are not hit.
    pub fn resize(&mut self, len: usize) {
        self.len = len;
        self.words.resize(len.div_ceil(64), 0);
        self.clear_tail();
    }

    fn clear_tail(&mut self) {
        let used = self.len % 64;
        if used != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << used) - 1;
        }
    }
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.len > 256 {
            return write!(f, "Probes({} probes, {} hit)", self.len, self.count_ones());
        }
        let bits: String = self.iter().map(|b| if b { '1' } else { '0' }).collect();
        write!(f, "Probes({bits})")
    }
}

impl FromIterator<bool> for Probes {
    fn from_iter<I: IntoIterator<Item = bool>>(iter: I) -> Self {
        let mut p = Probes::default();
        for (i, hit) in iter.into_iter().enumerate() {
            if i % 64 == 0 {
                p.words.push(0);
            }
            p.words[i / 64] |= u64::from(hit) << (i % 64);
            p.len = i + 1;
        }
        p
    }
}

impl From<Vec<bool>> for Probes {
    fn from(v: Vec<bool>) -> Self {
        v.into_iter().collect()
    }
}

impl From<&[bool]> for Probes {
    fn from(v: &[bool]) -> Self {
        v.iter().copied().collect()
    }
}

impl<const N: usize> From<[bool; N]> for Probes {
    fn from(v: [bool; N]) -> Self {
        v.into_iter().collect()
    }
}

impl PartialEq<[bool]> for Probes {
    fn eq(&self, other: &[bool]) -> bool {
        self.len == other.len() && self.iter().zip(other).all(|(a, &b)| a == b)
    }
}

impl<const N: usize> PartialEq<[bool; N]> for Probes {
    fn eq(&self, other: &[bool; N]) -> bool {
        *self == other[..]
    }
}

impl PartialEq<Vec<bool>> for Probes {
    fn eq(&self, other: &Vec<bool>) -> bool {
        *self == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_through_the_exec_packing() {
        let mut seed = 0x1234_5678_9ABC_DEF1u64;
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 200] {
            let bools: Vec<bool> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed & 1 == 1
                })
                .collect();
            let p = Probes::from(bools.clone());
            assert_eq!(p, bools);
            assert_eq!(p.len(), len);
            assert_eq!(p.count_ones(), bools.iter().filter(|&&b| b).count());
            let packed: Vec<u8> = p.packed().collect();
            assert_eq!(packed.len(), len.div_ceil(8));
            // Garbage in the unused bits of the last byte is ignored.
            let mut noisy = packed.clone();
            if let Some(last) = noisy.last_mut()
                && len % 8 != 0
            {
                *last |= 0xFF << (len % 8);
            }
            assert_eq!(Probes::from_packed(&noisy, len), p);
            assert!(!p.get(len), "past the end reads as not hit");
        }
    }

    #[test]
    fn or_lost_set_resize_and_clear() {
        let mut a = Probes::from([true, false, false, true]);
        let b = Probes::from([false, true, false, false]);
        assert!(a.any_lost_in(&b));
        assert!(!b.any_lost_in(&Probes::from([true, true, false, false])));
        a.or_assign(&b);
        assert_eq!(a, [true, true, false, true]);
        a.set(2, true);
        a.set(0, false);
        assert_eq!(a, [false, true, true, true]);
        a.resize(6);
        assert_eq!(a, [false, true, true, true, false, false]);
        a.resize(2);
        a.resize(4);
        assert_eq!(
            a,
            [false, true, false, false],
            "shrinking clears the dropped bits"
        );
        a.clear_all();
        assert!(!a.any());
        let long: Probes = (0..130).map(|i| i % 3 == 0).collect();
        let mut other = long.clone();
        other.set(129, false);
        assert!(long.any_lost_in(&other));
        assert!(!other.any_lost_in(&long));
    }
}
