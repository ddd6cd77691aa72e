//! Styled text for the terminal: spans with a style, lines of spans, and
//! their display width (what the terminal shows, not bytes or chars).

use unicode_width::UnicodeWidthStr;

/// What a span looks like when colour is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Bold,
    Dim,
    Tag,
    Hypothesis,
    Validated,
    Invalidated,
}

impl Style {
    fn ansi(self) -> Option<&'static str> {
        match self {
            Style::Plain => None,
            Style::Bold => Some("\x1b[1m"),
            Style::Dim => Some("\x1b[2m"),
            Style::Tag => Some("\x1b[36m"),
            Style::Hypothesis => Some("\x1b[33m"),
            Style::Validated => Some("\x1b[32m"),
            Style::Invalidated => Some("\x1b[31m"),
        }
    }
}

/// Display width of text in a terminal.
pub(crate) fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// A run of text in one style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) text: String,
    pub(crate) style: Style,
}

impl Span {
    pub(crate) fn new(text: impl Into<String>, style: Style) -> Span {
        Span {
            text: text.into(),
            style,
        }
    }

    pub(crate) fn plain(text: impl Into<String>) -> Span {
        Span::new(text, Style::Plain)
    }

    pub(crate) fn width(&self) -> usize {
        width(&self.text)
    }
}

/// One line of the board, before padding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) spans: Vec<Span>,
}

impl Line {
    pub(crate) fn new(spans: Vec<Span>) -> Line {
        Line { spans }
    }

    pub(crate) fn plain(text: impl Into<String>) -> Line {
        Line::new(vec![Span::plain(text)])
    }

    pub(crate) fn styled(text: impl Into<String>, style: Style) -> Line {
        Line::new(vec![Span::new(text, style)])
    }

    pub(crate) fn blank() -> Line {
        Line::default()
    }

    pub(crate) fn width(&self) -> usize {
        self.spans.iter().map(Span::width).sum()
    }

    /// The line as terminal text, with escape codes only when `color`.
    pub(crate) fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for span in &self.spans {
            match span.style.ansi().filter(|_| color) {
                Some(code) => {
                    out.push_str(code);
                    out.push_str(&span.text);
                    out.push_str("\x1b[0m");
                }
                None => out.push_str(&span.text),
            }
        }
        out
    }

    /// Appends `other`'s spans.
    pub(crate) fn extend(&mut self, other: Line) {
        self.spans.extend(other.spans);
    }

    /// Pads with spaces to display width `to`.
    pub(crate) fn pad(&mut self, to: usize) {
        let w = self.width();
        if w < to {
            self.spans.push(Span::plain(" ".repeat(to - w)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_counts_terminal_cells() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("é"), 1);
        assert_eq!(width("日本"), 4);
        assert_eq!(width("👋"), 2);
        assert_eq!(width("✓✗?"), 3);
    }

    #[test]
    fn render_with_and_without_color() {
        let mut line = Line::new(vec![Span::new("✓", Style::Validated), Span::plain(" ok")]);
        assert_eq!(line.render(false), "✓ ok");
        assert_eq!(line.render(true), "\x1b[32m✓\x1b[0m ok");
        line.pad(6);
        assert_eq!(line.width(), 6);
        assert_eq!(line.render(false), "✓ ok  ");
    }
}
