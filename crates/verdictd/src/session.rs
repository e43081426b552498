//! RCAR sessions: `/auth` opens one with a fresh nonce, `/attest` consumes the nonce once,
//! and resource requests use the attested state until the session expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use attestation::kbs::{Tee, TeePubKey};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

/// Most sessions held at once: a bound on memory under a flood of `/auth` requests.
pub const MAX_SESSIONS: usize = 100_000;

/// Where a session is in the handshake.
#[derive(Debug, Clone)]
pub enum SessionState {
    /// Challenged: the nonce is waiting for evidence.
    Challenged,
    /// Evidence for the nonce arrived (verified or not): the nonce cannot be used again.
    NonceUsed,
    /// Attested: the token claims and TEE key.
    Attested {
        /// The token's claims (input of the resource policy).
        claims: Value,
        /// The key resources are encrypted to.
        tee_pubkey: TeePubKey,
    },
}

/// One session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The TEE named at `/auth`.
    pub tee: Tee,
    /// The challenge nonce (standard base64 of 32 bytes).
    pub nonce: String,
    /// When `/auth` created it.
    pub created: Instant,
    /// When it stops being usable.
    pub expires: Instant,
    /// Handshake state.
    pub state: SessionState,
}

/// Why a session lookup failed (all are 401 for the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such session id.
    #[error("unknown session: authenticate with /auth first")]
    Unknown,
    /// The session has expired.
    #[error("session expired: authenticate again with /auth")]
    Expired,
    /// The nonce was already used.
    #[error("the session's nonce was already used: authenticate again with /auth")]
    NonceUsed,
    /// Too many sessions are open.
    #[error("too many open sessions")]
    Full,
    /// The random generator failed.
    #[error("random generator failed")]
    Random,
}

/// The session table (shared by all requests).
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    rng: SystemRandom,
}

impl Sessions {
    /// An empty table whose sessions live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ttl,
            rng: SystemRandom::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Open a session: returns its id and nonce.
    pub fn open(&self, tee: Tee) -> Result<(String, String), SessionError> {
        let mut id = [0u8; 24];
        let mut nonce = [0u8; 32];
        self.rng.fill(&mut id).map_err(|_| SessionError::Random)?;
        self.rng
            .fill(&mut nonce)
            .map_err(|_| SessionError::Random)?;
        let (id, nonce) = (URL_SAFE_NO_PAD.encode(id), STANDARD.encode(nonce));
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_SESSIONS {
                return Err(SessionError::Full);
            }
        }
        map.insert(
            id.clone(),
            Session {
                tee,
                nonce: nonce.clone(),
                created: now,
                expires: now + self.ttl,
                state: SessionState::Challenged,
            },
        );
        Ok((id, nonce))
    }

    /// Take the challenge of a session for attestation: the nonce can be used once, so the
    /// session moves out of `Challenged` even if verification then fails.
    pub fn take_challenge(&self, id: &str) -> Result<Session, SessionError> {
        let now = Instant::now();
        let mut map = self.lock();
        let session = map.get_mut(id).ok_or(SessionError::Unknown)?;
        if session.expires <= now {
            map.remove(id);
            return Err(SessionError::Expired);
        }
        if !matches!(session.state, SessionState::Challenged) {
            return Err(SessionError::NonceUsed);
        }
        let taken = session.clone();
        session.state = SessionState::NonceUsed;
        Ok(taken)
    }

    /// Record a successful attestation.
    pub fn attested(&self, id: &str, claims: Value, tee_pubkey: TeePubKey) {
        if let Some(session) = self.lock().get_mut(id) {
            session.state = SessionState::Attested { claims, tee_pubkey };
        }
    }

    /// The attested state of a live session.
    pub fn attested_state(&self, id: &str) -> Result<(Value, TeePubKey), SessionError> {
        let now = Instant::now();
        let mut map = self.lock();
        let session = map.get(id).ok_or(SessionError::Unknown)?;
        if session.expires <= now {
            map.remove(id);
            return Err(SessionError::Expired);
        }
        match &session.state {
            SessionState::Attested { claims, tee_pubkey } => {
                Ok((claims.clone(), tee_pubkey.clone()))
            }
            _ => Err(SessionError::Unknown),
        }
    }

    /// Drop expired sessions; returns how many remain.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_single_use_and_sessions_expire() {
        let sessions = Sessions::new(Duration::from_millis(50));
        let (id, nonce) = sessions.open(Tee::Sgx).unwrap();
        assert_eq!(STANDARD.decode(&nonce).unwrap().len(), 32);
        let taken = sessions.take_challenge(&id).unwrap();
        assert_eq!(taken.nonce, nonce);
        assert_eq!(
            sessions.take_challenge(&id).unwrap_err(),
            SessionError::NonceUsed
        );
        assert_eq!(
            sessions.attested_state(&id).unwrap_err(),
            SessionError::Unknown
        );
        sessions.attested(&id, serde_json::json!({"a": 1}), taken_key());
        assert!(sessions.attested_state(&id).is_ok());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            sessions.attested_state(&id).unwrap_err(),
            SessionError::Expired
        );
        assert_eq!(
            sessions.take_challenge("nope").unwrap_err(),
            SessionError::Unknown
        );
        assert_eq!(sessions.sweep(), 0);
    }

    fn taken_key() -> TeePubKey {
        TeePubKey::Ec {
            crv: "P-256".into(),
            alg: "ECDH-ES+A256KW".into(),
            x: "x".into(),
            y: "y".into(),
        }
    }
}
