//! The on-chain flow of the `zkgrid` binary on a real node (anvil from the pinned npm package,
//! 127.0.0.1 only): deploy → post task → prove (bound to the prover's address) → submit →
//! withdraw, on mlp_tiny with a hashed input; balances checked to the wei; second submission,
//! a proof bound to someone else, bad URL, unreachable node, an address without code and a bad
//! key are clear errors.

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{anyhow, ensure, Context, Result};
use zkgrid_evm::anvil::Anvil;
use zkgrid_evm::rpc::RpcChain;
use zkgrid_evm::{Address, U256};

/// anvil's well-known dev accounts 0 and 1 (funded with 10,000 ETH on every anvil; test only).
const REQUESTER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const REQUESTER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const PROVER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const PROVER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

const REWARD_WEI: u128 = 1_500_000_000_000_000_000;

fn zkgrid(data: &Path, key: Option<&str>, args: &[&str]) -> Result<Output> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkgrid"));
    cmd.args(args)
        .env("ZKGRID_DATA_DIR", data)
        .env_remove("ZKGRID_PRIVATE_KEY")
        .env_remove("ZKGRID_RPC_URL");
    if let Some(k) = key {
        cmd.env("ZKGRID_PRIVATE_KEY", k);
    }
    cmd.output().context("spawning zkgrid")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn ok_json(o: &Output) -> Result<serde_json::Value> {
    ensure!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    serde_json::from_slice(&o.stdout).context("stdout is not JSON")
}

fn fails_with(o: &Output, needles: &[&str]) -> Result<String> {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    ensure!(
        o.status.code() == Some(1),
        "expected exit 1, got {:?}; stderr: {err}; stdout: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout)
    );
    for needle in needles {
        ensure!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
    ensure!(!err.contains("panicked"), "panic: {err}");
    for key in [REQUESTER_KEY, PROVER_KEY] {
        ensure!(!err.contains(&key[2..]), "the private key leaked: {err}");
    }
    Ok(err)
}

fn wei(v: &serde_json::Value) -> Result<U256> {
    let text = v.as_str().ok_or_else(|| anyhow!("{v} is not a string"))?;
    Ok(text.parse()?)
}

fn address(text: &str) -> Result<Address> {
    Ok(text.parse()?)
}

#[test]
fn deploy_post_prove_submit_withdraw_on_anvil() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let anvil = rt.block_on(Anvil::spawn_default())?;
    let url = anvil.endpoint();
    let chain = RpcChain::connect(&url, vec![])?;
    let balance = |who: Address| rt.block_on(chain.balance(who));

    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let data = d.join("data");
    let model = d.join("tiny.zkg.json");
    let z = d.join("zoo/mlp_tiny");
    let input = z.join("input.json");
    let export = zkgrid(
        &data,
        None,
        &["zoo", "export", "mlp_tiny", "-o", s(&d.join("zoo"))],
    )?;
    ensure!(export.status.success(), "zoo export failed: {export:?}");
    ensure!(input.is_file(), "zoo export wrote no input");
    ok_json(&zkgrid(
        &data,
        None,
        &[
            "--json",
            "compile",
            s(&z.join("network.onnx")),
            "--calibration",
            s(&z.join("calibration.json")),
            "-o",
            s(&model),
        ],
    )?)?;

    // Deploy verifier + settlement from the requester's account (key from the environment).
    let deployment = d.join("deployment.json");
    let dep = ok_json(&zkgrid(
        &data,
        Some(REQUESTER_KEY),
        &[
            "--json",
            "evm",
            "deploy",
            "--rpc-url",
            &url,
            s(&model),
            "--input-visibility",
            "hashed",
            "--settlement",
            "-o",
            s(&deployment),
        ],
    )?)?;
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&deployment)?)?;
    ensure!(written == dep, "printed and written deployments differ");
    ensure!(dep["chain_id"] == anvil.chain_id(), "{dep}");
    ensure!(dep["deployer"] == REQUESTER, "{dep}");
    ensure!(dep["visibility"]["input"] == "hashed", "{dep}");
    let settlement = dep["settlement"]["address"]
        .as_str()
        .ok_or_else(|| anyhow!("no settlement address: {dep}"))?
        .to_owned();
    let verifier = dep["verifier"]["address"].as_str().unwrap_or_default();
    for c in std::iter::once(&dep["verifier"])
        .chain(dep["vk_contracts"].as_array().into_iter().flatten())
        .chain([&dep["settlement"]])
    {
        let addr = address(c["address"].as_str().unwrap_or_default())?;
        let code = rt.block_on(chain.code(addr))?;
        ensure!(
            !code.is_empty() && Some(code.len() as u64) == c["runtime_bytes"].as_u64(),
            "{c}"
        );
        ensure!(c["tx_hash"].as_str().is_some_and(|h| h.len() == 66), "{c}");
    }
    let code_hash = rt.block_on(chain.code_hash(address(verifier)?))?;
    ensure!(
        dep["model_commitment"] == format!("0x{}", hex::encode(code_hash)),
        "{dep}"
    );

    // The same verifier deployed from `evm generate`'s directory: same key, byte-identical VK
    // code contracts (the verifier's own code embeds their addresses, so its hash differs).
    let gen_dir = d.join("verifier");
    ok_json(&zkgrid(
        &data,
        None,
        &[
            "--json",
            "evm",
            "generate",
            s(&model),
            "--input-visibility",
            "hashed",
            "-o",
            s(&gen_dir),
        ],
    )?)?;
    let again = ok_json(&zkgrid(
        &data,
        Some(REQUESTER_KEY),
        &[
            "--json",
            "evm",
            "deploy",
            "--rpc-url",
            &url,
            "--verifier-dir",
            s(&gen_dir),
            "-o",
            s(&d.join("deployment2.json")),
        ],
    )?)?;
    ensure!(
        again["vk_hash"] == dep["vk_hash"]
            && again["verifier"]["address"] != dep["verifier"]["address"]
            && again["verifier"]["runtime_bytes"] == dep["verifier"]["runtime_bytes"]
            && again["settlement"].is_null(),
        "{again}"
    );
    let vk_codes = |d: &serde_json::Value| -> Result<Vec<[u8; 32]>> {
        d["vk_contracts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let addr = address(c["address"].as_str().unwrap_or_default())?;
                Ok(rt.block_on(chain.code_hash(addr))?)
            })
            .collect()
    };
    let (first, second) = (vk_codes(&dep)?, vk_codes(&again)?);
    ensure!(
        !first.is_empty() && first == second,
        "VK code contracts differ"
    );

    // Post a task (requester escrows 1.5 ETH).
    let posted = ok_json(&zkgrid(
        &data,
        Some(REQUESTER_KEY),
        &[
            "--json",
            "evm",
            "post-task",
            "--rpc-url",
            &url,
            "--deployment",
            s(&deployment),
            s(&model),
            s(&input),
            "--reward-wei",
            &REWARD_WEI.to_string(),
        ],
    )?)?;
    let task = posted["task_id"]
        .as_str()
        .ok_or_else(|| anyhow!("no task id: {posted}"))?
        .to_owned();
    ensure!(posted["events"][0]["event"] == "TaskPosted", "{posted}");
    ensure!(
        wei(&posted["events"][0]["reward_wei"])? == U256::from(REWARD_WEI),
        "{posted}"
    );
    ensure!(
        balance(address(&settlement)?)? == U256::from(REWARD_WEI),
        "escrow not held"
    );

    // Prove bound to the prover's address; and a second proof bound to the requester.
    let proof = d.join("proof.json");
    ok_json(&zkgrid(
        &data,
        None,
        &[
            "--json",
            "prove",
            s(&model),
            s(&input),
            "--input-visibility",
            "hashed",
            "--recipient",
            PROVER,
            "-o",
            s(&proof),
        ],
    )?)?;
    let wrong_proof = d.join("proof-requester.json");
    ok_json(&zkgrid(
        &data,
        None,
        &[
            "--json",
            "prove",
            s(&model),
            s(&input),
            "--input-visibility",
            "hashed",
            "--recipient",
            REQUESTER,
            "-o",
            s(&wrong_proof),
        ],
    )?)?;
    let submit = |key: &str, proof: &Path| {
        zkgrid(
            &data,
            Some(key),
            &[
                "--json",
                "evm",
                "submit",
                "--rpc-url",
                &url,
                s(proof),
                "--task",
                &task,
                "--settlement",
                &settlement,
            ],
        )
    };

    // A proof bound to another address is refused before sending, with the decoded reason.
    fails_with(
        &submit(PROVER_KEY, &wrong_proof)?,
        &["recipient slot", "does not name", "--recipient"],
    )?;

    // The prover submits and is paid.
    let prover = address(PROVER)?;
    let start = balance(prover)?;
    let paid = ok_json(&submit(PROVER_KEY, &proof)?)?;
    ensure!(paid["paid"] == true, "{paid}");
    ensure!(paid["recipient"] == PROVER, "{paid}");
    ensure!(
        wei(&paid["reward_wei"])? == U256::from(REWARD_WEI),
        "{paid}"
    );
    ensure!(
        wei(&paid["submitter_credit_wei"])? == U256::from(REWARD_WEI),
        "{paid}"
    );
    ensure!(paid["events"][0]["event"] == "TaskSettled", "{paid}");
    let gas = paid["tx"]["gas_used"].as_u64().unwrap_or(0);
    ensure!((200_000..5_000_000).contains(&gas), "submit gas {gas}");
    let submit_fee = wei(&paid["tx"]["fee_wei"])?;
    ensure!(
        balance(prover)? == start - submit_fee,
        "submit changed more than the fee"
    );

    // Paid once: the second submission is a clear error, and nothing is sent.
    let err = fails_with(
        &submit(PROVER_KEY, &proof)?,
        &["Settlement.submit reverted", "closed", "already paid"],
    )?;
    ensure!(err.contains(&format!("task {task}")), "{err}");
    ensure!(
        balance(prover)? == start - submit_fee,
        "a failed submit cost gas"
    );

    // Withdraw: the prover's balance grows by exactly reward − fees.
    let withdrawn = ok_json(&zkgrid(
        &data,
        Some(PROVER_KEY),
        &[
            "--json",
            "evm",
            "withdraw",
            "--rpc-url",
            &url,
            "--settlement",
            &settlement,
        ],
    )?)?;
    ensure!(
        wei(&withdrawn["amount_wei"])? == U256::from(REWARD_WEI),
        "{withdrawn}"
    );
    let withdraw_fee = wei(&withdrawn["tx"]["fee_wei"])?;
    ensure!(
        balance(prover)? == start + U256::from(REWARD_WEI) - submit_fee - withdraw_fee,
        "prover balance"
    );
    ensure!(balance(address(&settlement)?)? == U256::ZERO, "escrow left");

    // Clear errors: malformed URL, nothing listening, no code at the address, bad key.
    fails_with(
        &zkgrid(
            &data,
            Some(PROVER_KEY),
            &[
                "evm",
                "submit",
                "--rpc-url",
                "not a url",
                s(&proof),
                "--task",
                &task,
                "--settlement",
                &settlement,
            ],
        )?,
        &["invalid rpc url"],
    )?;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    fails_with(
        &zkgrid(
            &data,
            Some(PROVER_KEY),
            &[
                "evm",
                "withdraw",
                "--rpc-url",
                &format!("http://127.0.0.1:{closed}"),
                "--settlement",
                &settlement,
            ],
        )?,
        &["cannot reach the JSON-RPC node"],
    )?;
    fails_with(
        &zkgrid(
            &data,
            Some(PROVER_KEY),
            &[
                "evm",
                "submit",
                "--rpc-url",
                &url,
                s(&proof),
                "--task",
                &task,
                "--settlement",
                REQUESTER,
            ],
        )?,
        &["no contract code at", "settlement contract"],
    )?;
    fails_with(
        &zkgrid(
            &data,
            Some(&PROVER_KEY[..40]),
            &[
                "evm",
                "withdraw",
                "--rpc-url",
                &url,
                "--settlement",
                &settlement,
            ],
        )?,
        &["invalid private key"],
    )?;
    drop(anvil);
    Ok(())
}
