//! A local rstream engine for tests, examples and benchmarks. Never for production.
