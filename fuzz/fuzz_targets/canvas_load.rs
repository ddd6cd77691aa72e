//! Automerge file import, as `gapmap import` and every store load do it:
//! `Canvas::load` on arbitrary bytes never panics, and a canvas it accepts
//! can be read and rendered.
#![no_main]

use gapmap_canvas::{render, Canvas, DocId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(canvas) = Canvas::load(data) {
        let id = DocId::from_bytes([7; 16]);
        let _ = render::to_json(&canvas, &id);
        let _ = render::to_markdown(&canvas, &id);
        let _ = canvas.notes();
        let _ = canvas.interviews();
        let _ = canvas.history();
    }
});
