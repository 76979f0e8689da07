//! Sign and verify rstream webhooks.
