//! Pseudonyms for interviewees, who are personal data: an anonymised copy
//! of a canvas replaces their names everywhere before it is exported.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ROOT};

use super::Canvas;
use crate::error::Result;
use crate::field::{get_bool, get_map, put_text};
use crate::interview::person_key;

/// The root key marking an anonymised copy.
const MARK: &str = "anonymised";
/// Characters of a pseudonym code (no 0/1/O/I to misread).
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// FNV-1a, 64 bits: a small, stable hash (not a secret one; the salt is).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn code(salt: &str, key: &str, len: usize) -> String {
    let mut h = fnv1a(format!("{salt}\0{key}").as_bytes());
    (0..len)
        .map(|_| {
            let c = CODE_ALPHABET[(h % 32) as usize];
            h /= 32;
            char::from(c)
        })
        .collect()
}

impl Canvas {
    /// A stable pseudonym per interviewee, keyed by the name as first
    /// written: `Participant K7QD`. The code comes from the name and the
    /// canvas's first change, so a person keeps their pseudonym in every
    /// export of this canvas, and the same name gets unrelated codes in
    /// different canvases.
    pub fn pseudonyms(&self) -> BTreeMap<String, String> {
        let mut doc = self.doc.clone();
        let salt = doc
            .get_changes(&[])
            .iter()
            .filter(|c| c.deps().is_empty())
            .map(|c| c.hash().to_string())
            .min()
            .unwrap_or_default();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        // Trashed interviews too: their names may appear in notes.
        for interview in self.all_interviews() {
            let key = person_key(&interview.interviewee);
            if !key.is_empty() {
                names
                    .entry(key)
                    .or_insert_with(|| interview.interviewee.trim().to_string());
            }
        }
        // Lengthen codes until no two people share one.
        let mut len = 4;
        loop {
            let codes: BTreeMap<&String, String> =
                names.keys().map(|k| (k, code(&salt, k, len))).collect();
            let mut distinct: Vec<&String> = codes.values().collect();
            distinct.sort();
            distinct.dedup();
            if distinct.len() == codes.len() || len >= 12 {
                return names
                    .iter()
                    .map(|(k, name)| (name.clone(), format!("Participant {}", codes[k])))
                    .collect();
            }
            len += 2;
        }
    }

    /// A copy of this canvas with every interviewee's name replaced by
    /// their [pseudonym](Canvas::pseudonyms): in the interviews, and
    /// wherever the full name (any case) or one of its capitalised parts (a
    /// whole word of 3+ letters) appears in the title, job statement,
    /// customer, notes, comments, questions, transcripts and findings. A
    /// part shared by two interviewees becomes `[name]`.
    ///
    /// The copy is for rendering only: its last change must never be
    /// stored or synced (its history still holds the names).
    pub fn anonymised(&self) -> Result<Canvas> {
        let pseudonyms = self.pseudonyms();
        let scrub = Scrubber::new(&pseudonyms);
        let mut copy = Canvas {
            doc: self.doc.clone(),
        };
        copy.doc.set_actor(ActorId::random());
        let interviews = copy.interviews();
        let notes = copy.notes();
        let (title, job, customer) = (copy.title(), copy.job(), copy.customer());
        copy.write(0, |doc| {
            doc.put(ROOT, MARK, true)?;
            put_text(doc, &ROOT, "title", &scrub.text(&title))?;
            if let Some(obj) = get_map(doc, &ROOT, "job") {
                for (key, value) in [
                    ("situation", &job.situation),
                    ("motivation", &job.motivation),
                    ("outcome", &job.outcome),
                ] {
                    put_text(doc, &obj, key, &scrub.text(value))?;
                }
            }
            if let Some(obj) = get_map(doc, &ROOT, "customer") {
                put_text(doc, &obj, "description", &scrub.text(&customer.description))?;
            }
            let note_map = get_map(doc, &ROOT, "notes");
            for note in &notes {
                let Some(obj) = note_map
                    .as_ref()
                    .and_then(|m| get_map(doc, m, note.id.as_str()))
                else {
                    continue;
                };
                put_text(doc, &obj, "text", &scrub.text(&note.text))?;
                if let Some(comments) = get_map(doc, &obj, "comments") {
                    for comment in &note.comments {
                        if let Some(c) = get_map(doc, &comments, &comment.id) {
                            put_text(doc, &c, "text", &scrub.text(&comment.text))?;
                        }
                    }
                }
            }
            let interview_map = get_map(doc, &ROOT, "interviews");
            for interview in &interviews {
                let Some(obj) = interview_map
                    .as_ref()
                    .and_then(|m| get_map(doc, m, interview.id.as_str()))
                else {
                    continue;
                };
                let name = pseudonyms
                    .iter()
                    .find(|(n, _)| person_key(n) == interview.person_key())
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default();
                put_text(doc, &obj, "interviewee", &name)?;
                put_text(doc, &obj, "transcript", &scrub.text(&interview.transcript))?;
                let list = doc.put_object(&obj, "questions", ObjType::List)?;
                for (i, q) in interview.questions.iter().enumerate() {
                    let item = doc.insert_object(&list, i, ObjType::Text)?;
                    doc.splice_text(&item, 0, 0, &scrub.text(q))?;
                }
                if let Some(findings) = get_map(doc, &obj, "findings") {
                    for f in &interview.findings {
                        if let Some(fo) = get_map(doc, &findings, f.id.as_str()) {
                            put_text(doc, &fo, "text", &scrub.text(&f.text))?;
                            if !f.interpretation.is_empty() {
                                let meaning = scrub.text(&f.interpretation);
                                put_text(doc, &fo, "interpretation", &meaning)?;
                            }
                        }
                    }
                }
            }
            Ok(((), "anonymise for export".to_string()))
        })?;
        Ok(copy)
    }

    /// Whether this is an [anonymised](Canvas::anonymised) copy.
    pub fn is_anonymised(&self) -> bool {
        get_bool(&self.doc, &ROOT, MARK).unwrap_or(false)
    }
}

/// Replaces names in free text.
struct Scrubber {
    /// (needle, replacement, ignore case), longest needles first.
    rules: Vec<(Vec<char>, String, bool)>,
}

impl Scrubber {
    fn new(pseudonyms: &BTreeMap<String, String>) -> Scrubber {
        let mut rules: Vec<(Vec<char>, String, bool)> = Vec::new();
        let mut parts: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (name, pseudonym) in pseudonyms {
            let full = name.split_whitespace().collect::<Vec<_>>().join(" ");
            rules.push((full.chars().collect(), pseudonym.clone(), true));
            for part in name.split_whitespace() {
                let part = part.trim_matches(|c: char| !c.is_alphanumeric());
                let capitalised = part.chars().next().is_some_and(char::is_uppercase);
                if part.chars().count() >= 3 && capitalised && part != full {
                    parts
                        .entry(part.to_string())
                        .and_modify(|p| {
                            if p.as_deref() != Some(pseudonym.as_str()) {
                                *p = None;
                            }
                        })
                        .or_insert_with(|| Some(pseudonym.clone()));
                }
            }
        }
        for (part, pseudonym) in parts {
            let replacement = pseudonym.unwrap_or_else(|| "[name]".to_string());
            rules.push((part.chars().collect(), replacement, false));
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        Scrubber { rules }
    }

    fn text(&self, text: &str) -> String {
        let mut out: Vec<char> = text.chars().collect();
        for (needle, replacement, ignore_case) in &self.rules {
            out = replace_words(&out, needle, replacement, *ignore_case);
        }
        out.into_iter().collect()
    }
}

/// `text` with every whole-word occurrence of `needle` replaced.
fn replace_words(
    text: &[char],
    needle: &[char],
    replacement: &str,
    ignore_case: bool,
) -> Vec<char> {
    if needle.is_empty() {
        return text.to_vec();
    }
    let same = |a: char, b: char| {
        if ignore_case {
            a == b || a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let is_word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let fits = i + needle.len() <= text.len()
            && text[i..i + needle.len()]
                .iter()
                .zip(needle)
                .all(|(a, b)| same(*a, *b))
            && !is_word(i.checked_sub(1).and_then(|p| text.get(p)))
            && !is_word(text.get(i + needle.len()));
        if fits {
            out.extend(replacement.chars());
            i += needle.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FindingTarget, Section};

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn pseudonyms_are_stable_and_distinct() {
        let mut c = Canvas::create("Anon", "ana", T0).unwrap();
        c.add_interview("Maria Lopez", "user", None, "ana", T0)
            .unwrap();
        c.add_interview("maria  lopez", "user", None, "bo", T0 + 1)
            .unwrap();
        c.add_interview("Tom", "user", None, "bo", T0 + 2).unwrap();
        let p = c.pseudonyms();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p["Maria Lopez"].starts_with("Participant "));
        assert_ne!(p["Maria Lopez"], p["Tom"]);
        let mut later = c.fork();
        later.add_interview("Zoe", "user", None, "cy", T0).unwrap();
        let q = later.pseudonyms();
        assert_eq!(
            q["Maria Lopez"], p["Maria Lopez"],
            "stable as interviews are added"
        );
        let other = Canvas::create("Other", "ana", T0 + 1).unwrap();
        assert!(other.pseudonyms().is_empty());
    }

    #[test]
    fn anonymised_copies_hide_names_everywhere() {
        let mut c = Canvas::create("Interviews with Maria", "ana", T0).unwrap();
        let n = c
            .add_note(Section::Now, "Maria's shoebox of receipts", &[], "ana", T0)
            .unwrap();
        c.add_comment(&n, "maria lopez said so", "bo", T0).unwrap();
        let i = c
            .add_interview("Maria Lopez", "user", None, "ana", T0)
            .unwrap();
        let j = c
            .add_interview("Maria Chen", "buyer", None, "ana", T0)
            .unwrap();
        c.ask(&i, "Lopez, what did you try?", T0).unwrap();
        c.append_transcript(&i, "MARIA LOPEZ pays on Fridays; Mariachi band", "ana", T0)
            .unwrap();
        c.add_finding(
            &j,
            "Maria hates email",
            FindingTarget::Supports(n.clone()),
            "ana",
            T0,
        )
        .unwrap();
        let p = c.pseudonyms();
        let (lopez, chen) = (&p["Maria Lopez"], &p["Maria Chen"]);

        let a = c.anonymised().unwrap();
        assert!(a.is_anonymised() && !c.is_anonymised());
        assert_eq!(a.title(), "Interviews with [name]");
        let note = a.note(&n).unwrap();
        assert_eq!(note.text, "[name]'s shoebox of receipts");
        assert_eq!(note.comments[0].text, format!("{lopez} said so"));
        let ai = a.interview(&i).unwrap();
        assert_eq!(&ai.interviewee, lopez);
        assert_eq!(ai.questions, [format!("{lopez}, what did you try?")]);
        assert!(
            ai.transcript
                .contains(&format!("{lopez} pays on Fridays; Mariachi band")),
            "{}",
            ai.transcript
        );
        let aj = a.interview(&j).unwrap();
        assert_eq!(&aj.interviewee, chen);
        assert_eq!(aj.findings[0].text, "[name] hates email");
        // Evidence still counts distinct (pseudonymous) people.
        assert_eq!(
            &a.note_evidence(&n).interviewees,
            std::slice::from_ref(chen)
        );
        // The original is untouched.
        assert_eq!(c.interview(&i).unwrap().interviewee, "Maria Lopez");
    }

    #[test]
    fn whole_words_only() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        let r = |t: &str, n: &str, ic| {
            replace_words(&chars(t), &chars(n), "X", ic)
                .into_iter()
                .collect::<String>()
        };
        assert_eq!(r("Tom and Tomas, tom", "Tom", false), "X and Tomas, tom");
        assert_eq!(r("Tom and Tomas, tom", "Tom", true), "X and Tomas, X");
        assert_eq!(r("Zoë.", "zoë", true), "X.");
    }
}
