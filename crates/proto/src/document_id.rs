//! Document ids: base58check of 16 bytes, as automerge-repo writes them.

use std::fmt;
use std::str::FromStr;

/// The prefix of an automerge URL: `automerge:<document id>`.
pub const URL_PREFIX: &str = "automerge:";

/// An automerge-repo document id.
///
/// On the wire and in URLs it is the base58check encoding (bitcoin alphabet,
/// checksum = first 4 bytes of `sha256(sha256(bytes))`) of 16 bytes — what the
/// `bs58check` npm package automerge-repo uses produces. Only 16-byte ids are
/// accepted: automerge-repo generates nothing else, and a fixed size keeps the
/// type `Copy` and hashing cheap.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId([u8; 16]);

/// Why a string is not a document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentIdError {
    /// Not base58, or the checksum does not match.
    #[error("not a base58check document id: {0:?}")]
    NotBase58Check(String),
    /// Valid base58check, but not 16 bytes.
    #[error("document id {id:?} is {len} bytes long, expected 16")]
    WrongLength {
        /// The id as given.
        id: String,
        /// How many bytes it decoded to.
        len: usize,
    },
}

impl DocumentId {
    /// The id made of these 16 bytes. To make a new document id, pass 16
    /// random bytes (the caller owns randomness).
    pub const fn from_bytes(bytes: [u8; 16]) -> DocumentId {
        DocumentId(bytes)
    }

    /// The 16 bytes of the id.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses a bare id (`3mGHojTR3mV4BpGPt7Fso9GkUARf`) or an automerge URL
    /// (`automerge:3mGHojTR3mV4BpGPt7Fso9GkUARf`). A heads suffix on a URL
    /// (`#head1|head2`) names a version of the same document and is ignored.
    pub fn parse(s: &str) -> Result<DocumentId, DocumentIdError> {
        let s = s.trim();
        let bare = match s.strip_prefix(URL_PREFIX) {
            Some(rest) => rest.split_once('#').map_or(rest, |(id, _heads)| id),
            None => s,
        };
        let bytes = bs58::decode(bare)
            .with_check(None)
            .into_vec()
            .map_err(|_| DocumentIdError::NotBase58Check(s.to_owned()))?;
        let len = bytes.len();
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| DocumentIdError::WrongLength {
            id: s.to_owned(),
            len,
        })?;
        Ok(DocumentId(bytes))
    }

    /// The automerge URL of the document: `automerge:<id>`.
    pub fn url(&self) -> String {
        format!("{URL_PREFIX}{self}")
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = DocumentIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Taken from a frame automerge-repo 2.5.6 sent (fixture 03).
    const JS_ID: &str = "32YnS7htSXhL1QR7W7MzECo7cd1P";

    #[test]
    fn round_trips_an_id_written_by_automerge_repo() {
        let id = DocumentId::parse(JS_ID).unwrap();
        assert_eq!(id.to_string(), JS_ID);
        assert_eq!(id.url(), format!("automerge:{JS_ID}"));
    }

    #[test]
    fn parses_urls_with_and_without_heads() {
        let id = DocumentId::parse(JS_ID).unwrap();
        assert_eq!(DocumentId::parse(&format!("automerge:{JS_ID}")), Ok(id));
        assert_eq!(
            DocumentId::parse(&format!("automerge:{JS_ID}#abc|def")),
            Ok(id)
        );
        assert_eq!(format!(" {JS_ID}\n").parse::<DocumentId>(), Ok(id));
    }

    #[test]
    fn encodes_like_the_bs58check_npm_package() {
        // Expected strings computed with bs58check 3 (automerge-repo's) in node.
        assert_eq!(
            DocumentId::from_bytes([7; 16]).to_string(),
            "6gMHXjsZ5cxdn4qSbgGYYY8CnKK"
        );
        let counting: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            DocumentId::from_bytes(counting).to_string(),
            "1Bhh3pU9gLXZiNDL6PEa1Gs9fh"
        );
        assert_eq!(
            DocumentId::parse("1Bhh3pU9gLXZiNDL6PEa1Gs9fh")
                .unwrap()
                .as_bytes(),
            &counting
        );
    }

    #[test]
    fn rejects_bad_checksum_and_wrong_length() {
        let mut bad = JS_ID.to_owned();
        bad.replace_range(0..1, "4");
        assert!(matches!(
            DocumentId::parse(&bad),
            Err(DocumentIdError::NotBase58Check(_))
        ));
        let short = bs58::encode([1u8; 8]).with_check().into_string();
        assert!(matches!(
            DocumentId::parse(&short),
            Err(DocumentIdError::WrongLength { len: 8, .. })
        ));
        assert!(DocumentId::parse("").is_err());
        assert!(DocumentId::parse("automerge:").is_err());
        assert!(DocumentId::parse("0OIl").is_err());
    }
}
