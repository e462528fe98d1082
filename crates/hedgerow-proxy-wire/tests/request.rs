//! Request heads: the three target forms, incremental parsing, limits, and the hostile
//! inputs a filtering proxy must refuse (smuggling tricks, folded and NUL-bearing fields).

use hedgerow_proxy_wire::{
    AuthError, BodyFraming, HeadError, Host, Limits, RequestHead, RequestTarget, Scheme, Version,
    parse_request_head, parse_request_head_with,
};

fn parse(bytes: &[u8]) -> Result<RequestHead, HeadError> {
    let (head, used) = parse_request_head(bytes)?.expect("head should be complete");
    assert_eq!(used, bytes.len(), "the whole head should be consumed");
    Ok(head)
}

fn name(n: &str) -> Host {
    Host::Name(n.to_owned())
}

#[test]
fn absolute_form_target() {
    let head = parse(
        b"GET http://Example.COM/a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    )
    .unwrap();
    assert_eq!(head.method, "GET");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(
        head.target,
        RequestTarget::Absolute {
            scheme: Scheme::Http,
            host: name("example.com"),
            port: 80,
            path_and_query: "/a/b?c=d".into()
        }
    );
    assert_eq!(head.header("ACCEPT"), Some(&b"*/*"[..]));
    assert_eq!(head.header("missing"), None);
}

#[test]
fn absolute_form_defaults_and_ports() {
    let head = parse(b"GET https://[::1]:8443 HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(
        head.target,
        RequestTarget::Absolute {
            scheme: Scheme::Https,
            host: Host::Ipv6("::1".parse().unwrap()),
            port: 8443,
            path_and_query: "/".into()
        }
    );
    let head = parse(b"GET http://10.0.0.1?q HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n").unwrap();
    assert_eq!(
        head.target,
        RequestTarget::Absolute {
            scheme: Scheme::Http,
            host: Host::Ipv4("10.0.0.1".parse().unwrap()),
            port: 80,
            path_and_query: "/?q".into()
        }
    );
}

#[test]
fn connect_and_origin_forms() {
    let head = parse(b"CONNECT www.example.org:443 HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(
        head.target,
        RequestTarget::Authority {
            host: name("www.example.org"),
            port: 443
        }
    );
    let head = parse(b"GET /proxy.pac HTTP/1.1\r\nHost: proxy\r\n\r\n").unwrap();
    assert_eq!(head.target, RequestTarget::Origin("/proxy.pac".into()));
}

#[test]
fn bad_connect_targets() {
    for target in [
        "example.org",
        "example.org:0",
        "example.org:65536",
        "example.org:",
        "/x",
        "http://a:1/",
        "[::1",
        "a b:1",
    ] {
        let request = format!("CONNECT {target} HTTP/1.1\r\n\r\n");
        match parse_request_head(request.as_bytes()) {
            Err(HeadError::BadConnectTarget(_) | HeadError::BadStartLine(_)) => {}
            other => panic!("{target:?} gave {other:?}"),
        }
    }
    assert_eq!(
        parse_request_head(b"CONNECT example.org:443 HTTP/1.1\r\n\r\n").map(|r| r.is_some()),
        Ok(true)
    );
}

#[test]
fn fragments_are_dropped() {
    for (target, path) in [
        ("http://example.org/#frag", "/"),
        ("http://example.org#frag", "/"),
        ("http://example.org/a?b=1#c#d", "/a?b=1"),
        ("/a#b", "/a"),
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: example.org\r\n\r\n");
        let (head, _) = parse_request_head(request.as_bytes()).unwrap().unwrap();
        match head.target {
            RequestTarget::Absolute { path_and_query, .. } => assert_eq!(path_and_query, path),
            RequestTarget::Origin(p) => assert_eq!(p, path),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn bad_targets() {
    for target in [
        "ftp://example.org/",
        "http://user@example.org/",
        "http:///path",
        "http://2130706433/",
        "http://0x7f.0x1/",
        "http://1.2.3.256/",
        "http://exa%6dple.org/",
        "*",
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            matches!(
                parse_request_head(request.as_bytes()),
                Err(HeadError::BadTarget(_))
            ),
            "{target:?} should be refused"
        );
    }
    // Raw non-ASCII in the path must have been percent-encoded.
    assert!(matches!(
        parse_request_head(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"),
        Err(HeadError::BadTarget(_))
    ));
    // A CONNECT-style authority on another method is not a valid target.
    assert!(matches!(
        parse_request_head(b"GET example.org:80 HTTP/1.1\r\nHost: x\r\n\r\n"),
        Err(HeadError::BadTarget(_))
    ));
}

#[test]
fn incremental_parsing_needs_more_then_succeeds() {
    let full = b"GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\nBODY";
    let head_len = full.len() - 4;
    for cut in 0..head_len {
        assert_eq!(
            parse_request_head(&full[..cut]),
            Ok(None),
            "prefix of {cut} bytes"
        );
    }
    let (_, used) = parse_request_head(full).unwrap().unwrap();
    assert_eq!(used, head_len);
}

#[test]
fn leading_empty_lines_are_skipped() {
    let bytes = b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
    let (head, used) = parse_request_head(bytes).unwrap().unwrap();
    assert_eq!(head.target, RequestTarget::Origin("/".into()));
    assert_eq!(used, bytes.len() - 4);
}

#[test]
fn versions() {
    assert_eq!(
        parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().version,
        Version::Http10
    );
    let err = parse_request_head(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").unwrap_err();
    assert_eq!(err, HeadError::UnsupportedVersion("HTTP/2.0".into()));
    assert_eq!(err.status(), 505);
    let err = parse_request_head(b"GET / HTTP/1.1x\r\n\r\n").unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(matches!(
        parse_request_head(b"GET / http/1.1\r\n\r\n"),
        Err(HeadError::BadStartLine(_))
    ));
}

#[test]
fn malformed_request_lines() {
    for line in [
        "GET  / HTTP/1.1",
        "GET / HTTP/1.1 ",
        "GET /",
        "G(T / HTTP/1.1",
        " GET / HTTP/1.1",
        "GET\t/ HTTP/1.1",
    ] {
        let request = format!("{line}\r\nHost: x\r\n\r\n");
        let err = parse_request_head(request.as_bytes()).unwrap_err();
        assert_eq!(err.status(), 400, "{line:?} gave {err:?}");
    }
}

#[test]
fn huge_head_is_431_as_soon_as_the_limit_is_reached() {
    let mut request = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    while request.len() < 40 * 1024 {
        request.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let limits = Limits {
        max_headers: 10_000,
        ..Limits::default()
    };
    let err = parse_request_head_with(&request, &limits).unwrap_err();
    assert_eq!(err, HeadError::HeadTooLarge { limit: 32 * 1024 });
    assert_eq!(err.status(), 431);
    // With no end in sight, exactly max_head bytes is already too many.
    assert!(
        parse_request_head_with(&request[..32 * 1024 - 1], &limits)
            .unwrap()
            .is_none()
    );
    assert!(parse_request_head_with(&request[..32 * 1024], &limits).is_err());
}

#[test]
fn long_request_line_is_414() {
    let mut request = b"GET /".to_vec();
    request.resize(9000, b'a');
    let err = parse_request_head(&request).unwrap_err();
    assert_eq!(err, HeadError::StartLineTooLong { limit: 8192 });
    assert_eq!(err.status(), 414);
    // Just under the limit, it only needs more bytes.
    assert_eq!(parse_request_head(&request[..8000]), Ok(None));
}

#[test]
fn long_header_line_and_too_many_headers_are_431() {
    let mut request = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    request.resize(request.len() + 9000, b'a');
    let err = parse_request_head(&request).unwrap_err();
    assert_eq!(err, HeadError::HeaderLineTooLong { limit: 8192 });
    assert_eq!(err.status(), 431);

    let mut request = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..101 {
        request.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    assert_eq!(
        parse_request_head(&request),
        Err(HeadError::TooManyHeaders { limit: 100 })
    );
}

#[test]
fn hostile_header_fields() {
    let cases: &[(&[u8], HeadError)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
            HeadError::ObsoleteLineFolding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\0c\r\n\r\n",
            HeadError::BadHeader("control character (such as NUL or CR) in field value"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n",
            HeadError::BadHeader("control character (such as NUL or CR) in field value"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
            HeadError::BadHeader("field name is not a token"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX\0A: b\r\n\r\n",
            HeadError::BadHeader("field name is not a token"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
            HeadError::BadHeader("no ':' in field line"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n",
            HeadError::BadHeader("empty field name"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
            HeadError::BareLineFeed,
        ),
        (b"GET / HTTP/1.1\nHost: x\r\n\r\n", HeadError::BareLineFeed),
        (
            b"GET / HTTP/1.1\r\nX: y\r\n\r\n",
            HeadError::BadHeader("HTTP/1.1 request without Host"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            HeadError::BadHeader("more than one Host field"),
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            parse_request_head(bytes).as_ref().err(),
            Some(expected),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn header_values_are_trimmed_and_keep_obs_text() {
    let head =
        parse(b"GET / HTTP/1.1\r\nHost:x\r\nX-Name: \t caf\xe9 au lait \t\r\nX-Empty:\r\n\r\n")
            .unwrap();
    assert_eq!(head.header("host"), Some(&b"x"[..]));
    assert_eq!(head.header("x-name"), Some(&b"caf\xe9 au lait"[..]));
    assert_eq!(head.header("x-empty"), Some(&b""[..]));
    assert_eq!(head.headers[1].0, "x-name");
}

fn with_headers(fields: &str) -> RequestHead {
    parse(format!("POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\n{fields}\r\n").as_bytes())
        .unwrap()
}

#[test]
fn content_length_duplicates() {
    assert_eq!(
        with_headers("Content-Length: 5\r\n").content_length(),
        Ok(Some(5))
    );
    assert_eq!(
        with_headers("Content-Length: 5\r\nContent-Length: 5\r\n").content_length(),
        Ok(Some(5))
    );
    assert_eq!(
        with_headers("Content-Length: 5, 5\r\n").content_length(),
        Ok(Some(5))
    );
    assert_eq!(
        with_headers("Content-Length: 5\r\nContent-Length: 6\r\n").content_length(),
        Err(HeadError::ConflictingContentLength)
    );
    assert_eq!(
        with_headers("Content-Length: 5, 6\r\n").content_length(),
        Err(HeadError::ConflictingContentLength)
    );
    for bad in ["-1", "+5", "0x10", "5 5", "", "18446744073709551616", "1e3"] {
        let head = with_headers(&format!("Content-Length: {bad}\r\n"));
        assert_eq!(
            head.content_length(),
            Err(HeadError::BadContentLength),
            "{bad:?}"
        );
        assert_eq!(head.body(), Err(HeadError::BadContentLength), "{bad:?}");
    }
    assert_eq!(
        with_headers("Content-Length: 18446744073709551615\r\n").content_length(),
        Ok(Some(u64::MAX))
    );
    assert_eq!(
        with_headers("Content-Length: 7\r\n").body(),
        Ok(BodyFraming::Length(7))
    );
    assert_eq!(with_headers("").body(), Ok(BodyFraming::Empty));
}

#[test]
fn transfer_encoding_rules() {
    assert_eq!(
        with_headers("Transfer-Encoding: chunked\r\n").is_chunked(),
        Ok(true)
    );
    assert_eq!(
        with_headers("Transfer-Encoding: Chunked\r\n").body(),
        Ok(BodyFraming::Chunked)
    );
    assert_eq!(with_headers("").is_chunked(), Ok(false));
    let te_and_cl = with_headers("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n");
    assert_eq!(
        te_and_cl.is_chunked(),
        Err(HeadError::TransferEncodingWithContentLength)
    );
    assert_eq!(
        te_and_cl.body(),
        Err(HeadError::TransferEncodingWithContentLength)
    );
    assert_eq!(
        with_headers("Transfer-Encoding: chunked, gzip\r\n").is_chunked(),
        Err(HeadError::BadTransferEncoding(
            "chunked is not the final coding"
        ))
    );
    assert_eq!(
        with_headers("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n").is_chunked(),
        Err(HeadError::BadTransferEncoding(
            "chunked applied more than once"
        ))
    );
    let gzip = with_headers("Transfer-Encoding: gzip, chunked\r\n")
        .is_chunked()
        .unwrap_err();
    assert_eq!(gzip.status(), 501);
    assert_eq!(
        with_headers("Transfer-Encoding: ,\r\n").is_chunked(),
        Err(HeadError::BadTransferEncoding("empty field"))
    );
    let old = parse(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    assert!(matches!(
        old.is_chunked(),
        Err(HeadError::BadTransferEncoding(_))
    ));
}

#[test]
fn keep_alive_by_version_and_connection() {
    assert!(with_headers("").keep_alive());
    assert!(!with_headers("Connection: close\r\n").keep_alive());
    assert!(!with_headers("Connection: Upgrade, Close\r\n").keep_alive());
    assert!(!with_headers("Proxy-Connection: close\r\n").keep_alive());
    assert!(!parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive());
    assert!(
        parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .keep_alive()
    );
    assert!(
        parse(b"GET / HTTP/1.0\r\nProxy-Connection: Keep-Alive\r\n\r\n")
            .unwrap()
            .keep_alive()
    );
}

#[test]
fn hop_by_hop_includes_connection_tokens() {
    let head = with_headers(
        "Connection: X-Secret, keep-alive\r\nX-Secret: 1\r\nProxy-Authorization: Basic eDp5\r\nAccept: */*\r\n",
    );
    let hop = head.hop_by_hop_headers();
    for expected in [
        "x-secret",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "upgrade",
        "keep-alive",
    ] {
        assert!(
            hop.iter().any(|h| h == expected),
            "{expected} missing from {hop:?}"
        );
    }
    let end_to_end = head.headers.end_to_end();
    let kept: Vec<&str> = end_to_end.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(kept, ["host", "accept"]);
}

#[test]
fn proxy_basic_credentials() {
    let creds = |value: &str| {
        with_headers(&format!("Proxy-Authorization: {value}\r\n")).proxy_basic_credentials()
    };
    // "pupil01:pa:ss word" — the password may itself contain colons and spaces.
    assert_eq!(
        creds("Basic cHVwaWwwMTpwYTpzcyB3b3Jk"),
        Some(Ok(("pupil01".into(), "pa:ss word".into())))
    );
    assert_eq!(
        creds("basic   cHVwaWwwMTpwYTpzcyB3b3Jk"),
        Some(Ok(("pupil01".into(), "pa:ss word".into())))
    );
    // "é:x" in UTF-8, without padding.
    assert_eq!(creds("Basic w6k6eA"), Some(Ok(("é".into(), "x".into()))));
    assert_eq!(creds("Bearer abc"), Some(Err(AuthError::NotBasic)));
    assert_eq!(creds("Basic"), Some(Err(AuthError::NotBasic)));
    assert_eq!(creds("Basic !!!!"), Some(Err(AuthError::BadBase64)));
    assert_eq!(creds("Basic dXNlcg=="), Some(Err(AuthError::NoColon)));
    assert_eq!(creds("Basic /w=="), Some(Err(AuthError::NotUtf8)));
    assert_eq!(
        creds("Basic dQA6cA=="),
        Some(Err(AuthError::ControlCharacter))
    );
    assert_eq!(with_headers("").proxy_basic_credentials(), None);
    let twice =
        with_headers("Proxy-Authorization: Basic eDp5\r\nProxy-Authorization: Basic eDp5\r\n");
    assert_eq!(
        twice.proxy_basic_credentials(),
        Some(Err(AuthError::Duplicate))
    );
}

#[test]
fn errors_say_what_was_wrong() {
    assert_eq!(
        HeadError::TooManyHeaders { limit: 100 }.to_string(),
        "more than 100 header fields"
    );
    assert_eq!(
        HeadError::BadConnectTarget("no port").to_string(),
        "invalid CONNECT target: no port"
    );
}

#[test]
fn write_to_round_trips() {
    let original = b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\nUser-Agent: t\xff\r\n\r\n";
    let head = parse(original).unwrap();
    let mut written = Vec::new();
    head.write_to(&mut written);
    assert_eq!(written, b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nproxy-authorization: Basic eDp5\r\nuser-agent: t\xff\r\n\r\n");
    assert_eq!(parse(&written).unwrap(), head);
}
