#!/usr/bin/env bash
# Verifier gas on the zoo models: zkgrid's generated verifier (revm), snark-verifier's reference
# for the same key (revm) and EZKL 23.0.5's verifier (anvil), with runtime code sizes. Writes the
# table between the evm-gas markers of benches/RESULTS.md (other text is kept).
#
#   bash benches/peer/evm_gas.sh
#   CASES=mlp_tiny:public REFERENCE=0 bash benches/peer/evm_gas.sh     # quick
#
# Needs python3, node + npm, cargo. Only registries are contacted (PyPI for ezkl, npm ci for the
# crate's pinned solc-js + anvil).
# Environment:
#   PEER_WORK   work dir (default /tmp/zkgrid-peer): the EZKL venv (reused when present) and
#               evm-gas/ (EZKL artefacts, zkgrid data dir with the INSECURE dev SRS, raw JSON)
#   PEER_DIR    the peer's EZKL scripts (default ../shared/peer/ezkl next to the repo; only
#               ezkl_step.py is used)
#   ZKGRID_BIN  a prebuilt zkgrid binary; otherwise `cargo build -p zkgrid-service` (dev profile:
#               gas does not depend on the build profile) into $CARGO_TARGET_DIR
#   CASES       model:visibility[:ezkl-visibility],... (visibility public = public input and
#               output; hashed = Poseidon-hashed input, public output; a `+GOAL` suffix plans
#               ours with `--optimize GOAL`, e.g. hashed+gas, against EZKL's `hashed`)
#   REFERENCE   1 (default): also measure snark-verifier's reference with the gas_zoo_rows test;
#               0: skip it (an earlier run's rows in evm-gas/reference.txt are still used)
#   REUSE       1: keep the error-free zkgrid/EZKL records of an earlier run (default 0);
#               ezkl: keep only EZKL's part and measure zkgrid again (after a zkgrid change)
#   NICE        nice level for the heavy steps (default 10)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="${PEER_WORK:-/tmp/zkgrid-peer}"
PEER_DIR="${PEER_DIR:-$REPO/../shared/peer/ezkl}"
CASES="${CASES:-mlp_tiny:public,mlp_small:public,mlp_small:public+gas,mlp_small:hashed,mlp_small:hashed+gas,mlp_small:hashed+gas:private,mlp_wide:public,cnn_small:public,digits_mlp:public}"
REFERENCE="${REFERENCE:-1}"
NICE="${NICE:-10}"
VENV="$WORK/ezkl-venv"
OUT="$WORK/evm-gas"
mkdir -p "$OUT"

# 1. EZKL 23.0.5 in a venv (reused from benches/peer/run.sh when present)
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -c 'import ezkl, onnx' 2>/dev/null || "$VENV/bin/pip" install -q ezkl==23.0.5 onnx numpy
cp "$PEER_DIR/ezkl_step.py" "$OUT/ezkl_step.py"

# 2. the crate's pinned solc-js and anvil (the same npm ci its Rust tooling runs)
VC="$REPO/verifier-contracts"
ANVIL="$VC/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
if [ ! -x "$ANVIL" ] || [ ! -f "$VC/node_modules/solc/soljson.js" ]; then
  npm ci --prefix "$VC" --no-audit --no-fund --cache "$VC/.npm-cache"
fi

# 3. zkgrid
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target-bench}"
if [ -n "${ZKGRID_BIN:-}" ]; then
  BIN="$ZKGRID_BIN"
else
  (cd "$REPO" && nice -n "$NICE" cargo build -p zkgrid-service)
  BIN="$CARGO_TARGET_DIR/debug/zkgrid"
fi
rm -rf "$OUT/zoo"
"$BIN" zoo export all -o "$OUT/zoo" >/dev/null

# 4. snark-verifier's reference (and ours again) on the same proofs, from the gas test
REF_FILE="$OUT/reference.txt"
if [ "$REFERENCE" = 1 ]; then
  rm -f "$REF_FILE"
  REF_CASES="$(echo "$CASES" | tr ',' '\n' | cut -d: -f1,2 | sort -u | paste -sd, -)"
  (cd "$REPO" && ZKGRID_GAS_ZOO="$REF_CASES" nice -n "$NICE" \
     cargo test -p zkgrid-evm --test gas -- --ignored --nocapture --exact gas_zoo_rows) \
     > "$REF_FILE" 2>"$OUT/reference.stderr" || echo "warning: gas_zoo_rows failed (see $OUT/reference.stderr)" >&2
fi

GIT="$(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet HEAD -- . ':!benches' || echo '+dirty')"
CMD="CASES=$CASES REFERENCE=$REFERENCE REUSE=${REUSE:-0} bash benches/peer/evm_gas.sh"
python3 "$HERE/evm_gas.py" \
  --zkgrid "$BIN" \
  --ezkl-py "$VENV/bin/python" \
  --ezkl-step "$OUT/ezkl_step.py" \
  --solc-js "$VC/scripts/solc-standard-json.js" \
  --anvil "$ANVIL" \
  --zoo "$OUT/zoo" \
  --cases "$CASES" \
  --reference "$REF_FILE" \
  --work "$OUT" \
  --nice "$NICE" \
  $([ "${REUSE:-0}" = 1 ] && echo --reuse) $([ "${REUSE:-0}" = ezkl ] && echo --reuse-ezkl) \
  --results "$REPO/benches/RESULTS.md" \
  --command "$CMD" \
  --git "$GIT"
