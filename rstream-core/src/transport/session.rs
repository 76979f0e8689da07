//! The TLS session store shared by every connection of a [`Connector`].
//!
//! Each accepted or dialed stream is a new TLS connection to the same
//! engine, often many at once. rustls' own in-memory store keeps at most 8
//! TLS 1.3 tickets per server, so a burst of more than 8 concurrent streams
//! falls back to full handshakes (certificate exchange and verification)
//! for all but 8 of them. This store keeps up to [`TICKETS_PER_SERVER`]
//! tickets per server and hands out the newest first.
//!
//! [`Connector`]: super::Connector

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;

/// TLS 1.3 tickets kept per server (each is single-use).
pub(crate) const TICKETS_PER_SERVER: usize = 128;
/// Servers remembered (an engine plus the endpoints it redirects to).
const MAX_SERVERS: usize = 32;

#[derive(Debug, Default)]
struct ServerData {
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    /// Oldest first.
    tls13: VecDeque<Tls13ClientSessionValue>,
}

/// A [`ClientSessionStore`] with room for many tickets per server.
#[derive(Debug, Default)]
pub(crate) struct SessionStore {
    servers: Mutex<HashMap<ServerName<'static>, ServerData>>,
}

impl SessionStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<ServerName<'static>, ServerData>> {
        // The map stays consistent even if a holder panicked.
        self.servers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_server<T>(&self, name: ServerName<'static>, f: impl FnOnce(&mut ServerData) -> T) -> T {
        let mut servers = self.lock();
        if !servers.contains_key(&name) && servers.len() >= MAX_SERVERS {
            // Forget some server to make room; the engine is re-added on its
            // next connection.
            if let Some(victim) = servers.keys().next().cloned() {
                servers.remove(&victim);
            }
        }
        f(servers.entry(name).or_default())
    }
}

impl ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.with_server(server_name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.lock()
            .get(&server_name.to_owned())
            .and_then(|s| s.kx_hint)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with_server(server_name, |s| s.tls12 = Some(value));
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.lock()
            .get(&server_name.to_owned())
            .and_then(|s| s.tls12.clone())
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        if let Some(s) = self.lock().get_mut(server_name) {
            s.tls12 = None;
        }
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.with_server(server_name, |s| {
            if s.tls13.len() >= TICKETS_PER_SERVER {
                s.tls13.pop_front();
            }
            s.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.lock()
            .get_mut(server_name)
            .and_then(|s| s.tls13.pop_back())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kx_hints_and_servers_are_bounded() {
        let store = SessionStore::default();
        for i in 0..(MAX_SERVERS + 10) {
            let name = ServerName::try_from(format!("engine{i}.example")).unwrap();
            store.set_kx_hint(name, NamedGroup::X25519);
        }
        assert_eq!(store.lock().len(), MAX_SERVERS);
        let last = ServerName::try_from(format!("engine{}.example", MAX_SERVERS + 9)).unwrap();
        assert_eq!(store.kx_hint(&last), Some(NamedGroup::X25519));
        let unknown = ServerName::try_from("other.example").unwrap();
        assert_eq!(store.kx_hint(&unknown), None);
        assert!(store.take_tls13_ticket(&unknown).is_none());
    }
}
