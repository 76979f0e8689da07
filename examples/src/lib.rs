//! Shared helpers for the rstream examples.
