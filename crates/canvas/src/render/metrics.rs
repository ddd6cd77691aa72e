//! How wide text is in the font the SVG and PNG renderings use: DejaVu
//! Sans, which `gapmap` embeds (`crates/cli/assets/fonts/`), so boxes are
//! filled to their width instead of wrapped at a guessed character count.
//!
//! Printable ASCII has the fonts' real advance widths (in font units, 2048
//! to the em; `gapmap`'s tests check them against the embedded files);
//! anything else counts as wide as the widest letters, and characters a
//! terminal shows double-width as a full em, so a line never overflows.

use unicode_width::UnicodeWidthChar;

/// Font units per em of DejaVu Sans.
const UNITS_PER_EM: f32 = 2048.0;
/// Any other narrow character: as wide as `M` in the bold face (1 em in
/// units is 2048; `M` is 2038).
const OTHER: u16 = 2038;
/// A double-width character (CJK, emoji): one em.
const WIDE: u16 = 2048;

const REGULAR: [u16; 95] = [
    651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690, 1303,
    1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690, 690, 1716, 1716, 1716, 1087, 2048,
    1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612, 1235,
    1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690, 799, 1716, 1024, 1024,
    1255, 1300, 1126, 1300, 1260, 721, 1300, 1298, 569, 569, 1186, 569, 1995, 1298, 1253, 1300,
    1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
];

const BOLD: [u16; 95] = [
    713, 934, 1067, 1716, 1425, 2052, 1786, 627, 936, 936, 1071, 1716, 778, 850, 778, 748, 1425,
    1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 819, 819, 1716, 1716, 1716, 1188, 2048,
    1585, 1561, 1503, 1700, 1399, 1399, 1681, 1714, 762, 762, 1587, 1305, 2038, 1714, 1741, 1501,
    1741, 1577, 1475, 1397, 1663, 1585, 2259, 1579, 1483, 1485, 936, 748, 936, 1716, 1024, 1024,
    1382, 1466, 1214, 1466, 1389, 891, 1466, 1458, 702, 702, 1362, 702, 2134, 1458, 1407, 1466,
    1466, 1010, 1219, 979, 1458, 1335, 1892, 1321, 1335, 1192, 1458, 748, 1458, 1716,
];

/// The advance of `c` in font units (2048 to the em), in the bold face
/// when `bold`.
pub fn glyph_advance(c: char, bold: bool) -> u16 {
    let table = if bold { &BOLD } else { &REGULAR };
    match c {
        ' '..='~' => table[c as usize - 32],
        c if c.width().unwrap_or(0) >= 2 => WIDE,
        c if c.width() == Some(0) => 0,
        _ => OTHER,
    }
}

/// The width of `text` set at `size` pixels.
pub(crate) fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| u32::from(glyph_advance(c, bold)))
        .sum();
    units as f32 * size / UNITS_PER_EM
}

/// `text` wrapped greedily into lines at most `max` pixels wide at `size`;
/// a word wider than a line is broken between characters. Newlines stay.
pub(crate) fn wrap_px(text: &str, size: f32, bold: bool, max: f32) -> Vec<String> {
    let space = text_width(" ", size, bold);
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        let mut line_w = 0.0;
        for word in para.split_whitespace() {
            let w = text_width(word, size, bold);
            if !line.is_empty() && line_w + space + w <= max {
                line.push(' ');
                line.push_str(word);
                line_w += space + w;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_w = 0.0;
            }
            if w <= max {
                line.push_str(word);
                line_w = w;
                continue;
            }
            for c in word.chars() {
                let cw = text_width(c.encode_utf8(&mut [0; 4]), size, bold);
                if !line.is_empty() && line_w + cw > max {
                    lines.push(std::mem::take(&mut line));
                    line_w = 0.0;
                }
                line.push(c);
                line_w += cw;
            }
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_font() {
        assert_eq!(glyph_advance('i', false), 569);
        assert_eq!(glyph_advance('W', true), 2259);
        assert!(text_width("iiii", 12.0, false) < text_width("MMMM", 12.0, false));
        assert_eq!(glyph_advance('日', false), WIDE);
        assert_eq!(glyph_advance('é', false), OTHER);
    }

    #[test]
    fn lines_fill_the_width_and_never_pass_it() {
        let text = "Chases late payments by email every Friday afternoon, then again on Monday";
        let max = 260.0;
        let lines = wrap_px(text, 12.0, false, max);
        assert!(
            lines.iter().all(|l| text_width(l, 12.0, false) <= max),
            "{lines:?}"
        );
        // Each line is full: the next word would not have fitted.
        for pair in lines.windows(2) {
            let next = pair[1].split(' ').next().unwrap();
            let with = format!("{} {next}", pair[0]);
            assert!(text_width(&with, 12.0, false) > max, "{pair:?}");
        }
        assert_eq!(lines.join(" "), text);
        let long = wrap_px(&"x".repeat(100), 12.0, false, 50.0);
        assert!(long.len() > 1 && long.iter().all(|l| text_width(l, 12.0, false) <= 50.0));
        assert_eq!(wrap_px("one\ntwo", 12.0, false, 500.0), ["one", "two"]);
    }
}
