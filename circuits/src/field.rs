//! The field bound used throughout the crate and integer ↔ field conversions.
//!
//! Signed integers are embedded in the field as usual: `x ≥ 0 ↦ x`, `x < 0 ↦ p − |x|`.

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::{FromUniformBytes, PrimeField};

/// The scalar field bound of every zkgrid chip (one alias instead of repeating the bound).
///
/// Implemented by BN254's `Fr` (`halo2_proofs::halo2curves::bn256::Fr`): a prime field with a
/// 32-byte little-endian representation, usable by halo2's `MockProver` (`Ord`,
/// `FromUniformBytes<64>`).
pub trait Field: PrimeField<Repr = [u8; 32]> + FromUniformBytes<64> + Ord {}

impl<T> Field for T where T: PrimeField<Repr = [u8; 32]> + FromUniformBytes<64> + Ord {}

/// Embeds a signed 128-bit integer in the field.
pub fn fe_from_i128<F: Field>(x: i128) -> F {
    let abs = x.unsigned_abs();
    // `PrimeField::from_u128`'s default body doubles 64 times; activations and weights fit in
    // 64 bits, where `From<u64>` is a single Montgomery conversion.
    let magnitude = match u64::try_from(abs) {
        Ok(small) => F::from(small),
        Err(_) => F::from_u128(abs),
    };
    if x < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Embeds a signed 64-bit integer in the field.
pub fn fe_from_i64<F: Field>(x: i64) -> F {
    fe_from_i128(i128::from(x))
}

/// Embeds an unsigned 128-bit integer in the field.
pub fn fe_from_u128<F: Field>(x: u128) -> F {
    match u64::try_from(x) {
        Ok(small) => F::from(small),
        Err(_) => F::from_u128(x),
    }
}

/// Embeds an unsigned 64-bit integer in the field.
pub fn fe_from_u64<F: Field>(x: u64) -> F {
    F::from(x)
}

/// The canonical value of `x` if it is below 2^128.
fn low_u128<F: Field>(x: &F) -> Option<u128> {
    let repr = x.to_repr();
    let (low, high) = repr.split_at(16);
    if high.iter().any(|b| *b != 0) {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(low);
    Some(u128::from_le_bytes(bytes))
}

/// Reads a field element as a signed integer: `Some(x)` if the element is the embedding of an
/// integer `x` with `|x| < 2^127` (or `x = −2^127`), `None` otherwise.
pub fn fe_to_i128<F: Field>(x: &F) -> Option<i128> {
    if let Some(v) = low_u128(x) {
        return i128::try_from(v).ok();
    }
    let negated = -*x;
    let v = low_u128(&negated)?;
    if v <= i128::MAX as u128 {
        i128::try_from(v).ok().map(|m| -m)
    } else if v == i128::MIN.unsigned_abs() {
        Some(i128::MIN)
    } else {
        None
    }
}

/// Reads a field element as a signed 64-bit integer, `None` if it is not one.
pub fn fe_to_i64<F: Field>(x: &F) -> Option<i64> {
    fe_to_i128(x).and_then(|v| i64::try_from(v).ok())
}

/// Extracts the content of a [`Value`]: `Some` when the witness is known (proving, mock
/// proving), `None` during key generation.
pub fn value_to_option<T>(value: Value<T>) -> Option<T> {
    let mut out = None;
    value.map(|v| out = Some(v));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::halo2curves::bn256::Fr;

    #[test]
    fn signed_roundtrip() {
        for x in [
            0i128,
            1,
            -1,
            255,
            -256,
            1 << 60,
            -(1 << 60),
            i128::MAX,
            i128::MIN,
            i128::MIN + 1,
        ] {
            let fe: Fr = fe_from_i128(x);
            assert_eq!(fe_to_i128(&fe), Some(x), "roundtrip of {x}");
        }
        let fe: Fr = fe_from_i64(-42);
        assert_eq!(fe_to_i64(&fe), Some(-42));
        assert_eq!(fe_to_i64(&fe_from_i128::<Fr>(1 << 70)), None);
    }

    #[test]
    fn large_elements_are_not_integers() {
        let big = Fr::from_u128(u128::MAX) * Fr::from_u128(u128::MAX);
        assert_eq!(fe_to_i128(&big), None);
        assert_eq!(fe_to_i128(&(-big)), None);
        // 2^127 itself is not representable, −2^127 is.
        let two_127 = Fr::from_u128(1u128 << 127);
        assert_eq!(fe_to_i128(&two_127), None);
        assert_eq!(fe_to_i128(&(-two_127)), Some(i128::MIN));
    }

    #[test]
    fn repr_is_little_endian() {
        let repr = Fr::from(0x0102u64).to_repr();
        assert_eq!(repr[0], 0x02);
        assert_eq!(repr[1], 0x01);
        assert!(repr[2..].iter().all(|b| *b == 0));
    }

    #[test]
    fn value_extraction() {
        assert_eq!(value_to_option(Value::known(3u8)), Some(3));
        assert_eq!(value_to_option(Value::<u8>::unknown()), None);
    }
}
