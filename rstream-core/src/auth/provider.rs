//! [`TokenProvider`]: where a long-lived client gets a token each time it
//! connects, so that short-lived tokens never end it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{AppCredentials, TokenRequest};
use crate::error::Result;
use crate::secret::Secret;

type Fetch = dyn Fn() -> BoxFuture<'static, Result<Secret>> + Send + Sync;

/// A source of bearer tokens, asked once per connection attempt.
///
/// A watch or an API client holding one never reuses an old token on a
/// new connection: each attempt calls the provider and sends what it
/// returns. The provider may cache (a token still valid for a while is as
/// good as a new one) or mint or fetch a fresh one; an error it returns
/// ends the watch with that error, as refused credentials do.
///
/// Cheap to clone. `Debug` shows nothing of the tokens.
///
/// ```
/// use rstream_core::auth::TokenProvider;
/// // Anything async: a vault, the control plane, a refresh endpoint.
/// let provider = TokenProvider::new(|| async { Ok::<_, rstream_core::Error>("tok_fresh") });
/// # let _ = provider;
/// ```
#[derive(Clone)]
pub struct TokenProvider {
    fetch: Arc<Fetch>,
    kind: &'static str,
}

impl TokenProvider {
    /// A provider calling `fetch` for every token.
    pub fn new<F, Fut, T>(fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Into<Secret>,
    {
        TokenProvider {
            fetch: Arc::new(move || {
                let pending = fetch();
                Box::pin(async move { pending.await.map(Into::into) })
            }),
            kind: "callback",
        }
    }

    /// The same token every time (what a plain token option amounts to).
    pub fn fixed(token: impl Into<Secret>) -> Self {
        let token = token.into();
        TokenProvider {
            fetch: Arc::new(move || {
                let token = token.clone();
                Box::pin(async move { Ok(token) })
            }),
            kind: "fixed",
        }
    }

    /// A token minted locally from application credentials for every
    /// connection, bounded by `request` (whose lifetime applies from each
    /// minting). No request leaves the process.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`](crate::Error::Invalid) when `request` cannot be
    /// minted, checked once here rather than on the first connection.
    pub fn minting(credentials: AppCredentials, request: TokenRequest) -> Result<Self> {
        credentials.mint_now(&request)?;
        Ok(TokenProvider {
            fetch: Arc::new(move || {
                let minted = credentials.mint_now(&request);
                Box::pin(async move { minted })
            }),
            kind: "minting",
        })
    }

    /// A token for the next connection.
    ///
    /// # Errors
    ///
    /// Whatever the provider returns.
    pub async fn token(&self) -> Result<Secret> {
        (self.fetch)().await
    }
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenProvider").field(&self.kind).finish()
    }
}

impl From<Secret> for TokenProvider {
    fn from(token: Secret) -> Self {
        TokenProvider::fixed(token)
    }
}
