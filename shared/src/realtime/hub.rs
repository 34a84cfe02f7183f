//! The WebSocket connections open on this instance, by user and by session, so an event
//! or a revocation that arrives on the listener reaches exactly the right sockets.
//!
//! Registration is where the per-instance caps hold (per session, per user, per client
//! address): the count and the insert happen under one lock, so racing upgrades cannot
//! overshoot. Closing never goes through the event queue: each connection has its own
//! `watch` slot, which a full queue cannot block and a later close simply overwrites.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::tokens::UserType;

/// Outbound events a slow client may have queued before it is closed.
const QUEUE: usize = 64;

/// A close the socket owes its client: code and reason.
pub type Close = (u16, &'static str);

/// Most sockets one instance holds per session, per user and per client address
/// (`WS_MAX_PER_SESSION`, `WS_MAX_PER_USER`, `WS_MAX_PER_IP`; 0 turns a cap off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub per_session: usize,
    pub per_user: usize,
    pub per_ip: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self { per_session: 5, per_user: 10, per_ip: 50 }
    }
}

/// Which cap refused a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapExceeded {
    Session,
    User,
    Ip,
}

type UserKey = (UserType, Uuid);

struct Conn {
    user: UserKey,
    session: Uuid,
    ip: String,
    tx: mpsc::Sender<Arc<str>>,
    close: watch::Sender<Option<Close>>,
}

impl Conn {
    fn close(&self, close: Close) {
        self.close.send_replace(Some(close));
    }
}

#[derive(Default)]
struct Maps {
    conns: HashMap<u64, Conn>,
    by_user: HashMap<UserKey, HashSet<u64>>,
    by_session: HashMap<Uuid, HashSet<u64>>,
    by_ip: HashMap<String, usize>,
    next_id: u64,
}

#[derive(Default)]
pub struct Hub {
    maps: Mutex<Maps>,
}

/// A registered connection: its events, its close slot, and the registration that
/// unregisters it when dropped.
pub struct Connection {
    pub registration: Registration,
    pub events: mpsc::Receiver<Arc<str>>,
    pub close: watch::Receiver<Option<Close>>,
}

/// Keeps a connection registered; dropping it unregisters.
pub struct Registration {
    hub: Arc<Hub>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

fn full(count: usize, cap: usize) -> bool {
    cap > 0 && count >= cap
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a socket of `session` (user `user_type`/`user_id`, client address key
    /// `ip`) unless one of `caps` is already reached on this instance.
    pub fn register(
        self: &Arc<Self>,
        user_type: UserType,
        user_id: Uuid,
        session: Uuid,
        ip: String,
        caps: Caps,
    ) -> Result<Connection, CapExceeded> {
        let user = (user_type, user_id);
        let mut maps = self.lock();
        if full(maps.by_session.get(&session).map_or(0, HashSet::len), caps.per_session) {
            return Err(CapExceeded::Session);
        }
        if full(maps.by_user.get(&user).map_or(0, HashSet::len), caps.per_user) {
            return Err(CapExceeded::User);
        }
        if full(maps.by_ip.get(&ip).copied().unwrap_or(0), caps.per_ip) {
            return Err(CapExceeded::Ip);
        }
        let (tx, events) = mpsc::channel(QUEUE);
        let (close_tx, close) = watch::channel(None);
        maps.next_id += 1;
        let id = maps.next_id;
        maps.by_user.entry(user).or_default().insert(id);
        maps.by_session.entry(session).or_default().insert(id);
        *maps.by_ip.entry(ip.clone()).or_default() += 1;
        maps.conns.insert(id, Conn { user, session, ip, tx, close: close_tx });
        Ok(Connection { registration: Registration { hub: self.clone(), id }, events, close })
    }

    fn unregister(&self, id: u64) {
        let mut maps = self.lock();
        if let Some(conn) = maps.conns.remove(&id) {
            if let Some(ids) = maps.by_user.get_mut(&conn.user) {
                ids.remove(&id);
                if ids.is_empty() {
                    maps.by_user.remove(&conn.user);
                }
            }
            if let Some(ids) = maps.by_session.get_mut(&conn.session) {
                ids.remove(&id);
                if ids.is_empty() {
                    maps.by_session.remove(&conn.session);
                }
            }
            if let Some(count) = maps.by_ip.get_mut(&conn.ip) {
                *count -= 1;
                if *count == 0 {
                    maps.by_ip.remove(&conn.ip);
                }
            }
        }
    }

    pub fn has_user(&self, user_type: UserType, user_id: Uuid) -> bool {
        self.lock().by_user.contains_key(&(user_type, user_id))
    }

    pub fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// Queues `text` to every socket of the user; returns how many took it. A socket
    /// whose queue is full is told to close (the app reconnects and catches up).
    pub fn send_to_user(&self, user_type: UserType, user_id: Uuid, text: Arc<str>) -> usize {
        let maps = self.lock();
        let Some(ids) = maps.by_user.get(&(user_type, user_id)) else {
            return 0;
        };
        ids.iter()
            .filter_map(|id| maps.conns.get(id))
            .filter(|conn| match conn.tx.try_send(text.clone()) {
                Ok(()) => true,
                Err(_) => {
                    conn.close((1013, "too slow"));
                    false
                }
            })
            .count()
    }

    /// Closes every socket of a session.
    pub fn close_session(&self, session: Uuid, code: u16, reason: &'static str) {
        let maps = self.lock();
        for conn in maps.by_session.get(&session).into_iter().flatten().filter_map(|id| maps.conns.get(id)) {
            conn.close((code, reason));
        }
    }

    /// Closes every socket (the instance is stopping).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        for conn in self.lock().conns.values() {
            conn.close((code, reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cap_refuses_the_next_socket_and_a_closed_one_frees_its_place() {
        let hub = Arc::new(Hub::default());
        let caps = Caps { per_session: 2, per_user: 3, per_ip: 4 };
        let (user, s1, s2) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let open = |user, session, ip: &str| hub.register(UserType::Customer, user, session, ip.to_owned(), caps);
        let a = open(user, s1, "ip1").expect("first");
        let _b = open(user, s1, "ip1").expect("second");
        assert_eq!(open(user, s1, "ip1").err(), Some(CapExceeded::Session));
        let _c = open(user, s2, "ip1").expect("third of the user");
        assert_eq!(open(user, s2, "ip1").err(), Some(CapExceeded::User));
        let _d = open(Uuid::new_v4(), Uuid::new_v4(), "ip1").expect("fourth of the address");
        assert_eq!(open(Uuid::new_v4(), Uuid::new_v4(), "ip1").err(), Some(CapExceeded::Ip));
        drop(a);
        assert!(open(user, s1, "ip1").is_ok(), "a closed socket frees its place");
    }

    #[test]
    fn a_close_reaches_a_socket_whose_queue_is_full() {
        let hub = Arc::new(Hub::default());
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let conn = hub.register(UserType::Mitra, user, session, "ip".into(), Caps::default()).expect("registered");
        for _ in 0..QUEUE {
            assert_eq!(hub.send_to_user(UserType::Mitra, user, "x".into()), 1);
        }
        hub.close_session(session, 4003, "session_revoked");
        assert_eq!(*conn.close.borrow(), Some((4003, "session_revoked")));
    }
}
