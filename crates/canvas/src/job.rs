//! The job statement and the customer of a canvas.

/// The customer's job statement: situation, motivation, expected outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Job {
    /// The circumstance the customer is in ("when …").
    pub situation: String,
    /// The progress they want to make ("I want to …").
    pub motivation: String,
    /// The outcome they expect ("so I can …").
    pub outcome: String,
}

/// The lead words of each part, as people type them along with the part
/// (lowercase; longest first).
const SITUATION_LEADS: &[&str] = &["when"];
const MOTIVATION_LEADS: &[&str] = &["i want to"];
const OUTCOME_LEADS: &[&str] = &["so that i can", "so i can", "so that"];

/// `text` without a leading `lead` (any case, as a whole word) and the
/// spaces or comma after it.
fn strip_leads<'a>(text: &'a str, leads: &[&str]) -> &'a str {
    let text = text.trim();
    for lead in leads {
        let Some(head) = text.get(..lead.len()) else {
            continue;
        };
        let rest = &text[lead.len()..];
        let whole_word =
            rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || c == ',');
        if head.eq_ignore_ascii_case(lead) && whole_word {
            return rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        }
    }
    text
}

impl Job {
    /// The statement's parts without the lead words typed along with them:
    /// "When a client pays late" is the situation "a client pays late"
    /// (likewise "I want to …" and "so I can …", in any case).
    pub fn without_leads(&self) -> Job {
        Job {
            situation: strip_leads(&self.situation, SITUATION_LEADS).to_string(),
            motivation: strip_leads(&self.motivation, MOTIVATION_LEADS).to_string(),
            outcome: strip_leads(&self.outcome, OUTCOME_LEADS).to_string(),
        }
    }

    /// Whether no part of the statement is written yet.
    pub fn is_empty(&self) -> bool {
        [&self.situation, &self.motivation, &self.outcome]
            .iter()
            .all(|s| s.trim().is_empty())
    }

    /// The statement as one sentence: `When <situation>, I want to
    /// <motivation>, so I can <outcome>.` Parts that are not written are
    /// left out; parts that already start with their lead words ("when",
    /// "I want to", "so I can") do not repeat them. `None` when empty.
    pub fn statement(&self) -> Option<String> {
        let parts: Vec<String> = [
            (self.situation.as_str(), "When", &["when"][..]),
            (
                self.motivation.as_str(),
                "I want to",
                &["i want to", "i want"][..],
            ),
            (
                self.outcome.as_str(),
                "so I can",
                &["so i can", "so that", "so "][..],
            ),
        ]
        .into_iter()
        .filter_map(|(part, lead, known)| {
            let part = part.trim().trim_end_matches(['.', ',', ';']).trim();
            if part.is_empty() {
                return None;
            }
            let lower = part.to_lowercase();
            if known.iter().any(|k| lower.starts_with(k)) {
                Some(part.to_string())
            } else {
                Some(format!("{lead} {part}"))
            }
        })
        .collect();
        let sentence = parts.join(", ");
        let mut chars = sentence.chars();
        let first = chars.next()?;
        Some(format!("{}{}.", first.to_uppercase(), chars.as_str()))
    }
}

/// Who the canvas studies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Customer {
    /// The customer type: "user", "buyer", "support" or free text (stored
    /// under the key `type`).
    pub kind: String,
    /// A description of the customer.
    pub description: String,
}

impl Customer {
    /// Whether neither the type nor the description is written.
    pub fn is_empty(&self) -> bool {
        self.kind.trim().is_empty() && self.description.trim().is_empty()
    }

    /// `type — description` on one line, or whichever of them is written.
    pub fn summary(&self) -> String {
        let one = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        match (one(&self.kind), one(&self.description)) {
            (kind, d) if d.is_empty() => kind,
            (k, description) if k.is_empty() => description,
            (kind, description) => format!("{kind} — {description}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(s: &str, m: &str, o: &str) -> Job {
        Job {
            situation: s.into(),
            motivation: m.into(),
            outcome: o.into(),
        }
    }

    #[test]
    fn statement_reads_as_a_sentence() {
        assert_eq!(
            job(
                "I prepare for a customer interview",
                "see what we already know",
                "ask better questions."
            )
            .statement()
            .unwrap(),
            "When I prepare for a customer interview, I want to see what we already know, \
             so I can ask better questions."
        );
    }

    #[test]
    fn lead_words_typed_along_are_dropped() {
        let typed = job(
            "When a client pays late",
            "i WANT TO send a friendly reminder",
            "So I can, keep the client",
        );
        assert_eq!(
            typed.without_leads(),
            job(
                "a client pays late",
                "send a friendly reminder",
                "keep the client"
            )
        );
        let plain = job("Whenever it rains", "I wanted to", "so thatcher");
        assert_eq!(plain.without_leads(), plain, "only whole lead words go");
        assert_eq!(job("when", "", "").without_leads().situation, "");
    }

    #[test]
    fn statement_skips_missing_parts_and_lead_words() {
        assert_eq!(
            job("", "travel light", "").statement().unwrap(),
            "I want to travel light."
        );
        assert_eq!(
            job("when on a train", "", "so that I arrive rested")
                .statement()
                .unwrap(),
            "When on a train, so that I arrive rested."
        );
        assert_eq!(job(" ", "", "").statement(), None);
        assert!(job("", " ", "").is_empty());
        assert!(Customer::default().is_empty());
    }
}
