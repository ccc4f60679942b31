//! Decimal numbers written straight into byte buffers: formatting machinery per number was a
//! visible share of writing big outputs (Go profiles, saved build lines).

/// Appends `v` in decimal to `buf`.
pub fn push_decimal(buf: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_format_writes_them() {
        for v in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut buf = b"x".to_vec();
            push_decimal(&mut buf, v);
            assert_eq!(String::from_utf8(buf).unwrap(), format!("x{v}"));
        }
    }
}
