//! Decoder tests on hand-made frames (real frames: tests/fixtures.rs).

use super::*;

fn decode(frame: &[u8]) -> Result<Message, DecodeError> {
    super::decode(frame, &DecodeLimits::default())
}

const ID: &str = "32YnS7htSXhL1QR7W7MzECo7cd1P";

/// A tiny CBOR builder for hand-made frames.
#[derive(Default)]
struct B(Vec<u8>);
impl B {
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn text(self, s: &str) -> Self {
        assert!(s.len() < 24);
        self.raw(&[0x60 | s.len() as u8]).raw(s.as_bytes())
    }
    fn long_text(self, s: &str) -> Self {
        self.raw(&[0x78, s.len() as u8]).raw(s.as_bytes())
    }
}

fn sync_frame_with_count(count: &[u8]) -> Vec<u8> {
    B::default()
        .raw(&[0xa7])
        .text("count")
        .raw(count)
        .text("type")
        .text("ephemeral")
        .text("senderId")
        .text("a")
        .text("targetId")
        .text("b")
        .text("documentId")
        .long_text(ID)
        .text("sessionId")
        .text("s")
        .text("data")
        .raw(&[0x41, 0x01])
        .0
}

#[test]
fn counts_sent_as_floats_or_non_minimal_ints() {
    let count_of = |raw: &[u8]| match decode(&sync_frame_with_count(raw)) {
        Ok(Message::Ephemeral { count, .. }) => Ok(count),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };
    assert_eq!(count_of(&[0x01]), Ok(1));
    assert_eq!(count_of(&[0x1b, 0, 0, 0, 0, 0, 0, 0, 2]), Ok(2));
    assert_eq!(count_of(&[0xf9, 0x3c, 0x00]), Ok(1)); // half 1.0
    assert_eq!(count_of(&[0xfa, 0x40, 0x40, 0, 0]), Ok(3)); // single 3.0
    assert_eq!(count_of(&[0xfb, 0x40, 0x14, 0, 0, 0, 0, 0, 0]), Ok(5)); // double 5.0
    for bad in [
        &[0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0][..], // 1.5
        &[0x20],                                   // -1
        &[0xf9, 0x7c, 0x00],                       // +inf
        &[0x61, b'1'],                             // "1"
    ] {
        assert!(matches!(
            count_of(bad),
            Err(DecodeError::WrongType { field: "count", .. })
        ));
    }
}

#[test]
fn indefinite_lengths_tags_undefined_and_unknown_keys() {
    let frame = B::default()
        .raw(&[0xbf]) // indefinite map
        .text("extra")
        .raw(&[0x9f, 0x01, 0xbf, 0xff, 0xff]) // [1, {}] indefinite
        .raw(&[0x7f])
        .text("ty")
        .text("pe")
        .raw(&[0xff]) // "type" in two chunks
        .text("join")
        .raw(&[0x18, 0x2a, 0x01]) // an integer key, ignored
        .text("senderId")
        .raw(&[0xd8, 0x20]) // tag 32 in front of the string
        .text("p")
        .text("peerMetadata")
        .raw(&[0xbf])
        .text("storageId")
        .raw(&[0xf7])
        .text("isEphemeral")
        .raw(&[0xf5])
        .text("later")
        .raw(&[0xf6])
        .raw(&[0xff])
        .long_text("supportedProtocolVersions")
        .raw(&[0x9f])
        .text("1")
        .raw(&[0xff])
        .raw(&[0xff])
        .0;
    assert_eq!(
        decode(&frame),
        Ok(Message::Join {
            sender_id: PeerId::from("p"),
            peer_metadata: PeerMetadata {
                storage_id: None,
                is_ephemeral: true,
            },
            supported_protocol_versions: Some(vec!["1".into()]),
        })
    );
}

#[test]
fn data_as_indefinite_or_tagged_byte_string() {
    let frame = |data: &[u8]| {
        B::default()
            .raw(&[0xa5])
            .text("type")
            .text("sync")
            .text("senderId")
            .text("a")
            .text("targetId")
            .text("b")
            .text("documentId")
            .long_text(ID)
            .text("data")
            .raw(data)
            .0
    };
    let data = |f: Vec<u8>| match decode(&f) {
        Ok(Message::Sync { data, .. }) => data,
        other => panic!("{other:?}"),
    };
    assert_eq!(data(frame(&[0x42, 1, 2])), vec![1, 2]);
    assert_eq!(data(frame(&[0x5f, 0x41, 1, 0x41, 2, 0xff])), vec![1, 2]);
    assert_eq!(data(frame(&[0xd8, 0x40, 0x42, 1, 2])), vec![1, 2]);
    assert!(matches!(
        decode(&frame(&[0x82, 1, 2])),
        Err(DecodeError::WrongType { field: "data", .. })
    ));
}

#[test]
fn typed_errors() {
    assert_eq!(decode(&[0x01]), Err(DecodeError::NotAMap));
    assert_eq!(decode(&[0x80]), Err(DecodeError::NotAMap));
    assert_eq!(decode(&[0xa0]), Err(DecodeError::MissingType));
    assert_eq!(
        decode(&B::default().raw(&[0xa1]).text("type").raw(&[0xf7]).0),
        Err(DecodeError::MissingType)
    );
    assert!(matches!(decode(&[]), Err(DecodeError::Malformed(_))));
    assert!(matches!(decode(&[0xa1]), Err(DecodeError::Malformed(_))));
    assert!(matches!(decode(&[0xff]), Err(DecodeError::Malformed(_))));
    assert_eq!(decode(&[0xa0, 0x00]), Err(DecodeError::TrailingBytes(1)));
    assert_eq!(
        decode(&B::default().raw(&[0xa1]).text("type").raw(&[0x01]).0),
        Err(DecodeError::WrongType {
            field: "type",
            expected: "a string"
        })
    );
    assert_eq!(
        decode(&B::default().raw(&[0xa1]).text("type").text("leave").0),
        Err(DecodeError::MissingField {
            message_type: "leave",
            field: "senderId"
        })
    );
    let bad_id = B::default()
        .raw(&[0xa4])
        .text("type")
        .long_text("doc-unavailable")
        .text("senderId")
        .text("a")
        .text("targetId")
        .text("b")
        .text("documentId")
        .text("not-an-id")
        .0;
    assert!(matches!(
        decode(&bad_id),
        Err(DecodeError::InvalidDocumentId(_))
    ));
}

#[test]
fn unknown_types_ignore_the_shape_of_their_fields() {
    let frame = B::default()
        .raw(&[0xa3])
        .text("type")
        .long_text("remote-heads-changed")
        .text("data")
        .raw(&[0xa1, 0x01, 0x02]) // not bytes: irrelevant for an unknown type
        .text("documentId")
        .text("nope")
        .0;
    assert_eq!(
        decode(&frame),
        Ok(Message::Unknown {
            type_name: "remote-heads-changed".into()
        })
    );
}

#[test]
fn limits() {
    let limits = DecodeLimits {
        max_frame_size: 4,
        max_depth: 16,
    };
    assert_eq!(
        super::decode(&[0xa0; 5], &limits),
        Err(DecodeError::TooLarge { size: 5, max: 4 })
    );
    // 100 000 nested arrays inside an unknown key: refused, not recursed.
    let mut deep = B::default().raw(&[0xa2]).text("type").text("x").text("k").0;
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x00);
    assert_eq!(decode(&deep), Err(DecodeError::TooDeep { max: 16 }));
    let mut deep_indef = B::default().raw(&[0xa2]).text("type").text("x").text("k").0;
    deep_indef.extend(std::iter::repeat_n(0x9f, 100_000));
    assert_eq!(decode(&deep_indef), Err(DecodeError::TooDeep { max: 16 }));
    // Within the limit (the message map is level 1): fine.
    let mut ok = B::default().raw(&[0xa2]).text("type").text("x").text("k").0;
    ok.extend(std::iter::repeat_n(0x81, 15));
    ok.push(0x00);
    assert_eq!(
        decode(&ok),
        Ok(Message::Unknown {
            type_name: "x".into()
        })
    );
    // A huge declared length with nothing behind it fails fast.
    let huge = [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(decode(&huge), Err(DecodeError::Malformed(_))));
}

#[test]
fn half_floats() {
    assert_eq!(f16_to_f64(0x3c00), 1.0);
    assert_eq!(f16_to_f64(0xc000), -2.0);
    assert_eq!(f16_to_f64(0x7bff), 65504.0);
    assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
    assert!(f16_to_f64(0x7e00).is_nan());
}
