//! Serve any tower `Service` over accepted rstream tunnel streams, in-process.
//!
//! Not built yet: the serving loop arrives with the runtime.
