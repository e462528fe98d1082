//! End-to-end tests of the DNS server on loopback: a fake upstream, a test policy, real sockets.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hedgerow_dns::{BlockResponse, DnsConfig, DnsError, DnsServer, RateLimit, Transport, Verdict};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_name_is_forwarded_and_recorded() {
    let h = start().await;
    let resp = udp(h.addr, &query("WwW.Allowed.TEST.", RecordType::A, None)).await;
    assert_eq!(resp.queries[0].name().to_ascii(), "www.allowed.test.");
    // hickory lower-cases names it sends, so the mixed case is written in by hand.
    let packet = mixed_case(
        &query("www.allowed.test.", RecordType::A, None),
        "WwW.Allowed.TEST",
    );
    let raw = udp_raw(h.addr, &packet, Duration::from_secs(3))
        .await
        .expect("an answer");
    assert_eq!(&raw[12..30], &packet[12..30]);
    let resp = Message::from_vec(&raw).unwrap();
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(resp.edns.is_none(), "no OPT for a client without EDNS");
    let resp = udp(
        h.addr,
        &query("www.allowed.test.", RecordType::AAAA, Some(1232)),
    )
    .await;
    assert_eq!(
        aaaa_records(&resp),
        vec!["2001:db8::1".parse::<Ipv6Addr>().unwrap()]
    );
    assert!(resp.edns.is_some(), "OPT echoed to an EDNS client");
    // The policy sees lower-case names without the trailing dot.
    assert!(
        h.policy
            .decided
            .lock()
            .unwrap()
            .iter()
            .all(|n| n == "www.allowed.test")
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = h.policy.events_for("www.allowed.test");
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].verdict, Verdict::Allowed);
    // The policy's reason for allowing comes back with the event, on a miss and on a hit.
    assert!(
        events
            .iter()
            .all(|e| e.allow.as_ref().map(|a| &*a.rule) == Some("test:allow"))
    );
    assert_eq!((events[0].qtype, events[2].qtype), (1, 28));
    assert!(events[1].cache_hit);
    assert!(!events[0].cache_hit);
    assert_eq!(events[0].transport, Transport::Udp);
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_names_get_block_page_and_ede() {
    let h = start().await;
    // The policy matches subdomains; the server just asks.
    let resp = udp(
        h.addr,
        &query("www.blocked.test.", RecordType::A, Some(1232)),
    )
    .await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(127, 0, 0, 80)]);
    assert_eq!(ede(&resp), Some((17, "Gambling".to_string())));
    let resp = udp(
        h.addr,
        &query("blocked.test.", RecordType::AAAA, Some(1232)),
    )
    .await;
    assert_eq!(aaaa_records(&resp), vec![Ipv6Addr::LOCALHOST]);
    // Other types: NODATA, still with the EDE.
    let resp = udp(h.addr, &query("blocked.test.", RecordType::TXT, Some(1232))).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty());
    assert_eq!(ede(&resp).map(|e| e.0), Some(17));
    // Illegal lists: Censored.
    let resp = udp(h.addr, &query("x.illegal.test.", RecordType::A, Some(1232))).await;
    assert_eq!(ede(&resp), Some((16, "Child sexual abuse".to_string())));
    // Without EDNS there is nowhere to put the EDE.
    let resp = udp(h.addr, &query("www.blocked.test.", RecordType::A, None)).await;
    assert!(resp.edns.is_none());
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(127, 0, 0, 80)]);
    // The canary is NXDOMAIN whatever the block mode.
    let resp = udp(
        h.addr,
        &query(
            "use-application-dns.canary.test.",
            RecordType::A,
            Some(1232),
        ),
    )
    .await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        h.upstream.count("www.blocked.test"),
        0,
        "blocked names never go upstream"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ev = &h.policy.events_for("x.illegal.test")[0];
    assert_eq!(ev.verdict, Verdict::Blocked);
    assert!(ev.block.as_ref().unwrap().illegal);
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_and_nxdomain_block_modes() {
    let h = start_with(|c| DnsConfig {
        block_response: BlockResponse::Null,
        ..c
    })
    .await;
    let resp = udp(h.addr, &query("blocked.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&resp), vec![Ipv4Addr::UNSPECIFIED]);
    let resp = udp(h.addr, &query("blocked.test.", RecordType::AAAA, None)).await;
    assert_eq!(aaaa_records(&resp), vec![Ipv6Addr::UNSPECIFIED]);
    h.server.shutdown().await;

    let h = start_with(|c| DnsConfig {
        block_response: BlockResponse::NxDomain,
        ..c
    })
    .await;
    for qtype in [RecordType::A, RecordType::AAAA, RecordType::MX] {
        let resp = udp(h.addr, &query("blocked.test.", qtype, Some(1232))).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
        assert!(resp.answers.is_empty());
        assert_eq!(ede(&resp).map(|e| e.0), Some(17));
    }
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_types_pass_through() {
    let h = start().await;
    let resp = udp(h.addr, &query("txt.test.", RecordType::TXT, Some(1232))).await;
    assert!(matches!(&resp.answers[0].data, RData::TXT(t) if t.to_string() == "hello"));
    let resp = tcp(h.addr, &query("https.test.", RecordType::HTTPS, Some(1232))).await;
    assert_eq!(resp.answers[0].record_type(), RecordType::HTTPS);
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_search_answers_cname_and_target_records() {
    let h = start().await;
    let packet = mixed_case(
        &query("www.safe.test.", RecordType::A, Some(1232)),
        "www.Safe.test",
    );
    let raw = udp_raw(h.addr, &packet, Duration::from_secs(3))
        .await
        .expect("an answer");
    let resp = Message::from_vec(&raw).unwrap();
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(resp.answers.len(), 2, "{resp:?}");
    assert!(
        matches!(&resp.answers[0].data, RData::CNAME(c) if c.0.to_ascii() == "safe.target.test.")
    );
    assert_eq!(
        &raw[12..27],
        &packet[12..27],
        "question in the client's case"
    );
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 99)]);
    // Second time from the cache; the target is asked upstream once.
    let resp = udp(h.addr, &query("www.safe.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 99)]);
    assert_eq!(h.upstream.count("safe.target.test"), 1);
    assert_eq!(h.upstream.count("www.safe.test"), 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = h.policy.events_for("www.safe.test");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.verdict == Verdict::SafeSearch
        && e.allow.as_ref().map(|a| &*a.rule) == Some("test:safe-search")));
    assert!(events[1].cache_hit);
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_into_blocked_name_is_blocked() {
    let h = start().await;
    for round in 0..2 {
        let resp = udp(h.addr, &query("alias.test.", RecordType::A, Some(1232))).await;
        assert_eq!(
            a_records(&resp),
            vec![Ipv4Addr::new(127, 0, 0, 80)],
            "round {round}"
        );
        assert_eq!(ede(&resp), Some((17, "Malware".to_string())));
    }
    assert_eq!(
        h.upstream.count("alias.test"),
        1,
        "the second answer came from the cache"
    );
    let resp = udp(h.addr, &query("chain.test.", RecordType::A, None)).await;
    assert_eq!(resp.answers.len(), 2);
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 7)]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = h.policy.events_for("alias.test");
    assert_eq!(events.len(), 2);
    for ev in &events {
        assert_eq!(ev.verdict, Verdict::Blocked);
        assert_eq!(ev.blocked_alias.as_deref(), Some("bad.target.test"));
        assert_eq!(&*ev.block.as_ref().unwrap().category, "Malware");
        assert!(
            ev.allow.is_none(),
            "a blocked alias is logged as a block only"
        );
    }
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttls_are_cached_and_count_down() {
    let h = start().await;
    let first = udp(h.addr, &query("ttl.test.", RecordType::A, None)).await;
    assert_eq!(first.answers[0].ttl, 300);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = udp(h.addr, &query("TTL.test.", RecordType::A, None)).await;
    assert!(
        (297..=298).contains(&second.answers[0].ttl),
        "ttl {}",
        second.answers[0].ttl
    );
    assert_eq!(h.upstream.count("ttl.test"), 1);
    // A one-second TTL expires.
    udp(h.addr, &query("short.test.", RecordType::A, None)).await;
    udp(h.addr, &query("short.test.", RecordType::A, None)).await;
    assert_eq!(h.upstream.count("short.test"), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    udp(h.addr, &query("short.test.", RecordType::A, None)).await;
    assert_eq!(h.upstream.count("short.test"), 2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = h.policy.events_for("ttl.test");
    assert_eq!((events[0].cache_hit, events[1].cache_hit), (false, true));
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_answers_are_cached_with_soa_minimum() {
    let h = start().await;
    for _ in 0..3 {
        let resp = udp(h.addr, &query("nope.test.", RecordType::A, Some(1232))).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
        // min(SOA TTL 3600, MINIMUM 60)
        assert!(
            (59..=60).contains(&resp.authorities[0].ttl),
            "{:?}",
            resp.authorities
        );
    }
    assert_eq!(h.upstream.count("nope.test"), 1);
    for _ in 0..2 {
        let resp = udp(h.addr, &query("nodata.test.", RecordType::TXT, None)).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
        assert!(resp.answers.is_empty());
    }
    assert_eq!(h.upstream.count("nodata.test"), 1);
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_stays_within_its_memory_bound() {
    let max = 32 * 1024;
    let h = start_with(|c| DnsConfig {
        cache_max_bytes: max,
        ..c
    })
    .await;
    for i in 0..400 {
        udp(
            h.addr,
            &query(&format!("n{i}.many.test."), RecordType::A, None),
        )
        .await;
    }
    let stats = h.server.cache_stats();
    assert!(stats.bytes <= max, "{stats:?}");
    assert!(stats.entries > 10 && stats.entries < 400, "{stats:?}");
    udp(h.addr, &query("n0.many.test.", RecordType::A, None)).await;
    assert_eq!(
        h.upstream.count("n0.many.test"),
        2,
        "the oldest entry was evicted"
    );
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_truncate_for_udp_and_fall_back_to_tcp() {
    let h = start().await;
    // ~850 bytes: too big for a client without EDNS, fine with EDNS 1232.
    let resp = udp(h.addr, &query("big.test.", RecordType::TXT, None)).await;
    assert!(resp.metadata.truncation);
    assert!(resp.answers.is_empty());
    assert_eq!(resp.queries.len(), 1);
    let resp = udp(h.addr, &query("big.test.", RecordType::TXT, Some(1232))).await;
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 8);
    let resp = tcp(h.addr, &query("big.test.", RecordType::TXT, None)).await;
    assert_eq!(resp.answers.len(), 8);
    // ~3 KB: the upstream truncates over UDP, so the forwarder asks it over TCP.
    let resp = udp(h.addr, &query("huge.test.", RecordType::TXT, Some(4096))).await;
    assert!(
        resp.metadata.truncation,
        "bigger than our 1232-byte UDP cap"
    );
    let resp = tcp(h.addr, &query("huge.test.", RecordType::TXT, Some(4096))).await;
    assert_eq!(resp.answers.len(), 30);
    assert_eq!(h.upstream.tcp_count("huge.test"), 1);
    assert_eq!(h.upstream.tcp_count("big.test"), 0);
    h.server.shutdown().await;
}

async fn server_with_upstreams(upstreams: Vec<SocketAddr>) -> (DnsServer, SocketAddr) {
    let policy = Arc::new(TestPolicy::default());
    let server = DnsServer::start(config(upstreams), policy).expect("server starts");
    let addr = server.local_addrs()[0];
    (server, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_to_the_next_upstream() {
    let good = Upstream::start(Mode::Normal).await;
    let silent = Upstream::start(Mode::Silent).await;
    let servfail = Upstream::start(Mode::ServFail).await;
    let garbage = Upstream::start(Mode::Garbage).await;
    let spoofed = Upstream::start(Mode::Spoofed).await;
    let (server, addr) =
        server_with_upstreams(vec![servfail.addr, garbage.addr, silent.addr, good.addr]).await;
    let t = Instant::now();
    let resp = udp(addr, &query("a.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "waited for the silent one"
    );
    for up in [&servfail, &garbage, &silent, &good] {
        assert_eq!(up.count("a.test"), 1);
    }
    server.shutdown().await;

    // A datagram with the wrong ID is ignored, the real answer taken.
    let (server, addr) = server_with_upstreams(vec![spoofed.addr]).await;
    let resp = udp(addr, &query("a.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    server.shutdown().await;
}

/// The first upstream is asked by the UDP worker itself; when it fails, the next upstreams are
/// asked on a task, without asking the first one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_first_upstream_is_asked_once_then_the_next() {
    let good = Upstream::start(Mode::Normal).await;
    let silent = Upstream::start(Mode::Silent).await;
    let (server, addr) = server_with_upstreams(vec![silent.addr, good.addr]).await;
    let t = Instant::now();
    let resp = udp(addr, &query("a.test.", RecordType::A, None)).await;
    let waited = t.elapsed();
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    // The configured timeout is 400 ms: one wait for the silent upstream, not two.
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(780),
        "waited {waited:?}"
    );
    assert_eq!(
        silent.count("a.test"),
        1,
        "the silent upstream is asked once"
    );
    assert_eq!(good.count("a.test"), 1);
    server.shutdown().await;

    // Nothing listens on the first upstream's port: the kernel's refusal moves the query on
    // at once, without waiting for the timeout.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let (server, addr) = server_with_upstreams(vec![closed_addr, good.addr]).await;
    let t = Instant::now();
    let resp = udp(addr, &query("b.allowed.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(good.count("b.allowed.test"), 1);
    server.shutdown().await;

    // Many misses in a row (more than one source port's share of queries) all get answers.
    let (server, addr) = server_with_upstreams(vec![good.addr]).await;
    for i in 0..600 {
        let name = format!("n{i}.many.test.");
        let resp = udp(addr, &query(&name, RecordType::A, None)).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::NoError, "{name}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_upstreams_failing_gives_servfail() {
    let silent = Upstream::start(Mode::Silent).await;
    let servfail = Upstream::start(Mode::ServFail).await;
    let (server, addr) = server_with_upstreams(vec![servfail.addr, silent.addr]).await;
    let resp = udp(addr, &query("a.test.", RecordType::A, Some(1232))).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(resp.queries.len(), 1);
    let resp = tcp(addr, &query("b.test.", RecordType::A, None)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    // The failure is remembered for a second only.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    udp(addr, &query("a.test.", RecordType::A, None)).await;
    assert_eq!(servfail.count("a.test"), 2);
    server.shutdown().await;
}

fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        p.extend_from_slice(&c.to_be_bytes());
    }
    p
}

fn with(mut a: Vec<u8>, b: &[u8]) -> Vec<u8> {
    a.extend_from_slice(b);
    a
}

/// (description, packet, expected RCODE or None for "dropped")
fn nasty_packets() -> Vec<(&'static str, Vec<u8>, Option<u8>)> {
    let q = b"\x01a\x04test\x00\x00\x01\x00\x01";
    let mut long_name = Vec::new();
    for _ in 0..5 {
        long_name.push(63);
        long_name.extend_from_slice(&[b'a'; 63]);
    }
    long_name.extend_from_slice(&[0, 0, 1, 0, 1]);
    let opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00";
    vec![
        ("empty", vec![], None),
        ("short header", vec![1, 2, 3, 4, 5], None),
        (
            "response bit set",
            with(header(1, 0x8100, [1, 0, 0, 0]), q),
            None,
        ),
        ("header only", header(2, 0x0100, [1, 0, 0, 0]), Some(1)),
        ("no question", header(3, 0x0100, [0, 0, 0, 0]), Some(1)),
        (
            "two questions",
            with(with(header(4, 0x0100, [2, 0, 0, 0]), q), q),
            Some(1),
        ),
        (
            "pointer loop in question",
            with(header(5, 0, [1, 0, 0, 0]), b"\xc0\x0c\x00\x01\x00\x01"),
            Some(1),
        ),
        (
            "forward pointer",
            with(header(6, 0, [1, 0, 0, 0]), b"\x01a\xc0\x20\x00\x01\x00\x01"),
            Some(1),
        ),
        (
            "label of 64",
            with(
                header(7, 0, [1, 0, 0, 0]),
                &[&[64u8][..], &[b'a'; 64], &[0, 0, 1, 0, 1]].concat(),
            ),
            Some(1),
        ),
        (
            "name over 255",
            with(header(8, 0, [1, 0, 0, 0]), &long_name),
            Some(1),
        ),
        (
            "label past the end",
            with(header(9, 0, [1, 0, 0, 0]), b"\x3fabc"),
            Some(1),
        ),
        (
            "cut qtype",
            with(header(10, 0, [1, 0, 0, 0]), b"\x01a\x00\x00"),
            Some(1),
        ),
        (
            "reserved label type",
            with(header(11, 0, [1, 0, 0, 0]), b"\x41a\x00\x00\x01\x00\x01"),
            Some(1),
        ),
        (
            "additional past the end",
            with(
                header(12, 0, [1, 0, 0, 1]),
                &[&q[..], b"\x00\x00\x01\x00\x01\x00\x00\x00\x10\xff\xff"].concat(),
            ),
            Some(1),
        ),
        (
            "arcount lies",
            with(header(13, 0, [1, 0, 0, 65535]), q),
            Some(1),
        ),
        (
            "ancount lies",
            with(header(14, 0, [1, 65535, 65535, 0]), q),
            Some(1),
        ),
        (
            "two OPT records",
            with(header(15, 0, [1, 0, 0, 2]), &[&q[..], opt, opt].concat()),
            Some(1),
        ),
        (
            "OPT not at root",
            with(
                header(16, 0, [1, 0, 0, 1]),
                &[&q[..], b"\x01x", opt].concat(),
            ),
            Some(1),
        ),
        (
            "pointer loop in additional",
            with(
                header(17, 0, [1, 0, 0, 2]),
                &[
                    &q[..],
                    b"\xc0\x1d\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00",
                    b"\xc0\x1d",
                ]
                .concat(),
            ),
            Some(1),
        ),
        (
            "garbage",
            with(
                header(18, 0, [1, 3, 0, 0]),
                &(0..1400u32)
                    .map(|i| (i * 7919 % 251) as u8)
                    .collect::<Vec<_>>(),
            ),
            Some(1),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_formerr_or_silence() {
    let h = start().await;
    for (what, packet, expected) in nasty_packets() {
        let resp = udp_raw(h.addr, &packet, Duration::from_millis(300)).await;
        match (expected, resp) {
            (None, None) => {}
            (Some(rcode), Some(resp)) => {
                assert!(resp.len() >= 12, "{what}: short answer");
                assert_eq!(resp[..2], packet[..2], "{what}: ID echoed");
                assert_eq!(resp[2] & 0x80, 0x80, "{what}: QR set");
                assert_eq!(resp[3] & 0x0f, rcode, "{what}: RCODE");
                assert!(Message::from_vec(&resp).is_ok(), "{what}: answer parses");
            }
            (expected, got) => panic!("{what}: expected {expected:?}, got {got:?}"),
        }
    }
    // Over TCP too, and the server is still fine afterwards.
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    let bad = header(99, 0, [2, 0, 0, 0]);
    let mut framed = (bad.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bad);
    stream.write_all(&framed).await.unwrap();
    let resp = read_framed(&mut stream).await.unwrap();
    assert_eq!(resp[3] & 0x0f, 1);
    let resp = udp(h.addr, &query("a.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_opcodes_get_notimp_and_new_edns_versions_badvers() {
    let h = start().await;
    let mut msg = query("a.test.", RecordType::A, None).to_vec().unwrap();
    msg[2] |= 2 << 3; // opcode STATUS
    let resp = udp_raw(h.addr, &msg, Duration::from_secs(2))
        .await
        .expect("an answer");
    assert_eq!(resp[3] & 0x0f, 4);
    assert_eq!((resp[2] >> 3) & 0x0f, 2, "opcode echoed");
    let mut q = query("a.test.", RecordType::A, Some(1232));
    q.edns.as_mut().unwrap().set_version(1);
    let resp = udp(h.addr, &q).await;
    // BADVERS is extended RCODE 16 (hickory calls 16 BADSIG, which shares the number).
    assert_eq!(u16::from(resp.metadata.response_code), 16);
    assert_eq!(resp.edns.as_ref().unwrap().rcode_high(), 1);
    let resp = udp(h.addr, &query("a.test.", RecordType::AXFR, None)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::Refused);
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_per_client() {
    let h = start_with(|c| DnsConfig {
        rate_limit: Some(RateLimit { qps: 2, burst: 5 }),
        ..c
    })
    .await;
    // UDP: a burst of 15 from one address; the bucket holds 5, the rest is dropped.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..15 {
        let msg = query("www.blocked.test.", RecordType::A, None)
            .to_vec()
            .unwrap();
        sock.send_to(&msg, h.addr).await.unwrap();
    }
    let mut answered = 0;
    let mut buf = vec![0u8; 1500];
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await
    {
        answered += 1;
    }
    assert!((5..=6).contains(&answered), "{answered} of 15 answered");
    // TCP: the excess is REFUSED.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    let mut batch = Vec::new();
    for _ in 0..20 {
        let msg = query("www.blocked.test.", RecordType::A, None)
            .to_vec()
            .unwrap();
        batch.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        batch.extend_from_slice(&msg);
    }
    stream.write_all(&batch).await.unwrap();
    let mut refused = 0;
    for _ in 0..20 {
        let resp = read_framed(&mut stream).await.unwrap();
        if resp[3] & 0x0f == 5 {
            refused += 1;
        }
    }
    assert!((13..=15).contains(&refused), "{refused} of 20 refused");
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pipelining_answers_every_query() {
    let h = start().await;
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    let names = [
        "slow.test.",
        "p1.allowed.test.",
        "blocked.test.",
        "p2.allowed.test.",
        "nope.test.",
    ];
    let mut ids = Vec::new();
    let mut batch = Vec::new();
    for n in names {
        let msg = query(n, RecordType::A, None);
        ids.push(msg.metadata.id);
        let bytes = msg.to_vec().unwrap();
        batch.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        batch.extend_from_slice(&bytes);
    }
    stream.write_all(&batch).await.unwrap();
    let mut got = Vec::new();
    for _ in names {
        let resp = tokio::time::timeout(Duration::from_secs(3), read_framed(&mut stream))
            .await
            .unwrap()
            .unwrap();
        got.push(Message::from_vec(&resp).unwrap().metadata.id);
    }
    // The slow one comes last: answers are not held back behind it.
    assert_eq!(got.last(), Some(&ids[0]));
    got.sort_unstable();
    ids.sort_unstable();
    assert_eq!(got, ids);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        h.policy.events_for("blocked.test")[0].transport,
        Transport::Tcp
    );
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_queries() {
    let h = start().await;
    let addr = h.addr;
    let udp_pending =
        tokio::spawn(async move { udp(addr, &query("slow.test.", RecordType::A, None)).await });
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let msg = query("slow.test.", RecordType::AAAA, None)
        .to_vec()
        .unwrap();
    stream
        .write_all(&[&(msg.len() as u16).to_be_bytes()[..], &msg].concat())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.server.shutdown().await;
    let resp = udp_pending.await.unwrap();
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 6)]);
    let resp = read_framed(&mut stream)
        .await
        .expect("the TCP answer arrives before the close");
    assert!(Message::from_vec(&resp).is_ok());
    // Then the connection is closed and nothing listens any more.
    assert!(read_framed(&mut stream).await.is_err());
    let msg = query("a.test.", RecordType::A, None).to_vec().unwrap();
    assert!(
        udp_raw(addr, &msg, Duration::from_millis(300))
            .await
            .is_none()
    );
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_is_explained() {
    let h = start().await;
    let policy = Arc::new(TestPolicy::default());
    let cfg = DnsConfig {
        listen: vec![h.addr],
        ..config(vec![h.upstream.addr])
    };
    // The UDP sockets share the port by SO_REUSEPORT, so the TCP listener is the one refused.
    let err = DnsServer::start(cfg, policy)
        .err()
        .expect("second bind fails");
    assert!(matches!(err, DnsError::Bind { .. }));
    let text = err.to_string();
    assert!(
        text.contains(&h.addr.to_string()) && text.contains("already uses this port"),
        "{text}"
    );
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_misses_are_coalesced() {
    let h = start().await;
    let mut all = Vec::new();
    for _ in 0..5 {
        let addr = h.addr;
        all.push(tokio::spawn(async move {
            udp(addr, &query("slow.test.", RecordType::A, None)).await
        }));
    }
    for t in all {
        assert_eq!(
            a_records(&t.await.unwrap()),
            vec![Ipv4Addr::new(192, 0, 2, 6)]
        );
    }
    assert_eq!(h.upstream.count("slow.test"), 1);
    h.server.shutdown().await;
}

/// Runs `dig`; `None` when it is not installed and not required.
async fn dig(args: Vec<String>) -> Option<String> {
    match tokio::process::Command::new("dig")
        .args(&args)
        .output()
        .await
    {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) if std::env::var_os("HEDGEROW_REQUIRE_DIG").is_none() => {
            eprintln!("skipping: dig not available ({e})");
            None
        }
        Err(e) => panic!("HEDGEROW_REQUIRE_DIG is set but dig does not run: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_sees_block_page_ede_and_tcp_answers() {
    let h = start().await;
    let at = |extra: &[&str]| {
        let mut v = vec![
            format!("@{}", h.addr.ip()),
            "-p".into(),
            h.addr.port().to_string(),
            "+tries=1".into(),
            "+time=3".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let Some(out) = dig(at(&["www.blocked.test", "A"])).await else {
        return;
    };
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("127.0.0.80"), "{out}");
    assert!(out.contains("EDE: 17 (Filtered): (Gambling)"), "{out}");
    let out = dig(at(&["+tcp", "big.test", "TXT"])).await.unwrap();
    assert!(out.contains("ANSWER: 8"), "{out}");
    // dig's default EDNS size is 1232; without EDNS it gets TC and retries over TCP itself.
    let out = dig(at(&["+noedns", "big.test", "TXT"])).await.unwrap();
    assert!(
        out.contains("Truncated, retrying in TCP mode") && out.contains("ANSWER: 8"),
        "{out}"
    );
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_are_closed() {
    let h = start_with(|c| DnsConfig {
        tcp_idle_timeout: Duration::from_millis(300),
        ..c
    })
    .await;
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    let t = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(3), read_framed(&mut stream)).await;
    assert!(
        matches!(closed, Ok(Err(_))),
        "closed by the server, not by our timeout"
    );
    assert!(t.elapsed() >= Duration::from_millis(250));
    // A half-sent message does not keep it open either.
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    stream.write_all(&[0, 40, 1, 2, 3]).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(3), read_framed(&mut stream)).await;
    assert!(matches!(closed, Ok(Err(_))));
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_clients_get_the_portal_never_cached() {
    let h = start().await;
    for round in 0..2 {
        let resp = udp(h.addr, &query("www.held.test.", RecordType::A, Some(1232))).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a_records(&resp), vec![PORTAL_V4], "round {round}");
        assert_eq!(
            resp.answers[0].ttl, 10,
            "a short TTL, so access returns soon"
        );
        assert_eq!(
            ede(&resp),
            Some((17, "Acceptable use agreement not accepted".to_string()))
        );
    }
    let resp = udp(h.addr, &query("www.held.test.", RecordType::AAAA, None)).await;
    assert_eq!(aaaa_records(&resp), vec![PORTAL_V6]);
    assert!(resp.edns.is_none());
    // Without an IPv6 portal address, AAAA has no data; other types never have any.
    let resp = udp(h.addr, &query("www.held4.test.", RecordType::AAAA, None)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty(), "{resp:?}");
    let resp = udp(h.addr, &query("www.held.test.", RecordType::TXT, None)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty(), "{resp:?}");
    // TCP answers the same.
    let resp = tcp(h.addr, &query("www.held.test.", RecordType::A, Some(1232))).await;
    assert_eq!(a_records(&resp), vec![PORTAL_V4]);
    assert_eq!(
        h.upstream.count("www.held.test"),
        0,
        "held names never go upstream"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = h.policy.events_for("www.held.test");
    assert_eq!(events.len(), 5);
    assert!(
        events
            .iter()
            .all(|e| e.verdict == Verdict::Portal && e.block.is_none())
    );
    assert_eq!(events[4].transport, Transport::Tcp);

    // Released: the real answer at once, since nothing of the portal's was cached.
    h.policy
        .released
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let resp = udp(h.addr, &query("www.held.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&resp), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(h.upstream.count("www.held.test"), 1);
    h.server.shutdown().await;
}
