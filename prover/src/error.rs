//! The crate's single error type, [`ProverError`].

use std::path::PathBuf;

use halo2_proofs::plonk;

/// Everything that can go wrong while loading an SRS, generating or reading keys, proving,
/// verifying or (de)serializing a [`crate::ProofBundle`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProverError {
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"read"`, `"write"`, `"rename"`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// `k` (log2 of the number of rows) is outside what this crate supports.
    #[error("k = {k} is out of range: supported 1..={max}")]
    KOutOfRange {
        /// The requested `k`.
        k: u32,
        /// The largest supported `k`.
        max: u32,
    },

    /// An SRS was asked to provide more rows than it holds.
    #[error("SRS holds k = {available}, cannot provide k = {requested}")]
    SrsTooSmall {
        /// The requested `k`.
        requested: u32,
        /// The `k` of the SRS at hand.
        available: u32,
    },

    /// An SRS file has the wrong size for its declared `k` and format.
    #[error("SRS file {path} has {found} bytes, expected {expected} for k = {k}")]
    SrsFileLength {
        /// The file.
        path: PathBuf,
        /// The `k` declared in its header.
        k: u32,
        /// Expected byte length.
        expected: u64,
        /// Actual byte length.
        found: u64,
    },

    /// The `k` stored in an SRS file does not match what its name or the caller expects.
    #[error("SRS file {path} declares k = {found}, expected k = {expected}")]
    SrsFileK {
        /// The file.
        path: PathBuf,
        /// Expected `k`.
        expected: u32,
        /// `k` found in the file header.
        found: u32,
    },

    /// An SRS point is not a valid curve point (bad coordinate encoding, not on the curve, or not
    /// in the prime-order subgroup).
    #[error("SRS {what}[{index}] is not a valid curve point")]
    SrsInvalidPoint {
        /// Which vector (`"g"`, `"g_lagrange"`, `"tauG1"`, `"tauG2"`, ...).
        what: &'static str,
        /// Index in that vector.
        index: usize,
    },

    /// The SRS is structurally valid but its points are not consistent powers of one secret.
    #[error("SRS consistency check failed: {check}")]
    SrsInconsistent {
        /// Which check failed (e.g. `"g[0] is not the G1 generator"`).
        check: &'static str,
    },

    /// A file is not a snarkjs `.ptau` file or uses an unsupported layout.
    #[error("ptau {path}: {problem}")]
    PtauFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },

    /// A `.ptau` section has a size that does not match the header's power.
    #[error("ptau {path}: section {section} has {found} bytes, expected {expected}")]
    PtauSectionSize {
        /// The file.
        path: PathBuf,
        /// Section id.
        section: u32,
        /// Expected byte length.
        expected: u64,
        /// Actual byte length.
        found: u64,
    },

    /// A required `.ptau` section is missing or duplicated.
    #[error("ptau {path}: section {section} appears {count} times, expected exactly once")]
    PtauSectionCount {
        /// The file.
        path: PathBuf,
        /// Section id.
        section: u32,
        /// How often it appears.
        count: usize,
    },

    /// The `.ptau` file's power is too small for the requested `k`.
    #[error("ptau {path} has power {power}, cannot provide k = {k}")]
    PtauPowerTooSmall {
        /// The file.
        path: PathBuf,
        /// The ceremony power declared in the header.
        power: u32,
        /// The requested `k`.
        k: u32,
    },

    /// halo2 reported an error while generating keys, proving or verifying.
    #[error("halo2 {stage} failed: {source}")]
    Halo2 {
        /// `"keygen"`, `"keygen_vk"` or `"prove"`.
        stage: &'static str,
        /// The halo2 error.
        #[source]
        source: plonk::Error,
    },

    /// A proof did not verify.
    #[error("proof rejected: {source}")]
    VerificationFailed {
        /// The halo2 verifier's reason.
        #[source]
        source: plonk::Error,
    },

    /// A proof has bytes after the end of its transcript.
    #[error("proof has {count} trailing bytes after the transcript")]
    TrailingProofBytes {
        /// How many bytes were left unread.
        count: usize,
    },

    /// The SRS `k` does not match the key's `k`.
    #[error("SRS has k = {srs_k} but the key was generated for k = {key_k}")]
    KMismatch {
        /// `k` of the SRS.
        srs_k: u32,
        /// `k` of the key.
        key_k: u32,
    },

    /// The number of instance columns does not match the circuit.
    #[error("circuit has {expected} instance columns, got {found}")]
    InstanceColumns {
        /// Instance columns the circuit declares.
        expected: usize,
        /// Instance columns provided.
        found: usize,
    },

    /// An instance column has more values than the circuit has usable rows.
    #[error("instance column {column} has {len} values, at most {max} fit")]
    InstanceTooLong {
        /// Column index.
        column: usize,
        /// Values provided.
        len: usize,
        /// Usable rows.
        max: usize,
    },

    /// Key bytes could not be parsed by halo2.
    #[error("cannot read {what}: {source}")]
    KeyRead {
        /// `"verifying key"` or `"proving key"`.
        what: &'static str,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },

    /// Key bytes are structurally wrong before halo2 even parses them.
    #[error("malformed {what}: {problem}")]
    KeyFormat {
        /// `"verifying key"` or `"proving key"`.
        what: &'static str,
        /// What is wrong.
        problem: &'static str,
    },

    /// A verifying key holds a commitment that is not a valid curve point.
    #[error("verifying key {what}[{index}] is not a valid curve point")]
    KeyInvalidPoint {
        /// `"fixed_commitments"` or `"permutation_commitments"`.
        what: &'static str,
        /// Index of the commitment.
        index: usize,
    },

    /// A proving-key cache entry was generated with a different SRS.
    #[error("proving key was generated with SRS {found}, not with {expected}")]
    PkSrsMismatch {
        /// Fingerprint of the SRS supplied by the caller.
        expected: String,
        /// Fingerprint stored in the cache entry.
        found: String,
    },

    /// A verifying-key hash does not match the expected one.
    #[error("verifying-key hash mismatch: expected {expected}, found {found}")]
    VkHashMismatch {
        /// The expected hash.
        expected: String,
        /// The hash found.
        found: String,
    },

    /// A dependency panicked on malformed input; the panic was contained.
    #[error("{what} panicked on malformed input")]
    DependencyPanic {
        /// The operation that panicked.
        what: &'static str,
    },

    /// Proof bundle JSON is not well formed or misses fields.
    #[error("malformed proof bundle JSON: {source}")]
    BundleJson {
        /// The serde_json error (carries line and column).
        #[source]
        source: serde_json::Error,
    },

    /// A proof bundle declares a format version this crate does not read.
    #[error("unsupported proof bundle format version {found} (supported: {supported})")]
    BundleVersion {
        /// Version in the bundle.
        found: u32,
        /// Version this crate reads.
        supported: u32,
    },

    /// A hex string in a proof bundle lacks the `0x` prefix.
    #[error("proof bundle field {field}: hex string must start with 0x")]
    BundleHexPrefix {
        /// The field (e.g. `"proof"`, `"instances[0][3]"`).
        field: String,
    },

    /// A hex string in a proof bundle is not valid hex.
    #[error("proof bundle field {field}: {source}")]
    BundleHex {
        /// The field.
        field: String,
        /// The hex decoding error.
        #[source]
        source: hex::FromHexError,
    },

    /// A fixed-width hex value has the wrong length.
    #[error("proof bundle field {field}: expected {expected} bytes, found {found}")]
    BundleHexLength {
        /// The field.
        field: String,
        /// Expected byte length.
        expected: usize,
        /// Actual byte length.
        found: usize,
    },

    /// A field element is not in canonical form (its value is not below the BN254 scalar modulus).
    #[error("proof bundle field {field}: value is not a canonical BN254 scalar (>= modulus)")]
    BundleNonCanonical {
        /// The field.
        field: String,
    },

    /// The bundle's calldata is not the EVM encoding of its instances and proof.
    #[error("proof bundle calldata does not match its instances and proof")]
    BundleCalldataMismatch,

    /// The bundle's `k` does not match the verifying key.
    #[error("proof bundle has k = {bundle_k}, verifying key has k = {vk_k}")]
    BundleKMismatch {
        /// `k` in the bundle.
        bundle_k: u32,
        /// `k` of the verifying key.
        vk_k: u32,
    },

    /// A proof bundle could not be serialized.
    #[error("cannot serialize proof bundle: {source}")]
    BundleSerialize {
        /// The serde_json error.
        #[source]
        source: serde_json::Error,
    },
    /// The model circuit rejected the model, settings or witness. (Transparent: the circuit
    /// error names the problem itself; a prefix plus `#[from]` printed it twice in error chains.)
    #[error(transparent)]
    Circuit(#[from] zkgrid_circuits::CircuitError),
    /// The model or its input is invalid.
    #[error(transparent)]
    Model(#[from] zkgrid_models::ModelError),
    /// A key-cache metadata file is unreadable.
    #[error("key cache metadata {path}: {source}")]
    KeyMetadata {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// No verifying key is known for a proof bundle.
    #[error(
        "no verifying key {vk_hash} in {dir}; run `zkgrid setup` for the model or pass its vk"
    )]
    UnknownVk {
        /// The vk hash the bundle names.
        vk_hash: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// A bundle's decoded output disagrees with its public instances.
    #[error("bundle output does not match its public instances: {0}")]
    OutputMismatch(String),
    /// A test vector failed one of its replay checks.
    #[error("test vector {vector}: {what}")]
    VectorMismatch {
        /// The vector's name.
        vector: String,
        /// Which check failed and how.
        what: String,
    },
    /// A file is larger than the limit for its kind.
    #[error("{path} is larger than the {limit} byte limit")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// A pinned layout was made for another visibility than the one asked for.
    #[error("pinned circuit settings are for visibility {pinned}, the setup asks for {asked}")]
    PinnedVisibility {
        /// Visibility of the pinned settings.
        pinned: String,
        /// Visibility of the setup options.
        asked: String,
    },
    /// The CPU lacks an instruction set extension the field arithmetic was built with.
    #[error(
        "this CPU lacks {missing}, which zkgrid's x86-64 field arithmetic needs \
         (Intel Broadwell / AMD Zen or newer)"
    )]
    UnsupportedCpu {
        /// The missing extension.
        missing: &'static str,
    },
}

impl ProverError {
    /// Builds an [`ProverError::Io`] for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ProverError> = std::result::Result<T, E>;
