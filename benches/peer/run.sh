#!/usr/bin/env bash
# zkgrid vs EZKL 23.0.5, same ONNX files, same machine, one run. Writes the side-by-side
# tables into benches/RESULTS.md (between the peer-run markers; other text is kept).
#
#   bash benches/peer/run.sh              # 3 proves per tool and model
#   PROVES=1 WAIT_IDLE=0 bash benches/peer/run.sh   # quicker, no waiting for a quiet machine
#
# Needs python3 (venv), /usr/bin/time, cargo; only PyPI is contacted (pip install ezkl).
# Environment:
#   PEER_WORK   work dir (default /tmp/zkgrid-peer): EZKL venv, copy of the peer scripts,
#               EZKL artefacts (pk up to ~0.6 GiB, deleted after each model), zkgrid data dirs
#               (INSECURE dev SRS + keys, one fresh dir per model), raw results.json
#   PEER_DIR    the peer's EZKL scripts (default ../shared/peer/ezkl next to the repo)
#   ZKGRID_BIN  a prebuilt zkgrid binary; otherwise `cargo build --release -p zkgrid-service`
#               into $CARGO_TARGET_DIR (default <repo>/target-bench)
#   PROVES      proves per tool and model (default 3)
#   WAIT_IDLE   before each keygen/prove, wait up to this many s for other load to go (default 120)
#   MODELS      comma-separated subset of mlp_small,mlp_wide,cnn_small
#   WEIGHTS     fixed (default) or hashed: private weights with a public Poseidon commitment in
#               both tools (EZKL param_visibility "hashed/public"); written to its own section
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="${PEER_WORK:-/tmp/zkgrid-peer}"
PEER_DIR="${PEER_DIR:-$REPO/../shared/peer/ezkl}"
PROVES="${PROVES:-3}"
WAIT_IDLE="${WAIT_IDLE:-120}"
MODELS="${MODELS:-mlp_small,mlp_wide,cnn_small}"
WEIGHTS="${WEIGHTS:-fixed}"
VENV="$WORK/ezkl-venv"
mkdir -p "$WORK"

# 1. the peer's scripts, copied (the originals are read-only and write results beside themselves)
rm -rf "$WORK/ezkl"
cp -r "$PEER_DIR" "$WORK/ezkl"
chmod -R u+w "$WORK/ezkl"

# 2. EZKL 23.0.5 in a venv (no torch, no onnxruntime: models are already built)
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q ezkl==23.0.5 onnx numpy

# 3. the zkgrid release binary
if [ -n "${ZKGRID_BIN:-}" ]; then
  BIN="$ZKGRID_BIN"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target-bench}"
  (cd "$REPO" && cargo build --release -p zkgrid-service)
  BIN="$CARGO_TARGET_DIR/release/zkgrid"
fi

# 4. the same ONNX files for both tools: the committed copies of the peer's models
#    (byte-identical to $PEER_DIR/models; checked here)
MODELS_DIR="$REPO/models/tests/fixtures/peer"
for m in ${MODELS//,/ }; do
  for f in network.onnx input.json; do
    cmp -s "$MODELS_DIR/$m/$f" "$WORK/ezkl/models/$m/$f" \
      || { echo "error: $MODELS_DIR/$m/$f differs from the peer's copy" >&2; exit 1; }
  done
done

GIT="$(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet HEAD -- . ':!benches' || echo '+dirty')"
CMD="PROVES=$PROVES WAIT_IDLE=$WAIT_IDLE MODELS=$MODELS WEIGHTS=$WEIGHTS bash benches/peer/run.sh"
python3 "$HERE/compare.py" \
  --zkgrid "$BIN" \
  --ezkl-py "$VENV/bin/python" \
  --ezkl-step "$WORK/ezkl/ezkl_step.py" \
  --models "$MODELS_DIR" \
  --names "$MODELS" \
  --work "$WORK" \
  --proves "$PROVES" \
  --wait-idle "$WAIT_IDLE" \
  --results "$REPO/benches/RESULTS.md" \
  --command "$CMD" \
  --git "$GIT" \
  --weights "$WEIGHTS"
