//! [`ProofBundle`]: everything needed to check and submit one proof, as JSON.
//!
//! ```json
//! {
//!   "format_version": 1,
//!   "model_hash": "<caller-defined string>",
//!   "vk_hash": "0x<64 hex>",
//!   "k": 17,
//!   "instances": [["0x<64 hex>", ...], ...],      // per instance column, 32-byte big-endian
//!   "proof": "0x<hex>",
//!   "output": <any JSON, opaque to this crate>,
//!   "calldata": "0x<hex>",                       // instances (flattened) ‖ proof, EVM layout
//!   "srs": { "label": "...", "insecure": false, "k": 17, "fingerprint": "0x..." }
//! }
//! ```
//!
//! Parsing ([`ProofBundle::from_json`]) is strict and returns typed errors: malformed JSON,
//! unknown fields, missing `0x`, bad hex, wrong lengths, field elements that are not canonical
//! (≥ the BN254 scalar modulus), an unsupported format version, or calldata that is not the
//! encoding of the bundle's instances and proof.

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::error::{ProverError, Result};
use crate::keys::{vk_hash, vk_k, VkHash};
use crate::proof::{encode_calldata, verify};
use crate::srs::{Srs, SrsInfo};

/// The bundle format version this crate writes and reads.
pub const BUNDLE_FORMAT_VERSION: u32 = 1;

/// A proof with its statement and metadata. Serializes to the JSON documented in the module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BundleJson", into = "BundleJson")]
pub struct ProofBundle {
    /// Caller-defined model identifier (e.g. a hash of the quantized model).
    pub model_hash: String,
    /// Hash of the verifying key the proof is for.
    pub vk_hash: VkHash,
    /// The circuit's `k`.
    pub k: u32,
    /// Public instances, one vector per instance column.
    pub instances: Vec<Vec<Fr>>,
    /// Proof bytes (EVM transcript).
    pub proof: Vec<u8>,
    /// Decoded model output, opaque to this crate.
    pub output: serde_json::Value,
    /// SRS description; `srs.insecure` is `true` for the dev SRS.
    pub srs: SrsInfo,
}

impl ProofBundle {
    /// Assembles a bundle for a proof made with `srs` against `vk`.
    pub fn new(
        model_hash: impl Into<String>,
        vk: &VerifyingKey<G1Affine>,
        srs: &Srs,
        instances: Vec<Vec<Fr>>,
        proof: Vec<u8>,
        output: serde_json::Value,
    ) -> Self {
        Self {
            model_hash: model_hash.into(),
            vk_hash: vk_hash(vk),
            k: vk_k(vk),
            instances,
            proof,
            output,
            srs: srs.info(),
        }
    }

    /// EVM calldata: flattened instances as 32-byte big-endian words, then the proof.
    pub fn calldata(&self) -> Vec<u8> {
        encode_calldata(&self.instances, &self.proof)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| ProverError::BundleSerialize { source })
    }

    /// Parses and validates bundle JSON, with typed errors (see the module docs).
    pub fn from_json(json: &str) -> Result<Self> {
        let raw: BundleJson =
            serde_json::from_str(json).map_err(|source| ProverError::BundleJson { source })?;
        Self::try_from(raw)
    }

    /// Checks the bundle against `vk` and `srs`: vk hash and `k` match, then the proof verifies.
    pub fn verify(&self, srs: &Srs, vk: &VerifyingKey<G1Affine>) -> Result<()> {
        let actual = vk_hash(vk);
        if actual != self.vk_hash {
            return Err(ProverError::VkHashMismatch {
                expected: actual.to_string(),
                found: self.vk_hash.to_string(),
            });
        }
        if vk_k(vk) != self.k {
            return Err(ProverError::BundleKMismatch {
                bundle_k: self.k,
                vk_k: vk_k(vk),
            });
        }
        verify(srs, vk, &self.instances, &self.proof)
    }
}

/// The wire form: every binary value as a `0x` hex string.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleJson {
    format_version: u32,
    model_hash: String,
    vk_hash: String,
    k: u32,
    instances: Vec<Vec<String>>,
    proof: String,
    output: serde_json::Value,
    calldata: String,
    srs: SrsInfo,
}

impl From<ProofBundle> for BundleJson {
    fn from(b: ProofBundle) -> Self {
        let calldata = hex_string(&b.calldata());
        Self {
            format_version: BUNDLE_FORMAT_VERSION,
            model_hash: b.model_hash,
            vk_hash: b.vk_hash.to_string(),
            k: b.k,
            instances: b
                .instances
                .iter()
                .map(|column| column.iter().map(fr_to_hex).collect())
                .collect(),
            proof: hex_string(&b.proof),
            output: b.output,
            calldata,
            srs: b.srs,
        }
    }
}

impl TryFrom<BundleJson> for ProofBundle {
    type Error = ProverError;

    fn try_from(raw: BundleJson) -> Result<Self> {
        if raw.format_version != BUNDLE_FORMAT_VERSION {
            return Err(ProverError::BundleVersion {
                found: raw.format_version,
                supported: BUNDLE_FORMAT_VERSION,
            });
        }
        let vk_hash = VkHash::from_bytes(decode_fixed_hex::<32>(&raw.vk_hash, "vk_hash")?);
        let instances = raw
            .instances
            .iter()
            .enumerate()
            .map(|(c, column)| {
                column
                    .iter()
                    .enumerate()
                    .map(|(i, s)| fr_from_hex(s, &format!("instances[{c}][{i}]")))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let proof = decode_hex(&raw.proof, "proof")?;
        let calldata = decode_hex(&raw.calldata, "calldata")?;
        if calldata != encode_calldata(&instances, &proof) {
            return Err(ProverError::BundleCalldataMismatch);
        }
        Ok(Self {
            model_hash: raw.model_hash,
            vk_hash,
            k: raw.k,
            instances,
            proof,
            output: raw.output,
            srs: raw.srs,
        })
    }
}

/// `0x` + lowercase hex.
pub fn hex_string(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// A field element as `0x` + 64 hex digits, big-endian (the EVM `uint256` value).
pub fn fr_to_hex(value: &Fr) -> String {
    let mut bytes = value.to_repr();
    bytes.reverse();
    hex_string(&bytes)
}

/// Parses `0x` + 64 hex digits (big-endian) into a canonical field element; `field` names the
/// value in errors.
pub fn fr_from_hex(s: &str, field: &str) -> Result<Fr> {
    let mut bytes = decode_fixed_hex::<32>(s, field)?;
    bytes.reverse();
    Option::from(Fr::from_repr(bytes)).ok_or_else(|| ProverError::BundleNonCanonical {
        field: field.to_owned(),
    })
}

/// Decodes `0x`-prefixed hex (either case).
pub(crate) fn decode_hex(s: &str, field: &str) -> Result<Vec<u8>> {
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| ProverError::BundleHexPrefix {
            field: field.to_owned(),
        })?;
    hex::decode(digits).map_err(|source| ProverError::BundleHex {
        field: field.to_owned(),
        source,
    })
}

/// Decodes `0x`-prefixed hex of exactly `N` bytes.
pub(crate) fn decode_fixed_hex<const N: usize>(s: &str, field: &str) -> Result<[u8; N]> {
    let bytes = decode_hex(s, field)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| ProverError::BundleHexLength {
        field: field.to_owned(),
        expected: N,
        found: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::halo2curves::ff::Field;

    fn sample() -> ProofBundle {
        ProofBundle {
            model_hash: "sha256:abc".into(),
            vk_hash: VkHash::from_bytes([7u8; 32]),
            k: 6,
            instances: vec![vec![Fr::from(8u64), -Fr::ONE], vec![], vec![Fr::ZERO]],
            proof: vec![1, 2, 3, 0xff],
            output: serde_json::json!({"logits": [1.5, -2.0], "label": 3}),
            srs: SrsInfo {
                label: "INSECURE dev SRS (test)".into(),
                insecure: true,
                k: 6,
                fingerprint: "0x00".into(),
            },
        }
    }

    #[test]
    fn round_trip_json() -> anyhow::Result<()> {
        let bundle = sample();
        let json = bundle.to_json()?;
        assert_eq!(ProofBundle::from_json(&json)?, bundle);
        // Also through plain serde (e.g. embedded in an API response).
        let value = serde_json::to_value(&bundle)?;
        assert_eq!(value["format_version"], 1);
        assert_eq!(value["srs"]["insecure"], true);
        assert_eq!(
            value["instances"][0][0],
            "0x0000000000000000000000000000000000000000000000000000000000000008"
        );
        // -1 = r - 1, big-endian.
        assert_eq!(
            value["instances"][0][1],
            "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000000"
        );
        assert_eq!(
            value["calldata"],
            hex_string(&encode_calldata(&bundle.instances, &bundle.proof))
        );
        let back: ProofBundle = serde_json::from_value(value)?;
        assert_eq!(back, bundle);
        Ok(())
    }

    fn mutate(f: impl FnOnce(&mut serde_json::Value)) -> anyhow::Result<ProverError> {
        let mut value = serde_json::to_value(sample())?;
        f(&mut value);
        match ProofBundle::from_json(&value.to_string()) {
            Ok(_) => anyhow::bail!("mutated bundle was accepted"),
            Err(e) => Ok(e),
        }
    }

    #[test]
    fn typed_errors_for_malformed_bundles() -> anyhow::Result<()> {
        assert!(matches!(
            ProofBundle::from_json("{ not json"),
            Err(ProverError::BundleJson { .. })
        ));
        assert!(matches!(
            mutate(|v| {
                v.as_object_mut().map(|o| o.remove("proof"));
            })?,
            ProverError::BundleJson { .. }
        ));
        assert!(matches!(
            mutate(|v| v["surprise"] = 1.into())?,
            ProverError::BundleJson { .. }
        ));
        assert!(matches!(
            mutate(|v| v["format_version"] = 2.into())?,
            ProverError::BundleVersion {
                found: 2,
                supported: 1
            }
        ));
        assert!(matches!(
            mutate(|v| v["proof"] = "010203ff".into())?,
            ProverError::BundleHexPrefix { field } if field == "proof"
        ));
        assert!(matches!(
            mutate(|v| v["proof"] = "0x0g".into())?,
            ProverError::BundleHex { field, .. } if field == "proof"
        ));
        assert!(matches!(
            mutate(|v| v["vk_hash"] = "0x1234".into())?,
            ProverError::BundleHexLength {
                expected: 32,
                found: 2,
                ..
            }
        ));
        // The scalar modulus itself is not canonical.
        assert!(matches!(
            mutate(|v| v["instances"][0][1] =
                "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001".into())?,
            ProverError::BundleNonCanonical { field } if field == "instances[0][1]"
        ));
        assert!(matches!(
            mutate(|v| v["instances"][2][0] = "0x00".into())?,
            ProverError::BundleHexLength { field, .. } if field == "instances[2][0]"
        ));
        // Instances changed without the calldata: inconsistent bundle.
        assert!(matches!(
            mutate(|v| v["instances"][0][0] =
                "0x0000000000000000000000000000000000000000000000000000000000000009".into())?,
            ProverError::BundleCalldataMismatch
        ));
        Ok(())
    }

    #[test]
    fn field_hex_accepts_uppercase_and_round_trips() -> anyhow::Result<()> {
        let x = Fr::from(0xABCDu64);
        let s = fr_to_hex(&x);
        assert_eq!(
            fr_from_hex(&s.to_uppercase().replacen("0X", "0x", 1), "x")?,
            x
        );
        assert_eq!(fr_from_hex(&s, "x")?, x);
        Ok(())
    }
}
