//! Exact decimals: an `i128` unscaled value and a scale, enough for precision 38 (Iceberg's and
//! Spark's maximum). No floating point is involved anywhere a decimal is decoded from bytes or text.

use std::fmt;
use std::str::FromStr;

use crate::error::CdcError;

/// The largest precision a decimal column may have (Iceberg's limit).
pub const MAX_PRECISION: u8 = 38;

/// An exact decimal number: `unscaled × 10^-scale`.
///
/// Equality is structural: `30.5` (305, scale 1) and `30.50` (3050, scale 2) differ; rescale
/// to compare across scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    unscaled: i128,
    scale: u8,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

fn err(value: impl Into<String>, reason: impl Into<String>) -> CdcError {
    CdcError::Decode {
        ty: "decimal".to_owned(),
        value: value.into(),
        reason: reason.into(),
    }
}

impl Decimal {
    /// A decimal from its unscaled value and scale; at most 38 digits, scale at most 38.
    pub fn new(unscaled: i128, scale: u8) -> Result<Decimal, CdcError> {
        if scale > MAX_PRECISION {
            return Err(err(
                unscaled.to_string(),
                format!("scale {scale} exceeds {MAX_PRECISION}"),
            ));
        }
        let d = Decimal { unscaled, scale };
        if d.precision() > MAX_PRECISION {
            return Err(err(
                d.to_string(),
                format!("more than {MAX_PRECISION} digits"),
            ));
        }
        Ok(d)
    }

    /// Decodes Kafka Connect's `Decimal` bytes: the unscaled value as big-endian two's complement
    /// (Java's `BigInteger.toByteArray()`), e.g. `[0x0B, 0xEA]` at scale 2 is 30.50.
    pub fn from_be_bytes(bytes: &[u8], scale: u8) -> Result<Decimal, CdcError> {
        let Some(&first) = bytes.first() else {
            return Err(err("\"\"", "empty byte string (no unscaled value)"));
        };
        let negative = first & 0x80 != 0;
        let fill = if negative { 0xFF } else { 0x00 };
        let mut buf = [fill; 16];
        if bytes.len() > 16 {
            // Longer inputs are fine only when the extra leading bytes are sign extension.
            let (extra, tail) = bytes.split_at(bytes.len() - 16);
            let tail_negative = tail[0] & 0x80 != 0;
            if extra.iter().any(|&b| b != fill) || tail_negative != negative {
                return Err(err(
                    format!("{} bytes", bytes.len()),
                    "unscaled value does not fit in 128 bits (more than 38 digits)",
                ));
            }
            buf.copy_from_slice(tail);
        } else {
            buf[16 - bytes.len()..].copy_from_slice(bytes);
        }
        Decimal::new(i128::from_be_bytes(buf), scale)
    }

    /// The unscaled value.
    pub fn unscaled(&self) -> i128 {
        self.unscaled
    }

    /// The number of digits after the decimal point.
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// The number of significant digits of the unscaled value (at least 1).
    pub fn precision(&self) -> u8 {
        // Comparisons with powers of ten, not a division loop: 128-bit division is a slow
        // library call, and a merge checks the precision of every decimal it decodes.
        let n = self.unscaled.unsigned_abs();
        let mut digits = 1u8;
        let mut bound: u128 = 10;
        while n >= bound {
            digits += 1;
            match bound.checked_mul(10) {
                Some(next) => bound = next,
                // n ≥ 10^38 (u128 holds up to ~3.4 × 10^38): one digit more at most.
                None => return digits,
            }
        }
        digits
    }

    /// True when the value fits a `decimal(precision, self.scale)` column.
    pub fn fits(&self, precision: u8) -> bool {
        self.precision() <= precision
    }

    /// The same number at another scale, exactly: fails if digits would be lost or the result
    /// exceeds 38 digits.
    pub fn rescale(&self, scale: u8) -> Result<Decimal, CdcError> {
        self.rescale_with(scale, false)
    }

    /// The same number at another scale, rounding half away from zero when digits are dropped.
    /// For inputs that were floating point to begin with (`decimal.handling.mode=double`).
    pub fn rescale_rounded(&self, scale: u8) -> Result<Decimal, CdcError> {
        self.rescale_with(scale, true)
    }

    fn rescale_with(&self, scale: u8, round: bool) -> Result<Decimal, CdcError> {
        if scale >= self.scale {
            let factor = pow10(u32::from(scale - self.scale));
            let unscaled = factor
                .and_then(|f| self.unscaled.checked_mul(f))
                .ok_or_else(|| {
                    err(
                        self.to_string(),
                        format!("more than {MAX_PRECISION} digits at scale {scale}"),
                    )
                })?;
            return Decimal::new(unscaled, scale);
        }
        let diff = u32::from(self.scale - scale);
        // diff ≤ 38 and 10^38 < i128::MAX, so this cannot fail.
        let factor = pow10(diff).unwrap_or(i128::MAX);
        let (q, r) = (self.unscaled / factor, self.unscaled % factor);
        if r == 0 {
            return Decimal::new(q, scale);
        }
        if !round {
            return Err(err(
                self.to_string(),
                format!("has more than {scale} digits after the decimal point"),
            ));
        }
        let away = r.unsigned_abs() >= factor.unsigned_abs().div_ceil(2);
        let q = if away { q + r.signum() } else { q };
        Decimal::new(q, scale)
    }
}

impl FromStr for Decimal {
    type Err = CdcError;

    /// Parses decimal text exactly: `30.50`, `-0.05`, `+7`, `1.5e3`, `2E-4`. The scale is the
    /// number of digits written after the point, adjusted by the exponent (never negative).
    fn from_str(text: &str) -> Result<Decimal, CdcError> {
        let bad = |why: &str| err(format!("\"{}\"", crate::raw::short(text)), why.to_owned());
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(i) => {
                let exp = text[i + 1..]
                    .parse::<i32>()
                    .map_err(|_| bad("invalid exponent"))?;
                (&text[..i], exp)
            }
            None => (text, 0),
        };
        let (negative, digits) = match mantissa.as_bytes().first() {
            Some(b'-') => (true, &mantissa[1..]),
            Some(b'+') => (false, &mantissa[1..]),
            _ => (false, mantissa),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad("not a decimal number"));
        }
        let mut unscaled: i128 = 0;
        for c in int_part.bytes().chain(frac_part.bytes()) {
            if !c.is_ascii_digit() {
                return Err(bad("not a decimal number"));
            }
            unscaled = unscaled
                .checked_mul(10)
                .and_then(|u| u.checked_add(i128::from(c - b'0')))
                .ok_or_else(|| bad("more than 38 digits"))?;
        }
        if negative {
            unscaled = -unscaled;
        }
        let frac_len = i32::try_from(frac_part.len()).map_err(|_| bad("too many digits"))?;
        let scale = frac_len - exponent;
        if scale < 0 {
            let factor = u32::try_from(-scale).ok().and_then(pow10);
            unscaled = factor
                .and_then(|f| unscaled.checked_mul(f))
                .ok_or_else(|| bad("more than 38 digits"))?;
            return Decimal::new(unscaled, 0);
        }
        let scale = u8::try_from(scale).map_err(|_| bad("scale exceeds 38"))?;
        Decimal::new(unscaled, scale)
    }
}

impl fmt::Display for Decimal {
    /// Exact plain notation with `scale` fractional digits: `30.50`, `-0.05`, `12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.unscaled.unsigned_abs().to_string();
        let sign = if self.unscaled < 0 { "-" } else { "" };
        let scale = usize::from(self.scale);
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int_part, frac_part) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int_part}.{frac_part}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn bytes_are_big_endian_twos_complement() {
        assert_eq!(
            Decimal::from_be_bytes(&[0x0B, 0xEA], 2)
                .unwrap()
                .to_string(),
            "30.50"
        );
        assert_eq!(
            Decimal::from_be_bytes(&[0xF4, 0x16], 2)
                .unwrap()
                .to_string(),
            "-30.50"
        );
        assert_eq!(Decimal::from_be_bytes(&[0xFF], 0).unwrap().unscaled(), -1);
        assert_eq!(
            Decimal::from_be_bytes(&[0x00, 0x80], 0).unwrap().unscaled(),
            128
        );
        assert_eq!(Decimal::from_be_bytes(&[0x80], 0).unwrap().unscaled(), -128);
        assert!(Decimal::from_be_bytes(&[], 2).is_err());
    }

    #[test]
    fn long_byte_strings_accept_only_sign_extension() {
        let mut bytes = vec![0xFF; 4];
        bytes.extend_from_slice(&(-5i128).to_be_bytes());
        assert_eq!(
            Decimal::from_be_bytes(&bytes, 1).unwrap().to_string(),
            "-0.5"
        );
        let mut too_big = vec![0x01];
        too_big.extend_from_slice(&[0u8; 16]);
        let e = Decimal::from_be_bytes(&too_big, 0).unwrap_err().to_string();
        assert!(e.contains("does not fit in 128 bits"), "{e}");
        // 10^38 fits in i128 but has 39 digits.
        let e = Decimal::from_be_bytes(&10i128.pow(38).to_be_bytes(), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 38 digits"), "{e}");
    }

    #[test]
    fn text_parses_exactly() {
        assert_eq!(d("30.50"), Decimal::new(3050, 2).unwrap());
        assert_eq!(d("-0.05"), Decimal::new(-5, 2).unwrap());
        assert_eq!(d("+7"), Decimal::new(7, 0).unwrap());
        assert_eq!(d("1.5e3"), Decimal::new(1500, 0).unwrap());
        assert_eq!(d("2E-4"), Decimal::new(2, 4).unwrap());
        assert_eq!(d(".5"), Decimal::new(5, 1).unwrap());
        for bad in ["", "-", ".", "1.2.3", "12a", "1e", "C+o=", " 1"] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn display_pads_and_signs() {
        assert_eq!(Decimal::new(5, 3).unwrap().to_string(), "0.005");
        assert_eq!(Decimal::new(-123, 1).unwrap().to_string(), "-12.3");
        assert_eq!(Decimal::new(0, 2).unwrap().to_string(), "0.00");
        assert_eq!(Decimal::new(42, 0).unwrap().to_string(), "42");
        let max = Decimal::new(10i128.pow(38) - 1, 38).unwrap();
        assert_eq!(max.to_string(), format!("0.{}", "9".repeat(38)));
    }

    #[test]
    fn rescale_is_exact_unless_asked_to_round() {
        assert_eq!(d("30.5").rescale(2).unwrap().unscaled(), 3050);
        assert!(d("30.505").rescale(2).is_err());
        assert_eq!(d("30.505").rescale_rounded(2).unwrap().to_string(), "30.51");
        assert_eq!(
            d("-30.505").rescale_rounded(2).unwrap().to_string(),
            "-30.51"
        );
        assert_eq!(d("30.504").rescale_rounded(2).unwrap().to_string(), "30.50");
        assert_eq!(
            d("0.30000000000000004")
                .rescale_rounded(2)
                .unwrap()
                .to_string(),
            "0.30"
        );
        assert_eq!(d("30.500").rescale(2).unwrap().to_string(), "30.50");
        assert!(Decimal::new(10i128.pow(37), 0).unwrap().rescale(2).is_err());
    }

    #[test]
    fn precision_counts_digits() {
        assert_eq!(d("0").precision(), 1);
        assert_eq!(d("-999.99").precision(), 5);
        assert!(d("999.99").fits(5));
        assert!(!d("1000.00").fits(5));
        for digits in 1..=38u32 {
            let n = 10i128.pow(digits - 1);
            for unscaled in [n, -n, n * 10 - 1, 1 - n * 10] {
                let d = Decimal { unscaled, scale: 0 };
                assert_eq!(u32::from(d.precision()), digits, "{unscaled}");
            }
        }
        assert_eq!(
            Decimal {
                unscaled: 10i128.pow(38),
                scale: 0
            }
            .precision(),
            39
        );
        assert_eq!(
            Decimal {
                unscaled: i128::MIN,
                scale: 0
            }
            .precision(),
            39
        );
        assert_eq!(
            Decimal {
                unscaled: i128::MAX,
                scale: 0
            }
            .precision(),
            39
        );
    }
}
