//! Fixed-point arithmetic primitives: the exact integer semantics every circuit proves.
//!
//! A tensor holds integers `q`; its real value is `q / 2^s` for the tensor's scale `s`.
//! Rounding is always *half up* (towards +infinity on ties), for any sign of the operand.

/// Rescale by `2^r`, rounding half up: `floor((x + 2^(r-1)) / 2^r)`; `r = 0` is the identity.
///
/// Proven in-circuit by a quotient `y` and a remainder `rem` with
/// `x + 2^(r-1) = y * 2^r + rem`, `0 <= rem < 2^r`.
pub fn rescale(x: i128, r: u32) -> i128 {
    if r == 0 {
        return x;
    }
    (x + (1i128 << (r - 1))) >> r
}

/// Divide by a positive constant `n`, rounding half up: `floor((x + floor(n/2)) / n)`.
///
/// Proven in-circuit by `x + floor(n/2) = y * n + rem`, `0 <= rem < n`.
/// Returns `None` when `n == 0`.
pub fn div_round(x: i128, n: i128) -> Option<i128> {
    if n <= 0 {
        return None;
    }
    Some((x + n / 2).div_euclid(n))
}

/// Quantize a real value at scale `s`: `floor(v * 2^s + 1/2)` (round half up), as f64.
///
/// Returns the rounded value as `f64` so callers can range-check before converting.
pub fn quantize_real(v: f64, s: u32) -> f64 {
    (v * pow2(s) + 0.5).floor()
}

/// `2^s` as `f64`.
pub fn pow2(s: u32) -> f64 {
    2f64.powi(s as i32)
}

/// Smallest value of the signed `bits`-bit range: `-2^(bits-1)`.
pub fn range_min(bits: u32) -> i64 {
    -(1i64 << (bits - 1))
}

/// Largest value of the signed `bits`-bit range: `2^(bits-1) - 1`.
pub fn range_max(bits: u32) -> i64 {
    (1i64 << (bits - 1)) - 1
}

/// Is `v` in `[-2^(bits-1), 2^(bits-1))`?
pub fn in_range(v: i128, bits: u32) -> bool {
    v >= range_min(bits) as i128 && v <= range_max(bits) as i128
}

/// Clamp `v` into `[lo, hi]`.
pub fn clamp(v: i128, lo: i128, hi: i128) -> i128 {
    v.max(lo).min(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_half_up_for_both_signs() {
        assert_eq!(rescale(5, 1), 3); // 2.5 -> 3
        assert_eq!(rescale(-5, 1), -2); // -2.5 -> -2
        assert_eq!(rescale(3, 1), 2); // 1.5 -> 2
        assert_eq!(rescale(-3, 1), -1); // -1.5 -> -1
        assert_eq!(rescale(7, 2), 2); // 1.75 -> 2
        assert_eq!(rescale(-7, 2), -2); // -1.75 -> -2
        assert_eq!(rescale(6, 2), 2); // 1.5 -> 2
        assert_eq!(rescale(-6, 2), -1); // -1.5 -> -1
        assert_eq!(rescale(123, 0), 123);
    }

    #[test]
    fn rescale_matches_definition() {
        for x in -1000i128..1000 {
            for r in 1..6u32 {
                let d = 1i128 << r;
                let y = rescale(x, r);
                let rem = x + d / 2 - y * d;
                assert!((0..d).contains(&rem), "x={x} r={r} y={y} rem={rem}");
            }
        }
    }

    #[test]
    fn div_round_matches_definition() {
        for x in -500i128..500 {
            for n in 1..10i128 {
                let y = div_round(x, n).unwrap_or_default();
                let rem = x + n / 2 - y * n;
                assert!((0..n).contains(&rem), "x={x} n={n}");
            }
        }
        assert_eq!(div_round(1, 0), None);
        assert_eq!(div_round(9, 4), Some(2)); // 2.25
        assert_eq!(div_round(10, 4), Some(3)); // 2.5 -> 3
        assert_eq!(div_round(-10, 4), Some(-2)); // -2.5 -> -2
    }

    #[test]
    fn ranges() {
        assert_eq!(range_min(16), -32768);
        assert_eq!(range_max(16), 32767);
        assert!(in_range(-32768, 16));
        assert!(!in_range(32768, 16));
        assert_eq!(quantize_real(0.5, 1), 1.0);
        assert_eq!(quantize_real(-0.25, 1), 0.0); // -0.5 rounds up to 0
    }
}
