#!/usr/bin/env bash
# Proving time and verifier gas of one zoo model under each planner goal (or forced layouts):
# for every visibility and goal, `zkgrid setup`, PROVES × `zkgrid --json prove` (create_proof
# seconds) and `zkgrid --json evm gas` (revm, whole verifyProof transaction). Prints one line per
# case; the tables in benches/RESULTS.md ("Poseidon partial-round blocks", "Fewer commitments")
# come from it.
#
#   bash benches/goals.sh                                   # mlp_small, public + hashed input
#   MODEL=digits_mlp VIS=all-hashed bash benches/goals.sh   # input, output and weights hashed
#   VIS=hashed GOALS=prove FLAGS="--column-budget 6" bash benches/goals.sh   # force 4 lanes
#
# Environment:
#   ZKGRID_BIN  a prebuilt zkgrid (default: `cargo build --release -p zkgrid-service` into
#               $CARGO_TARGET_DIR, default <repo>/target-bench)
#   MODEL       zoo model (default mlp_small)
#   VIS         space-separated visibilities: public (input and output), hashed (hashed input,
#               public output), all-hashed (input, output and weights hashed); default
#               "public hashed"
#   GOALS       space-separated planner goals (default "prove balanced gas")
#   FLAGS       extra flags for setup, prove and inspect (e.g. --column-budget 6)
#   PROVES      proves per case (default 3)
#   WORK        work dir (default /tmp/zkgrid-goals; wiped first): zoo export, data dirs with
#               the INSECURE dev SRS and keys, proofs
# Timings need a quiet machine; gas is deterministic.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
MODEL="${MODEL:-mlp_small}"
VIS="${VIS:-public hashed}"
GOALS="${GOALS:-prove balanced gas}"
FLAGS="${FLAGS:-}"
PROVES="${PROVES:-3}"
WORK="${WORK:-/tmp/zkgrid-goals}"

if [ -n "${ZKGRID_BIN:-}" ]; then
  Z="$ZKGRID_BIN"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target-bench}"
  (cd "$REPO" && cargo build --release -p zkgrid-service)
  Z="$CARGO_TARGET_DIR/release/zkgrid"
fi

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
"$Z" zoo export "$MODEL" -o . >/dev/null
"$Z" compile "$MODEL/network.onnx" --calibration "$MODEL/calibration.json" -o m.zkg.json >/dev/null

echo "$MODEL, zkgrid $(cd "$REPO" && git rev-parse --short HEAD), $(date -u +%FT%TZ), flags: ${FLAGS:-none}"
for vis in $VIS; do
  case "$vis" in
    public) VFLAGS="" ;;
    hashed) VFLAGS="--input-visibility hashed" ;;
    all-hashed) VFLAGS="--input-visibility hashed --output-visibility hashed --weights-visibility hashed" ;;
    *) echo "unknown visibility $vis (public, hashed, all-hashed)" >&2; exit 2 ;;
  esac
  for goal in $GOALS; do
    D="$WORK/data-$vis-$goal"
    # shellcheck disable=SC2086  # flag lists are split on purpose
    "$Z" --data-dir "$D" setup m.zkg.json $VFLAGS $FLAGS --optimize "$goal" >/dev/null 2>&1
    times=""
    for _ in $(seq "$PROVES"); do
      # shellcheck disable=SC2086
      t=$("$Z" --data-dir "$D" --json prove m.zkg.json "$MODEL/input.json" $VFLAGS $FLAGS \
            --optimize "$goal" -o proof.json 2>/dev/null \
          | python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["prove"]["prove_s"])')
      times="$times $t"
    done
    # shellcheck disable=SC2086
    shape=$("$Z" --json inspect m.zkg.json $VFLAGS $FLAGS --optimize "$goal" 2>/dev/null \
      | python3 -c 'import json,sys
d = json.load(sys.stdin); s = d["settings"]; p = s["params"]
blocks = " + blocks" if s.get("poseidon_blocks") else ""
mode = "digits" if p.get("range_digits") else "lookup"
if s.get("narrow"):
    print("narrow (1 advice column), k %d, commitments %d" % (s["k"], d["verifier_commitments"]))
else:
    print("%d lanes%s, %d range slots (%s), k %d, commitments %d" % (p["lanes"], blocks, p["range_slots"], mode, s["k"], d["verifier_commitments"]))')
    gas=$("$Z" --data-dir "$D" --json evm gas proof.json 2>/dev/null \
      | python3 -c 'import json,sys; d = json.load(sys.stdin); print("%s gas%s" % (format(d["verify_gas"], ","), "" if d["accepted"] else " (REJECTED)"))')
    echo "$vis | $goal | $shape | create_proof s:$times | $gas"
  done
done
