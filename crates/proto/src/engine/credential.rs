//! Who the peer of an accepted connection proved to be, for one rule: which
//! connection keeps a peer id.

use std::fmt;

/// A fingerprint of what the peer of an accepted connection presented to be
/// let in. The caller derives it (gapmap-repo hashes the bearer token) and
/// never passes the secret itself; the engine only compares fingerprints.
///
/// A `join` with a peer id that an accepted connection already holds
/// replaces that connection only when both present the same credential (a
/// reconnect of the same peer); otherwise the newcomer gets `error` and is
/// closed, and the older connection stays. So knowing someone's peer id (it
/// travels in every ephemeral message) is not enough to cut them off.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Credential([u8; 32]);

impl Credential {
    /// Nothing presented, or nothing that matters: every peer of an open
    /// server. All open connections are equal.
    pub const OPEN: Credential = Credential([0; 32]);

    /// A credential from a fingerprint of the secret (a cryptographic hash:
    /// equal fingerprints must mean equal secrets).
    pub const fn from_fingerprint(fingerprint: [u8; 32]) -> Credential {
        Credential(fingerprint)
    }
}

impl fmt::Debug for Credential {
    // Not even the fingerprint goes to logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Credential::OPEN {
            f.write_str("Credential(open)")
        } else {
            f.write_str("Credential(..)")
        }
    }
}
