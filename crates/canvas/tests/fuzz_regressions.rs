//! Inputs the fuzzers (fuzz/, scripts/fuzz) once crashed on, kept in
//! fuzz/regressions and replayed on every run: loading and reading them must
//! give an error or a canvas, never a panic. See docs/reliability.md.

use gapmap_canvas::{render, Canvas, DocId};

fn load_and_read(bytes: &[u8]) {
    if let Ok(canvas) = Canvas::load(bytes) {
        let id = DocId::from_bytes([7; 16]);
        let _ = render::to_json(&canvas, &id);
        let _ = render::to_markdown(&canvas, &id);
        let _ = canvas.notes();
        let _ = canvas.interviews();
        let _ = canvas.history();
    }
}

#[test]
fn canvas_load_inputs_that_once_crashed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("canvas_load-")
        {
            let bytes = std::fs::read(&path).unwrap();
            load_and_read(&bytes);
            seen += 1;
        }
    }
    assert!(seen > 0, "no inputs in {}", dir.display());
}
