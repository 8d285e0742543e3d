//! Key generation and key (de)serialization.
//!
//! * [`keygen`] builds the proving key (which embeds the verifying key) for any
//!   `C: Circuit<Fr>`; [`keygen_vk`] builds only the verifying key.
//! * Verifying keys travel as **canonical vk bytes** ([`vk_to_bytes`]): halo2's
//!   `VerifyingKey::write(RawBytes)` followed by the 32-byte little-endian `transcript_repr`
//!   (halo2's Blake2b digest of the pinned vk, which covers the constraint system — the halo2
//!   bytes alone hold only commitments and would not tell two circuits with equal fixed columns
//!   apart). [`VkHash`] is the SHA-256 of these bytes.
//! * Proving keys are cached in an envelope ([`pk_to_bytes`]) that adds a magic, version,
//!   `k`, the vk hash, the SRS fingerprint and a SHA-256 of the halo2
//!   `ProvingKey::write(RawBytesUnchecked)` payload (fast to load; the checksum and the recomputed
//!   vk hash catch corruption).
//!
//! Reading keys back needs what halo2 needs to rebuild the constraint system: the circuit type
//! `C` and its configuration parameters `C::Params` (`circuit.params()`), plus, for proving
//! keys, the [`Srs`] they belong to (its fingerprint and `k` are checked).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::plonk::{self, Circuit, ProvingKey, VerifyingKey};
use halo2_proofs::SerdeFormat;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::{ProverError, Result};
use crate::srs::{Srs, MAX_K};
use crate::util::{atomic_write, contain_panic, read_file};

/// Version byte halo2-axiom 0.5.3 writes at the start of a verifying key.
const HALO2_VK_VERSION: u8 = 0x02;
/// Magic at the start of a proving-key cache entry.
const PK_MAGIC: &[u8; 8] = b"ZKGRIDPK";
/// Version of the proving-key envelope.
const PK_ENVELOPE_VERSION: u32 = 1;
/// Envelope header: magic, version, k, vk hash, srs fingerprint, payload length, payload sha256.
const PK_HEADER_LEN: usize = 8 + 4 + 4 + 32 + 32 + 8 + 32;

const VK: &str = "verifying key";
const PK: &str = "proving key";

/// SHA-256 of the canonical verifying-key bytes (see the module docs). Displayed and serialized
/// as `0x` + 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VkHash([u8; 32]);

impl VkHash {
    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Wraps a raw digest.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for VkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for VkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VkHash({self})")
    }
}

impl FromStr for VkHash {
    type Err = ProverError;

    fn from_str(s: &str) -> Result<Self> {
        crate::bundle::decode_fixed_hex::<32>(s, "vk_hash").map(Self)
    }
}

impl Serialize for VkHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VkHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Options for [`keygen`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeygenOptions {
    /// Let halo2 merge selectors into fewer fixed columns (fewer commitments, possibly a higher
    /// gate degree). Off by default, as in halo2's `keygen_vk`.
    pub compress_selectors: bool,
}

impl KeygenOptions {
    /// The options a model circuit with `settings` is keyed with (its layout says whether
    /// selectors are compressed).
    pub fn for_settings(settings: &zkgrid_circuits::model::CircuitSettings) -> Self {
        Self {
            compress_selectors: settings.compress_selectors,
        }
    }
}

/// A proving key with its verifying key, vk hash and the SRS it belongs to.
#[derive(Clone)]
pub struct CircuitKeys {
    pk: ProvingKey<G1Affine>,
    vk_hash: VkHash,
    srs_fingerprint: [u8; 32],
}

impl CircuitKeys {
    /// The proving key.
    pub fn pk(&self) -> &ProvingKey<G1Affine> {
        &self.pk
    }

    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        self.pk.get_vk()
    }

    /// SHA-256 of the canonical verifying-key bytes.
    pub fn vk_hash(&self) -> VkHash {
        self.vk_hash
    }

    /// The circuit's `k`.
    pub fn k(&self) -> u32 {
        vk_k(self.vk())
    }

    /// `0x`-hex fingerprint of the SRS the keys were generated with ([`Srs::fingerprint`]).
    pub fn srs_fingerprint(&self) -> String {
        format!("0x{}", hex::encode(self.srs_fingerprint))
    }
}

impl fmt::Debug for CircuitKeys {
    /// Identity only: the key itself is megabytes of polynomials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitKeys")
            .field("k", &self.k())
            .field("vk_hash", &self.vk_hash)
            .field("srs_fingerprint", &self.srs_fingerprint())
            .finish_non_exhaustive()
    }
}

/// `k` of a verifying key.
pub fn vk_k(vk: &VerifyingKey<G1Affine>) -> u32 {
    vk.get_domain().k()
}

/// Generates the proving and verifying keys of `circuit` (a witness-free instance suffices)
/// with `srs`, whose `k` is the circuit's `k`. Deterministic for a fixed SRS and circuit.
#[tracing::instrument(skip_all, fields(k = srs.k()))]
pub fn keygen<C: Circuit<Fr>>(
    srs: &Srs,
    circuit: &C,
    options: KeygenOptions,
) -> Result<CircuitKeys> {
    crate::cpu::check()?;
    let pk = contain_panic("keygen", || {
        plonk::keygen_pk2(srs.params(), circuit, options.compress_selectors).map_err(|source| {
            ProverError::Halo2 {
                stage: "keygen",
                source,
            }
        })
    })?;
    let vk_hash = vk_hash(pk.get_vk());
    tracing::info!(%vk_hash, insecure_srs = srs.insecure(), "generated keys");
    Ok(CircuitKeys {
        pk,
        vk_hash,
        srs_fingerprint: srs.fingerprint_bytes(),
    })
}

/// Generates only the verifying key (cheaper than [`keygen`] when no proving is needed).
#[tracing::instrument(skip_all, fields(k = srs.k()))]
pub fn keygen_vk<C: Circuit<Fr>>(
    srs: &Srs,
    circuit: &C,
    options: KeygenOptions,
) -> Result<(VerifyingKey<G1Affine>, VkHash)> {
    let vk = contain_panic("keygen_vk", || {
        plonk::keygen_vk_custom(srs.params(), circuit, options.compress_selectors).map_err(
            |source| ProverError::Halo2 {
                stage: "keygen_vk",
                source,
            },
        )
    })?;
    let hash = vk_hash(&vk);
    Ok((vk, hash))
}

/// Canonical verifying-key bytes: halo2 `RawBytes` encoding ‖ `transcript_repr` (32 bytes LE).
pub fn vk_to_bytes(vk: &VerifyingKey<G1Affine>) -> Vec<u8> {
    let mut bytes = vk.to_bytes(SerdeFormat::RawBytes);
    bytes.extend_from_slice(vk.transcript_repr().to_repr().as_ref());
    bytes
}

/// SHA-256 of [`vk_to_bytes`].
pub fn vk_hash(vk: &VerifyingKey<G1Affine>) -> VkHash {
    VkHash(Sha256::digest(vk_to_bytes(vk)).into())
}

/// Parses canonical verifying-key bytes for circuit type `C` configured with `circuit_params`
/// (`circuit.params()`). Checks every commitment is on the curve and that the stored
/// constraint-system digest equals the one rebuilt from `C` — a vk read with the wrong circuit
/// type or parameters is rejected rather than silently wrong.
pub fn vk_from_bytes<C: Circuit<Fr>>(
    bytes: &[u8],
    circuit_params: C::Params,
) -> Result<(VerifyingKey<G1Affine>, VkHash)> {
    check_vk_prefix(bytes)?;
    let mut reader = bytes;
    let vk = contain_panic("VerifyingKey::read", || {
        VerifyingKey::<G1Affine>::read::<_, C>(&mut reader, SerdeFormat::RawBytes, circuit_params)
            .map_err(|source| ProverError::KeyRead { what: VK, source })
    })?;
    check_vk_points(&vk)?;
    let digest = vk.transcript_repr().to_repr();
    if reader != digest.as_ref() {
        return Err(ProverError::KeyFormat {
            what: VK,
            problem: "constraint-system digest does not match the circuit (wrong circuit type or circuit params?)",
        });
    }
    // One vk, one encoding: the hash is over the canonical re-encoding, and the input must be it.
    let canonical = vk_to_bytes(&vk);
    if canonical != bytes {
        return Err(ProverError::KeyFormat {
            what: VK,
            problem: "not the canonical encoding",
        });
    }
    let hash = VkHash(Sha256::digest(&canonical).into());
    Ok((vk, hash))
}

/// Reads a canonical verifying-key file; see [`vk_from_bytes`].
pub fn read_vk<C: Circuit<Fr>>(
    path: &Path,
    circuit_params: C::Params,
) -> Result<(VerifyingKey<G1Affine>, VkHash)> {
    vk_from_bytes::<C>(&read_file(path)?, circuit_params)
}

/// Writes canonical verifying-key bytes to `path` atomically.
pub fn write_vk(vk: &VerifyingKey<G1Affine>, path: &Path) -> Result<()> {
    atomic_write(path, &vk_to_bytes(vk))
}

/// Rejects version bytes and `k` values halo2 would choke on (huge allocations, asserts).
fn check_vk_prefix(bytes: &[u8]) -> Result<u32> {
    let (&version, rest) = bytes.split_first().ok_or(ProverError::KeyFormat {
        what: VK,
        problem: "empty",
    })?;
    if version != HALO2_VK_VERSION {
        return Err(ProverError::KeyFormat {
            what: VK,
            problem: "unsupported halo2 verifying-key version byte",
        });
    }
    let k_bytes: [u8; 4] =
        rest.get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(ProverError::KeyFormat {
                what: VK,
                problem: "truncated header",
            })?;
    let k = u32::from_le_bytes(k_bytes);
    if !(1..=MAX_K).contains(&k) {
        return Err(ProverError::KOutOfRange { k, max: MAX_K });
    }
    Ok(k)
}

fn check_vk_points(vk: &VerifyingKey<G1Affine>) -> Result<()> {
    let groups: [(&'static str, &[G1Affine]); 2] = [
        ("fixed_commitments", vk.fixed_commitments()),
        ("permutation_commitments", vk.permutation().commitments()),
    ];
    for (what, points) in groups {
        if let Some(index) = points.iter().position(|p| !bool::from(p.is_on_curve())) {
            return Err(ProverError::KeyInvalidPoint { what, index });
        }
    }
    Ok(())
}

/// Proving-key cache bytes (envelope + halo2 `RawBytesUnchecked` payload).
pub fn pk_to_bytes(keys: &CircuitKeys) -> Vec<u8> {
    let payload = keys.pk.to_bytes(SerdeFormat::RawBytesUnchecked);
    let mut out = Vec::with_capacity(PK_HEADER_LEN + payload.len());
    out.extend_from_slice(PK_MAGIC);
    out.extend_from_slice(&PK_ENVELOPE_VERSION.to_le_bytes());
    out.extend_from_slice(&keys.k().to_le_bytes());
    out.extend_from_slice(keys.vk_hash.as_bytes());
    out.extend_from_slice(&keys.srs_fingerprint);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    out
}

/// Writes a proving-key cache entry to `path` atomically.
pub fn write_pk(keys: &CircuitKeys, path: &Path) -> Result<()> {
    atomic_write(path, &pk_to_bytes(keys))
}

/// Parses a proving-key cache entry for circuit type `C` (configured with `circuit_params`)
/// that must belong to `srs`. With `expected_vk_hash`, also checks the key is the expected one.
pub fn pk_from_bytes<C: Circuit<Fr>>(
    bytes: &[u8],
    srs: &Srs,
    circuit_params: C::Params,
    expected_vk_hash: Option<&VkHash>,
) -> Result<CircuitKeys> {
    let format = |problem: &'static str| ProverError::KeyFormat { what: PK, problem };
    if bytes.len() < PK_HEADER_LEN {
        return Err(format("shorter than its header"));
    }
    let (header, payload) = bytes.split_at(PK_HEADER_LEN);
    let take = |range: std::ops::Range<usize>| &header[range];
    if take(0..8) != PK_MAGIC {
        return Err(format("not a zkgrid proving-key file (bad magic)"));
    }
    let le_u32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if le_u32(take(8..12)) != PK_ENVELOPE_VERSION {
        return Err(format("unsupported envelope version"));
    }
    let k = le_u32(take(12..16));
    let mut stored_vk_hash = [0u8; 32];
    stored_vk_hash.copy_from_slice(take(16..48));
    let stored_vk_hash = VkHash(stored_vk_hash);
    let mut stored_srs = [0u8; 32];
    stored_srs.copy_from_slice(take(48..80));
    let mut len = [0u8; 8];
    len.copy_from_slice(take(80..88));
    if u64::from_le_bytes(len) != payload.len() as u64 {
        return Err(format("payload length does not match the header"));
    }
    if Sha256::digest(payload).as_slice() != take(88..120) {
        return Err(format("payload checksum mismatch (corrupt file)"));
    }
    let srs_fingerprint = srs.fingerprint_bytes();
    if stored_srs != srs_fingerprint {
        return Err(ProverError::PkSrsMismatch {
            expected: srs.fingerprint(),
            found: format!("0x{}", hex::encode(stored_srs)),
        });
    }
    if k != srs.k() {
        return Err(ProverError::KMismatch {
            srs_k: srs.k(),
            key_k: k,
        });
    }
    if let Some(expected) = expected_vk_hash {
        if *expected != stored_vk_hash {
            return Err(ProverError::VkHashMismatch {
                expected: expected.to_string(),
                found: stored_vk_hash.to_string(),
            });
        }
    }
    check_vk_prefix(payload).map_err(|_| format("payload does not start with a verifying key"))?;
    let mut reader = payload;
    let pk = contain_panic("ProvingKey::read", || {
        ProvingKey::<G1Affine>::read::<_, C>(
            &mut reader,
            SerdeFormat::RawBytesUnchecked,
            circuit_params,
        )
        .map_err(|source| ProverError::KeyRead { what: PK, source })
    })?;
    if !reader.is_empty() {
        return Err(format("trailing bytes after the proving key"));
    }
    let vk_hash = vk_hash(pk.get_vk());
    if vk_hash != stored_vk_hash {
        // Same bytes but a different constraint system: wrong circuit type or params.
        return Err(ProverError::VkHashMismatch {
            expected: stored_vk_hash.to_string(),
            found: vk_hash.to_string(),
        });
    }
    Ok(CircuitKeys {
        pk,
        vk_hash,
        srs_fingerprint,
    })
}

/// Reads a proving-key cache file; see [`pk_from_bytes`].
pub fn read_pk<C: Circuit<Fr>>(
    path: &Path,
    srs: &Srs,
    circuit_params: C::Params,
    expected_vk_hash: Option<&VkHash>,
) -> Result<CircuitKeys> {
    pk_from_bytes::<C>(&read_file(path)?, srs, circuit_params, expected_vk_hash)
}
