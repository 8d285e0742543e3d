//! Solidity verifier generation, the settlement contract and EVM runners for zkgrid.
