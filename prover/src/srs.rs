//! Structured reference strings (KZG parameters on BN254).
//!
//! Three sources, one type ([`Srs`]):
//!
//! 1. **INSECURE dev SRS** ([`Srs::dev_insecure`], [`DevSrsCache`]): `ParamsKZG::setup` with the
//!    fixed seed [`DEV_SRS_SEED`], so keys are reproducible, and the toxic secret is public. It is
//!    labelled `INSECURE` everywhere ([`Srs::insecure`], [`Srs::label`], [`SrsInfo`]). Because the
//!    secret is drawn first from the seeded RNG, the dev SRS for `k` is exactly the dev SRS for
//!    any `K > k` downsized to `k`; the cache therefore keeps only large files and downsizes.
//! 2. **halo2 params files** ([`Srs::read_params_file`]), as written by `ParamsKZG::write_custom`.
//! 3. **snarkjs powers-of-tau files** ([`Srs::from_ptau`]), e.g. the Hermez/iden3 ceremony files.
//!
//! Everything loaded from disk is validated before use: points decode and lie on the curve (G2
//! points also in the prime-order subgroup), `g[0]` and `g2` are the standard generators, and the
//! G1 powers and the Lagrange basis are consistent with `s_g2` (randomised batch pairing check
//! `e(Σ rᵢ·gᵢ, [τ]₂) = e(Σ rᵢ·gᵢ₊₁, [1]₂)` and an MSM check of `g_lagrange` against `g`).
//! This does not verify a ceremony's contribution chain; do that with `snarkjs powersoftau verify`
//! or by comparing the file hash to the ceremony's published one.

use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use halo2_proofs::arithmetic::best_multiexp;
use halo2_proofs::halo2curves::bn256::{pairing, Bn256, Fr, G1Affine, G2Affine, G2};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::halo2curves::group::cofactor::CofactorGroup;
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::group::Curve;
use halo2_proofs::halo2curves::serde::SerdeObject;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::poly::commitment::{Blind, Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::poly::EvaluationDomain;
use halo2_proofs::SerdeFormat;
use rand::rngs::OsRng;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ProverError, Result};
use crate::util::{atomic_write, contain_panic, read_file};

/// Largest `k` this crate accepts. BN254's scalar field has 2-adicity 28 and the quotient is
/// computed on an extended domain of up to `2^(k+2)` rows for gates of degree ≤ 5, so `k ≤ 26`.
pub const MAX_K: u32 = 26;

/// Seed of the INSECURE dev SRS (ChaCha20). Anyone can recompute its toxic secret.
pub const DEV_SRS_SEED: [u8; 32] = *b"zkgrid INSECURE dev SRS seed v1.";

/// Label prefix carried by every dev SRS.
pub const DEV_SRS_LABEL: &str = "INSECURE dev SRS";

/// Bytes of one uncompressed G1 point in halo2 raw format (and snarkjs Montgomery LE format).
const G1_RAW: usize = 64;
/// Bytes of one uncompressed G2 point in halo2 raw format (and snarkjs Montgomery LE format).
const G2_RAW: usize = 128;

/// Where an [`Srs`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SrsSource {
    /// `ParamsKZG::setup` with [`DEV_SRS_SEED`]: the secret is public. Never use in production.
    DevInsecure,
    /// A halo2 params file.
    ParamsFile {
        /// The file it was read from.
        path: PathBuf,
    },
    /// A snarkjs powers-of-tau file.
    Ptau {
        /// The file it was read from.
        path: PathBuf,
        /// The file's power (it holds `2^power` usable G1 powers).
        power: u32,
    },
}

/// Serializable description of an SRS, for logs, bundles and APIs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrsInfo {
    /// Human-readable origin; starts with `"INSECURE dev SRS"` for the dev SRS.
    pub label: String,
    /// `true` when the toxic secret is public (dev SRS).
    pub insecure: bool,
    /// log2 of the number of G1 powers.
    pub k: u32,
    /// `0x`-hex SHA-256 identifying the secret τ (independent of `k`), see [`Srs::fingerprint`].
    pub fingerprint: String,
}

/// KZG parameters on BN254 plus their provenance.
#[derive(Clone)]
pub struct Srs {
    params: ParamsKZG<Bn256>,
    source: SrsSource,
}

impl Srs {
    /// Generates the INSECURE dev SRS for `k` in memory (no cache). Slow for large `k` (about
    /// 20 s at k = 16); prefer [`DevSrsCache`].
    pub fn dev_insecure(k: u32) -> Result<Self> {
        check_k(k)?;
        tracing::warn!(k, "generating {DEV_SRS_LABEL}: its toxic secret is public");
        let params = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(DEV_SRS_SEED));
        Ok(Self {
            params,
            source: SrsSource::DevInsecure,
        })
    }

    /// Reads a halo2 params file written by `ParamsKZG::write_custom` in `format` and validates
    /// it (see the module docs). `RawBytesUnchecked` files are length-checked and then validated
    /// like the others.
    pub fn read_params_file(path: &Path, format: SerdeFormat) -> Result<Self> {
        let bytes = read_file(path)?;
        let params = parse_params(path, &bytes, format, None)?;
        validate_params(&params)?;
        Ok(Self {
            params,
            source: SrsSource::ParamsFile {
                path: path.to_path_buf(),
            },
        })
    }

    /// Writes the parameters as a halo2 params file (atomically: temp file + rename).
    pub fn write_params_file(&self, path: &Path, format: SerdeFormat) -> Result<()> {
        let bytes = params_to_bytes(&self.params, format);
        atomic_write(path, &bytes)
    }

    /// Imports a snarkjs `.ptau` file (any phase; "prepared" files included) and builds
    /// parameters for `k ≤ power` from its first `2^k` τ-powers in G1 and `[1]₂, [τ]₂`.
    ///
    /// The file is read with seeks, so ceremony files much larger than memory are fine as long
    /// as `2^k` points fit.
    pub fn from_ptau(path: &Path, k: u32) -> Result<Self> {
        check_k(k)?;
        let ptau = read_ptau_powers(path, k)?;
        let params = params_from_parts(k, ptau.g, ptau.g2, ptau.s_g2)?;
        validate_params(&params)?;
        tracing::info!(path = %path.display(), power = ptau.power, k, "imported ptau SRS");
        Ok(Self {
            params,
            source: SrsSource::Ptau {
                path: path.to_path_buf(),
                power: ptau.power,
            },
        })
    }

    /// The halo2 parameters.
    pub fn params(&self) -> &ParamsKZG<Bn256> {
        &self.params
    }

    /// Consumes `self`, returning the halo2 parameters.
    pub fn into_params(self) -> ParamsKZG<Bn256> {
        self.params
    }

    /// log2 of the number of G1 powers (= the circuits' `k` these parameters serve).
    pub fn k(&self) -> u32 {
        self.params.k()
    }

    /// Where these parameters came from.
    pub fn source(&self) -> &SrsSource {
        &self.source
    }

    /// `true` for the dev SRS, whose toxic secret is public.
    pub fn insecure(&self) -> bool {
        matches!(self.source, SrsSource::DevInsecure)
    }

    /// Human-readable origin. The dev SRS label starts with `"INSECURE dev SRS"`.
    pub fn label(&self) -> String {
        self.to_string()
    }

    /// `0x`-hex SHA-256 over the raw bytes of `g[0] ‖ g[1] ‖ g2 ‖ s_g2`: identifies the secret τ
    /// and is the same for every `k` of one ceremony/seed.
    pub fn fingerprint(&self) -> String {
        format!("0x{}", hex::encode(self.fingerprint_bytes()))
    }

    /// Raw bytes of [`Srs::fingerprint`].
    pub(crate) fn fingerprint_bytes(&self) -> [u8; 32] {
        let g = self.params.get_g();
        let mut hasher = Sha256::new();
        hasher.update(b"zkgrid-srs-fingerprint-v1");
        for point in g.iter().take(2) {
            hasher.update(point.to_raw_bytes());
        }
        hasher.update(self.params.g2().to_raw_bytes());
        hasher.update(self.params.s_g2().to_raw_bytes());
        hasher.finalize().into()
    }

    /// Serializable summary (label, insecure flag, k, fingerprint).
    pub fn info(&self) -> SrsInfo {
        SrsInfo {
            label: self.label(),
            insecure: self.insecure(),
            k: self.k(),
            fingerprint: self.fingerprint(),
        }
    }

    /// Returns a copy downsized to `k` (truncated powers, recomputed Lagrange basis).
    pub fn downsized(&self, k: u32) -> Result<Self> {
        if k == self.k() {
            return Ok(self.clone());
        }
        check_downsize(k, self.k())?;
        // Clone only the powers that survive instead of the full parameter set.
        let g = self.params.get_g()[..1usize << k].to_vec();
        let params = params_from_parts(k, g, self.params.g2(), self.params.s_g2())?;
        Ok(Self {
            params,
            source: self.source.clone(),
        })
    }

    /// Downsizes in place to `k` and returns `self`.
    pub fn into_downsized(mut self, k: u32) -> Result<Self> {
        if k != self.k() {
            check_downsize(k, self.k())?;
            self.params.downsize(k);
        }
        Ok(self)
    }

    /// Re-runs the full consistency validation (points, generators, powers, Lagrange basis).
    pub fn validate(&self) -> Result<()> {
        validate_params(&self.params)
    }
}

impl fmt::Debug for Srs {
    /// Provenance only: the parameters themselves are megabytes of points.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Srs")
            .field("k", &self.k())
            .field("source", &self.source)
            .field("insecure", &self.insecure())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Srs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.k();
        match &self.source {
            SrsSource::DevInsecure => write!(
                f,
                "{DEV_SRS_LABEL} (public secret, seed {:?}, k = {k}) - never use in production",
                String::from_utf8_lossy(&DEV_SRS_SEED)
            ),
            SrsSource::ParamsFile { path } => {
                write!(f, "halo2 params file {} (k = {k})", file_name(path))
            }
            SrsSource::Ptau { path, power } => write!(
                f,
                "snarkjs ptau {} (power {power}, k = {k})",
                file_name(path)
            ),
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// On-disk cache of the INSECURE dev SRS under `<dir>/srs/dev-insecure-k{K}.srs`.
///
/// [`DevSrsCache::load`] serves `k` from the smallest cached file with `K ≥ k` (downsizing; this
/// equals a fresh dev setup at `k`), and otherwise generates at `max(k, generate_k)` and caches
/// that. Set `generate_k` to the largest `k` you will need so that setup runs once.
#[derive(Clone, Debug)]
pub struct DevSrsCache {
    dir: PathBuf,
    generate_k: u32,
}

impl DevSrsCache {
    /// A cache rooted at `dir` (files go to `dir/srs/`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            generate_k: 0,
        }
    }

    /// On a cache miss, generate at least this `k` (the largest `k` the caller will need).
    pub fn with_generate_k(mut self, generate_k: u32) -> Self {
        self.generate_k = generate_k;
        self
    }

    /// The directory holding the cached files.
    pub fn srs_dir(&self) -> PathBuf {
        self.dir.join("srs")
    }

    /// The cache file for `k`.
    pub fn path_for(&self, k: u32) -> PathBuf {
        self.srs_dir().join(format!("dev-insecure-k{k}.srs"))
    }

    /// The `k`s present in the cache, ascending.
    pub fn cached_ks(&self) -> Result<Vec<u32>> {
        let dir = self.srs_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ProverError::io("list", &dir, e)),
        };
        let mut ks = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ProverError::io("list", &dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let parsed = name
                .strip_prefix("dev-insecure-k")
                .and_then(|rest| rest.strip_suffix(".srs"))
                .and_then(|k| k.parse::<u32>().ok());
            if let Some(k) = parsed.filter(|k| (1..=MAX_K).contains(k)) {
                ks.push(k);
            }
        }
        ks.sort_unstable();
        Ok(ks)
    }

    /// Returns the INSECURE dev SRS for `k`, from the cache when possible (see the type docs).
    /// A cache file that fails validation is logged and regenerated.
    pub fn load(&self, k: u32) -> Result<Srs> {
        check_k(k)?;
        for cached_k in self.cached_ks()?.into_iter().filter(|&c| c >= k) {
            let path = self.path_for(cached_k);
            match read_dev_file(&path, cached_k) {
                Ok(srs) => {
                    tracing::warn!(k, cached_k, path = %path.display(), "using {DEV_SRS_LABEL} from cache");
                    return self.downsized_and_cached(srs, k);
                }
                Err(error) => {
                    tracing::warn!(%error, path = %path.display(), "ignoring invalid dev SRS cache file");
                }
            }
        }
        let generate_k = k.max(self.generate_k.min(MAX_K));
        let srs = Srs::dev_insecure(generate_k)?;
        let path = self.path_for(generate_k);
        atomic_write(&path, &params_to_bytes(&srs.params, SerdeFormat::RawBytes))?;
        tracing::info!(path = %path.display(), "cached {DEV_SRS_LABEL}");
        self.downsized_and_cached(srs, k)
    }

    /// `srs` downsized to `k`; a downsized SRS is cached as well, because downsizing
    /// recomputes the Lagrange basis (seconds at k ≥ 11) and would otherwise be paid by every
    /// later load at this `k`. A failed cache write only costs time later, so it is logged.
    fn downsized_and_cached(&self, srs: Srs, k: u32) -> Result<Srs> {
        if srs.k() == k {
            return Ok(srs);
        }
        let small = srs.into_downsized(k)?;
        let path = self.path_for(k);
        match atomic_write(
            &path,
            &params_to_bytes(&small.params, SerdeFormat::RawBytes),
        ) {
            Ok(()) => tracing::info!(path = %path.display(), "cached downsized {DEV_SRS_LABEL}"),
            Err(error) => tracing::warn!(%error, "could not cache the downsized dev SRS"),
        }
        Ok(small)
    }
}

fn read_dev_file(path: &Path, k: u32) -> Result<Srs> {
    let bytes = read_file(path)?;
    let params = parse_params(path, &bytes, SerdeFormat::RawBytesUnchecked, Some(k))?;
    validate_params(&params)?;
    // It must be *our* dev SRS: compare [τ]₂ with the secret re-derived from the seed.
    let secret = Fr::random(ChaCha20Rng::from_seed(DEV_SRS_SEED));
    if params.s_g2() != (G2Affine::generator() * secret).to_affine() {
        return Err(ProverError::SrsInconsistent {
            check: "dev SRS cache file was not generated from DEV_SRS_SEED",
        });
    }
    Ok(Srs {
        params,
        source: SrsSource::DevInsecure,
    })
}

fn check_k(k: u32) -> Result<()> {
    if (1..=MAX_K).contains(&k) {
        Ok(())
    } else {
        Err(ProverError::KOutOfRange { k, max: MAX_K })
    }
}

fn check_downsize(k: u32, available: u32) -> Result<()> {
    check_k(k)?;
    if k > available {
        return Err(ProverError::SrsTooSmall {
            requested: k,
            available,
        });
    }
    Ok(())
}

fn params_to_bytes(params: &ParamsKZG<Bn256>, format: SerdeFormat) -> Vec<u8> {
    let n = 1usize << params.k();
    let mut bytes = Vec::with_capacity(4 + 2 * n * G1_RAW + 2 * G2_RAW);
    // Writing into a Vec cannot fail.
    let _ = params.write_custom(&mut bytes, format);
    bytes
}

/// Expected byte length of a params file for `k` in `format`.
fn params_file_len(k: u32, format: SerdeFormat) -> u64 {
    let n = 1u64 << k;
    match format {
        SerdeFormat::Processed => 4 + 2 * n * 32 + 2 * 64,
        SerdeFormat::RawBytes | SerdeFormat::RawBytesUnchecked => {
            4 + 2 * n * G1_RAW as u64 + 2 * G2_RAW as u64
        }
    }
}

/// Parses params bytes after checking the header `k` and the exact length, so that halo2's
/// reader (which `unwrap()`s on short input in `RawBytesUnchecked` mode) cannot fail midway.
fn parse_params(
    path: &Path,
    bytes: &[u8],
    format: SerdeFormat,
    expected_k: Option<u32>,
) -> Result<ParamsKZG<Bn256>> {
    let header: [u8; 4] = bytes
        .get(..4)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| ProverError::SrsFileLength {
            path: path.to_path_buf(),
            k: 0,
            expected: 4,
            found: bytes.len() as u64,
        })?;
    let k = u32::from_le_bytes(header);
    if let Some(expected) = expected_k {
        if k != expected {
            return Err(ProverError::SrsFileK {
                path: path.to_path_buf(),
                expected,
                found: k,
            });
        }
    }
    check_k(k)?;
    let expected = params_file_len(k, format);
    if bytes.len() as u64 != expected {
        return Err(ProverError::SrsFileLength {
            path: path.to_path_buf(),
            k,
            expected,
            found: bytes.len() as u64,
        });
    }
    contain_panic("ParamsKZG::read_custom", || {
        ParamsKZG::<Bn256>::read_custom(&mut &bytes[..], format)
            .map_err(|e| ProverError::io("parse params", path, e))
    })
}

/// Builds `ParamsKZG` for `k` from G1 powers and the two G2 points; the Lagrange basis is
/// computed from `g`.
fn params_from_parts(
    k: u32,
    g: Vec<G1Affine>,
    g2: G2Affine,
    s_g2: G2Affine,
) -> Result<ParamsKZG<Bn256>> {
    if g.len() != 1usize << k {
        return Err(ProverError::SrsTooSmall {
            requested: k,
            available: g.len().checked_ilog2().unwrap_or(0),
        });
    }
    // `ParamsKZG::from_parts` is a method; give it a trivial k = 0 instance read from bytes.
    let mut seed = Vec::with_capacity(4 + 2 * G1_RAW + 2 * G2_RAW);
    seed.extend_from_slice(&0u32.to_le_bytes());
    seed.extend_from_slice(&G1Affine::generator().to_raw_bytes());
    seed.extend_from_slice(&G1Affine::generator().to_raw_bytes());
    seed.extend_from_slice(&g2.to_raw_bytes());
    seed.extend_from_slice(&s_g2.to_raw_bytes());
    let trivial = ParamsKZG::<Bn256>::read_custom(&mut &seed[..], SerdeFormat::RawBytes)
        .map_err(|e| ProverError::io("build params", "<memory>", e))?;
    Ok(trivial.from_parts(k, g, None, g2, s_g2))
}

/// Full validation of KZG parameters; see the module docs.
fn validate_params(params: &ParamsKZG<Bn256>) -> Result<()> {
    let k = params.k();
    check_k(k)?;
    let n = 1usize << k;
    let g = params.get_g();
    if g.len() != n {
        return Err(ProverError::SrsInconsistent {
            check: "number of G1 powers differs from 2^k",
        });
    }
    check_g1_points(g, "g")?;
    let g2 = params.g2();
    let s_g2 = params.s_g2();
    check_g2_point(&g2, "g2")?;
    check_g2_point(&s_g2, "s_g2")?;
    if g[0] != G1Affine::generator() {
        return Err(ProverError::SrsInconsistent {
            check: "g[0] is not the G1 generator",
        });
    }
    if g2 != G2Affine::generator() {
        return Err(ProverError::SrsInconsistent {
            check: "g2 is not the G2 generator",
        });
    }
    if bool::from(s_g2.is_identity()) || bool::from(g[1].is_identity()) {
        return Err(ProverError::SrsInconsistent {
            check: "tau is zero",
        });
    }
    check_powers(g, &g2, &s_g2)?;
    check_lagrange(params)
}

fn check_g1_points(points: &[G1Affine], what: &'static str) -> Result<()> {
    match points.iter().position(|p| !bool::from(p.is_on_curve())) {
        Some(index) => Err(ProverError::SrsInvalidPoint { what, index }),
        None => Ok(()),
    }
}

fn check_g2_point(point: &G2Affine, what: &'static str) -> Result<()> {
    let valid = bool::from(point.is_on_curve()) && bool::from(G2::from(*point).is_torsion_free());
    if valid {
        Ok(())
    } else {
        Err(ProverError::SrsInvalidPoint { what, index: 0 })
    }
}

/// `e(Σ rᵢ·gᵢ, s_g2) == e(Σ rᵢ·gᵢ₊₁, g2)` for random `rᵢ`: all `gᵢ₊₁ = τ·gᵢ` w.h.p.
fn check_powers(g: &[G1Affine], g2: &G2Affine, s_g2: &G2Affine) -> Result<()> {
    let m = g.len() - 1;
    let r: Vec<Fr> = (0..m).map(|_| Fr::random(OsRng)).collect();
    let lhs = best_multiexp(&r, &g[..m]).to_affine();
    let rhs = best_multiexp(&r, &g[1..]).to_affine();
    if pairing(&lhs, s_g2) == pairing(&rhs, g2) {
        Ok(())
    } else {
        Err(ProverError::SrsInconsistent {
            check: "G1 powers are not successive powers of the G2 secret",
        })
    }
}

/// Commits a random vector once through `g_lagrange` and once through `g` after an inverse
/// FFT; equal results mean `g_lagrange` is the Lagrange basis of `g` w.h.p.
fn check_lagrange(params: &ParamsKZG<Bn256>) -> Result<()> {
    let k = params.k();
    let domain = EvaluationDomain::<Fr>::new(2, k);
    let values: Vec<Fr> = (0..1usize << k).map(|_| Fr::random(OsRng)).collect();
    let lagrange = domain.lagrange_from_vec(values);
    let coeff = domain.lagrange_to_coeff(lagrange.clone());
    let via_lagrange = params.commit_lagrange(&lagrange, Blind::default());
    let via_coeff = params.commit(&coeff, Blind::default());
    if via_lagrange == via_coeff {
        Ok(())
    } else {
        Err(ProverError::SrsInconsistent {
            check: "g_lagrange is not the Lagrange basis of g",
        })
    }
}

/// BN254 base-field modulus, little-endian (how snarkjs stores `q` in the ptau header).
const BN254_Q_LE: [u8; 32] = [
    0x47, 0xfd, 0x7c, 0xd8, 0x16, 0x8c, 0x20, 0x3c, 0x8d, 0xca, 0x71, 0x68, 0x91, 0x6a, 0x81, 0x97,
    0x5d, 0x58, 0x81, 0x81, 0xb6, 0x45, 0x50, 0xb8, 0x29, 0xa0, 0x31, 0xe1, 0x72, 0x4e, 0x64, 0x30,
];

/// Largest ptau power there is (BN254's 2-adicity).
const MAX_PTAU_POWER: u32 = 28;

struct PtauPowers {
    power: u32,
    g: Vec<G1Affine>,
    g2: G2Affine,
    s_g2: G2Affine,
}

/// Reads the header, `2^k` τ-powers in G1 (section 2) and `[1]₂, [τ]₂` (section 3).
///
/// Format (snarkjs `binfileutils`): magic `"ptau"`, version `u32 = 1`, section count `u32`, then
/// sections `(id: u32, size: u64, body)`, all little-endian. Section 1 (header): `n8: u32 = 32`,
/// `q` (n8 bytes LE), `power: u32`, `ceremonyPower: u32`. Section 2: `2^(power+1) - 1` G1 points,
/// section 3: `2^power` G2 points, coordinates in Montgomery form, little-endian — which is
/// exactly halo2curves' raw point encoding.
fn read_ptau_powers(path: &Path, k: u32) -> Result<PtauPowers> {
    let format_err = |problem: &'static str| ProverError::PtauFormat {
        path: path.to_path_buf(),
        problem,
    };
    let io_err = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format_err("unexpected end of file")
        } else {
            ProverError::io("read", path, e)
        }
    };
    let file = fs::File::open(path).map_err(|e| ProverError::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| ProverError::io("stat", path, e))?
        .len();
    let mut reader = std::io::BufReader::new(file);

    let mut magic = [0u8; 4];
    reader.read_exact(&mut magic).map_err(io_err)?;
    if &magic != b"ptau" {
        return Err(format_err("not a ptau file (bad magic)"));
    }
    let version = read_u32(&mut reader).map_err(io_err)?;
    if version != 1 {
        return Err(format_err("unsupported ptau version (expected 1)"));
    }
    let n_sections = read_u32(&mut reader).map_err(io_err)?;
    let mut sections: Vec<(u32, u64, u64)> = Vec::new(); // (id, body offset, size)
    for _ in 0..n_sections {
        let id = read_u32(&mut reader).map_err(io_err)?;
        let size = read_u64(&mut reader).map_err(io_err)?;
        let offset = reader.stream_position().map_err(io_err)?;
        let end = offset
            .checked_add(size)
            .filter(|&end| end <= file_len)
            .ok_or_else(|| format_err("section extends past the end of the file"))?;
        sections.push((id, offset, size));
        reader.seek(SeekFrom::Start(end)).map_err(io_err)?;
    }
    let section = |id: u32| -> Result<(u64, u64)> {
        let found: Vec<_> = sections.iter().filter(|s| s.0 == id).collect();
        match found.as_slice() {
            [(_, offset, size)] => Ok((*offset, *size)),
            _ => Err(ProverError::PtauSectionCount {
                path: path.to_path_buf(),
                section: id,
                count: found.len(),
            }),
        }
    };
    let expect_size = |id: u32, found: u64, expected: u64| -> Result<()> {
        if found == expected {
            Ok(())
        } else {
            Err(ProverError::PtauSectionSize {
                path: path.to_path_buf(),
                section: id,
                expected,
                found,
            })
        }
    };

    // Section 1: header.
    let (offset, size) = section(1)?;
    if size != 40 && size != 44 {
        return Err(format_err("unexpected header section size"));
    }
    reader.seek(SeekFrom::Start(offset)).map_err(io_err)?;
    let n8 = read_u32(&mut reader).map_err(io_err)?;
    if n8 != 32 {
        return Err(format_err("field element size is not 32 bytes (not BN254)"));
    }
    let mut q = [0u8; 32];
    reader.read_exact(&mut q).map_err(io_err)?;
    if q != BN254_Q_LE {
        return Err(format_err("curve is not BN254 (bn128)"));
    }
    let power = read_u32(&mut reader).map_err(io_err)?;
    if power == 0 || power > MAX_PTAU_POWER {
        return Err(format_err("power out of range"));
    }
    if k > power {
        return Err(ProverError::PtauPowerTooSmall {
            path: path.to_path_buf(),
            power,
            k,
        });
    }

    // Section 2: tauG1, 2^(power+1) - 1 points.
    let (g1_offset, g1_size) = section(2)?;
    expect_size(2, g1_size, ((1u64 << (power + 1)) - 1) * G1_RAW as u64)?;
    // Section 3: tauG2, 2^power points.
    let (g2_offset, g2_size) = section(3)?;
    expect_size(3, g2_size, (1u64 << power) * G2_RAW as u64)?;

    let n = 1usize << k;
    reader.seek(SeekFrom::Start(g1_offset)).map_err(io_err)?;
    let mut g = Vec::with_capacity(n);
    let mut buf = [0u8; G1_RAW];
    for index in 0..n {
        reader.read_exact(&mut buf).map_err(io_err)?;
        let point = G1Affine::from_raw_bytes(&buf).ok_or(ProverError::SrsInvalidPoint {
            what: "tauG1",
            index,
        })?;
        g.push(point);
    }
    reader.seek(SeekFrom::Start(g2_offset)).map_err(io_err)?;
    let mut g2_points = [G2Affine::identity(); 2];
    let mut buf = [0u8; G2_RAW];
    for (index, slot) in g2_points.iter_mut().enumerate() {
        reader.read_exact(&mut buf).map_err(io_err)?;
        *slot = G2Affine::from_raw_bytes(&buf).ok_or(ProverError::SrsInvalidPoint {
            what: "tauG2",
            index,
        })?;
    }
    let [g2, s_g2] = g2_points;
    Ok(PtauPowers { power, g, g2, s_g2 })
}

fn read_u32(reader: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    reader.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(reader: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    reader.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::halo2curves::bn256::Fq;
    use halo2_proofs::halo2curves::ff::PrimeField;

    fn bytes(srs: &Srs) -> Vec<u8> {
        params_to_bytes(srs.params(), SerdeFormat::RawBytes)
    }

    #[test]
    fn bn254_q_constant_matches_halo2curves() {
        let mut be = BN254_Q_LE;
        be.reverse();
        assert_eq!(format!("0x{}", hex::encode(be)), Fq::MODULUS);
    }

    #[test]
    fn dev_srs_downsized_equals_fresh_setup() -> anyhow::Result<()> {
        let big = Srs::dev_insecure(6)?;
        let small = Srs::dev_insecure(4)?;
        assert_eq!(bytes(&big.downsized(4)?), bytes(&small));
        assert_eq!(bytes(&big.clone().into_downsized(4)?), bytes(&small));
        assert_eq!(big.fingerprint(), small.fingerprint());
        assert!(small.insecure());
        assert!(small.label().starts_with(DEV_SRS_LABEL));
        assert!(small.info().insecure);
        Ok(())
    }

    #[test]
    fn k_and_downsize_bounds_are_errors() -> anyhow::Result<()> {
        assert!(matches!(
            Srs::dev_insecure(0),
            Err(ProverError::KOutOfRange { k: 0, .. })
        ));
        assert!(matches!(
            Srs::dev_insecure(MAX_K + 1),
            Err(ProverError::KOutOfRange { .. })
        ));
        let srs = Srs::dev_insecure(3)?;
        assert!(matches!(
            srs.downsized(4),
            Err(ProverError::SrsTooSmall {
                requested: 4,
                available: 3
            })
        ));
        Ok(())
    }

    #[test]
    fn dev_cache_hit_is_identical_and_downsized_copies_are_cached() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let cache = DevSrsCache::new(dir.path()).with_generate_k(6);
        let first = cache.load(5)?;
        assert_eq!(
            cache.cached_ks()?,
            vec![5, 6],
            "generated once at generate_k, downsized copy cached"
        );
        let again = cache.load(5)?;
        assert_eq!(bytes(&first), bytes(&again));
        assert_eq!(bytes(&first), bytes(&Srs::dev_insecure(5)?));
        let full = cache.load(6)?;
        assert_eq!(full.k(), 6);
        assert_eq!(cache.cached_ks()?, vec![5, 6]);
        // A smaller k is downsized from the smallest cached k above it, and cached.
        let four = cache.load(4)?;
        assert_eq!(bytes(&four), bytes(&Srs::dev_insecure(4)?));
        assert_eq!(cache.cached_ks()?, vec![4, 5, 6]);
        assert!(full.insecure());
        Ok(())
    }

    #[test]
    fn corrupt_dev_cache_is_regenerated() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let cache = DevSrsCache::new(dir.path());
        let good = cache.load(4)?;
        let path = cache.path_for(4);
        let mut raw = fs::read(&path)?;
        raw[4 + 3 * G1_RAW + 7] ^= 1; // corrupt g[3]
        fs::write(&path, &raw)?;
        assert!(read_dev_file(&path, 4).is_err());
        let reloaded = cache.load(4)?;
        assert_eq!(bytes(&good), bytes(&reloaded));
        assert!(read_dev_file(&path, 4).is_ok(), "cache file rewritten");
        Ok(())
    }

    #[test]
    fn params_file_round_trip_and_rejections() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let srs = Srs::dev_insecure(4)?;
        for format in [
            SerdeFormat::Processed,
            SerdeFormat::RawBytes,
            SerdeFormat::RawBytesUnchecked,
        ] {
            let path = dir.path().join(format!("p-{format:?}.params"));
            srs.write_params_file(&path, format)?;
            let back = Srs::read_params_file(&path, format)?;
            assert_eq!(bytes(&back), bytes(&srs));
            assert!(!back.insecure(), "provenance of a file is the file");
        }

        let path = dir.path().join("truncated.params");
        let full = params_to_bytes(srs.params(), SerdeFormat::RawBytesUnchecked);
        fs::write(&path, &full[..full.len() - 1])?;
        assert!(matches!(
            Srs::read_params_file(&path, SerdeFormat::RawBytesUnchecked),
            Err(ProverError::SrsFileLength { .. })
        ));

        // A point off the curve (raw reads do not check this themselves).
        let mut bad = full.clone();
        bad[4 + 2 * G1_RAW] ^= 1;
        fs::write(&path, &bad)?;
        assert!(matches!(
            Srs::read_params_file(&path, SerdeFormat::RawBytes),
            Err(ProverError::SrsInvalidPoint {
                what: "g",
                index: 2
            })
        ));

        // Valid points but a wrong power: swap g[2] and g[3].
        let mut swapped = full.clone();
        let (a, b) = (4 + 2 * G1_RAW, 4 + 3 * G1_RAW);
        let tmp = swapped[a..a + G1_RAW].to_vec();
        swapped.copy_within(b..b + G1_RAW, a);
        swapped[b..b + G1_RAW].copy_from_slice(&tmp);
        fs::write(&path, &swapped)?;
        assert!(matches!(
            Srs::read_params_file(&path, SerdeFormat::RawBytes),
            Err(ProverError::SrsInconsistent { .. })
        ));

        // Valid g but a wrong Lagrange basis: swap g_lagrange[0] and g_lagrange[1].
        let n = 1usize << 4;
        let mut lag = full.clone();
        let (a, b) = (4 + n * G1_RAW, 4 + (n + 1) * G1_RAW);
        let tmp = lag[a..a + G1_RAW].to_vec();
        lag.copy_within(b..b + G1_RAW, a);
        lag[b..b + G1_RAW].copy_from_slice(&tmp);
        fs::write(&path, &lag)?;
        assert!(matches!(
            Srs::read_params_file(&path, SerdeFormat::RawBytes),
            Err(ProverError::SrsInconsistent {
                check: "g_lagrange is not the Lagrange basis of g"
            })
        ));

        // Header declaring a huge k must not allocate or panic.
        let mut huge = full;
        huge[..4].copy_from_slice(&40u32.to_le_bytes());
        fs::write(&path, &huge)?;
        assert!(matches!(
            Srs::read_params_file(&path, SerdeFormat::RawBytesUnchecked),
            Err(ProverError::KOutOfRange { k: 40, .. })
        ));
        Ok(())
    }

    /// Writes a minimal ptau container with the given sections.
    fn ptau_bytes(version: u32, sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"ptau".to_vec();
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        for (id, body) in sections {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(body.len() as u64).to_le_bytes());
            out.extend_from_slice(body);
        }
        out
    }

    fn header(power: u32) -> Vec<u8> {
        let mut h = 32u32.to_le_bytes().to_vec();
        h.extend_from_slice(&BN254_Q_LE);
        h.extend_from_slice(&power.to_le_bytes());
        h.extend_from_slice(&power.to_le_bytes());
        h
    }

    /// A ptau body from the dev SRS (power 2), written in snarkjs layout.
    fn dev_ptau_sections(power: u32) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
        let secret = Fr::random(ChaCha20Rng::from_seed(DEV_SRS_SEED));
        let mut tau_g1 = Vec::new();
        let mut acc = Fr::ONE;
        for _ in 0..(1u32 << (power + 1)) - 1 {
            tau_g1.extend((G1Affine::generator() * acc).to_affine().to_raw_bytes());
            acc *= secret;
        }
        let mut tau_g2 = Vec::new();
        let mut acc = Fr::ONE;
        for _ in 0..1u32 << power {
            tau_g2.extend((G2Affine::generator() * acc).to_affine().to_raw_bytes());
            acc *= secret;
        }
        Ok(vec![(1, header(power)), (2, tau_g1), (3, tau_g2)])
    }

    #[test]
    fn synthetic_ptau_matches_dev_setup() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("dev.ptau");
        fs::write(&path, ptau_bytes(1, &dev_ptau_sections(3)?))?;
        let imported = Srs::from_ptau(&path, 3)?;
        assert_eq!(bytes(&imported), bytes(&Srs::dev_insecure(3)?));
        assert!(!imported.insecure());
        assert!(matches!(
            Srs::from_ptau(&path, 4),
            Err(ProverError::PtauPowerTooSmall { power: 3, k: 4, .. })
        ));
        Ok(())
    }

    #[test]
    fn malformed_ptau_files_are_typed_errors() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("bad.ptau");
        let good = dev_ptau_sections(2)?;
        let check = |bytes: Vec<u8>| -> anyhow::Result<ProverError> {
            fs::write(&path, bytes)?;
            match Srs::from_ptau(&path, 2) {
                Ok(_) => anyhow::bail!("malformed ptau accepted"),
                Err(e) => Ok(e),
            }
        };

        let mut wrong_magic = ptau_bytes(1, &good);
        wrong_magic[0] = b'x';
        assert!(matches!(
            check(wrong_magic)?,
            ProverError::PtauFormat { .. }
        ));
        assert!(matches!(
            check(ptau_bytes(2, &good))?,
            ProverError::PtauFormat { .. }
        ));
        assert!(matches!(
            check(ptau_bytes(1, &good[..2]))?,
            ProverError::PtauSectionCount {
                section: 3,
                count: 0,
                ..
            }
        ));
        let mut dup = good.clone();
        dup.push(good[2].clone());
        assert!(matches!(
            check(ptau_bytes(1, &dup))?,
            ProverError::PtauSectionCount {
                section: 3,
                count: 2,
                ..
            }
        ));
        let mut short = good.clone();
        short[1].1.truncate(G1_RAW);
        assert!(matches!(
            check(ptau_bytes(1, &short))?,
            ProverError::PtauSectionSize { section: 2, .. }
        ));
        let mut other_curve = good.clone();
        other_curve[0].1[4] ^= 1;
        assert!(matches!(
            check(ptau_bytes(1, &other_curve))?,
            ProverError::PtauFormat { .. }
        ));
        let mut truncated = ptau_bytes(1, &good);
        truncated.truncate(truncated.len() - 10);
        assert!(matches!(check(truncated)?, ProverError::PtauFormat { .. }));
        let mut off_curve = good.clone();
        off_curve[1].1[G1_RAW + 5] ^= 1;
        assert!(matches!(
            check(ptau_bytes(1, &off_curve))?,
            ProverError::SrsInvalidPoint {
                what: "tauG1",
                index: 1
            }
        ));
        // Consistent-looking points from a different secret in G2.
        let mut mixed = good.clone();
        let other = (G2Affine::generator() * Fr::from(5u64)).to_affine();
        mixed[2].1[G2_RAW..2 * G2_RAW].copy_from_slice(&other.to_raw_bytes());
        assert!(matches!(
            check(ptau_bytes(1, &mixed))?,
            ProverError::SrsInconsistent { .. }
        ));
        Ok(())
    }
}
