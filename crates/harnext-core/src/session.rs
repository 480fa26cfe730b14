//! A session: the conversation that runs continue, kept as provider-neutral messages.
//!
//! Only one run may use a session at a time: a run holds a [`SessionLease`], released
//! when the lease is dropped, however the run ends.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;

use harnext_protocol::Message;

pub struct Session {
    id: String,
    messages: Mutex<Vec<Message>>,
    running: AtomicBool,
}

/// `sess_` followed by 12 random characters from `[0-9a-z]`.
pub fn new_session_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = String::from("sess_");
    for _ in 0..12 {
        id.push(char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]));
    }
    id
}

impl Session {
    pub fn new() -> Self {
        Session {
            id: new_session_id(),
            messages: Mutex::new(Vec::new()),
            running: AtomicBool::new(false),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn messages(&self) -> Vec<Message> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes the session for one run, or `None` when another run holds it.
    pub fn lease(self: &Arc<Self>) -> Option<SessionLease> {
        self.running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| SessionLease {
                session: self.clone(),
            })
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

/// The right to append to a session, held by one run.
pub struct SessionLease {
    session: Arc<Session>,
}

impl SessionLease {
    pub fn id(&self) -> &str {
        &self.session.id
    }

    pub fn messages(&self) -> Vec<Message> {
        self.session.messages()
    }

    pub fn append(&self, message: Message) {
        self.session
            .messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }
}

impl Drop for SessionLease {
    fn drop(&mut self) {
        self.session.running.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_have_the_documented_shape_and_differ() {
        let a = new_session_id();
        assert!(a.starts_with("sess_") && a.len() == 17, "{a}");
        assert!(a[5..]
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, new_session_id());
    }

    #[test]
    fn one_lease_at_a_time_released_on_drop() {
        let s = Arc::new(Session::new());
        let lease = s.lease().unwrap();
        assert!(s.lease().is_none());
        lease.append(Message::user_text("hi"));
        drop(lease);
        assert_eq!(s.lease().unwrap().messages().len(), 1);
    }
}
