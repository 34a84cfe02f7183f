//! The WebSocket connections open on this instance, by user and by session, so an event
//! or a revocation that arrives on the listener reaches exactly the right sockets.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::auth::tokens::UserType;

/// What the hub asks a connection to do.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Send this JSON text.
    Event(Arc<str>),
    /// Close with this code and reason.
    Close(u16, &'static str),
}

/// Outbound messages a slow client may have queued before it is dropped.
const QUEUE: usize = 64;

type UserKey = (UserType, Uuid);

struct Conn {
    user: UserKey,
    session: Uuid,
    tx: mpsc::Sender<Outbound>,
}

#[derive(Default)]
struct Maps {
    conns: HashMap<u64, Conn>,
    by_user: HashMap<UserKey, HashSet<u64>>,
    by_session: HashMap<Uuid, HashSet<u64>>,
    next_id: u64,
}

#[derive(Default)]
pub struct Hub {
    maps: Mutex<Maps>,
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

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn register(
        self: &Arc<Self>,
        user_type: UserType,
        user_id: Uuid,
        session: Uuid,
    ) -> (Registration, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut maps = self.lock();
        maps.next_id += 1;
        let id = maps.next_id;
        let user = (user_type, user_id);
        maps.by_user.entry(user).or_default().insert(id);
        maps.by_session.entry(session).or_default().insert(id);
        maps.conns.insert(id, Conn { user, session, tx });
        (Registration { hub: self.clone(), id }, rx)
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
            .filter(|conn| match conn.tx.try_send(Outbound::Event(text.clone())) {
                Ok(()) => true,
                Err(_) => {
                    let _ = conn.tx.try_send(Outbound::Close(1013, "too slow"));
                    false
                }
            })
            .count()
    }

    /// Closes every socket of a session.
    pub fn close_session(&self, session: Uuid, code: u16, reason: &'static str) {
        let maps = self.lock();
        for conn in maps.by_session.get(&session).into_iter().flatten().filter_map(|id| maps.conns.get(id)) {
            let _ = conn.tx.try_send(Outbound::Close(code, reason));
        }
    }

    /// Closes every socket (the instance is stopping).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        for conn in self.lock().conns.values() {
            let _ = conn.tx.try_send(Outbound::Close(code, reason));
        }
    }
}
