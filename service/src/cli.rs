//! Command-line interface definition (clap). Each subcommand's logic lives in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// zkgrid: prove that a quantized neural network produced an output, verify it natively or on an EVM.
#[derive(Debug, Parser)]
#[command(name = "zkgrid", version, about, long_about = None)]
pub struct Cli {
    /// Directory for caches (SRS, keys) and the embedded database.
    /// Default: $XDG_DATA_HOME/zkgrid, else ~/.local/share/zkgrid, else ./.zkgrid.
    #[arg(long, global = true, env = "ZKGRID_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of human-readable text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import an ONNX model, quantize it and write MODEL.zkg.json with a quantization report.
    ///
    /// Example: zkgrid compile network.onnx --calibration calib.json -o network.zkg.json
    Compile(CompileArgs),
    /// Run the integer reference executor on an input.
    ///
    /// Example: zkgrid run network.zkg.json input.json
    Run(RunArgs),
    /// Print the circuit layout a model compiles to: k, rows, columns, estimated proving memory.
    ///
    /// Example: zkgrid inspect network.zkg.json
    Inspect(InspectArgs),
    /// Generate (or load cached) proving and verifying keys for a compiled model.
    ///
    /// Example: zkgrid setup network.zkg.json
    Setup(SetupArgs),
    /// Prove the model on an input; runs setup first when keys are missing.
    ///
    /// Example: zkgrid prove network.zkg.json input.json -o proof.json
    Prove(ProveArgs),
    /// Verify a proof bundle natively with the verifying key cached by `setup`.
    ///
    /// Example: zkgrid verify proof.json
    Verify(VerifyArgs),
    /// Run the whole pipeline on a zoo model: import, quantize, keys, prove, verify; with timings.
    ///
    /// Example: zkgrid demo --model mlp_small (add --rest to go through the REST API)
    Demo(DemoArgs),
    /// Replay committed test vectors: rebuild each model, re-check its output and statement,
    /// verify its proof and check that a changed output is rejected. Exits non-zero on any failure.
    ///
    /// Example: zkgrid replay test-vectors/
    Replay(ReplayArgs),
    /// On-chain verification: generate a model's Solidity verifier, measure a proof's gas,
    /// deploy it, post tasks and submit proofs to the settlement contract.
    ///
    /// Example: zkgrid evm generate network.zkg.json -o verifier/
    #[command(subcommand)]
    Evm(EvmCommand),
    /// List or export the built-in model zoo.
    ///
    /// Example: zkgrid zoo export mlp_small -o models/
    #[command(subcommand)]
    Zoo(ZooCommand),
    /// Run the REST proving service with in-process workers (SQLite under the data dir, or
    /// PostgreSQL with --database-url postgres://…).
    ///
    /// Example: zkgrid serve --listen 127.0.0.1:8080
    Serve(ServeArgs),
    /// Run a standalone worker that proves jobs from a shared database (PostgreSQL for many
    /// machines). Keys are rebuilt or cached under this worker's data dir.
    ///
    /// Example: zkgrid worker --database-url postgres://zkgrid@db/zkgrid --concurrency 1
    Worker(WorkerArgs),
    /// Manage API keys.
    ///
    /// Example: zkgrid keys create --tenant acme
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// Arguments of `zkgrid compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The ONNX model file.
    pub model: PathBuf,
    /// Calibration samples (JSON; EZKL's {"input_data": [[...]]} layout accepted).
    /// Without it, 64 seeded uniform [0,1) samples are used.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Activation bit width: every stored activation lies in [-2^(N-1), 2^(N-1)).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(8..=24))]
    pub bits: u32,
    /// Weight bit width.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(4..=24))]
    pub weight_bits: u32,
    /// Bits of headroom above the calibrated maximum of each activation.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=8))]
    pub headroom_bits: u32,
    /// Index bits of non-linearity lookup tables.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(6..=16))]
    pub table_bits: u32,
    /// Model name (default: file stem; "network.onnx" uses its folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Output file.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Arguments of `zkgrid run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The compiled model (MODEL.zkg.json).
    pub model: PathBuf,
    /// The input (JSON: {"input_data": [[...]]}, {"input": [...]} or a bare array).
    pub input: PathBuf,
}

/// `zkgrid zoo ...`
#[derive(Debug, Subcommand)]
pub enum ZooCommand {
    /// List zoo models.
    List,
    /// Write NAME/network.onnx, NAME/calibration.json and NAME/input.json under a directory.
    ///
    /// Example: zkgrid zoo export mlp_small -o models/
    Export {
        /// Model name (see `zkgrid zoo list`), or `all`.
        name: String,
        /// Output directory.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Input/output visibility flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputVis {
    /// Every input value is a public instance.
    Public,
    /// One public instance: the Poseidon hash of the quantized input.
    Hashed,
    /// The input stays private.
    Private,
}

/// Output visibility flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputVis {
    /// Every output value is a public instance.
    Public,
    /// One public instance: the Poseidon hash of the quantized output.
    Hashed,
}

/// What the layout planner optimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Optimize {
    /// Fastest proving, whatever the on-chain verifier costs.
    Prove,
    /// Cheapest verifier among layouts at most 1.25× slower to prove (estimated) than the
    /// fastest.
    #[default]
    Balanced,
    /// Cheapest on-chain verifier (fewest commitments), whatever proving costs.
    Gas,
}

impl From<Optimize> for zkgrid_circuits::model::PlanGoal {
    fn from(o: Optimize) -> Self {
        match o {
            Optimize::Prove => Self::Prove,
            Optimize::Balanced => Self::Balanced,
            Optimize::Gas => Self::Gas,
        }
    }
}

/// Weights visibility flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WeightsVis {
    /// Weights are fixed columns: the verifying key commits to (and reveals) them.
    #[default]
    Fixed,
    /// Weights stay private; one public instance is their Poseidon commitment (the verifying
    /// key depends only on the architecture).
    Hashed,
}

/// Arguments shared by `setup`, `inspect` and `prove`.
#[derive(Debug, Args, Clone)]
pub struct SetupArgs {
    /// The compiled model (MODEL.zkg.json).
    pub model: PathBuf,
    /// Input visibility.
    #[arg(long, value_enum, default_value_t = InputVis::Public)]
    pub input_visibility: InputVis,
    /// Output visibility.
    #[arg(long, value_enum, default_value_t = OutputVis::Public)]
    pub output_visibility: OutputVis,
    /// Weights visibility.
    #[arg(long, value_enum, default_value_t = WeightsVis::Fixed)]
    pub weights_visibility: WeightsVis,
    /// Most advice columns the layout may use (more: faster proving, more on-chain gas).
    #[arg(long, default_value_t = 48)]
    pub column_budget: usize,
    /// What the layout planner optimizes within the budget: proving time, on-chain
    /// verification gas, or the cheapest verifier at most 1.25× slower to prove than the fastest.
    #[arg(long, value_enum, default_value_t = Optimize::Balanced)]
    pub optimize: Optimize,
    /// SRS: a halo2 params file or a snarkjs .ptau file. Default: the INSECURE dev SRS.
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Use this circuit layout instead of planning (keeps a deployed verifier valid across
    /// zkgrid upgrades whose planner would choose another): a JSON file holding circuit
    /// settings, or an object with a top-level `settings` field (`zkgrid --json inspect`
    /// output, a test vector, the keys of a REST model). Its visibility must match the flags.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
}

/// Arguments of `zkgrid inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Model and layout options.
    #[command(flatten)]
    pub setup: SetupArgs,
    /// List every layout the planner considers (pool width, range slots, range checks by lookup
    /// or digits, Poseidon blocks, k) with its estimated proving cost and verifier cost, and
    /// which goal picks which.
    #[arg(long)]
    pub candidates: bool,
}

/// Arguments of `zkgrid prove`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Model and layout options.
    #[command(flatten)]
    pub setup: SetupArgs,
    /// The input JSON.
    pub input: PathBuf,
    /// Recipient (prover) address bound into the proof, 0x + 40 hex digits.
    #[arg(long, default_value = "0x0000000000000000000000000000000000000000")]
    pub recipient: String,
    /// Output file for the proof bundle.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Arguments of `zkgrid verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The proof bundle.
    pub proof: PathBuf,
    /// The compiled model, to also check the decoded output against the instances.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// SRS the proof was made with (params file or .ptau). Default: the INSECURE dev SRS.
    #[arg(long)]
    pub srs: Option<PathBuf>,
}

/// Arguments of `zkgrid demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Zoo model to run.
    #[arg(long, default_value = "mlp_small")]
    pub model: String,
    /// Run it through the REST API instead: start the service in-process (SQLite in a fresh
    /// directory under the data dir, one worker, a random loopback port), upload the model over
    /// HTTP, prove, fetch and verify the proof (via POST /v1/verify and natively).
    #[arg(long)]
    pub rest: bool,
}

/// Arguments of `zkgrid replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A directory of vector JSON files, or one vector file.
    pub path: PathBuf,
    /// Also regenerate each verifying key from the model and compare it byte for byte (slower).
    #[arg(long)]
    pub keygen: bool,
}

/// `zkgrid evm` subcommands.
#[derive(Debug, Subcommand)]
pub enum EvmCommand {
    /// Write the Solidity verifier, its VK data contracts (bytecode), ABI and a deployment
    /// manifest for a compiled model (runs setup when keys are missing).
    ///
    /// Example: zkgrid evm generate network.zkg.json --input-visibility hashed -o verifier/
    Generate(EvmGenerateArgs),
    /// Deploy the proof's verifier on an in-process EVM (revm), verify the proof there and print
    /// the gas it costs.
    ///
    /// Example: zkgrid evm gas proof.json
    Gas(EvmGasArgs),
    /// Deploy a model's verifier (VK code contracts, then the verifier) and, with --settlement,
    /// the settlement contract on a JSON-RPC node; print the addresses and write a deployment
    /// JSON (addresses, chain id, transaction hashes, vk hash, instance layout).
    ///
    /// Example: zkgrid evm deploy --rpc-url http://127.0.0.1:8545 network.zkg.json --input-visibility hashed --settlement -o deployment.json
    Deploy(EvmDeployArgs),
    /// Post a task on the settlement contract: escrow a reward for a proof of the model on an
    /// input, to be paid to the first valid proof bound to its submitter (or to --recipient).
    ///
    /// Example: zkgrid evm post-task --rpc-url http://127.0.0.1:8545 --deployment deployment.json network.zkg.json input.json --reward-wei 1000000000000000000
    PostTask(EvmPostTaskArgs),
    /// Submit a proof bundle for a task (Settlement.submit): prints the transaction, its gas,
    /// whether the task paid out and the event. The proof must be bound to the submitting
    /// address (zkgrid prove --recipient ADDRESS).
    ///
    /// Example: zkgrid evm submit --rpc-url http://127.0.0.1:8545 proof.json --task 1 --settlement 0x5FbDB2315678afecb367f032d93F642f64180aa3
    Submit(EvmSubmitArgs),
    /// Withdraw the sender's credited rewards from the settlement contract.
    ///
    /// Example: zkgrid evm withdraw --rpc-url http://127.0.0.1:8545 --settlement 0x5FbDB2315678afecb367f032d93F642f64180aa3
    Withdraw(EvmWithdrawArgs),
}

/// The node and the signing account of an on-chain command.
#[derive(Debug, Args, Clone)]
pub struct ChainArgs {
    /// JSON-RPC endpoint (HTTP) of the node.
    #[arg(long, env = "ZKGRID_RPC_URL")]
    pub rpc_url: String,
    /// Hex private key of the sending account (prefer the environment variable: command lines
    /// are visible to other users).
    #[arg(long, env = "ZKGRID_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: String,
}

/// Arguments of `zkgrid evm deploy`.
#[derive(Debug, Args)]
pub struct EvmDeployArgs {
    /// Node and sender.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The compiled model (MODEL.zkg.json): its verifier is generated (setup runs when keys are
    /// missing) and deployed.
    #[arg(
        required_unless_present = "verifier_dir",
        conflicts_with = "verifier_dir"
    )]
    pub model: Option<PathBuf>,
    /// A directory written by `zkgrid evm generate` (deploys its bytecode as is).
    #[arg(long)]
    pub verifier_dir: Option<PathBuf>,
    /// Input visibility (with MODEL; must match the proofs the verifier will check).
    #[arg(long, value_enum, default_value_t = InputVis::Public)]
    pub input_visibility: InputVis,
    /// Output visibility (with MODEL).
    #[arg(long, value_enum, default_value_t = OutputVis::Public)]
    pub output_visibility: OutputVis,
    /// Weights visibility (with MODEL).
    #[arg(long, value_enum, default_value_t = WeightsVis::Fixed)]
    pub weights_visibility: WeightsVis,
    /// Most advice columns the layout may use (with MODEL).
    #[arg(long, default_value_t = 48)]
    pub column_budget: usize,
    /// What the layout planner optimizes (with MODEL; must match the proofs' setup).
    #[arg(long, value_enum, default_value_t = Optimize::Balanced)]
    pub optimize: Optimize,
    /// SRS (with MODEL): a halo2 params file or a snarkjs .ptau file. Default: the INSECURE dev SRS.
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Use this circuit layout instead of planning (with MODEL; see `zkgrid prove --settings`).
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Also deploy the settlement contract.
    #[arg(long)]
    pub settlement: bool,
    /// Where to write the deployment JSON.
    #[arg(short, long, default_value = "deployment.json")]
    pub output: PathBuf,
}

/// Arguments of `zkgrid evm post-task`.
#[derive(Debug, Args)]
pub struct EvmPostTaskArgs {
    /// Node and sender (the requester, who escrows the reward).
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The deployment JSON written by `zkgrid evm deploy` (verifier, layout, settlement).
    #[arg(long)]
    pub deployment: PathBuf,
    /// The settlement contract (default: the one in the deployment JSON).
    #[arg(long)]
    pub settlement: Option<String>,
    /// The compiled model (must be the deployment's model).
    pub model: PathBuf,
    /// The input a proof must be about (JSON, as for `zkgrid prove`).
    pub input: PathBuf,
    /// Reward in wei, escrowed with the task.
    #[arg(long)]
    pub reward_wei: String,
    /// Seconds from the latest block until the deadline.
    #[arg(long, default_value_t = 86_400)]
    pub deadline_secs: u64,
    /// Pay only this address (default: whoever submits a valid proof bound to themselves).
    #[arg(long)]
    pub recipient: Option<String>,
}

/// Arguments of `zkgrid evm submit`.
#[derive(Debug, Args)]
pub struct EvmSubmitArgs {
    /// Node and sender (the prover: the proof's recipient slot must name this account or the
    /// task's named recipient).
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The proof bundle (from `zkgrid prove`).
    pub proof: PathBuf,
    /// Task id (decimal or 0x-hex).
    #[arg(long)]
    pub task: String,
    /// The settlement contract's address.
    #[arg(long)]
    pub settlement: String,
}

/// Arguments of `zkgrid evm withdraw`.
#[derive(Debug, Args)]
pub struct EvmWithdrawArgs {
    /// Node and sender (the account whose credit is paid out).
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The settlement contract's address.
    #[arg(long)]
    pub settlement: String,
}

/// Arguments of `zkgrid evm generate`.
#[derive(Debug, Args)]
pub struct EvmGenerateArgs {
    /// Model and layout options (must match the proofs the verifier will check).
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Output directory.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Arguments of `zkgrid evm gas`.
#[derive(Debug, Args)]
pub struct EvmGasArgs {
    /// The proof bundle.
    pub proof: PathBuf,
    /// More proof bundles of the same verifying key: also measures `verifyProofs` on the
    /// whole batch (one shared pairing).
    pub batch: Vec<PathBuf>,
    /// SRS the proof was made with (params file or .ptau). Default: the INSECURE dev SRS.
    #[arg(long)]
    pub srs: Option<PathBuf>,
}

/// Where the service keeps its state.
#[derive(Debug, Args, Clone)]
pub struct DatabaseArgs {
    /// Database URL. Default: the SQLite file zkgrid.db under the data dir.
    /// Supported: `sqlite://PATH`, `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (also
    /// `postgresql://`).
    #[arg(long, env = "ZKGRID_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Arguments of `zkgrid serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// In-process workers (each proves one job at a time, using every core); 0 serves the API
    /// only, for `zkgrid worker` processes to do the proving.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Largest request body in MiB (413 above it).
    #[arg(long, default_value_t = 64)]
    pub max_body_mib: usize,
    /// Requests per second allowed per API key (sustained).
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Requests allowed per API key in a burst.
    #[arg(long, default_value_t = 100.0)]
    pub burst: f64,
    /// Job lease in seconds: a job whose worker stops heartbeating returns to the queue after it.
    #[arg(long, default_value_t = 60)]
    pub lease_secs: u64,
    /// Attempts per job before it fails for good.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// The database.
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// Arguments of `zkgrid worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Worker name, unique among the workers sharing the database (default: HOST-PID). With
    /// --concurrency N the slots are NAME-0 … NAME-(N-1).
    #[arg(long)]
    pub id: Option<String>,
    /// Jobs proved at once by this process (each uses every core).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Job lease in seconds: if this worker stops heartbeating, its job returns to the queue
    /// after it.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=86400))]
    pub lease_secs: u64,
    /// How often an idle worker polls the database for work, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60000))]
    pub poll_ms: u64,
    /// Most memory (MiB) a job may need to be claimed by this worker (default: the machine's
    /// available memory).
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// The database (shared with the API servers).
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// `zkgrid keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key for a tenant (created when new) and print it. Only its SHA-256 is
    /// stored: the key cannot be shown again.
    ///
    /// Example: zkgrid keys create --tenant acme
    Create {
        /// Tenant name.
        #[arg(long)]
        tenant: String,
        /// The database.
        #[command(flatten)]
        db: DatabaseArgs,
    },
}
