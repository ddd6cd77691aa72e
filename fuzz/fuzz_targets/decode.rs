//! The wire decoder on arbitrary bytes: it never panics, stays within its
//! limits, and whatever it accepts re-encodes to something that decodes to
//! the same message.
#![no_main]

use gapmap_proto::{DecodeLimits, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Message::decode_with(
        data,
        &DecodeLimits {
            max_frame_size: 256,
            max_depth: 2,
        },
    );
    if let Ok(message) = Message::decode(data) {
        let again = Message::decode(&message.encode()).expect("our own encoding decodes");
        assert_eq!(again, message, "encode/decode is not the identity");
    }
});
