//! ClientHello parsing against hellos built byte by byte: SNI, ALPN, versions and ECH,
//! hellos split across records, truncation, and records that are not a ClientHello.

use hedgerow_proxy_wire::{ClientHello, EchKind, HelloError, Host, parse_client_hello};

/// Builds ClientHello handshake messages and wraps them in records.
#[derive(Clone)]
struct HelloBuilder {
    legacy_version: u16,
    extensions: Vec<(u16, Vec<u8>)>,
    no_extension_block: bool,
}

fn u16_prefixed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

impl HelloBuilder {
    fn new() -> Self {
        HelloBuilder {
            legacy_version: 0x0303,
            extensions: Vec::new(),
            no_extension_block: false,
        }
    }

    fn ext(mut self, kind: u16, data: Vec<u8>) -> Self {
        self.extensions.push((kind, data));
        self
    }

    fn sni(self, name: &[u8]) -> Self {
        let mut entry = vec![0];
        entry.extend(u16_prefixed(name));
        self.ext(0, u16_prefixed(&entry))
    }

    fn alpn(self, protocols: &[&[u8]]) -> Self {
        let mut list = Vec::new();
        for p in protocols {
            list.push(p.len() as u8);
            list.extend_from_slice(p);
        }
        self.ext(16, u16_prefixed(&list))
    }

    fn versions(self, versions: &[u16]) -> Self {
        let mut data = vec![(versions.len() * 2) as u8];
        for v in versions {
            data.extend(v.to_be_bytes());
        }
        self.ext(43, data)
    }

    fn ech_outer(self, config_id: u8) -> Self {
        // type outer, HKDF-SHA256 + AES-128-GCM, config id, 32-byte enc, 144-byte payload.
        let mut data = vec![0, 0x00, 0x01, 0x00, 0x01, config_id];
        data.extend(u16_prefixed(&[0x42; 32]));
        data.extend(u16_prefixed(&[0x99; 144]));
        self.ext(0xfe0d, data)
    }

    /// The handshake message: type 1, 24-bit length, body.
    fn message(&self) -> Vec<u8> {
        let mut body = self.legacy_version.to_be_bytes().to_vec();
        body.extend([0x11; 32]); // random
        body.push(32);
        body.extend([0x22; 32]); // legacy_session_id
        body.extend(u16_prefixed(&[0x13, 0x01, 0x13, 0x02, 0xc0, 0x2b]));
        body.extend([1, 0]); // compression: null
        if !self.no_extension_block {
            let mut extensions = Vec::new();
            for (kind, data) in &self.extensions {
                extensions.extend(kind.to_be_bytes());
                extensions.extend(u16_prefixed(data));
            }
            body.extend(u16_prefixed(&extensions));
        }
        let mut message = vec![1];
        message.extend(&(body.len() as u32).to_be_bytes()[1..]);
        message.extend(body);
        message
    }

    /// The message in one record.
    fn bytes(&self) -> Vec<u8> {
        records(&self.message(), &[])
    }
}

/// Wraps `message` in handshake records, starting a new record at each offset in `cuts`.
fn records(message: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([message.len()].iter()) {
        out.extend([22, 3, 1]);
        out.extend(u16_prefixed(&message[start..end]));
        start = end;
    }
    out
}

fn chrome_like() -> HelloBuilder {
    HelloBuilder::new()
        .ext(0x0a0a, vec![]) // GREASE, ignored
        .sni(b"WWW.Example.co.uk")
        .alpn(&[b"h2", b"http/1.1"])
        .versions(&[0x3a3a, 0x0304, 0x0303])
        .ext(51, vec![0, 0]) // key_share, ignored
}

fn parsed(bytes: &[u8]) -> ClientHello {
    parse_client_hello(bytes)
        .expect("should parse")
        .expect("should be complete")
}

#[test]
fn reads_sni_alpn_and_versions() {
    let hello = parsed(&chrome_like().bytes());
    assert_eq!(hello.sni.as_deref(), Some("www.example.co.uk"));
    assert_eq!(hello.alpn, ["h2", "http/1.1"]);
    assert_eq!(hello.supported_versions, [0x3a3a, 0x0304, 0x0303]);
    assert_eq!(hello.legacy_version, 0x0303);
    assert!(!hello.has_ech);
    assert!(!hello.ech_outer_only);
    assert_eq!(hello.ech, None);
    assert!(hello.sni_matches(&Host::Name("www.example.co.uk".into())));
    assert!(!hello.hides_destination(&Host::Name("www.example.co.uk".into())));
}

#[test]
fn every_prefix_needs_more() {
    let bytes = chrome_like().bytes();
    for cut in 0..bytes.len() {
        assert_eq!(
            parse_client_hello(&bytes[..cut]),
            Ok(None),
            "prefix of {cut} bytes"
        );
    }
}

#[test]
fn sni_split_across_two_records() {
    let builder = chrome_like();
    let message = builder.message();
    let name_at = message.windows(3).position(|w| w == b"WWW").unwrap();
    let bytes = records(&message, &[name_at + 5]);
    let first_record_len = 5 + name_at + 5;
    // The first record alone is not enough, and says so rather than failing.
    assert_eq!(parse_client_hello(&bytes[..first_record_len]), Ok(None));
    assert_eq!(parsed(&bytes), parsed(&builder.bytes()));
    // Splitting inside the 4-byte handshake header works too, as do one-byte records.
    assert_eq!(parsed(&records(&message, &[2])), parsed(&builder.bytes()));
    let every_byte: Vec<usize> = (1..message.len()).collect();
    assert_eq!(
        parsed(&records(&message, &every_byte)).sni.as_deref(),
        Some("www.example.co.uk")
    );
}

#[test]
fn ech_outer_hello() {
    let hello = parsed(
        &HelloBuilder::new()
            .sni(b"cloudflare-ech.com")
            .alpn(&[b"h2"])
            .ech_outer(7)
            .bytes(),
    );
    assert!(hello.has_ech);
    assert_eq!(hello.ech, Some(EchKind::Outer { config_id: 7 }));
    assert!(hello.ech_outer_only);
    assert_eq!(hello.sni.as_deref(), Some("cloudflare-ech.com"));
    // Tunnelling to another host with the public name as SNI: the destination is hidden.
    assert!(hello.hides_destination(&Host::Name("blocked.example".into())));
    // GREASE ECH to the CONNECT host itself leaves the SNI usable.
    assert!(!hello.hides_destination(&Host::Name("cloudflare-ech.com".into())));
    // ECH with no SNI at all hides it whatever the CONNECT host.
    let bare = parsed(&HelloBuilder::new().ech_outer(1).bytes());
    assert_eq!(bare.sni, None);
    assert!(bare.hides_destination(&Host::Name("cloudflare-ech.com".into())));
}

#[test]
fn ech_inner_and_malformed_ech() {
    let inner = parsed(
        &HelloBuilder::new()
            .sni(b"a.example")
            .ext(0xfe0d, vec![1])
            .bytes(),
    );
    assert_eq!(inner.ech, Some(EchKind::Inner));
    assert!(inner.has_ech && !inner.ech_outer_only);
    let cases: &[(Vec<u8>, HelloError)] = &[
        (vec![2], HelloError::BadEch("unknown ECH type")),
        (vec![1, 0], HelloError::BadEch("bytes after the ECH fields")),
        (
            vec![0, 0, 1, 0, 1, 9, 0, 0, 0, 0],
            HelloError::BadEch("empty payload"),
        ),
        (vec![0, 0, 1], HelloError::Truncated("ECH cipher suite")),
        (
            vec![0, 0, 1, 0, 1, 9, 0, 5, 1],
            HelloError::Truncated("ECH enc"),
        ),
        (vec![], HelloError::Truncated("ECH type")),
    ];
    for (data, expected) in cases {
        let bytes = HelloBuilder::new().ext(0xfe0d, data.clone()).bytes();
        assert_eq!(
            parse_client_hello(&bytes).as_ref().err(),
            Some(expected),
            "{data:?}"
        );
    }
}

#[test]
fn not_a_client_hello() {
    assert_eq!(
        parse_client_hello(b"GET / HTTP/1.1\r\n"),
        Err(HelloError::NotHandshake(b'G'))
    );
    // Refused from the first byte, before a whole record arrives.
    assert_eq!(parse_client_hello(&[23]), Err(HelloError::NotHandshake(23)));
    assert_eq!(
        parse_client_hello(&[22, 4, 1]),
        Err(HelloError::NotTls(0x0401))
    );
    assert_eq!(
        parse_client_hello(&[22, 3, 1, 0, 0]),
        Err(HelloError::BadRecordLength(0))
    );
    assert_eq!(
        parse_client_hello(&[22, 3, 1, 0x40, 0x01]),
        Err(HelloError::BadRecordLength(16385))
    );
    // A ServerHello (type 2) in the first record.
    assert_eq!(
        parse_client_hello(&[22, 3, 3, 0, 1, 2]),
        Err(HelloError::NotClientHello(2))
    );
    // A second record that is not a handshake.
    let mut bytes = records(&chrome_like().message()[..10], &[]);
    bytes.extend([21, 3, 3, 0, 2, 2, 40]);
    assert_eq!(
        parse_client_hello(&bytes),
        Err(HelloError::NotHandshake(21))
    );
}

#[test]
fn oversized_hello_is_refused_from_its_header() {
    assert_eq!(
        parse_client_hello(&[22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x01]),
        Err(HelloError::TooLarge(65537))
    );
}

#[test]
fn truncated_and_inconsistent_lengths() {
    let message = chrome_like().message();
    // Declare a shorter body than the fields inside it need: every cut is an error, never a panic.
    for body_len in 0..message.len() - 4 {
        let mut short = message[..4 + body_len].to_vec();
        short[1..4].copy_from_slice(&(body_len as u32).to_be_bytes()[1..]);
        let result = parse_client_hello(&records(&short, &[]));
        assert!(
            matches!(result, Err(HelloError::Truncated(_)) | Ok(Some(_))),
            "body of {body_len} bytes gave {result:?}"
        );
    }
    // An ALPN list whose length runs past its extension.
    let mut builder = HelloBuilder::new().sni(b"a.example");
    builder.extensions.push((16, vec![0, 9, 2, b'h', b'2']));
    assert_eq!(
        parse_client_hello(&builder.bytes()),
        Err(HelloError::Truncated("ALPN list"))
    );
    // An extension whose length runs past the extensions block.
    let mut message = HelloBuilder::new().sni(b"a.example").message();
    let last = message.len() - 1;
    let sni_len_at = message.len() - b"a.example".len() - 7;
    message[sni_len_at + 1] += 1;
    assert_eq!(message[last], b'e');
    assert_eq!(
        parse_client_hello(&records(&message, &[])),
        Err(HelloError::Truncated("extension data"))
    );
}

#[test]
fn extension_checks() {
    let dup = HelloBuilder::new().sni(b"a.example").sni(b"b.example");
    assert_eq!(
        parse_client_hello(&dup.bytes()),
        Err(HelloError::DuplicateExtension(0))
    );
    for (name, why) in [
        (&b"1.2.3.4"[..], "IP address literal"),
        (b"a.example.", "trailing dot"),
        (
            b"a b.example",
            "host name has a character other than letters, digits, '-', '_' and '.'",
        ),
        (b"", "empty host"),
        (b"a..b", "empty label in host name"),
    ] {
        let bytes = HelloBuilder::new().sni(name).bytes();
        assert_eq!(
            parse_client_hello(&bytes),
            Err(HelloError::BadServerName(why)),
            "{name:?}"
        );
    }
    let empty_alpn = HelloBuilder::new().alpn(&[b"h2", b""]);
    assert_eq!(
        parse_client_hello(&empty_alpn.bytes()),
        Err(HelloError::BadAlpn("empty protocol name"))
    );
    let odd_versions = HelloBuilder::new().ext(43, vec![3, 3, 4, 3]);
    assert_eq!(
        parse_client_hello(&odd_versions.bytes()),
        Err(HelloError::BadSupportedVersions)
    );
}

#[test]
fn hello_without_extensions() {
    let mut builder = HelloBuilder::new();
    builder.legacy_version = 0x0301;
    builder.no_extension_block = true;
    let hello = parsed(&builder.bytes());
    assert_eq!(
        (
            hello.sni,
            hello.legacy_version,
            hello.supported_versions.len()
        ),
        (None, 0x0301, 0)
    );
}

#[test]
fn bytes_after_the_hello_are_ignored() {
    let mut bytes = chrome_like().bytes();
    bytes.extend([23, 3, 3, 0, 1, 0]);
    assert_eq!(parsed(&bytes).sni.as_deref(), Some("www.example.co.uk"));
}

/// A genuine ClientHello from rustls, whole and fragmented into 64-byte records (rustls's
/// `max_fragment_size` splits the handshake itself, as a filter-evading client would).
fn rustls_hello(server_name: &str, fragment: Option<usize>) -> Vec<u8> {
    use std::sync::Arc;
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.max_fragment_size = fragment;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned()).expect("valid name");
    let mut connection =
        rustls::ClientConnection::new(Arc::new(config), name).expect("client connection");
    let mut bytes = Vec::new();
    while connection.wants_write() {
        connection
            .write_tls(&mut bytes)
            .expect("writing to a Vec cannot fail");
    }
    bytes
}

#[test]
fn genuine_rustls_hello() {
    let bytes = rustls_hello("Filter-Test.Example.ORG", None);
    let hello = parsed(&bytes);
    assert_eq!(hello.sni.as_deref(), Some("filter-test.example.org"));
    assert_eq!(hello.alpn, ["h2", "http/1.1"]);
    assert!(hello.supported_versions.contains(&0x0304));
    assert_eq!(hello.legacy_version, 0x0303);
    assert!(!hello.has_ech);
    for cut in 0..bytes.len() {
        assert_eq!(
            parse_client_hello(&bytes[..cut]),
            Ok(None),
            "prefix of {cut} bytes"
        );
    }

    let fragmented = rustls_hello("Filter-Test.Example.ORG", Some(64));
    assert!(
        fragmented.len() > bytes.len() + 5,
        "rustls should have used several records"
    );
    assert_eq!(parsed(&fragmented).sni, hello.sni);
}
