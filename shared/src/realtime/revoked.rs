//! The sessions revoked recently, in memory, so a request is refused without a database
//! query. An entry lives only as long as a token of that session could (one access
//! token lifetime after the revocation, plus leeway); after that the token's own `exp`
//! refuses it.

use std::collections::HashMap;
use std::sync::RwLock;

use uuid::Uuid;

use crate::tokens::ACCESS_TOKEN_TTL_SECS;

/// How long after its revocation a session id is remembered.
pub const REMEMBER_SECS: i64 = ACCESS_TOKEN_TTL_SECS + 60;

#[derive(Default)]
pub struct RevokedSessions {
    /// Session id → until when (epoch seconds) to refuse it.
    until: RwLock<HashMap<Uuid, i64>>,
}

impl RevokedSessions {
    pub fn insert(&self, session_id: Uuid, revoked_at: i64) {
        let mut map = self.until.write().unwrap_or_else(|e| e.into_inner());
        map.insert(session_id, revoked_at + REMEMBER_SECS);
    }

    pub fn contains(&self, session_id: Uuid, now: i64) -> bool {
        let map = self.until.read().unwrap_or_else(|e| e.into_inner());
        map.get(&session_id).is_some_and(|until| *until > now)
    }

    /// Drops entries whose tokens have all expired anyway.
    pub fn purge(&self, now: i64) {
        let mut map = self.until.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, until| *until > now);
    }

    pub fn len(&self) -> usize {
        self.until.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_session_is_remembered_until_its_tokens_expire() {
        let set = RevokedSessions::default();
        let id = Uuid::new_v4();
        set.insert(id, 1_000);
        assert!(set.contains(id, 1_000 + REMEMBER_SECS - 1));
        assert!(!set.contains(id, 1_000 + REMEMBER_SECS));
        assert!(!set.contains(Uuid::new_v4(), 1_000));
        set.purge(1_000 + REMEMBER_SECS);
        assert!(set.is_empty());
    }
}
