//! Document ids, compatible with automerge-repo.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use crate::error::CanvasError;

/// The prefix of an automerge-repo document URL.
const URL_PREFIX: &str = "automerge:";

/// The id of a canvas document: 16 random bytes, written as base58check
/// (base58 of the bytes followed by the first four bytes of their double
/// SHA-256), exactly as automerge-repo's `DocumentId`, so a gapmap id is a
/// valid automerge-repo id and the other way round.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId([u8; 16]);

impl DocId {
    /// A fresh random id.
    pub fn random() -> DocId {
        DocId(rand::thread_rng().gen())
    }

    /// The id holding these bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> DocId {
        DocId(bytes)
    }

    /// The automerge-repo URL: `automerge:<id>`.
    pub fn url(&self) -> String {
        format!("{URL_PREFIX}{self}")
    }

    /// Parses a bare id or an `automerge:<id>` URL.
    pub fn parse(s: &str) -> Result<DocId, CanvasError> {
        let invalid = || CanvasError::InvalidDocId(s.to_string());
        let trimmed = s.trim();
        let bare = trimmed.strip_prefix(URL_PREFIX).unwrap_or(trimmed);
        let bytes = bs58::decode(bare)
            .with_check(None)
            .into_vec()
            .map_err(|_| invalid())?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| invalid())?;
        Ok(DocId(bytes))
    }

    /// The 16 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({self})")
    }
}

impl FromStr for DocId {
    type Err = CanvasError;

    fn from_str(s: &str) -> Result<DocId, CanvasError> {
        DocId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document id of automerge-repo's announcement post
    /// (automerge.org/blog/2023/11/06/automerge-repo), made by the JavaScript
    /// `bs58check` package: it must decode to 16 bytes and encode back.
    const JS_ID: &str = "2j9knpCseyhnK8izDmLpGP5WMdZQ";

    #[test]
    fn decodes_an_automerge_repo_id() {
        let id = DocId::parse(JS_ID).unwrap();
        assert_eq!(id.to_string(), JS_ID);
        assert_eq!(id.url(), format!("automerge:{JS_ID}"));
        assert_eq!(DocId::parse(&id.url()).unwrap(), id);
    }

    #[test]
    fn random_ids_round_trip() {
        for _ in 0..50 {
            let id = DocId::random();
            assert_eq!(DocId::parse(&id.to_string()).unwrap(), id);
            assert_eq!(id.url().parse::<DocId>().unwrap(), id);
            assert_eq!(DocId::from_bytes(*id.as_bytes()), id);
        }
        assert_ne!(DocId::random(), DocId::random());
    }

    #[test]
    fn checksum_is_bitcoin_style_double_sha256() {
        // bs58check of the empty payload is base58(sha256(sha256("")))[..4],
        // the well-known value "3QJmnh".
        assert_eq!(bs58::encode([0u8; 0]).with_check().into_string(), "3QJmnh");
        // Computed independently (Python hashlib): bytes 0..16.
        let bytes: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            DocId::from_bytes(bytes).to_string(),
            "1Bhh3pU9gLXZiNDL6PEa1Gs9fh"
        );
        assert_eq!(
            hex::encode(DocId::parse(JS_ID).unwrap().as_bytes()),
            "7bf18580944c450ea740c1f23be047ca"
        );
    }

    #[test]
    fn rejects_anything_else() {
        let mut corrupted = JS_ID.to_string();
        corrupted.replace_range(3..4, "m");
        for bad in [
            "",
            "automerge:",
            "hello",
            "automerge:0OIl",
            &corrupted,
            &format!("automerge:{JS_ID}#heads"),
            &format!("ipfs:{JS_ID}"),
            // Valid base58check, but of 4 bytes instead of 16.
            &bs58::encode([1u8, 2, 3, 4]).with_check().into_string(),
        ] {
            let err = DocId::parse(bad).unwrap_err();
            assert!(matches!(err, CanvasError::InvalidDocId(_)), "{bad}");
        }
        assert_eq!(
            DocId::parse("nope").unwrap_err().to_string(),
            "invalid document id \"nope\": expected a base58check id or an automerge:<id> URL"
        );
    }
}
