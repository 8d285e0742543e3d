//! The verification program: a short straight-line program over 256-bit memory slots that
//! [`crate::codegen`] compiles to EVM code and [`crate::interpret`] runs natively.
//!
//! Why a program: a halo2 verifier's size grows with the circuit (gate expressions, one
//! opening per column, lookups). Straight-line Solidity for a wide circuit exceeds EIP-170
//! (24,576 bytes). Here everything circuit-specific — constants, commitments, gate
//! expressions, the SHPLONK opening schedule — is a program that [`crate::codegen`] turns into
//! code contracts of bounded size; the verifier contract is a fixed-size dispatcher.
//!
//! Memory model: slots `0..num_consts` hold constants, slots after
//! them hold values computed by the program, each written once. Points take two consecutive
//! slots (`x`, `y`); G2 points take four (`x.c1`, `x.c0`, `y.c1`, `y.c0`, the precompile
//! order). The transcript is snark-verifier's `EvmTranscript` (Keccak-256; points as
//! `x ‖ y`, 32-byte big-endian words; a squeeze hashes the buffer, appending the byte `0x01`
//! when the buffer is exactly one word, and restarts the buffer with the hash).
//!
//! Compact binary encoding ([`Program::data_blob`], for storage and inspection): one opcode
//! byte followed by big-endian `u16` operands (slot indices, or counts).

use std::collections::HashMap;

use halo2_proofs::halo2curves::bn256::{Fq, Fr, G1Affine, G2Affine};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::{Coordinates, CurveAffine};

use crate::error::{EvmError, Result};

/// A 32-byte big-endian word.
pub type Word = [u8; 32];

/// Operation codes of the encoded program (see [`Op`]).
pub mod opcode {
    /// `d = a + b mod r`
    pub const ADD: u8 = 0x01;
    /// `d = a - b mod r`
    pub const SUB: u8 = 0x02;
    /// `d = a * b mod r`
    pub const MUL: u8 = 0x03;
    /// `d = a * b + c mod r`
    pub const MAC: u8 = 0x04;
    /// `d = a^(r-2) mod r` (0 for 0)
    pub const INV: u8 = 0x05;
    /// read a canonical scalar from the proof into `d` and absorb it
    pub const READ_SCALAR: u8 = 0x06;
    /// read a G1 point from the proof into `d, d+1` and absorb it
    pub const READ_POINT: u8 = 0x07;
    /// absorb slot `a`
    pub const ABSORB: u8 = 0x08;
    /// absorb every public instance, in order
    pub const ABSORB_INSTANCES: u8 = 0x09;
    /// squeeze a challenge into `d`
    pub const SQUEEZE: u8 = 0x0a;
    /// instance evaluation as a fraction, see [`super::Op::InstanceFraction`]
    pub const INSTANCE_FRACTION: u8 = 0x0b;
    /// `acc += s * P`
    pub const MSM_ACC: u8 = 0x0c;
    /// pairing check, see [`super::Op::Pairing`]
    pub const PAIRING: u8 = 0x0d;
    /// `acc += P`
    pub const MSM_ADD: u8 = 0x0e;
}

/// A slot while the program is built: constants and variables are numbered separately and
/// laid out (constants first) when the program is finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Slot {
    Const(u32),
    Var(u32),
}

/// First slot of a G1 point (`x` at the slot, `y` at the next).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PointSlot(pub(crate) Slot);

/// One instruction with resolved slot indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `d = a + b`
    Add {
        /// destination
        d: u16,
        /// left
        a: u16,
        /// right
        b: u16,
    },
    /// `d = a - b`
    Sub {
        /// destination
        d: u16,
        /// left
        a: u16,
        /// right
        b: u16,
    },
    /// `d = a * b`
    Mul {
        /// destination
        d: u16,
        /// left
        a: u16,
        /// right
        b: u16,
    },
    /// `d = a * b + c`
    Mac {
        /// destination
        d: u16,
        /// factor
        a: u16,
        /// factor
        b: u16,
        /// addend
        c: u16,
    },
    /// `d = a⁻¹` (0 for 0)
    Inv {
        /// destination
        d: u16,
        /// operand
        a: u16,
    },
    /// Read a scalar from the proof (must be `< r`) into `d`; absorb it.
    ReadScalar {
        /// destination
        d: u16,
    },
    /// Read a G1 point from the proof into `d, d+1` (coordinates `< q`, on the curve or the
    /// identity `(0, 0)`); absorb it.
    ReadPoint {
        /// destination (x; y at d+1)
        d: u16,
    },
    /// Absorb slot `a` into the transcript.
    Absorb {
        /// source
        a: u16,
    },
    /// Absorb every public instance, in order.
    AbsorbInstances,
    /// Squeeze a challenge into `d`.
    Squeeze {
        /// destination
        d: u16,
    },
    /// `Σ_{j<len} inst[start+j] / (z_j - 1)` with `z_j = x · s0 · step^j`, as a fraction:
    /// the numerator into `d`, the denominator `∏_j (z_j - 1)` into `d + 1`, both from the
    /// running `num' = num · (z_j - 1) + inst_j · den`, `den' = den · (z_j - 1)`, starting at
    /// `num = 0`, `den = 1`. With `s0 = ω^rotation` and `step = ω⁻¹` each term is
    /// `inst_j · w_j / (x - w_j)` for `w_j = ω^(j - rotation)`, so the fraction times
    /// `(xⁿ - 1)/n` is the evaluation at `x` of the instance column queried at `rotation`; the
    /// program inverts the denominator together with its other inverses.
    InstanceFraction {
        /// destination of the numerator (the denominator goes to `d + 1`)
        d: u16,
        /// the point `x`
        x: u16,
        /// the scale `s0`
        s0: u16,
        /// the step
        step: u16,
        /// first instance index (into the flat instance list)
        start: u16,
        /// number of instances
        len: u16,
    },
    /// `acc += s · P` where `P` is the point at slots `p, p+1` (acc starts at the identity).
    MsmAcc {
        /// point
        p: u16,
        /// scalar
        s: u16,
    },
    /// `acc += P` for the point at slots `p, p+1` (a unit scalar: no multiplication).
    MsmAdd {
        /// point
        p: u16,
    },
    /// Check `e(A, G2a) · e(acc, G2b) = 1` for the G1 point `A` at `a` and G2 points at
    /// `g2a`, `g2b` (four slots each). The program's verdict is the result of this check.
    Pairing {
        /// G1 point
        a: u16,
        /// G2 point paired with `a`
        g2a: u16,
        /// G2 point paired with the accumulator
        g2b: u16,
    },
}

impl Op {
    /// Encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        1 + 2 * match self {
            Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Pairing { .. } => 3,
            Op::Mac { .. } => 4,
            Op::Inv { .. } | Op::MsmAcc { .. } => 2,
            Op::ReadScalar { .. }
            | Op::ReadPoint { .. }
            | Op::Absorb { .. }
            | Op::Squeeze { .. }
            | Op::MsmAdd { .. } => 1,
            Op::AbsorbInstances => 0,
            Op::InstanceFraction { .. } => 6,
        }
    }

    /// Appends the encoding; slot operands become absolute memory word indices `base + slot`
    /// (counts and instance positions are encoded as they are).
    fn encode(&self, base: u16, out: &mut Vec<u8>) {
        let mut put = |code: u8, slots: &[u16], plain: &[u16]| {
            out.push(code);
            for a in slots {
                out.extend_from_slice(&base.wrapping_add(*a).to_be_bytes());
            }
            for a in plain {
                out.extend_from_slice(&a.to_be_bytes());
            }
        };
        match *self {
            Op::Add { d, a, b } => put(opcode::ADD, &[d, a, b], &[]),
            Op::Sub { d, a, b } => put(opcode::SUB, &[d, a, b], &[]),
            Op::Mul { d, a, b } => put(opcode::MUL, &[d, a, b], &[]),
            Op::Mac { d, a, b, c } => put(opcode::MAC, &[d, a, b, c], &[]),
            Op::Inv { d, a } => put(opcode::INV, &[d, a], &[]),
            Op::ReadScalar { d } => put(opcode::READ_SCALAR, &[d], &[]),
            Op::ReadPoint { d } => put(opcode::READ_POINT, &[d], &[]),
            Op::Absorb { a } => put(opcode::ABSORB, &[a], &[]),
            Op::AbsorbInstances => put(opcode::ABSORB_INSTANCES, &[], &[]),
            Op::Squeeze { d } => put(opcode::SQUEEZE, &[d], &[]),
            Op::InstanceFraction {
                d,
                x,
                s0,
                step,
                start,
                len,
            } => put(opcode::INSTANCE_FRACTION, &[d, x, s0, step], &[start, len]),
            Op::MsmAcc { p, s } => put(opcode::MSM_ACC, &[p, s], &[]),
            Op::MsmAdd { p } => put(opcode::MSM_ADD, &[p], &[]),
            Op::Pairing { a, g2a, g2b } => put(opcode::PAIRING, &[a, g2a, g2b], &[]),
        }
    }
}

/// Memory address at which [`Program::code`] places slot operands (word `PROG_BASE / 32` + the
/// padded code length is slot 0): the layout of the compact encoding.
pub const PROG_BASE: usize = 0x200;

/// A finished verification program for one verifying key and instance layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Constant words, slots `0..consts.len()`.
    pub consts: Vec<Word>,
    /// Instructions.
    pub ops: Vec<Op>,
    /// Total number of slots (constants + variables).
    pub num_slots: usize,
    /// Largest transcript buffer the program needs, in bytes.
    pub transcript_bytes: usize,
    /// Largest instance column, in values.
    pub max_instance_len: usize,
    /// Exact proof length in bytes.
    pub proof_len: usize,
    /// Number of public instances per column.
    pub num_instances: Vec<usize>,
    /// What the proof holds, in order.
    pub proof_items: Vec<ProofItem>,
}

/// One value read from the proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProofItem {
    /// Byte offset in the proof.
    pub offset: usize,
    /// A G1 point (64 bytes) rather than a scalar (32 bytes).
    pub point: bool,
    /// What it is (e.g. `"advice commitment"`, `"lookup evaluation"`).
    pub what: &'static str,
}

impl Program {
    /// The encoded instructions (slot operands as absolute memory word indices, see
    /// [`Program::slot_word_base`]).
    pub fn code(&self) -> Vec<u8> {
        let base = self.slot_word_base();
        let mut out = Vec::with_capacity(self.code_len());
        for op in &self.ops {
            op.encode(base, &mut out);
        }
        out
    }

    /// Length of the encoded instructions.
    pub fn code_len(&self) -> usize {
        self.ops.iter().map(Op::encoded_len).sum()
    }

    /// Word index of slot 0 in the compact encoding: the slots follow the program (at
    /// [`PROG_BASE`], padded to a word).
    pub fn slot_word_base(&self) -> u16 {
        ((PROG_BASE + padded_code_len(self.code_len())) / 32) as u16
    }

    /// Total number of public instances.
    pub fn total_instances(&self) -> usize {
        self.num_instances.iter().sum()
    }

    /// The VK data blob: the encoded instructions, zero-padded to a multiple of 32 bytes,
    /// followed by the constant words. The verifier copies it so that the constants land on
    /// slots `0..consts.len()`.
    pub fn data_blob(&self) -> Vec<u8> {
        let mut blob = self.code();
        blob.resize(padded_code_len(blob.len()), 0);
        for word in &self.consts {
            blob.extend_from_slice(word);
        }
        blob
    }

    /// Length of the encoded instructions after padding (the offset of the constants in the
    /// data blob).
    pub fn padded_code_len(&self) -> usize {
        padded_code_len(self.code_len())
    }
}

fn padded_code_len(len: usize) -> usize {
    len.div_ceil(32) * 32
}

/// Big-endian word of a scalar.
pub fn fr_word(value: &Fr) -> Word {
    let mut word = value.to_repr();
    word.reverse();
    word
}

/// Big-endian word of a base-field element.
pub fn fq_word(value: &Fq) -> Word {
    let mut word = value.to_repr();
    word.reverse();
    word
}

/// Operation key for common-subexpression elimination.
type MemoKey = (u8, Slot, Slot, Slot);

/// Builds a [`Program`]: allocates slots, deduplicates constants and repeated operations,
/// tracks the transcript buffer and proof length.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    consts: Vec<Word>,
    scalar_consts: HashMap<Word, u32>,
    const_values: HashMap<u32, Fr>,
    point_consts: HashMap<[Word; 2], Slot>,
    vars: u32,
    ops: Vec<RawOp>,
    memo: HashMap<MemoKey, Slot>,
    transcript_len: usize,
    transcript_max: usize,
    proof_len: usize,
    proof_items: Vec<ProofItem>,
    max_instance_len: usize,
}

/// An op with unresolved slots (resolved in [`Builder::finish`]).
#[derive(Clone, Copy, Debug)]
enum RawOp {
    Add(Slot, Slot, Slot),
    Sub(Slot, Slot, Slot),
    Mul(Slot, Slot, Slot),
    Mac(Slot, Slot, Slot, Slot),
    Inv(Slot, Slot),
    ReadScalar(Slot),
    ReadPoint(Slot),
    Absorb(Slot),
    AbsorbInstances,
    Squeeze(Slot),
    InstanceFraction {
        d: Slot,
        x: Slot,
        s0: Slot,
        step: Slot,
        start: usize,
        len: usize,
    },
    MsmAcc(Slot, Slot),
    MsmAdd(Slot),
    Pairing(Slot, Slot, Slot),
}

impl Builder {
    fn var(&mut self, width: u32) -> Slot {
        let slot = Slot::Var(self.vars);
        self.vars += width;
        slot
    }

    fn push_const_words(&mut self, words: &[Word]) -> Slot {
        let slot = Slot::Const(self.consts.len() as u32);
        self.consts.extend_from_slice(words);
        slot
    }

    /// A scalar constant (deduplicated).
    pub(crate) fn constant(&mut self, value: Fr) -> Slot {
        let word = fr_word(&value);
        if let Some(&index) = self.scalar_consts.get(&word) {
            return Slot::Const(index);
        }
        let slot = self.push_const_words(&[word]);
        if let Slot::Const(index) = slot {
            self.scalar_consts.insert(word, index);
            self.const_values.insert(index, value);
        }
        slot
    }

    /// A G1 constant (two consecutive words; equal points share slots, so that an MSM can
    /// merge their terms).
    pub(crate) fn const_point(
        &mut self,
        point: &G1Affine,
        what: &'static str,
    ) -> Result<PointSlot> {
        let coordinates: Option<Coordinates<G1Affine>> = Option::from(point.coordinates());
        let words = match coordinates {
            Some(c) => [fq_word(c.x()), fq_word(c.y())],
            None if bool::from(point.is_identity()) => [[0u8; 32]; 2],
            None => return Err(EvmError::InvalidKeyPoint { what }),
        };
        if let Some(&slot) = self.point_consts.get(&words) {
            return Ok(PointSlot(slot));
        }
        let slot = self.push_const_words(&words);
        self.point_consts.insert(words, slot);
        Ok(PointSlot(slot))
    }

    /// A G2 constant (four consecutive words, precompile order).
    pub(crate) fn const_g2(&mut self, point: &G2Affine) -> Slot {
        self.push_const_words(&[
            fq_word(&point.x.c1),
            fq_word(&point.x.c0),
            fq_word(&point.y.c1),
            fq_word(&point.y.c0),
        ])
    }

    /// The value of a scalar constant slot.
    fn value(&self, slot: Slot) -> Option<Fr> {
        match slot {
            Slot::Const(i) => self.const_values.get(&i).copied(),
            Slot::Var(_) => None,
        }
    }

    fn is(&self, slot: Slot, value: Fr) -> bool {
        self.value(slot) == Some(value)
    }

    pub(crate) fn add(&mut self, a: Slot, b: Slot) -> Slot {
        if let (Some(x), Some(y)) = (self.value(a), self.value(b)) {
            return self.constant(x + y);
        }
        if self.is(a, Fr::ZERO) {
            return b;
        }
        if self.is(b, Fr::ZERO) {
            return a;
        }
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let key = (opcode::ADD, a, b, a);
        if let Some(&slot) = self.memo.get(&key) {
            return slot;
        }
        let d = self.var(1);
        self.ops.push(RawOp::Add(d, a, b));
        self.memo.insert(key, d);
        d
    }

    pub(crate) fn sub(&mut self, a: Slot, b: Slot) -> Slot {
        if let (Some(x), Some(y)) = (self.value(a), self.value(b)) {
            return self.constant(x - y);
        }
        if self.is(b, Fr::ZERO) {
            return a;
        }
        let key = (opcode::SUB, a, b, a);
        if let Some(&slot) = self.memo.get(&key) {
            return slot;
        }
        let d = self.var(1);
        self.ops.push(RawOp::Sub(d, a, b));
        self.memo.insert(key, d);
        d
    }

    pub(crate) fn mul(&mut self, a: Slot, b: Slot) -> Slot {
        if let (Some(x), Some(y)) = (self.value(a), self.value(b)) {
            return self.constant(x * y);
        }
        if self.is(a, Fr::ONE) {
            return b;
        }
        if self.is(b, Fr::ONE) {
            return a;
        }
        if self.is(a, Fr::ZERO) || self.is(b, Fr::ZERO) {
            return self.constant(Fr::ZERO);
        }
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let key = (opcode::MUL, a, b, a);
        if let Some(&slot) = self.memo.get(&key) {
            return slot;
        }
        let d = self.var(1);
        self.ops.push(RawOp::Mul(d, a, b));
        self.memo.insert(key, d);
        d
    }

    /// `a * b + c`
    pub(crate) fn mac(&mut self, a: Slot, b: Slot, c: Slot) -> Slot {
        if self.is(a, Fr::ZERO) || self.is(b, Fr::ZERO) {
            return c;
        }
        if self.is(c, Fr::ZERO) || (self.value(a).is_some() && self.value(b).is_some()) {
            let product = self.mul(a, b);
            return self.add(product, c);
        }
        if self.is(a, Fr::ONE) {
            return self.add(b, c);
        }
        if self.is(b, Fr::ONE) {
            return self.add(a, c);
        }
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let key = (opcode::MAC, a, b, c);
        if let Some(&slot) = self.memo.get(&key) {
            return slot;
        }
        let d = self.var(1);
        self.ops.push(RawOp::Mac(d, a, b, c));
        self.memo.insert(key, d);
        d
    }

    pub(crate) fn neg(&mut self, a: Slot) -> Slot {
        let zero = self.constant(Fr::ZERO);
        self.sub(zero, a)
    }

    /// Inverses of `values` with one [`Op::Inv`] (Montgomery's trick; a zero anywhere makes
    /// every result zero, like a single zero inversion would make the proof fail).
    pub(crate) fn batch_inv(&mut self, values: &[Slot]) -> Vec<Slot> {
        if values.len() <= 1 {
            return values.iter().map(|&v| self.inv(v)).collect();
        }
        let mut prefix = Vec::with_capacity(values.len());
        let mut acc = values[0];
        prefix.push(acc);
        for &v in &values[1..] {
            acc = self.mul(acc, v);
            prefix.push(acc);
        }
        let mut inv = self.inv(acc);
        let mut out = vec![inv; values.len()];
        for i in (1..values.len()).rev() {
            out[i] = self.mul(inv, prefix[i - 1]);
            inv = self.mul(inv, values[i]);
        }
        out[0] = inv;
        out
    }

    pub(crate) fn inv(&mut self, a: Slot) -> Slot {
        let key = (opcode::INV, a, a, a);
        if let Some(&slot) = self.memo.get(&key) {
            return slot;
        }
        let d = self.var(1);
        self.ops.push(RawOp::Inv(d, a));
        self.memo.insert(key, d);
        d
    }

    /// `base^exp` by square-and-multiply (exp > 0).
    pub(crate) fn pow(&mut self, base: Slot, exp: u64) -> Slot {
        let one = self.constant(Fr::ONE);
        if exp == 0 {
            return one;
        }
        let bits = 64 - exp.leading_zeros();
        let mut acc = base;
        for i in (0..bits - 1).rev() {
            acc = self.mul(acc, acc);
            if (exp >> i) & 1 == 1 {
                acc = self.mul(acc, base);
            }
        }
        acc
    }

    fn absorbed(&mut self, bytes: usize) {
        self.transcript_len += bytes;
        self.transcript_max = self.transcript_max.max(self.transcript_len);
    }

    pub(crate) fn read_scalar(&mut self, what: &'static str) -> Slot {
        let d = self.var(1);
        self.ops.push(RawOp::ReadScalar(d));
        self.proof_items.push(ProofItem {
            offset: self.proof_len,
            point: false,
            what,
        });
        self.proof_len += 32;
        self.absorbed(32);
        d
    }

    pub(crate) fn read_point(&mut self, what: &'static str) -> PointSlot {
        let d = self.var(2);
        self.ops.push(RawOp::ReadPoint(d));
        self.proof_items.push(ProofItem {
            offset: self.proof_len,
            point: true,
            what,
        });
        self.proof_len += 64;
        self.absorbed(64);
        PointSlot(d)
    }

    pub(crate) fn absorb(&mut self, a: Slot) {
        self.ops.push(RawOp::Absorb(a));
        self.absorbed(32);
    }

    pub(crate) fn absorb_instances(&mut self, total: usize) {
        self.ops.push(RawOp::AbsorbInstances);
        self.absorbed(32 * total);
    }

    pub(crate) fn squeeze(&mut self) -> Slot {
        let d = self.var(1);
        self.ops.push(RawOp::Squeeze(d));
        // The buffer restarts with the hash; `0x01` may be appended to a one-word buffer.
        self.transcript_max = self.transcript_max.max(33);
        self.transcript_len = 32;
        d
    }

    /// Numerator and denominator of `Σ_{j<len} inst[start+j] / (x · s0 · step^j - 1)`
    /// (see [`Op::InstanceFraction`]).
    pub(crate) fn instance_fraction(
        &mut self,
        x: Slot,
        s0: Slot,
        step: Slot,
        start: usize,
        len: usize,
    ) -> (Slot, Slot) {
        let first = self.vars;
        let d = self.var(2);
        self.max_instance_len = self.max_instance_len.max(len);
        self.ops.push(RawOp::InstanceFraction {
            d,
            x,
            s0,
            step,
            start,
            len,
        });
        (d, Slot::Var(first + 1))
    }

    pub(crate) fn msm_acc(&mut self, p: PointSlot, s: Slot) {
        if self.is(s, Fr::ONE) {
            self.ops.push(RawOp::MsmAdd(p.0));
        } else {
            self.ops.push(RawOp::MsmAcc(p.0, s));
        }
    }

    pub(crate) fn pairing(&mut self, a: PointSlot, g2a: Slot, g2b: Slot) {
        self.ops.push(RawOp::Pairing(a.0, g2a, g2b));
    }

    /// Lays out the slots (constants first) and checks every index fits 16 bits.
    pub(crate) fn finish(self, num_instances: Vec<usize>) -> Result<Program> {
        let num_consts = self.consts.len();
        let num_slots = num_consts + self.vars as usize;
        let max = u16::MAX as usize;
        if num_slots > max {
            return Err(EvmError::ProgramTooLarge {
                what: "slots",
                value: num_slots,
                max,
            });
        }
        let total: usize = num_instances.iter().sum();
        if total > max {
            return Err(EvmError::ProgramTooLarge {
                what: "instances",
                value: total,
                max,
            });
        }
        let r = |slot: Slot| -> u16 {
            // In range: checked above.
            match slot {
                Slot::Const(i) => i as u16,
                Slot::Var(i) => (num_consts + i as usize) as u16,
            }
        };
        let ops: Vec<Op> = self
            .ops
            .iter()
            .map(|op| match *op {
                RawOp::Add(d, a, b) => Op::Add {
                    d: r(d),
                    a: r(a),
                    b: r(b),
                },
                RawOp::Sub(d, a, b) => Op::Sub {
                    d: r(d),
                    a: r(a),
                    b: r(b),
                },
                RawOp::Mul(d, a, b) => Op::Mul {
                    d: r(d),
                    a: r(a),
                    b: r(b),
                },
                RawOp::Mac(d, a, b, c) => Op::Mac {
                    d: r(d),
                    a: r(a),
                    b: r(b),
                    c: r(c),
                },
                RawOp::Inv(d, a) => Op::Inv { d: r(d), a: r(a) },
                RawOp::ReadScalar(d) => Op::ReadScalar { d: r(d) },
                RawOp::ReadPoint(d) => Op::ReadPoint { d: r(d) },
                RawOp::Absorb(a) => Op::Absorb { a: r(a) },
                RawOp::AbsorbInstances => Op::AbsorbInstances,
                RawOp::Squeeze(d) => Op::Squeeze { d: r(d) },
                RawOp::InstanceFraction {
                    d,
                    x,
                    s0,
                    step,
                    start,
                    len,
                } => Op::InstanceFraction {
                    d: r(d),
                    x: r(x),
                    s0: r(s0),
                    step: r(step),
                    start: start as u16,
                    len: len as u16,
                },
                RawOp::MsmAcc(p, s) => Op::MsmAcc { p: r(p), s: r(s) },
                RawOp::MsmAdd(p) => Op::MsmAdd { p: r(p) },
                RawOp::Pairing(a, g2a, g2b) => Op::Pairing {
                    a: r(a),
                    g2a: r(g2a),
                    g2b: r(g2b),
                },
            })
            .collect();
        Ok(Program {
            consts: self.consts,
            ops,
            num_slots,
            transcript_bytes: self.transcript_max,
            max_instance_len: self.max_instance_len,
            proof_len: self.proof_len,
            num_instances,
            proof_items: self.proof_items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_folds_deduplicates_and_lays_out_constants_first() -> Result<()> {
        let mut b = Builder::default();
        let two = b.constant(Fr::from(2));
        assert_eq!(b.constant(Fr::from(2)), two);
        let three = b.constant(Fr::from(3));
        let five = b.add(two, three);
        assert_eq!(five, b.constant(Fr::from(5)), "constants fold");
        let x = b.read_scalar("x");
        let y = b.read_scalar("y");
        let one = b.constant(Fr::ONE);
        let zero = b.constant(Fr::ZERO);
        assert_eq!(b.mul(x, one), x);
        assert_eq!(b.add(zero, y), y);
        assert_eq!(b.mac(zero, x, y), y);
        let s1 = b.add(x, y);
        let s2 = b.add(y, x);
        assert_eq!(s1, s2, "commutative ops are shared");
        let m = b.mul(s1, two);
        let _ = b.sub(m, x);
        let program = b.finish(vec![])?;
        // Constants 2, 3, 5, 1, 0 first, then x, y and three computed slots.
        assert_eq!(program.consts.len(), 5);
        assert_eq!(program.num_slots, 10);
        assert_eq!(program.ops.len(), 5);
        assert_eq!(program.ops[2], Op::Add { d: 7, a: 5, b: 6 });
        assert_eq!(program.proof_len, 64);
        let blob = program.data_blob();
        assert_eq!(blob.len(), program.padded_code_len() + 5 * 32);
        assert_eq!(
            &blob[program.padded_code_len()..][..32],
            &fr_word(&Fr::from(2))
        );
        Ok(())
    }
}
