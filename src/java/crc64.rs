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

/// The byte-wise lookup table, built at compile time.
const TABLE: [u64; 256] = build_table();

const fn build_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut v = i as u64;
        let mut bit = 0;
        while bit < 8 {
            v = if v & 1 == 1 { (v >> 1) ^ POLY } else { v >> 1 };
            bit += 1;
        }
        table[i] = v;
        i += 1;
    }
    table
}

#[inline]
fn step(sum: u64, byte: u8) -> u64 {
    (sum >> 8) ^ TABLE[((sum ^ u64::from(byte)) & 0xff) as usize]
}

/// The CRC64 of arbitrary bytes, without any class-file quirk.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |sum, &b| step(sum, b))
}

/// The JaCoCo class id of a class file: [`checksum`] of its bytes, except that a Java 9 class file
/// (major version 53 in bytes 6..8) is hashed with byte 7 read as 52, as the agent does.
pub fn class_id(class_bytes: &[u8]) -> u64 {
    let java9 = class_bytes.len() > 7 && class_bytes[6] == 0 && class_bytes[7] == 53;
    if !java9 {
        return checksum(class_bytes);
    }
    let mut sum = checksum(&class_bytes[..7]);
    sum = step(sum, 52);
    class_bytes[8..].iter().fold(sum, |s, &b| step(s, b))
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
}
