//! End-to-end tests of `resolve` over options, environment and file text.
