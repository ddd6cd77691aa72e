//! Word wrapping by display width.

use super::styled::{width, Span, Style};

/// Text made safe for a terminal: control characters (escape codes a note
/// could smuggle in, tabs, carriage returns) become spaces; newlines stay.
pub(crate) fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// The words of a text in one style, with `None` marking a line break.
pub(crate) fn words(text: &str, style: Style) -> Vec<Option<Span>> {
    let clean = sanitize(text);
    let mut out = Vec::new();
    for (i, line) in clean.split('\n').enumerate() {
        if i > 0 {
            out.push(None);
        }
        out.extend(line.split_whitespace().map(|w| Some(Span::new(w, style))));
    }
    out
}

/// Splits a word into pieces of at most `max` display width (at least one
/// character each, so a wide character in a too narrow space still moves on).
fn split_word(word: &Span, max: usize) -> Vec<Span> {
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0;
    for c in word.text.chars() {
        let cw = width(c.encode_utf8(&mut [0; 4]));
        if cur_w + cw > max && !cur.is_empty() {
            pieces.push(Span::new(std::mem::take(&mut cur), word.style));
            cur_w = 0;
        }
        cur.push(c);
        cur_w += cw;
    }
    if !cur.is_empty() {
        pieces.push(Span::new(cur, word.style));
    }
    pieces
}

/// Greedy word wrap: the first line holds at most `first` cells, the others
/// at most `rest`. Words longer than a line are broken. Each line is a list
/// of spans with single spaces between words.
pub(crate) fn wrap(words: &[Option<Span>], first: usize, rest: usize) -> Vec<Vec<Span>> {
    let first = first.max(1);
    let rest = rest.max(1);
    let mut lines: Vec<Vec<Span>> = Vec::new();
    let mut cur: Vec<Span> = Vec::new();
    let mut cur_w = 0;
    let limit = |lines: &Vec<Vec<Span>>| if lines.is_empty() { first } else { rest };
    for word in words {
        let Some(word) = word else {
            lines.push(std::mem::take(&mut cur));
            cur_w = 0;
            continue;
        };
        let w = word.width();
        let gap = usize::from(!cur.is_empty());
        if cur_w + gap + w <= limit(&lines) {
            if gap == 1 {
                cur.push(Span::plain(" "));
            }
            cur.push(word.clone());
            cur_w += gap + w;
            continue;
        }
        if !cur.is_empty() {
            lines.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        if w <= limit(&lines) {
            cur.push(word.clone());
            cur_w = w;
            continue;
        }
        if lines.is_empty() && w <= rest {
            // Fits the longer later lines whole: better than breaking it.
            lines.push(Vec::new());
            cur.push(word.clone());
            cur_w = w;
            continue;
        }
        // Too long for any line: break it.
        let pieces = split_word(word, limit(&lines).min(rest));
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            if i == last {
                cur_w = piece.width();
                cur.push(piece);
            } else {
                lines.push(vec![piece]);
            }
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Vec<Span>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.iter().map(|s| s.text.as_str()).collect())
            .collect()
    }

    #[test]
    fn wraps_at_word_boundaries() {
        let w = words("the quick brown fox jumps", Style::Plain);
        assert_eq!(text(&wrap(&w, 10, 10)), ["the quick", "brown fox", "jumps"]);
        assert_eq!(text(&wrap(&w, 3, 20)), ["the", "quick brown fox", "jumps"]);
        // A word too long for the short first line moves down whole.
        assert_eq!(text(&wrap(&w, 2, 20)), ["", "the quick brown fox", "jumps"]);
    }

    #[test]
    fn breaks_long_words_and_respects_wide_chars() {
        let w = words("aaaaaaaaaaaa 日本語日本語", Style::Plain);
        let lines = wrap(&w, 5, 5);
        assert_eq!(
            text(&lines),
            ["aaaaa", "aaaaa", "aa", "日本", "語日", "本語"]
        );
        assert!(lines
            .iter()
            .all(|l| l.iter().map(Span::width).sum::<usize>() <= 5));
    }

    #[test]
    fn keeps_newlines_and_drops_control_characters() {
        let w = words("one\ntwo\x1b[31m red\tx", Style::Plain);
        assert_eq!(text(&wrap(&w, 40, 40)), ["one", "two [31m red x"]);
        assert_eq!(text(&wrap(&[], 5, 5)), [""]);
    }
}
