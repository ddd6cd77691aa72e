//! PNG pictures of a canvas: its SVG rendering rasterised with resvg.
//!
//! The text is set in DejaVu Sans, compiled into the binary
//! (`assets/fonts/`, with its licence), so a PNG has its text on any
//! machine whatever fonts it has; the system's fonts are loaded too, only
//! for characters DejaVu Sans lacks. A picture whose text could not be
//! drawn is an error, never a PNG of empty boxes.

use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context as _, Result};
use resvg::{tiny_skia, usvg};

/// The embedded faces: regular and bold.
const FONTS: [&[u8]; 2] = [
    include_bytes!("../assets/fonts/DejaVuSans.ttf"),
    include_bytes!("../assets/fonts/DejaVuSans-Bold.ttf"),
];
/// Their family name, which the SVG rendering asks for first.
const FAMILY: &str = "DejaVu Sans";

/// The embedded fonts, then the system's, loaded once per process.
fn fonts() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        for face in FONTS {
            db.load_font_data(face.to_vec());
        }
        db.load_system_fonts();
        db.set_sans_serif_family(FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// How many text elements of `group` (and below) have glyphs drawn.
fn drawn_texts(group: &usvg::Group) -> usize {
    group
        .children()
        .iter()
        .map(|node| match node {
            usvg::Node::Group(g) => drawn_texts(g),
            usvg::Node::Text(t) => usize::from(t.flattened().has_children()),
            _ => 0,
        })
        .sum()
}

/// How many `<text>` elements of `svg` hold something to draw.
fn texts_in(svg: &str) -> usize {
    svg.split("<text")
        .skip(1)
        .filter(|t| {
            let content = t.split_once('>').map_or("", |(_, rest)| rest);
            let content = content.split("</text>").next().unwrap_or("");
            !content.trim().is_empty()
        })
        .count()
}

/// `svg` rendered at twice its size (sharp on high-density screens).
pub fn from_svg(svg: &str) -> Result<Vec<u8>> {
    let options = usvg::Options {
        fontdb: fonts(),
        font_family: FAMILY.to_string(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).context("reading the SVG rendering")?;
    let (want, drawn) = (texts_in(svg), drawn_texts(tree.root()));
    if drawn < want {
        bail!(
            "the PNG would miss text: {} of {want} text lines could not be drawn (no font for them)",
            want - drawn
        );
    }
    let scale = 2.0;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .context("the picture has no size")?;
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width(), size.height()).context("the picture is too large")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("encoding the PNG")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png() {
        let png = from_svg(r#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><text x="1" y="9">hi</text></svg>"#).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(from_svg("not svg").is_err());
    }

    #[test]
    fn text_that_cannot_be_drawn_is_an_error() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><text x="1" y="9" font-size="0">hi</text><text x="1" y="9"> </text></svg>"#;
        assert_eq!(texts_in(svg), 1);
        let err = from_svg(svg).unwrap_err().to_string();
        assert!(err.contains("could not be drawn"), "{err}");
    }

    #[test]
    fn the_wrapping_metrics_are_the_embedded_fonts() {
        for (face, bold) in [(FONTS[0], false), (FONTS[1], true)] {
            let font = ttf_parser::Face::parse(face, 0).unwrap();
            assert_eq!(font.units_per_em(), 2048);
            for c in ' '..='~' {
                let glyph = font.glyph_index(c).unwrap();
                assert_eq!(
                    font.glyph_hor_advance(glyph),
                    Some(gapmap_canvas::render::glyph_advance(c, bold)),
                    "{c:?} bold={bold}"
                );
            }
        }
    }
}
