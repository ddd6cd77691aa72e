//! Access tokens (DESIGN §6): a TOML file of `[[token]]` tables, each with a
//! `secret`, `access = "read" | "write"`, an optional `docs` list (absent:
//! every document) and an optional RFC 3339 `expires` time.
//!
//! Checking a token takes the current time as an argument, so expiry is
//! testable without a clock.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Receive documents; changes sent are refused.
    Read,
    /// Receive and change documents.
    Write,
}

/// What one connection may do, resolved from its token (or `--open`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Read or write.
    pub access: Access,
    /// The documents it covers; `None` is every document.
    pub docs: Option<BTreeSet<String>>,
}

impl Grant {
    /// The grant of an `--open` relay: everyone may read and write everything.
    pub fn open() -> Grant {
        Grant {
            access: Access::Write,
            docs: None,
        }
    }

    /// Whether the document is visible to this connection at all.
    pub fn may_read(&self, doc: &str) -> bool {
        self.docs.as_ref().is_none_or(|docs| docs.contains(doc))
    }

    /// Whether changes to the document from this connection are accepted.
    pub fn may_write(&self, doc: &str) -> bool {
        self.access == Access::Write && self.may_read(doc)
    }
}

/// A problem with the tokens file; each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read the tokens file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("the tokens file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, from the TOML parser.
        message: String,
    },
    /// A token entry is unusable.
    #[error("the tokens file {path}: token #{index}: {message}")]
    Entry {
        /// The file.
        path: String,
        /// 1-based position of the `[[token]]` table.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    token: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    secret: String,
    access: Access,
    docs: Option<Vec<String>>,
    expires: Option<String>,
}

/// One usable token.
#[derive(Debug)]
struct Token {
    secret: String,
    grant: Grant,
    expires: Option<SystemTime>,
}

/// The tokens a relay accepts.
#[derive(Debug, Default)]
pub struct Tokens {
    tokens: Vec<Token>,
}

/// The shortest secret accepted: guessing must be hopeless.
const MIN_SECRET_LEN: usize = 16;

impl Tokens {
    /// Reads and checks a tokens file.
    pub fn load(path: &Path) -> Result<Tokens, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Tokens::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a tokens file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Tokens, TokenError> {
        let file: File = toml::from_str(text).map_err(|e| TokenError::Parse {
            path: origin.to_string(),
            message: e.message().to_string(),
        })?;
        let mut tokens = Vec::with_capacity(file.token.len());
        for (i, entry) in file.token.into_iter().enumerate() {
            let bad = |message: String| TokenError::Entry {
                path: origin.to_string(),
                index: i + 1,
                message,
            };
            if entry.secret.len() < MIN_SECRET_LEN {
                return Err(bad(format!(
                    "the secret is shorter than {MIN_SECRET_LEN} characters; make one with `gapmap-relay token new`"
                )));
            }
            let expires = entry
                .expires
                .as_deref()
                .map(|s| parse_rfc3339(s).ok_or_else(|| bad(format!("expires = \"{s}\" is not an RFC 3339 time like 2027-01-31T18:00:00Z"))))
                .transpose()?;
            tokens.push(Token {
                secret: entry.secret,
                grant: Grant {
                    access: entry.access,
                    docs: entry.docs.map(|d| d.into_iter().collect()),
                },
                expires,
            });
        }
        Ok(Tokens { tokens })
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the file holds no token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The grant of `secret` at `now`, or `None` if it is unknown or expired.
    pub fn check(&self, secret: &str, now: SystemTime) -> Option<Grant> {
        // Compare against every token, in constant time per token, so timing
        // tells nothing about which prefix matched.
        let mut found = None;
        for token in &self.tokens {
            if constant_time_eq(token.secret.as_bytes(), secret.as_bytes())
                && token.expires.is_none_or(|t| now < t)
            {
                found = Some(token.grant.clone());
            }
        }
        found
    }
}

/// A fresh random secret: 32 bytes as hex.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let nanos = t.unix_timestamp_nanos();
    if nanos >= 0 {
        Some(UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).ok()?))
    } else {
        Some(UNIX_EPOCH - Duration::from_nanos(u64::try_from(-nanos).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [[token]]
        secret = "writer-secret-0123456789"
        access = "write"

        [[token]]
        secret = "reader-secret-0123456789"
        access = "read"
        docs = ["docA"]

        [[token]]
        secret = "expiring-secret-0123456789"
        access = "write"
        expires = "2027-01-01T00:00:00+01:00"
    "#;

    fn at(rfc: &str) -> SystemTime {
        parse_rfc3339(rfc).unwrap()
    }

    #[test]
    fn grants_follow_the_file() {
        let tokens = Tokens::parse(FILE, "tokens.toml").unwrap();
        let now = at("2026-06-01T00:00:00Z");
        let w = tokens.check("writer-secret-0123456789", now).unwrap();
        assert!(w.may_read("anything") && w.may_write("anything"));
        let r = tokens.check("reader-secret-0123456789", now).unwrap();
        assert!(r.may_read("docA") && !r.may_write("docA"));
        assert!(!r.may_read("docB"));
        assert!(tokens.check("wrong-secret-0123456789", now).is_none());
        assert!(tokens.check("", now).is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let tokens = Tokens::parse(FILE, "tokens.toml").unwrap();
        let secret = "expiring-secret-0123456789";
        assert!(tokens.check(secret, at("2026-12-31T22:59:59Z")).is_some());
        assert!(tokens.check(secret, at("2026-12-31T23:00:00Z")).is_none());
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let short = "[[token]]\nsecret = \"abc\"\naccess = \"write\"\n";
        assert!(Tokens::parse(short, "t.toml").unwrap_err().to_string().contains("token #1"));
        let access = "[[token]]\nsecret = \"0123456789abcdef0\"\naccess = \"admin\"\n";
        assert!(Tokens::parse(access, "t.toml").is_err());
        let expires = "[[token]]\nsecret = \"0123456789abcdef0\"\naccess = \"read\"\nexpires = \"tomorrow\"\n";
        assert!(Tokens::parse(expires, "t.toml").unwrap_err().to_string().contains("RFC 3339"));
        assert!(Tokens::parse("not toml [", "t.toml").is_err());
        assert!(Tokens::parse("", "t.toml").unwrap().is_empty());
    }

    #[test]
    fn new_secrets_are_long_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(Tokens::parse(&format!("[[token]]\nsecret = \"{a}\"\naccess = \"read\"\n"), "t").is_ok());
    }
}
