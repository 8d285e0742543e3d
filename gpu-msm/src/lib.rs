//! Proving engines for zkgrid. The CPU engine is always available; a CUDA engine is built
//! behind the `cuda` feature. (Filled in with the prover's engine trait.)
