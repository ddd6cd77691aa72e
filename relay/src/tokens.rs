//! Access tokens (DESIGN §6): a TOML file of `[[token]]` tables, each with a
//! `secret`, `access = "read" | "write"`, an optional `docs` list (absent:
//! every document) and an optional RFC 3339 `expires` time.
//!
//! Checking a token takes the current time as an argument, so expiry is
//! testable without a clock.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gapmap_repo::DocumentId;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Receive documents; changes sent are refused.
    Read,
    /// Receive and change documents.
    Write,
}

/// What one connection may do, resolved from its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Read or write.
    pub access: Access,
    /// The documents it covers; `None` is every document.
    pub docs: Option<BTreeSet<DocumentId>>,
}

impl Grant {
    /// The engine's view of this grant.
    pub fn to_access(&self) -> gapmap_repo::Access {
        let base = match self.access {
            Access::Write => gapmap_repo::Access::full(),
            Access::Read => gapmap_repo::Access::read_only(),
        };
        match &self.docs {
            None => base,
            Some(docs) => base.only(docs.iter().copied()),
        }
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
    expires: Option<Expires>,
}

/// `expires` as written: a quoted RFC 3339 string (DESIGN §6), or the same
/// time as a bare TOML date-time, which is easy to write by mistake.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expires {
    Text(String),
    Toml(toml::value::Datetime),
}

impl Expires {
    fn text(&self) -> String {
        match self {
            Expires::Text(s) => s.clone(),
            Expires::Toml(t) => t.to_string(),
        }
    }
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
                .map(|e| e.text())
                .map(|s| {
                    parse_rfc3339(&s).ok_or_else(|| {
                        bad(format!("expires = \"{s}\" is not an RFC 3339 time with an offset, like 2027-01-31T18:00:00Z"))
                    })
                })
                .transpose()?;
            // A mistyped id would silently match nothing: refuse it.
            let docs = entry
                .docs
                .map(|docs| {
                    docs.iter()
                        .map(|d| DocumentId::parse(d).map_err(|e| bad(format!("docs: {e}"))))
                        .collect::<Result<BTreeSet<_>, _>>()
                })
                .transpose()?;
            tokens.push(Token {
                secret: entry.secret,
                grant: Grant {
                    access: entry.access,
                    docs,
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

    /// The first expiry after `now`, when one of the tokens will stop
    /// working (connections made with it must close then).
    pub fn next_expiry(&self, now: SystemTime) -> Option<SystemTime> {
        self.tokens
            .iter()
            .filter_map(|t| t.expires)
            .filter(|t| *t > now)
            .min()
    }

    /// The grant of `secret` at `now`, or `None` if it is unknown or expired.
    pub fn check(&self, secret: &str, now: SystemTime) -> Option<Grant> {
        // Compare against every token, in constant time per token, so timing
        // tells nothing about which prefix matched.
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.secret.as_bytes().ct_eq(secret.as_bytes()))
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

fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    // Whole seconds and the fraction apart: nanoseconds since 1970 overflow
    // a u64 in the year 2554, and "never, really" expiries go past that.
    let secs = t.unix_timestamp();
    let since_epoch = Duration::from_secs(secs.unsigned_abs());
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(since_epoch)?
    } else {
        UNIX_EPOCH.checked_sub(since_epoch)?
    };
    whole.checked_add(Duration::from_nanos(u64::from(t.nanosecond())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_expiry_is_the_first_one_still_ahead() {
        let tokens = Tokens::parse(&file(), "tokens.toml").unwrap();
        let expiry = parse_rfc3339("2027-01-01T00:00:00+01:00").unwrap();
        let before = parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        assert_eq!(tokens.next_expiry(before), Some(expiry));
        assert_eq!(tokens.next_expiry(expiry), None);
        assert_eq!(Tokens::default().next_expiry(before), None);
    }

    /// A document id made of one repeated byte.
    fn doc(n: u8) -> DocumentId {
        DocumentId::from_bytes([n; 16])
    }

    fn file() -> String {
        format!(
            r#"
        [[token]]
        secret = "writer-secret-0123456789"
        access = "write"

        [[token]]
        secret = "reader-secret-0123456789"
        access = "read"
        docs = ["{}", "{}"]

        [[token]]
        secret = "expiring-secret-0123456789"
        access = "write"
        expires = "2027-01-01T00:00:00+01:00"
    "#,
            doc(1),
            doc(3).url()
        )
    }

    fn at(rfc: &str) -> SystemTime {
        parse_rfc3339(rfc).unwrap()
    }

    #[test]
    fn grants_follow_the_file() {
        let tokens = Tokens::parse(&file(), "tokens.toml").unwrap();
        let now = at("2026-06-01T00:00:00Z");
        let w = tokens.check("writer-secret-0123456789", now).unwrap();
        assert_eq!(w.to_access(), gapmap_repo::Access::full());
        let r = tokens.check("reader-secret-0123456789", now).unwrap();
        let r = r.to_access();
        assert!(r.may_read(&doc(1)) && !r.may_write(&doc(1)));
        assert!(r.may_read(&doc(3)), "an automerge: URL names its document");
        assert!(!r.may_read(&doc(2)));
        assert!(tokens.check("wrong-secret-0123456789", now).is_none());
        assert!(tokens.check("", now).is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let tokens = Tokens::parse(&file(), "tokens.toml").unwrap();
        let secret = "expiring-secret-0123456789";
        assert!(tokens.check(secret, at("2026-12-31T22:59:59Z")).is_some());
        assert!(tokens.check(secret, at("2026-12-31T23:00:00Z")).is_none());
    }

    #[test]
    fn far_future_and_bare_toml_expiries() {
        let far = "[[token]]\nsecret = \"0123456789abcdef0\"\naccess = \"read\"\nexpires = \"2999-01-01T00:00:00+02:00\"\n";
        let tokens = Tokens::parse(far, "t.toml").unwrap();
        assert!(tokens
            .check("0123456789abcdef0", at("2998-12-31T21:59:59Z"))
            .is_some());
        assert!(tokens
            .check("0123456789abcdef0", at("2998-12-31T22:00:00Z"))
            .is_none());
        let bare = "[[token]]\nsecret = \"0123456789abcdef0\"\naccess = \"read\"\nexpires = 2027-01-01T00:00:00.5Z\n";
        let tokens = Tokens::parse(bare, "t.toml").unwrap();
        assert!(tokens
            .check("0123456789abcdef0", at("2027-01-01T00:00:00.4Z"))
            .is_some());
        assert!(tokens
            .check("0123456789abcdef0", at("2027-01-01T00:00:00.5Z"))
            .is_none());
        let local = "[[token]]\nsecret = \"0123456789abcdef0\"\naccess = \"read\"\nexpires = 2027-01-01T00:00:00\n";
        assert!(Tokens::parse(local, "t.toml")
            .unwrap_err()
            .to_string()
            .contains("offset"));
        assert!(at("1960-01-01T00:00:00Z") < UNIX_EPOCH);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let short = "[[token]]\nsecret = \"abc\"\naccess = \"write\"\n";
        assert!(Tokens::parse(short, "t.toml")
            .unwrap_err()
            .to_string()
            .contains("token #1"));
        let access = "[[token]]\nsecret = \"0123456789abcdef0\"\naccess = \"admin\"\n";
        assert!(Tokens::parse(access, "t.toml").is_err());
        let expires = "[[token]]\nsecret = \"0123456789abcdef0\"\naccess = \"read\"\nexpires = \"tomorrow\"\n";
        assert!(Tokens::parse(expires, "t.toml")
            .unwrap_err()
            .to_string()
            .contains("RFC 3339"));
        assert!(Tokens::parse("not toml [", "t.toml").is_err());
        let docs =
            "[[token]]\nsecret = \"0123456789abcdef0\"\naccess = \"read\"\ndocs = [\"docA\"]\n";
        assert!(Tokens::parse(docs, "t.toml")
            .unwrap_err()
            .to_string()
            .contains("docs: not a base58check document id"));
        assert!(Tokens::parse("", "t.toml").unwrap().is_empty());
    }

    #[test]
    fn new_secrets_are_long_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(Tokens::parse(
            &format!("[[token]]\nsecret = \"{a}\"\naccess = \"read\"\n"),
            "t"
        )
        .is_ok());
    }
}
