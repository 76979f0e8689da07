//! Name resolution for engine connections, cached for a short while.
//!
//! Every stream opens a new connection to the engine. Resolving the engine's
//! name for each one costs a trip through the system resolver (on a thread
//! of the blocking pool, and possibly a DNS query), so the addresses found
//! are reused for [`TTL`]. The address that last worked is tried first; a
//! connect that fails on every cached address drops the entry.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// How long resolved addresses are reused.
pub(crate) const TTL: Duration = Duration::from_secs(30);
/// Names remembered at most (an engine plus redirect endpoints).
const MAX_NAMES: usize = 32;

type Key = (String, u16);

#[derive(Debug, Default)]
pub(crate) struct Resolver {
    entries: Mutex<HashMap<Key, (Vec<SocketAddr>, Instant)>>,
}

impl Resolver {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, (Vec<SocketAddr>, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self, key: &Key) -> Option<Vec<SocketAddr>> {
        let entries = self.lock();
        let (addrs, at) = entries.get(key)?;
        (at.elapsed() < TTL).then(|| addrs.clone())
    }

    fn remember(&self, key: Key, mut addrs: Vec<SocketAddr>, worked: usize, at: Instant) {
        addrs.swap(0, worked);
        let mut entries = self.lock();
        if entries.len() >= MAX_NAMES && !entries.contains_key(&key) {
            entries.retain(|_, (_, t)| t.elapsed() < TTL);
            if entries.len() >= MAX_NAMES {
                entries.clear();
            }
        }
        entries.insert(key, (addrs, at));
    }

    /// Opens TCP to `host:port` (`host` a name or an IP literal, IPv6 with
    /// or without brackets), trying each address in turn.
    pub(crate) async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return TcpStream::connect((ip, port)).await;
        }
        let key = (host.to_ascii_lowercase(), port);
        let (addrs, fresh) = match self.cached(&key) {
            Some(addrs) => (addrs, None),
            None => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
                (addrs, Some(Instant::now()))
            }
        };
        let mut last_error = None;
        for (i, addr) in addrs.iter().enumerate() {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    if let Some(at) = fresh {
                        self.remember(key, addrs, i, at);
                    } else if i != 0 {
                        // Keep the entry's age, move the working address up.
                        let at = self.lock().get(&key).map(|(_, t)| *t);
                        self.remember(key, addrs, i, at.unwrap_or_else(Instant::now));
                    }
                    return Ok(tcp);
                }
                Err(e) => last_error = Some(e),
            }
        }
        self.lock().remove(&key);
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} resolved to no address"),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caches_names_and_skips_ip_literals() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let resolver = Resolver::default();
        resolver.connect("127.0.0.1", port).await.unwrap();
        assert!(resolver.lock().is_empty(), "IP literals are not cached");
        resolver.connect("localhost", port).await.unwrap();
        let key = ("localhost".to_owned(), port);
        let addrs = resolver.cached(&key).expect("cached after a connect");
        assert!(addrs[0].ip().is_loopback());
        // The cached address is used again.
        resolver.connect("LOCALHOST", port).await.unwrap();
        drop(listener);
        // Nobody listens any more: the entry goes away.
        assert!(resolver.connect("localhost", port).await.is_err());
        assert!(resolver.cached(&key).is_none());
    }
}
