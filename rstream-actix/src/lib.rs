//! Serve an actix-web `App` over rstream tunnel streams, in-process.
//!
//! Not built yet: the serving loop arrives with the runtime.
