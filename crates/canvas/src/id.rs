//! Ids of the things kept in maps besides notes: interviews, findings,
//! rounds, comments. Like note ids, fresh ones are 12 random lowercase
//! base32 characters, and people may type any unique prefix of 4 or more.

use crate::error::{CanvasError, Result};
use crate::note::NoteId;

/// The shortest prefix the resolvers accept.
pub(crate) const MIN_PREFIX: usize = 4;

/// A fresh random id (the same alphabet and length as a [`NoteId`]).
pub(crate) fn random() -> String {
    NoteId::random().to_string()
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn random() -> $name {
                $name($crate::id::random())
            }

            /// The id as stored.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The first six characters, as listings show them.
            pub fn short(&self) -> &str {
                match self.0.char_indices().nth(6) {
                    Some((i, _)) => &self.0[..i],
                    None => &self.0,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            /// Wraps an id as it is; use the canvas's resolver for what a
            /// person typed.
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            /// Wraps an id as it is.
            fn from(id: &str) -> $name {
                $name(id.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

pub(crate) use string_id;

/// The one key among `keys` that is, or starts with, `given` (4+
/// characters; an exact key wins; otherwise case does not matter).
pub(crate) fn resolve(
    kind: &'static str,
    given: &str,
    keys: impl IntoIterator<Item = String>,
) -> Result<String> {
    let given = given.trim();
    if given.chars().count() < MIN_PREFIX {
        return Err(CanvasError::IdTooShort { kind });
    }
    let lower = given.to_lowercase();
    let mut matches = Vec::new();
    for key in keys {
        if key == given {
            return Ok(key);
        }
        if key.to_lowercase().starts_with(&lower) {
            matches.push(key);
        }
    }
    matches.sort();
    matches.dedup();
    match matches.len() {
        0 => Err(CanvasError::UnknownId {
            kind,
            given: given.to_string(),
        }),
        1 => Ok(matches.remove(0)),
        _ => Err(CanvasError::AmbiguousId {
            kind,
            prefix: given.to_string(),
            matches,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    string_id!(
        /// A test id.
        TestId
    );

    #[test]
    fn ids_look_like_note_ids() {
        let id = TestId::random();
        assert_eq!(id.as_str().len(), 12);
        assert_eq!(id.short().len(), 6);
        assert_eq!(TestId::from("abc").short(), "abc");
        assert_eq!(TestId::from("abcdefgh".to_string()).to_string(), "abcdefgh");
    }

    #[test]
    fn resolves_prefixes() {
        let keys = || ["abcd1111".to_string(), "abcd2222".into(), "XyZw9999".into()];
        assert_eq!(resolve("interview", "abcd1", keys()).unwrap(), "abcd1111");
        assert_eq!(resolve("interview", "xyzw", keys()).unwrap(), "XyZw9999");
        assert_eq!(
            resolve("interview", "XyZw9999", keys()).unwrap(),
            "XyZw9999"
        );
        let err = resolve("interview", "abcd", keys()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "interview prefix \"abcd\" is ambiguous: abcd1111, abcd2222"
        );
        assert_eq!(
            resolve("finding", "zzzz", keys()).unwrap_err().to_string(),
            "no finding id starts with \"zzzz\""
        );
        assert!(matches!(
            resolve("round", "ab", keys()),
            Err(CanvasError::IdTooShort { kind: "round" })
        ));
    }
}
