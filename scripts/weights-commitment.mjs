// Recomputes a model's private-weights commitment (the first public instance of a proof made
// with `--weights-visibility hashed`) from its MODEL.zkg.json with circomlibjs' Poseidon,
// independently of zkgrid's Rust code. The rule is documented in circuits/src/model/weights.rs.
//
//   npm install --prefix /tmp/cl circomlibjs@0.1.7
//   NODE_PATH=/tmp/cl/node_modules node scripts/weights-commitment.mjs MODEL.zkg.json
//
// Prints the commitment as 0x-prefixed 32-byte hex (what `zkgrid inspect
// --weights-visibility hashed` prints).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { buildPoseidon } = require("circomlibjs");

const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const PACK_MAX_BITS = 16;
const PACKED_BITS = 252;
const CHUNK = 15; // hash_many: 16 inputs per permutation, one is the chaining value

// Smallest b >= 1 with -2^(b-1) <= v < 2^(b-1) for every value.
function signedWidth(values) {
  let b = 1;
  for (const v of values) {
    const m = v < 0n ? -v - 1n : v;
    const need = m === 0n ? 1 : m.toString(2).length + 1;
    if (need > b) b = need;
  }
  return b;
}

function tensorElements(values) {
  const b = signedWidth(values);
  if (b > PACK_MAX_BITS) return values.map((v) => ((v % P) + P) % P);
  const m = Math.floor(PACKED_BITS / b);
  const half = 1n << BigInt(b - 1);
  const out = [];
  for (let i = 0; i < values.length; i += m) {
    let acc = 0n;
    values.slice(i, i + m).forEach((v, j) => {
      acc += (v + half) << BigInt(b * j);
    });
    out.push(acc);
  }
  return out;
}

const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/weights-commitment.mjs MODEL.zkg.json");
  process.exit(2);
}
const doc = JSON.parse(readFileSync(file, "utf8"));
const model = doc.model ?? doc;
const elements = [];
for (const node of model.nodes) {
  const op = node.op;
  if (op.op === "dense" || op.op === "conv2d") {
    for (const t of [op.weight, op.bias]) elements.push(...tensorElements(t.map(BigInt)));
  } else if (op.op === "add_const" || op.op === "mul_const") {
    elements.push(...tensorElements(op.constant.map(BigInt)));
  }
}
const poseidon = await buildPoseidon();
let h = BigInt(elements.length);
const chunks = Math.max(1, Math.ceil(elements.length / CHUNK));
for (let k = 0; k < chunks; k++) {
  const chunk = elements.slice(k * CHUNK, (k + 1) * CHUNK);
  while (chunk.length < CHUNK) chunk.push(0n);
  h = poseidon.F.toObject(poseidon([h, ...chunk]));
}
console.log("0x" + h.toString(16).padStart(64, "0"));
