//! `axum::serve` over an rstream tunnel, with connection info.
//!
//! Not built yet: the listener arrives with the runtime.
