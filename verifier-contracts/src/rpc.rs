//! Deployments and settlement calls on a JSON-RPC node (anvil in tests, any EVM chain in
//! production) through alloy.
//!
//! The calldata is built by [`crate::settlement`] and the verifier's creation code by
//! [`crate::solidity`], exactly as for the in-process [`crate::evm`] runner, so revm and a node
//! see the same bytes. Transactions are signed locally by the [`PrivateKeySigner`]s handed to
//! [`RpcChain::connect`]; nonce, gas limit (`eth_estimateGas`), fees and chain id are filled in
//! by alloy.
//!
//! State-changing settlement calls are simulated with `eth_call` first, so that a call the
//! contract would reject returns its typed [`SettlementRevert`] (inside
//! [`EvmError::SettlementReverted`]) instead of a failed transaction.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::Bytes;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::transports::TransportError;
use halo2_proofs::halo2curves::bn256::Fr;

use crate::abi::{self, Words};
use crate::error::{EvmError, Result};
use crate::evm::EventLog;
use crate::settlement::{self, SettlementEvent, SettlementRevert, Task, TaskSpec};
use crate::solc::CompiledContract;
use crate::solidity::{GeneratedVerifier, EIP170_LIMIT};
use crate::{Address, U256};

pub use alloy::primitives::B256;
pub use alloy::signers::local::PrivateKeySigner;

/// Parses a hex private key (`0x` prefix optional, 64 hex digits). Errors never contain the
/// key.
pub fn parse_private_key(text: &str) -> Result<PrivateKeySigner> {
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() != 64 {
        return Err(EvmError::InvalidPrivateKey {
            problem: "expected 64 hex digits (32 bytes)",
        });
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(digits, &mut bytes)
        .map_err(|_| EvmError::InvalidPrivateKey { problem: "not hex" })?;
    PrivateKeySigner::from_bytes(&B256::from(bytes)).map_err(|_| EvmError::InvalidPrivateKey {
        problem: "not a valid secp256k1 secret key",
    })
}

fn rpc(op: &'static str) -> impl FnOnce(TransportError) -> EvmError {
    move |source| EvmError::Rpc {
        op,
        source: Box::new(source),
    }
}

/// Revert data carried by an RPC error answer, if it is a revert.
fn revert_data(error: &TransportError) -> Option<Vec<u8>> {
    error
        .as_error_resp()
        .and_then(|payload| payload.as_revert_data())
        .map(|data| data.to_vec())
}

/// A mined transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    /// Receipt status: the transaction did not revert.
    pub success: bool,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Gas used.
    pub gas_used: u64,
    /// Effective gas price in wei.
    pub effective_gas_price: u128,
    /// Event logs, in order.
    pub logs: Vec<EventLog>,
    /// Address of the created contract (deployments only).
    pub contract_address: Option<Address>,
}

impl TxOutcome {
    /// The fee paid by the sender: `gas_used × effective_gas_price`, in wei.
    pub fn fee(&self) -> U256 {
        U256::from(self.gas_used) * U256::from(self.effective_gas_price)
    }

    fn from_receipt(receipt: &TransactionReceipt) -> Self {
        let logs = receipt
            .inner
            .logs()
            .iter()
            .map(|log| EventLog {
                address: log.inner.address,
                topics: log.inner.data.topics().iter().map(|t| t.0).collect(),
                data: log.inner.data.data.to_vec(),
            })
            .collect();
        Self {
            success: receipt.status(),
            tx_hash: receipt.transaction_hash,
            gas_used: receipt.gas_used,
            effective_gas_price: receipt.effective_gas_price,
            logs,
            contract_address: receipt.contract_address,
        }
    }
}

/// A contract deployed on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcDeployed {
    /// Its address.
    pub address: Address,
    /// Runtime code size in bytes (read back with `eth_getCode`).
    pub runtime_size: usize,
    /// The deployment transaction.
    pub tx: TxOutcome,
}

/// A generated verifier deployed on a node: the VK code contracts, then the verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcDeployedVerifier {
    /// The verifier.
    pub verifier: RpcDeployed,
    /// The VK code contracts, in the order the verifier calls them.
    pub vk: Vec<RpcDeployed>,
    /// The verifier's code hash: the model commitment a task names.
    pub code_hash: [u8; 32],
}

/// A successful settlement transaction on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcReceipt<T> {
    /// What the call produced (the task id for `postTask`).
    pub value: T,
    /// The transaction.
    pub tx: TxOutcome,
    /// The settlement contract's events, in order.
    pub events: Vec<SettlementEvent>,
}

/// A connection to a JSON-RPC node with local signers.
#[derive(Clone, Debug)]
pub struct RpcChain {
    provider: DynProvider,
    accounts: Vec<Address>,
}

impl RpcChain {
    /// Connects to `url` (HTTP) with `signers`; transactions may be sent from any of their
    /// addresses.
    pub fn connect(url: &str, signers: Vec<PrivateKeySigner>) -> Result<Self> {
        let parsed = url.parse().map_err(|_| EvmError::InvalidRpcUrl {
            url: url.to_owned(),
        })?;
        let accounts: Vec<Address> = signers.iter().map(PrivateKeySigner::address).collect();
        let builder = ProviderBuilder::new();
        let provider = match signers.split_first() {
            Some((first, rest)) => {
                let mut wallet = EthereumWallet::new(first.clone());
                for signer in rest {
                    wallet.register_signer(signer.clone());
                }
                builder.wallet(wallet).connect_http(parsed).erased()
            }
            None => builder.connect_http(parsed).erased(),
        };
        Ok(Self { provider, accounts })
    }

    /// The signers' addresses, in the order given to [`RpcChain::connect`].
    pub fn accounts(&self) -> &[Address] {
        &self.accounts
    }

    /// The underlying alloy provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The chain id.
    pub async fn chain_id(&self) -> Result<u64> {
        self.provider
            .get_chain_id()
            .await
            .map_err(rpc("eth_chainId"))
    }

    /// The latest block's timestamp.
    pub async fn latest_timestamp(&self) -> Result<u64> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(rpc("eth_getBlockByNumber"))?
            .ok_or(EvmError::MissingInReceipt {
                what: "eth_getBlockByNumber",
                missing: "latest block",
            })?;
        Ok(block.header.timestamp)
    }

    /// The balance of `account` in wei.
    pub async fn balance(&self, account: Address) -> Result<U256> {
        self.provider
            .get_balance(account)
            .await
            .map_err(rpc("eth_getBalance"))
    }

    /// The runtime code of `account`.
    pub async fn code(&self, account: Address) -> Result<Vec<u8>> {
        Ok(self
            .provider
            .get_code_at(account)
            .await
            .map_err(rpc("eth_getCode"))?
            .to_vec())
    }

    /// The runtime code size of `address`; [`EvmError::NoCode`] when it has none.
    pub async fn require_code(&self, what: &'static str, address: Address) -> Result<usize> {
        let size = self.code(address).await?.len();
        if size == 0 {
            return Err(EvmError::NoCode { what, address });
        }
        Ok(size)
    }

    /// `keccak256` of the runtime code of `account` (what `EXTCODEHASH` returns for a contract).
    pub async fn code_hash(&self, account: Address) -> Result<[u8; 32]> {
        Ok(abi::keccak256(&self.code(account).await?))
    }

    /// Sets `account`'s balance (anvil/hardhat `anvil_setBalance`; test nodes only).
    pub async fn anvil_set_balance(&self, account: Address, wei: U256) -> Result<()> {
        self.provider
            .raw_request::<_, serde_json::Value>("anvil_setBalance".into(), (account, wei))
            .await
            .map_err(rpc("anvil_setBalance"))?;
        Ok(())
    }

    fn request(from: Address, to: Address, value: U256, calldata: Vec<u8>) -> TransactionRequest {
        TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_value(value)
            .with_input(Bytes::from(calldata))
    }

    /// Sends `request` and waits for its receipt (successful or not).
    async fn send_any(&self, what: &'static str, request: TransactionRequest) -> Result<TxOutcome> {
        let pending = self
            .provider
            .send_transaction(request)
            .await
            .map_err(rpc("eth_sendTransaction"))?;
        let receipt = pending
            .get_receipt()
            .await
            .map_err(|source| EvmError::PendingTx {
                what,
                source: Box::new(source),
            })?;
        let outcome = TxOutcome::from_receipt(&receipt);
        tracing::debug!(what, tx = %outcome.tx_hash, gas = outcome.gas_used, success = outcome.success, "mined");
        Ok(outcome)
    }

    /// Sends `request` and waits for its receipt; a mined failure is [`EvmError::TxFailed`].
    async fn send(&self, what: &'static str, request: TransactionRequest) -> Result<TxOutcome> {
        let outcome = self.send_any(what, request).await?;
        if !outcome.success {
            return Err(EvmError::TxFailed {
                what,
                tx_hash: outcome.tx_hash.to_string(),
                gas_used: outcome.gas_used,
            });
        }
        Ok(outcome)
    }

    /// Sends a transaction from `from` to `to` with `value` and `calldata`, with a fixed
    /// `gas_limit` (no estimate, no simulation): a reverting call is mined, and its outcome has
    /// `success == false`.
    pub async fn send_unchecked(
        &self,
        from: Address,
        to: Address,
        value: U256,
        calldata: Vec<u8>,
        gas_limit: u64,
    ) -> Result<TxOutcome> {
        let request = Self::request(from, to, value, calldata).with_gas_limit(gas_limit);
        self.send_any("transaction", request).await
    }

    /// Runs `eth_call` from `from`; a revert is [`EvmError::Reverted`].
    pub async fn call(
        &self,
        what: &'static str,
        from: Address,
        to: Address,
        value: U256,
        calldata: Vec<u8>,
    ) -> Result<Vec<u8>> {
        match self
            .provider
            .call(Self::request(from, to, value, calldata))
            .await
        {
            Ok(out) => Ok(out.to_vec()),
            Err(e) => match revert_data(&e) {
                Some(data) => Err(EvmError::Reverted { what, data }),
                None => Err(EvmError::Rpc {
                    op: "eth_call",
                    source: Box::new(e),
                }),
            },
        }
    }

    /// Deploys `creation_code` from `from` and checks the runtime against EIP-170.
    pub async fn deploy(
        &self,
        what: &'static str,
        from: Address,
        creation_code: Vec<u8>,
    ) -> Result<RpcDeployed> {
        let request = TransactionRequest::default()
            .with_from(from)
            .with_deploy_code(Bytes::from(creation_code));
        let tx = self.send(what, request).await?;
        let address = tx.contract_address.ok_or(EvmError::MissingInReceipt {
            what,
            missing: "contract address",
        })?;
        let runtime_size = self.code(address).await?.len();
        if runtime_size > EIP170_LIMIT {
            return Err(EvmError::CodeTooLarge {
                what,
                size: runtime_size,
                limit: EIP170_LIMIT,
            });
        }
        tracing::debug!(what, %address, runtime_size, gas = tx.gas_used, "deployed");
        Ok(RpcDeployed {
            address,
            runtime_size,
            tx,
        })
    }

    /// Deploys a generated verifier: its VK code contracts, then the verifier
    /// (`verifier_creation_code` from solc) with their addresses as constructor arguments.
    pub async fn deploy_verifier(
        &self,
        from: Address,
        generated: &GeneratedVerifier,
        verifier_creation_code: &[u8],
    ) -> Result<RpcDeployedVerifier> {
        self.deploy_verifier_codes(from, generated.vk_creation_codes(), verifier_creation_code)
            .await
    }

    /// Deploys a verifier from creation codes alone (as `zkgrid evm generate` writes them):
    /// each VK code contract in order, then the verifier with their addresses as constructor
    /// arguments.
    #[tracing::instrument(skip_all, fields(vk_chunks = vk_creation_codes.len()))]
    pub async fn deploy_verifier_codes(
        &self,
        from: Address,
        vk_creation_codes: Vec<Vec<u8>>,
        verifier_creation_code: &[u8],
    ) -> Result<RpcDeployedVerifier> {
        let mut vk = Vec::new();
        for code in vk_creation_codes {
            vk.push(self.deploy("VK code contract", from, code).await?);
        }
        let mut creation = verifier_creation_code.to_vec();
        for d in &vk {
            creation.extend_from_slice(&abi::address_word(d.address));
        }
        let verifier = self.deploy("verifier", from, creation).await?;
        let code_hash = self.code_hash(verifier.address).await?;
        Ok(RpcDeployedVerifier {
            verifier,
            vk,
            code_hash,
        })
    }
}

/// A settlement contract on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpcSettlement {
    /// Its address.
    pub address: Address,
}

impl RpcSettlement {
    /// Deploys the compiled contract (from [`settlement::compile_settlement`]).
    pub async fn deploy(
        chain: &RpcChain,
        from: Address,
        compiled: &CompiledContract,
    ) -> Result<(Self, RpcDeployed)> {
        let deployed = chain
            .deploy("settlement", from, compiled.creation.clone())
            .await?;
        Ok((
            Self {
                address: deployed.address,
            },
            deployed,
        ))
    }

    /// At `address` (already deployed).
    pub fn at(address: Address) -> Self {
        Self { address }
    }

    /// Simulates the call, then sends it; decodes the settlement events of the receipt.
    async fn transact(
        &self,
        chain: &RpcChain,
        call: &'static str,
        from: Address,
        value: U256,
        calldata: Vec<u8>,
    ) -> Result<(TxOutcome, Vec<SettlementEvent>)> {
        let request = RpcChain::request(from, self.address, value, calldata);
        if let Err(e) = chain.provider.call(request.clone()).await {
            return Err(match revert_data(&e) {
                Some(data) => {
                    let revert = SettlementRevert::decode(&data);
                    tracing::debug!(call, %revert, "Settlement call would revert");
                    EvmError::SettlementReverted {
                        call,
                        revert: Box::new(revert),
                    }
                }
                None => EvmError::Rpc {
                    op: "eth_call",
                    source: Box::new(e),
                },
            });
        }
        let tx = chain.send(call, request).await?;
        let mut events = Vec::new();
        for log in tx.logs.iter().filter(|log| log.address == self.address) {
            if let Some(event) = SettlementEvent::decode(log)? {
                events.push(event);
            }
        }
        tracing::debug!(call, gas = tx.gas_used, "Settlement transaction");
        Ok((tx, events))
    }

    /// Posts `spec` from `from`, escrowing `spec.reward`; returns the task id (from the
    /// `TaskPosted` event).
    pub async fn post_task(
        &self,
        chain: &RpcChain,
        from: Address,
        spec: &TaskSpec,
    ) -> Result<RpcReceipt<U256>> {
        let (tx, events) = self
            .transact(
                chain,
                "postTask",
                from,
                spec.reward,
                settlement::post_task_calldata(spec),
            )
            .await?;
        let value = events
            .iter()
            .find_map(|e| match e {
                SettlementEvent::TaskPosted { task_id, .. } => Some(*task_id),
                _ => None,
            })
            .ok_or(EvmError::MissingInReceipt {
                what: "postTask",
                missing: "TaskPosted event",
            })?;
        Ok(RpcReceipt { value, tx, events })
    }

    /// Submits a proof for `task_id` from `from` (credits the task's recipient).
    pub async fn submit(
        &self,
        chain: &RpcChain,
        from: Address,
        task_id: U256,
        proof: &[u8],
        instances: &[Fr],
    ) -> Result<RpcReceipt<()>> {
        let calldata = settlement::submit_calldata(task_id, proof, instances);
        let (tx, events) = self
            .transact(chain, "submit", from, U256::ZERO, calldata)
            .await?;
        Ok(RpcReceipt {
            value: (),
            tx,
            events,
        })
    }

    /// Reclaims an expired task's escrow (credits the requester).
    pub async fn reclaim(
        &self,
        chain: &RpcChain,
        from: Address,
        task_id: U256,
    ) -> Result<RpcReceipt<()>> {
        let calldata = settlement::reclaim_calldata(task_id);
        let (tx, events) = self
            .transact(chain, "reclaim", from, U256::ZERO, calldata)
            .await?;
        Ok(RpcReceipt {
            value: (),
            tx,
            events,
        })
    }

    /// Withdraws `from`'s credit to `from`.
    pub async fn withdraw(&self, chain: &RpcChain, from: Address) -> Result<RpcReceipt<()>> {
        let (tx, events) = self
            .transact(
                chain,
                "withdraw",
                from,
                U256::ZERO,
                settlement::withdraw_calldata(),
            )
            .await?;
        Ok(RpcReceipt {
            value: (),
            tx,
            events,
        })
    }

    /// `account`'s withdrawable credit in wei.
    pub async fn credit(&self, chain: &RpcChain, account: Address) -> Result<U256> {
        let out = chain
            .call(
                "credit",
                account,
                self.address,
                U256::ZERO,
                settlement::credit_calldata(account),
            )
            .await?;
        Words::exact("credit() return data", &out, 1)?.uint(0)
    }

    /// The stored task `task_id`.
    pub async fn task(&self, chain: &RpcChain, task_id: U256) -> Result<Task> {
        let out = chain
            .call(
                "tasks",
                Address::ZERO,
                self.address,
                U256::ZERO,
                settlement::task_calldata(task_id),
            )
            .await?;
        settlement::decode_task(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_parse_and_errors_hide_the_key() {
        // anvil's first well-known dev account.
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let expected: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse()
            .unwrap_or(Address::ZERO);
        for text in [key, &key[2..], &format!(" {key}\n")] {
            match parse_private_key(text) {
                Ok(signer) => assert_eq!(signer.address(), expected),
                Err(e) => panic!("{e}"),
            }
        }
        let short = &key[..40];
        let not_hex = key.replace('a', "g");
        let zero = format!("0x{}", "0".repeat(64));
        for bad in [short, not_hex.as_str(), zero.as_str()] {
            match parse_private_key(bad) {
                Err(e @ EvmError::InvalidPrivateKey { .. }) => {
                    assert!(!e.to_string().contains(&bad[4..20]), "{e}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_rpc_urls_are_typed_errors() {
        assert!(matches!(
            RpcChain::connect("not a url", vec![]),
            Err(EvmError::InvalidRpcUrl { .. })
        ));
    }
}
