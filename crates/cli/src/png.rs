//! PNG pictures of a canvas: its SVG rendering rasterised with resvg, using
//! the fonts installed on the machine.

use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, Result};
use resvg::{tiny_skia, usvg};

/// The system's fonts, loaded once per process (it takes a while).
fn fonts() -> Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = usvg::fontdb::Database::new();
            db.load_system_fonts();
            Arc::new(db)
        })
        .clone()
}

/// `svg` rendered at twice its size (sharp on high-density screens).
pub fn from_svg(svg: &str) -> Result<Vec<u8>> {
    let options = usvg::Options {
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).context("reading the SVG rendering")?;
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
    #[test]
    fn renders_a_png() {
        let png = super::from_svg(r#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><text x="1" y="9">hi</text></svg>"#).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(super::from_svg("not svg").is_err());
    }
}
