//! The validation status of a note.

use std::fmt;
use std::str::FromStr;

use crate::error::CanvasError;

/// How far a note has been checked against real customers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Not yet checked: what every note starts as.
    #[default]
    Hypothesis,
    /// Supported by interviews.
    Validated,
    /// Refuted by interviews.
    Invalidated,
}

impl Status {
    /// Every status, in the order a note usually goes through them.
    pub const ALL: [Status; 3] = [Status::Hypothesis, Status::Validated, Status::Invalidated];

    /// The string stored in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Hypothesis => "hypothesis",
            Status::Validated => "validated",
            Status::Invalidated => "invalidated",
        }
    }

    /// Reads a stored status; anything unknown (a newer or foreign writer)
    /// counts as a hypothesis, the status that claims nothing.
    pub(crate) fn from_stored(s: &str) -> Status {
        s.parse().unwrap_or_default()
    }
}

impl FromStr for Status {
    type Err = CanvasError;

    fn from_str(s: &str) -> Result<Status, CanvasError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hypothesis" => Ok(Status::Hypothesis),
            "validated" => Ok(Status::Validated),
            "invalidated" => Ok(Status::Invalidated),
            _ => Err(CanvasError::UnknownStatus {
                given: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!("Validated".parse::<Status>().unwrap(), Status::Validated);
    }

    #[test]
    fn unknown_stored_status_is_a_hypothesis() {
        assert_eq!(Status::from_stored("maybe"), Status::Hypothesis);
        assert_eq!(Status::from_stored("invalidated"), Status::Invalidated);
        let msg = "maybe".parse::<Status>().unwrap_err().to_string();
        assert_eq!(
            msg,
            "unknown status \"maybe\"; valid statuses: hypothesis, validated, invalidated"
        );
    }
}
