//! JaCoCo's class id: a CRC64 of the class file bytes.
//!
//! The JaCoCo agent identifies every class by this checksum of the exact bytes it was given, and
//! execution data is matched to class files by it alone. The parameters are the ISO-3309
//! polynomial, reflected (`0xD800000000000000`), init 0, no final xor, one byte per table step.
//! One quirk must be reproduced: for Java 9 class files (major version 53) the low byte of the
//! major version is hashed as if it were 52, so the ids of Java 9 classes match what the agent
//! reports.

/// The reflected ISO-3309 polynomial.
const POLY: u64 = 0xD800_0000_0000_0000;

/// Slicing-by-8 tables, built at compile time: `TABLES[0]` is the byte-wise table; `TABLES[k][i]`
/// is the CRC of byte `i` followed by `k` zero bytes, so eight bytes fold in with eight lookups
/// that do not depend on each other (the byte-wise loop is one dependent lookup per byte).
const TABLES: [[u64; 256]; 8] = build_tables();

/// The byte-wise table.
const TABLE: [u64; 256] = TABLES[0];

const fn build_tables() -> [[u64; 256]; 8] {
    let mut tables = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut v = i as u64;
        let mut bit = 0;
        while bit < 8 {
            v = if v & 1 == 1 { (v >> 1) ^ POLY } else { v >> 1 };
            bit += 1;
        }
        tables[0][i] = v;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

#[inline]
fn step(sum: u64, byte: u8) -> u64 {
    (sum >> 8) ^ TABLE[((sum ^ u64::from(byte)) & 0xff) as usize]
}

/// Continues a checksum over `bytes`, eight bytes at a time.
fn update(mut sum: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = sum ^ u64::from_le_bytes(word);
        sum = TABLES[7][(x & 0xff) as usize]
            ^ TABLES[6][((x >> 8) & 0xff) as usize]
            ^ TABLES[5][((x >> 16) & 0xff) as usize]
            ^ TABLES[4][((x >> 24) & 0xff) as usize]
            ^ TABLES[3][((x >> 32) & 0xff) as usize]
            ^ TABLES[2][((x >> 40) & 0xff) as usize]
            ^ TABLES[1][((x >> 48) & 0xff) as usize]
            ^ TABLES[0][(x >> 56) as usize];
    }
    chunks.remainder().iter().fold(sum, |s, &b| step(s, b))
}

/// Inputs at least this long go to the carry-less-multiply implementation ([`Fast`]); shorter
/// ones to the tables, whose setup costs nothing.
const FAST_FROM: usize = 128;

/// The same CRC computed by `crc-fast` (PCLMULQDQ/VPCLMULQDQ folding, chosen at run time; its own
/// tables elsewhere): CRC-64/GO-ISO has this polynomial, reflected, with init and xorout all ones;
/// started from 0 and xored with all ones at the end it is this CRC. Six to eight times the
/// speed of slicing-by-8 here (a big jar's class ids were 3 % of a report's CPU); checked against
/// the tables on every length and alignment in the tests.
struct Fast(crc_fast::Digest);

impl Fast {
    fn new() -> Fast {
        Fast(crc_fast::Digest::new_with_init_state(
            crc_fast::CrcAlgorithm::Crc64GoIso,
            0,
        ))
    }

    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(self) -> u64 {
        self.0.finalize() ^ u64::MAX
    }
}

/// The CRC64 of arbitrary bytes, without any class-file quirk.
pub fn checksum(bytes: &[u8]) -> u64 {
    if bytes.len() < FAST_FROM {
        return update(0, bytes);
    }
    let mut f = Fast::new();
    f.update(bytes);
    f.finish()
}

/// The JaCoCo class id of a class file: [`checksum`] of its bytes, except that a Java 9 class file
/// (major version 53 in bytes 6..8) is hashed with byte 7 read as 52, as the agent does.
pub fn class_id(class_bytes: &[u8]) -> u64 {
    let java9 = class_bytes.len() > 7 && class_bytes[6] == 0 && class_bytes[7] == 53;
    if !java9 {
        return checksum(class_bytes);
    }
    if class_bytes.len() < FAST_FROM {
        let sum = step(update(0, &class_bytes[..7]), 52);
        return update(sum, &class_bytes[8..]);
    }
    let mut f = Fast::new();
    f.update(&class_bytes[..7]);
    f.update(&[52]);
    f.update(&class_bytes[8..]);
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_reflected_iso_polynomial() {
        // Entry 1 of a reflected table is the polynomial shifted by 7 more bits of zeros; entry
        // 0x80 is the polynomial itself (one shift with the low bit set).
        assert_eq!(TABLE[0], 0);
        assert_eq!(TABLE[0x80], POLY);
        assert_eq!(TABLE[1], POLY >> 7);
    }

    #[test]
    fn checksum_of_the_standard_check_string() {
        // CRC-64/GO-ISO without its init/xorout (both all ones there) differs; with init 0 and no
        // xorout (CRC-64 "ISO" as JaCoCo uses it) the check value of "123456789" is this one.
        assert_eq!(checksum(b"123456789"), 0x46a5_a938_8a5b_effe);
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn java9_major_version_is_hashed_as_52() {
        let mut java8 = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 52, 1, 2, 3];
        let mut java9 = java8.clone();
        java9[7] = 53;
        assert_eq!(class_id(&java9), class_id(&java8));
        assert_eq!(class_id(&java8), checksum(&java8));
        java8[7] = 54;
        assert_ne!(class_id(&java8), class_id(&java9));
        // Too short to carry a version: plain checksum, no panic.
        assert_eq!(class_id(&[0, 0, 0, 0, 0, 0, 0]), checksum(&[0; 7]));
    }

    /// `n` pseudo-random bytes (xorshift from `seed`).
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn the_fast_implementation_equals_the_tables() {
        let data = noise(70_000, 0x2545_f491_4f6c_dd1d);
        let tables = |b: &[u8]| update(0, b);
        let fast = |b: &[u8]| {
            let mut f = Fast::new();
            f.update(b);
            f.finish()
        };
        // Every length up to 600 at every start alignment, then long ones.
        for start in 0..17 {
            for len in 0..600 {
                let b = &data[start..start + len];
                assert_eq!(fast(b), tables(b), "start {start} len {len}");
                assert_eq!(checksum(b), tables(b), "start {start} len {len}");
            }
        }
        for len in [4095, 4096, 4097, 65_536, 69_999] {
            assert_eq!(checksum(&data[..len]), tables(&data[..len]), "len {len}");
        }
        assert_eq!(fast(b"123456789"), 0x46a5_a938_8a5b_effe);
        // Java 9's quirk on both paths.
        for len in [20, FAST_FROM - 1, FAST_FROM, 5000] {
            let mut java9 = data[..len].to_vec();
            java9[..8].copy_from_slice(&[0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 53]);
            let mut as52 = java9.clone();
            as52[7] = 52;
            assert_eq!(class_id(&java9), tables(&as52), "len {len}");
            assert_eq!(class_id(&as52), tables(&as52), "len {len}");
        }
    }

    #[test]
    fn slicing_by_8_equals_the_bytewise_definition() {
        let bytewise = |b: &[u8]| b.iter().fold(0, |s, &x| step(s, x));
        let data = noise(1000, 0x9e37_79b9_7f4a_7c15);
        // Every length (remainders 0..7) and every start alignment.
        for start in 0..9 {
            for end in start..data.len().min(start + 40) {
                assert_eq!(checksum(&data[start..end]), bytewise(&data[start..end]));
            }
            assert_eq!(checksum(&data[start..]), bytewise(&data[start..]));
        }
        let mut java9 = data.clone();
        java9[..8].copy_from_slice(&[0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 53]);
        let mut as52 = java9.clone();
        as52[7] = 52;
        assert_eq!(class_id(&java9), bytewise(&as52));
    }
}
