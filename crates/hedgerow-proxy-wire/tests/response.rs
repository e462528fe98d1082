//! Response heads from origins: status lines, body framing per RFC 9112 §6.3, and the
//! smuggling checks shared with requests.

use hedgerow_proxy_wire::{BodyFraming, HeadError, ResponseHead, Version, parse_response_head};

fn parse(bytes: &[u8]) -> Result<ResponseHead, HeadError> {
    let (head, used) = parse_response_head(bytes)?.expect("head should be complete");
    assert_eq!(used, bytes.len());
    Ok(head)
}

#[test]
fn status_line_forms() {
    let head = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n").unwrap();
    assert_eq!(
        (head.version, head.status, head.reason.as_slice()),
        (Version::Http11, 200, &b"OK"[..])
    );
    assert_eq!(head.header("content-length"), Some(&b"3"[..]));
    let head = parse(b"HTTP/1.0 404 Not \xa0Found\r\n\r\n").unwrap();
    assert_eq!(
        (head.version, head.status, head.reason.as_slice()),
        (Version::Http10, 404, &b"Not \xa0Found"[..])
    );
    assert_eq!(parse(b"HTTP/1.1 204\r\n\r\n").unwrap().reason, b"");
    assert_eq!(parse(b"HTTP/1.1 204 \r\n\r\n").unwrap().reason, b"");
}

#[test]
fn bad_status_lines() {
    for line in [
        &b"HTTP/1.1 20 OK"[..],
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 099 x",
        b"HTTP/1.1 600 x",
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1 200 O\0K",
        b"HTP/1.1 200 OK",
        b"HTTP/1.1",
    ] {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n\r\n");
        assert!(
            matches!(parse_response_head(&bytes), Err(HeadError::BadStartLine(_))),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    assert!(matches!(
        parse_response_head(b"HTTP/2.0 200 OK\r\n\r\n"),
        Err(HeadError::UnsupportedVersion(_))
    ));
}

#[test]
fn incremental() {
    let full = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
    for cut in 0..full.len() {
        assert_eq!(parse_response_head(&full[..cut]), Ok(None));
    }
}

#[test]
fn body_framing() {
    let framing = |head: &[u8], method: &str| parse(head).unwrap().body(method);
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "GET"),
        Ok(BodyFraming::Length(10))
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD"),
        Ok(BodyFraming::Empty)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            "GET"
        ),
        Ok(BodyFraming::Empty)
    );
    assert_eq!(
        framing(b"HTTP/1.1 204 No Content\r\n\r\n", "GET"),
        Ok(BodyFraming::Empty)
    );
    assert_eq!(
        framing(b"HTTP/1.1 100 Continue\r\n\r\n", "POST"),
        Ok(BodyFraming::Empty)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "GET"
        ),
        Ok(BodyFraming::Chunked)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET"),
        Ok(BodyFraming::CloseDelimited)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\n\r\n", "GET"),
        Ok(BodyFraming::CloseDelimited)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET"),
        Ok(BodyFraming::Empty)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n",
            "GET"
        ),
        Err(HeadError::TransferEncodingWithContentLength)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n",
            "GET"
        ),
        Err(HeadError::ConflictingContentLength)
    );
}

#[test]
fn keep_alive_and_hop_by_hop() {
    assert!(parse(b"HTTP/1.1 200 OK\r\n\r\n").unwrap().keep_alive());
    assert!(
        !parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .unwrap()
            .keep_alive()
    );
    assert!(!parse(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().keep_alive());
    let head = parse(b"HTTP/1.1 200 OK\r\nConnection: x-internal\r\n\r\n").unwrap();
    assert!(head.hop_by_hop_headers().iter().any(|h| h == "x-internal"));
}

#[test]
fn hostile_fields_are_refused_as_in_requests() {
    assert_eq!(
        parse_response_head(b"HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n"),
        Err(HeadError::ObsoleteLineFolding)
    );
    assert!(matches!(
        parse_response_head(b"HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n"),
        Err(HeadError::BadHeader(_))
    ));
    let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
    huge.resize(40_000, b'a');
    assert!(matches!(
        parse_response_head(&huge),
        Err(HeadError::HeaderLineTooLong { .. })
    ));
}

#[test]
fn write_to_round_trips() {
    let head = parse(b"HTTP/1.1 301 Moved\r\nLocation: http://b.example/\r\n\r\n").unwrap();
    let mut out = Vec::new();
    head.write_to(&mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 301 Moved\r\nlocation: http://b.example/\r\n\r\n"
    );
}
