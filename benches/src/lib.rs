//! Benchmarks live in `benches/benches/`; this library target only anchors the package.
