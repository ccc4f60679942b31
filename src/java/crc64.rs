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

/// The CRC64 of arbitrary bytes, without any class-file quirk.
pub fn checksum(bytes: &[u8]) -> u64 {
    update(0, bytes)
}

/// The JaCoCo class id of a class file: [`checksum`] of its bytes, except that a Java 9 class file
/// (major version 53 in bytes 6..8) is hashed with byte 7 read as 52, as the agent does.
pub fn class_id(class_bytes: &[u8]) -> u64 {
    let java9 = class_bytes.len() > 7 && class_bytes[6] == 0 && class_bytes[7] == 53;
    if !java9 {
        return checksum(class_bytes);
    }
    let sum = step(checksum(&class_bytes[..7]), 52);
    update(sum, &class_bytes[8..])
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

    #[test]
    fn slicing_by_8_equals_the_bytewise_definition() {
        let bytewise = |b: &[u8]| b.iter().fold(0, |s, &x| step(s, x));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
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
