//! The small part of the Solidity ABI that zkgrid's contracts need: selectors, static words,
//! `bytes` and `uint256[]` arguments (head/tail encoding), and bounds-checked decoding of
//! return data, revert data and event data.
//!
//! Encoding is canonical (what solc emits): dynamic arguments are laid out in argument order
//! after the head, `bytes` is zero-padded to a multiple of 32 bytes. Generated verifiers accept
//! only this encoding.

use halo2_proofs::halo2curves::bn256::Fr;
use revm::primitives::{Address, U256};
use sha3::{Digest, Keccak256};

use crate::error::{EvmError, Result};
use crate::program::{fr_word, Word};

/// `keccak256(data)`.
pub fn keccak256(data: &[u8]) -> Word {
    Keccak256::digest(data).into()
}

/// The 4-byte selector of a function or error signature, e.g. `"withdraw()"`.
pub fn selector(signature: &str) -> [u8; 4] {
    let hash = keccak256(signature.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

/// The topic-0 of an event signature.
pub fn event_topic(signature: &str) -> Word {
    keccak256(signature.as_bytes())
}

/// A `uint256` word.
pub fn u256_word(value: U256) -> Word {
    value.to_be_bytes()
}

/// A `uint256` word of a machine integer.
pub fn u64_word(value: u64) -> Word {
    let mut word = [0u8; 32];
    word[24..].copy_from_slice(&value.to_be_bytes());
    word
}

/// An `address` word (left-padded with zeros).
pub fn address_word(address: Address) -> Word {
    let mut word = [0u8; 32];
    word[12..].copy_from_slice(address.as_slice());
    word
}

/// One ABI argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// A static 32-byte value (`uint*`, `int*`, `address`, `bool`, `bytes32`, enums).
    Word(Word),
    /// `bytes`.
    Bytes(&'a [u8]),
    /// `uint256[]` of scalar-field elements (big-endian words).
    Scalars(&'a [Fr]),
    /// `bytes[]`.
    BytesList(&'a [&'a [u8]]),
    /// `uint256[][]` of scalar-field elements.
    ScalarsList(&'a [&'a [Fr]]),
}

impl Token<'_> {
    fn tail_len(&self) -> usize {
        match self {
            Token::Word(_) => 0,
            Token::Bytes(bytes) => 32 + bytes.len().div_ceil(32) * 32,
            Token::Scalars(values) => 32 + 32 * values.len(),
            Token::BytesList(items) => {
                32 + items
                    .iter()
                    .map(|b| 32 + Token::Bytes(b).tail_len())
                    .sum::<usize>()
            }
            Token::ScalarsList(items) => {
                32 + items
                    .iter()
                    .map(|v| 32 + Token::Scalars(v).tail_len())
                    .sum::<usize>()
            }
        }
    }

    /// Appends the token's tail (a dynamic value's encoding) to `out`.
    fn encode_tail(&self, out: &mut Vec<u8>) {
        match self {
            Token::Word(_) => {}
            Token::Bytes(bytes) => {
                out.extend_from_slice(&u64_word(bytes.len() as u64));
                out.extend_from_slice(bytes);
                let padding = bytes.len().div_ceil(32) * 32 - bytes.len();
                out.extend(std::iter::repeat_n(0u8, padding));
            }
            Token::Scalars(values) => {
                out.extend_from_slice(&u64_word(values.len() as u64));
                for value in values.iter() {
                    out.extend_from_slice(&fr_word(value));
                }
            }
            Token::BytesList(items) => {
                let items: Vec<Token<'_>> = items.iter().map(|b| Token::Bytes(b)).collect();
                encode_list(&items, out);
            }
            Token::ScalarsList(items) => {
                let items: Vec<Token<'_>> = items.iter().map(|v| Token::Scalars(v)).collect();
                encode_list(&items, out);
            }
        }
    }
}

/// A dynamic array of dynamic items: length, one offset per item (from the first offset
/// word), then the items.
fn encode_list(items: &[Token<'_>], out: &mut Vec<u8>) {
    out.extend_from_slice(&u64_word(items.len() as u64));
    let mut offset = 32 * items.len();
    for item in items {
        out.extend_from_slice(&u64_word(offset as u64));
        offset += item.tail_len();
    }
    for item in items {
        item.encode_tail(out);
    }
}

/// Canonical calldata `selector ‖ abi.encode(tokens…)`.
pub fn encode_call(selector: [u8; 4], tokens: &[Token<'_>]) -> Vec<u8> {
    let head_len = 32 * tokens.len();
    let tail_len: usize = tokens.iter().map(Token::tail_len).sum();
    let mut out = Vec::with_capacity(4 + head_len + tail_len);
    out.extend_from_slice(&selector);
    let mut offset = head_len;
    for token in tokens {
        match token {
            Token::Word(word) => out.extend_from_slice(word),
            _ => {
                out.extend_from_slice(&u64_word(offset as u64));
                offset += token.tail_len();
            }
        }
    }
    for token in tokens {
        token.encode_tail(&mut out);
    }
    out
}

/// Reads static words from ABI data (return data, error arguments, event data).
#[derive(Clone, Copy, Debug)]
pub struct Words<'a> {
    what: &'static str,
    data: &'a [u8],
}

impl<'a> Words<'a> {
    /// `data` must hold exactly `count` words.
    pub fn exact(what: &'static str, data: &'a [u8], count: usize) -> Result<Self> {
        if data.len() != 32 * count {
            return Err(EvmError::InputShape {
                what,
                expected: 32 * count,
                found: data.len(),
            });
        }
        Ok(Self { what, data })
    }

    /// Word `i`.
    pub fn word(&self, i: usize) -> Result<Word> {
        self.data
            .get(32 * i..32 * i + 32)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(EvmError::InputShape {
                what: self.what,
                expected: 32 * (i + 1),
                found: self.data.len(),
            })
    }

    /// Word `i` as a `uint256`.
    pub fn uint(&self, i: usize) -> Result<U256> {
        Ok(U256::from_be_bytes(self.word(i)?))
    }

    /// Word `i` as a `uint<bits>` (`bits` ≤ 64): fails if the high bits are set.
    pub fn small_uint(&self, i: usize, bits: u32) -> Result<u64> {
        let value = self.uint(i)?;
        let limit = U256::from(1u8) << bits.min(64) as usize;
        if value >= limit {
            return Err(EvmError::AbiDecode {
                what: self.what,
                index: i,
                problem: "integer wider than its type",
            });
        }
        Ok(value.saturating_to::<u64>())
    }

    /// Word `i` as an `address`: fails if the 12 high bytes are not zero.
    pub fn address(&self, i: usize) -> Result<Address> {
        let word = self.word(i)?;
        if word[..12].iter().any(|&b| b != 0) {
            return Err(EvmError::AbiDecode {
                what: self.what,
                index: i,
                problem: "address wider than 160 bits",
            });
        }
        Ok(Address::from_slice(&word[12..]))
    }

    /// Word `i` as a `bool`: fails unless it is 0 or 1.
    pub fn boolean(&self, i: usize) -> Result<bool> {
        match self.small_uint(i, 1) {
            Ok(v) => Ok(v == 1),
            Err(_) => Err(EvmError::AbiDecode {
                what: self.what,
                index: i,
                problem: "bool other than 0 or 1",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_known_values() {
        // Well-known selectors (ERC-20 and Solidity's Error(string)).
        assert_eq!(
            selector("transfer(address,uint256)"),
            [0xa9, 0x05, 0x9c, 0xbb]
        );
        assert_eq!(selector("Error(string)"), [0x08, 0xc3, 0x79, 0xa0]);
    }

    #[test]
    fn dynamic_arguments_follow_the_head_in_order() {
        let proof = [0xabu8; 33];
        let values = [Fr::from(5u64), Fr::from(7u64)];
        let data = encode_call(
            [1, 2, 3, 4],
            &[
                Token::Word(u64_word(9)),
                Token::Bytes(&proof),
                Token::Scalars(&values),
            ],
        );
        let body = &data[4..];
        assert_eq!(&body[..32], &u64_word(9));
        assert_eq!(&body[32..64], &u64_word(0x60), "bytes right after the head");
        // bytes tail: length word + 33 bytes padded to 64.
        assert_eq!(&body[64..96], &u64_word(0x60 + 32 + 64));
        assert_eq!(&body[96..128], &u64_word(33));
        assert_eq!(&body[128..161], &proof);
        assert!(body[161..192].iter().all(|&b| b == 0), "zero padding");
        assert_eq!(&body[192..224], &u64_word(2));
        assert_eq!(&body[224..256], &u64_word(5));
        assert_eq!(&body[256..288], &u64_word(7));
        assert_eq!(body.len(), 288);
    }

    #[test]
    fn lists_of_dynamic_items_have_offsets_from_their_first_offset_word() {
        let (a, b) = ([1u8], [2u8, 3]);
        let (five, none) = ([Fr::from(5u64)], []);
        let bytes: [&[u8]; 2] = [&a, &b];
        let scalars: [&[Fr]; 2] = [&five, &none];
        let data = encode_call(
            [0; 4],
            &[Token::BytesList(&bytes), Token::ScalarsList(&scalars)],
        );
        let padded = |bytes: &[u8]| {
            let mut w = [0u8; 32];
            w[..bytes.len()].copy_from_slice(bytes);
            w
        };
        let expected: Vec<Word> = vec![
            u64_word(0x40),
            u64_word(0x120),
            // bytes[]: length, offsets from the first offset word, items
            u64_word(2),
            u64_word(0x40),
            u64_word(0x80),
            u64_word(1),
            padded(&a),
            u64_word(2),
            padded(&b),
            // uint256[][]
            u64_word(2),
            u64_word(0x40),
            u64_word(0x80),
            u64_word(1),
            u64_word(5),
            u64_word(0),
        ];
        assert_eq!(data[4..].to_vec(), expected.concat());
    }

    #[test]
    fn decoding_checks_widths() -> Result<()> {
        let mut data = vec![0u8; 96];
        data[31] = 1;
        data[63] = 2;
        data[64 + 11] = 1; // dirty address word
        let words = Words::exact("test", &data, 3)?;
        assert!(words.boolean(0)?);
        assert!(words.boolean(1).is_err());
        assert_eq!(words.small_uint(1, 8)?, 2);
        assert!(words.small_uint(1, 1).is_err());
        assert!(words.address(2).is_err());
        assert!(words.word(3).is_err());
        assert!(Words::exact("test", &data, 2).is_err());
        Ok(())
    }
}
