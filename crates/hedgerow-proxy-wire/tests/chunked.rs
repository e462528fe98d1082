//! The chunked decoder: whole and byte-at-a-time input, extensions, trailers, limits, and
//! sizes that are invalid or overflow.

use hedgerow_proxy_wire::{ChunkError, ChunkLimits, ChunkedDecoder, Progress};

/// Decodes `input` in one call, returning the data and the progress.
fn decode(input: &[u8]) -> (Result<Progress, ChunkError>, Vec<u8>) {
    let mut out = Vec::new();
    let result = ChunkedDecoder::new().feed(input, &mut out);
    (result, out)
}

/// Decodes `input` one byte at a time; the result must not depend on how input is split.
fn decode_bytewise(input: &[u8]) -> (Result<usize, ChunkError>, Vec<u8>, bool) {
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut consumed = 0;
    for byte in input.chunks(1) {
        match decoder.feed(byte, &mut out) {
            Ok(progress) => consumed += progress.consumed,
            Err(e) => return (Err(e), out, false),
        }
    }
    (Ok(consumed), out, decoder.is_done())
}

#[test]
fn simple_body_with_extensions_and_trailers() {
    let body = b"5;name=value;q=\"a b\"\r\nhello\r\nA \t; ext\r\n, world!!!\r\n0\r\nX-Trailer: yes\r\n\r\nGET /next";
    let (result, out) = decode(body);
    assert_eq!(
        result,
        Ok(Progress {
            consumed: body.len() - 9,
            done: true
        })
    );
    assert_eq!(out, b"hello, world!!!");
    let (result, out, done) = decode_bytewise(&body[..body.len() - 9]);
    assert_eq!(result, Ok(body.len() - 9));
    assert_eq!(out, b"hello, world!!!");
    assert!(done);
}

#[test]
fn incomplete_body_is_not_done_and_resumes() {
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    assert_eq!(
        decoder.feed(b"10\r\n0123456", &mut out),
        Ok(Progress {
            consumed: 11,
            done: false
        })
    );
    assert_eq!(
        decoder.feed(b"789abcdef\r\n0\r", &mut out),
        Ok(Progress {
            consumed: 13,
            done: false
        })
    );
    assert_eq!(
        decoder.feed(b"\n\r\n", &mut out),
        Ok(Progress {
            consumed: 3,
            done: true
        })
    );
    assert_eq!(out, b"0123456789abcdef");
    // Once done, nothing more is taken: it belongs to the next message.
    assert_eq!(
        decoder.feed(b"more", &mut out),
        Ok(Progress {
            consumed: 0,
            done: true
        })
    );
}

#[test]
fn invalid_chunk_sizes() {
    for body in [
        &b"\r\n"[..],
        b"g\r\n",
        b"-1\r\n",
        b"+1\r\n",
        b" 1\r\n",
        b"1 \r\n",
        b"0x1\r\n",
        b";ext\r\n",
    ] {
        assert_eq!(
            decode(body).0,
            Err(ChunkError::InvalidSize),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn overflowing_sizes() {
    assert_eq!(
        decode(b"10000000000000000\r\n").0,
        Err(ChunkError::SizeOverflow)
    );
    // Sixteen f's fit; leading zeros do not count towards overflow.
    let (result, _) = decode(b"0000ffffffffffffffff\r\nab");
    assert_eq!(
        result,
        Ok(Progress {
            consumed: 24,
            done: false
        })
    );
}

#[test]
fn line_endings_and_framing_errors() {
    assert_eq!(decode(b"1\nx").0, Err(ChunkError::InvalidSize));
    assert_eq!(decode(b"1;a\nx").0, Err(ChunkError::BareLineFeed));
    assert_eq!(decode(b"1\rx").0, Err(ChunkError::BareCarriageReturn));
    assert_eq!(decode(b"1\r\nxy").0, Err(ChunkError::MissingCrlfAfterData));
    assert_eq!(
        decode(b"1\r\nx\rx").0,
        Err(ChunkError::MissingCrlfAfterData)
    );
    assert_eq!(decode(b"1;a\0b\r\n").0, Err(ChunkError::BadExtension));
    assert_eq!(decode(b"0\r\nX: \0\r\n\r\n").0, Err(ChunkError::BadTrailer));
    assert_eq!(decode(b"0\r\nX: y\n").0, Err(ChunkError::BareLineFeed));
    assert_eq!(
        decode(b"0\r\nX: y\rz").0,
        Err(ChunkError::BareCarriageReturn)
    );
}

#[test]
fn errors_are_sticky() {
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    assert_eq!(decoder.feed(b"z", &mut out), Err(ChunkError::InvalidSize));
    assert_eq!(
        decoder.feed(b"0\r\n\r\n", &mut out),
        Err(ChunkError::InvalidSize)
    );
}

#[test]
fn size_line_and_trailer_limits() {
    let limits = ChunkLimits {
        max_size_line: 16,
        max_trailer: 32,
    };
    let mut out = Vec::new();
    let mut long_ext = b"1;".to_vec();
    long_ext.resize(17, b'a');
    assert_eq!(
        ChunkedDecoder::with_limits(limits).feed(&long_ext, &mut out),
        Err(ChunkError::SizeLineTooLong { limit: 16 })
    );
    assert!(
        ChunkedDecoder::with_limits(limits)
            .feed(&long_ext[..16], &mut out)
            .is_ok()
    );

    let mut trailer = b"0\r\n".to_vec();
    for _ in 0..5 {
        trailer.extend_from_slice(b"X-T: 1234\r\n");
    }
    assert_eq!(
        ChunkedDecoder::with_limits(limits).feed(&trailer, &mut out),
        Err(ChunkError::TrailerTooLarge { limit: 32 })
    );
    // The default size-line limit holds against an endless stream of zeros.
    let zeros = vec![b'0'; 5000];
    assert_eq!(
        decode(&zeros).0,
        Err(ChunkError::SizeLineTooLong { limit: 4096 })
    );
}
