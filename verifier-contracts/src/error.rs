//! The crate's single error type, [`EvmError`].

use std::path::PathBuf;

/// Everything that can go wrong while generating, compiling or running a verifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvmError {
    /// The circuit uses a feature the generated verifier does not support.
    #[error("unsupported circuit: {feature}")]
    Unsupported {
        /// What is not supported.
        feature: &'static str,
    },

    /// The declared instance layout does not fit the circuit.
    #[error("instance column count mismatch: circuit has {expected}, layout declares {found}")]
    InstanceColumns {
        /// Instance columns of the circuit.
        expected: usize,
        /// Columns in the declared layout.
        found: usize,
    },

    /// An instance column is longer than the usable rows of the circuit.
    #[error("instance column {column} has {len} values, at most {max} fit")]
    InstanceTooLong {
        /// The column.
        column: usize,
        /// Declared length.
        len: usize,
        /// Usable rows.
        max: usize,
    },

    /// The verification program outgrew the verifier's 16-bit encodings.
    #[error("verification program too large: {what} = {value} exceeds {max}")]
    ProgramTooLarge {
        /// Which quantity overflowed.
        what: &'static str,
        /// Its value.
        value: usize,
        /// The limit.
        max: usize,
    },

    /// A query refers to a column/rotation pair the constraint system does not list.
    #[error("constraint system has no {kind} query for column {column} at rotation {rotation}")]
    MissingQuery {
        /// `"advice"`, `"fixed"` or `"instance"`.
        kind: &'static str,
        /// Column index.
        column: usize,
        /// Rotation.
        rotation: i32,
    },

    /// A verifying-key point has no affine coordinates (not expected for valid keys).
    #[error("verifying key point {what} has no affine coordinates")]
    InvalidKeyPoint {
        /// Which point.
        what: &'static str,
    },

    /// Inputs handed to the native interpreter or the EVM have the wrong shape.
    #[error("{what}: expected {expected}, found {found}")]
    InputShape {
        /// Which input.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Actual size.
        found: usize,
    },

    /// A program handed to the native interpreter refers to slots or instances it does not
    /// have (programs from [`crate::compile()`] never do).
    #[error("malformed program: {problem}")]
    MalformedProgram {
        /// What is wrong.
        problem: &'static str,
    },

    /// A file-system or process operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// File, directory or program involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// An external tool (`npm`, `node`) exited unsuccessfully.
    #[error("{tool} failed with status {status}: {stderr}")]
    ToolFailed {
        /// The tool.
        tool: &'static str,
        /// Its exit status, as text.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },

    /// The compiler's standard-JSON output could not be parsed or lacked a field.
    #[error("unexpected solc output: {problem}")]
    SolcOutput {
        /// What was wrong.
        problem: String,
    },

    /// solc reported compilation errors.
    #[error("solc reported errors:\n{messages}")]
    SolcErrors {
        /// The formatted error messages.
        messages: String,
    },

    /// JSON (de)serialization failed.
    #[error("json: {source}")]
    Json {
        /// The underlying error.
        #[from]
        source: serde_json::Error,
    },

    /// Bytes were not valid hex.
    #[error("hex: {source}")]
    Hex {
        /// The underlying error.
        #[from]
        source: hex::FromHexError,
    },

    /// The in-process EVM rejected a transaction (not a revert: a validation error).
    #[error("evm: {source}")]
    Evm {
        /// The EVM's error.
        #[source]
        source: revm::context::result::EVMError<std::convert::Infallible>,
    },

    /// A contract deployment did not succeed.
    #[error("deploying {what} failed: {reason}")]
    Deploy {
        /// Which contract.
        what: &'static str,
        /// Revert or halt reason.
        reason: String,
    },

    /// ABI data (return, revert or event data) has a value outside its type.
    #[error("{what}: word {index}: {problem}")]
    AbiDecode {
        /// Which data.
        what: &'static str,
        /// Word index.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },

    /// A call to the settlement contract reverted.
    #[error("Settlement.{call} reverted: {revert}")]
    SettlementReverted {
        /// The function called.
        call: &'static str,
        /// The decoded revert reason (boxed: it is larger than the other variants).
        revert: Box<crate::settlement::SettlementRevert>,
    },

    /// A deployed runtime exceeds the EIP-170 limit.
    #[error("{what} runtime is {size} bytes, above the EIP-170 limit of {limit}")]
    CodeTooLarge {
        /// Which contract.
        what: &'static str,
        /// Runtime size.
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// The local anvil node did not start.
    #[error("anvil on 127.0.0.1:{port} did not start: {problem}")]
    AnvilStart {
        /// The port it was started on.
        port: u16,
        /// What went wrong (exit status and stderr, or a timeout).
        problem: String,
    },

    /// A JSON-RPC request failed (transport error or an error answer that is not a revert).
    #[error("json-rpc {op}: {source}")]
    Rpc {
        /// What was being done.
        op: &'static str,
        /// The transport error (boxed: it is large).
        #[source]
        source: Box<alloy::transports::TransportError>,
    },

    /// Waiting for a sent transaction's receipt failed.
    #[error("{what}: waiting for the receipt: {source}")]
    PendingTx {
        /// Which call.
        what: &'static str,
        /// The error (boxed: it is large).
        #[source]
        source: Box<alloy::providers::PendingTransactionError>,
    },

    /// An RPC endpoint string is not a URL.
    #[error("invalid rpc url {url:?}")]
    InvalidRpcUrl {
        /// The rejected string.
        url: String,
    },

    /// A transaction was mined but failed (status 0).
    #[error("{what}: transaction {tx_hash} failed on chain (gas used {gas_used})")]
    TxFailed {
        /// Which call.
        what: &'static str,
        /// Transaction hash (hex).
        tx_hash: String,
        /// Gas used.
        gas_used: u64,
    },

    /// A call (not to the settlement contract) reverted on a node.
    #[error("{what} reverted (0x{data})", data = hex::encode(data))]
    Reverted {
        /// Which call.
        what: &'static str,
        /// Revert data.
        data: Vec<u8>,
    },

    /// An address that must hold a contract has no code (wrong address, wrong chain, or not
    /// deployed yet).
    #[error("no contract code at {address} (expected the {what}; wrong address or wrong chain?)")]
    NoCode {
        /// Which contract was expected.
        what: &'static str,
        /// The address.
        address: crate::Address,
    },

    /// A private key string is not 32 bytes of hex or not a valid secp256k1 key. The key
    /// itself is never part of the message.
    #[error("invalid private key: {problem}")]
    InvalidPrivateKey {
        /// What is wrong with it.
        problem: &'static str,
    },

    /// A receipt lacks what the call must produce (a contract address, an event).
    #[error("{what}: receipt has no {missing}")]
    MissingInReceipt {
        /// Which call.
        what: &'static str,
        /// What is missing.
        missing: &'static str,
    },
}

/// Result alias for this crate.
pub type Result<T, E = EvmError> = std::result::Result<T, E>;

impl EvmError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
