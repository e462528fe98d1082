//! Test support: a fake upstream resolver on loopback (hickory-proto), a test policy that
//! records its events, and small UDP/TCP client helpers.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hedgerow_dns::{
    AllowInfo, BlockInfo, BlockResponse, DnsConfig, DnsServer, PolicyAnswer, QueryEvent,
    QueryPolicy,
};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, HTTPS, SOA, SVCB, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// How the fake upstream behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answers from its little zone.
    Normal,
    /// SERVFAIL to everything.
    ServFail,
    /// Never answers.
    Silent,
    /// First a datagram with the wrong ID, then the real answer.
    Spoofed,
    /// A header that claims records that are not there.
    Garbage,
}

/// A fake upstream resolver: UDP and TCP on the same loopback port.
pub struct Upstream {
    pub addr: SocketAddr,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Upstream {
    pub async fn start(mode: Mode) -> Upstream {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind fake upstream UDP");
            let port = udp.local_addr().expect("local addr").port();
            if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().expect("local addr");
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let udp = Arc::new(udp);
        {
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65535];
                loop {
                    let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                        return;
                    };
                    let req = buf[..n].to_vec();
                    let udp = udp.clone();
                    let counts = counts.clone();
                    tokio::spawn(async move {
                        for resp in answer(mode, &req, &counts, true).await {
                            let _ = udp.send_to(&resp, peer).await;
                        }
                    });
                }
            });
        }
        {
            let counts = counts.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((mut stream, _)) = tcp.accept().await else {
                        return;
                    };
                    let counts = counts.clone();
                    tokio::spawn(async move {
                        while let Ok(len) = stream.read_u16().await {
                            let mut req = vec![0u8; usize::from(len)];
                            if stream.read_exact(&mut req).await.is_err() {
                                return;
                            }
                            for resp in answer(mode, &req, &counts, false).await {
                                let mut framed = (resp.len() as u16).to_be_bytes().to_vec();
                                framed.extend_from_slice(&resp);
                                let _ = stream.write_all(&framed).await;
                            }
                        }
                    });
                }
            });
        }
        Upstream { addr, counts }
    }

    /// Queries received for `name` (lower-case, no trailing dot) of any type, over any transport.
    pub fn count(&self, name: &str) -> usize {
        self.counts.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    /// Queries received for `name` over TCP.
    pub fn tcp_count(&self, name: &str) -> usize {
        self.count(&format!("tcp:{name}"))
    }
}

fn name(s: &str) -> Name {
    Name::from_str(s).expect("test name")
}

fn soa() -> Record {
    Record::from_rdata(
        name("test."),
        3600,
        RData::SOA(SOA::new(
            name("ns.test."),
            name("admin.test."),
            1,
            3600,
            600,
            86400,
            60,
        )),
    )
}

async fn answer(
    mode: Mode,
    req: &[u8],
    counts: &Mutex<HashMap<String, usize>>,
    udp: bool,
) -> Vec<Vec<u8>> {
    let Ok(req) = Message::from_vec(req) else {
        return Vec::new();
    };
    let Some(q) = req.queries.first().cloned() else {
        return Vec::new();
    };
    let qname = q.name().to_lowercase().to_ascii();
    let qname = qname.trim_end_matches('.').to_string();
    {
        let mut c = counts.lock().unwrap();
        *c.entry(qname.clone()).or_default() += 1;
        if !udp {
            *c.entry(format!("tcp:{qname}")).or_default() += 1;
        }
    }
    let mut resp = Message::response(req.metadata.id, OpCode::Query);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_query(q.clone());
    if let Some(e) = &req.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(e.max_payload());
        resp.set_edns(edns);
    }
    match mode {
        Mode::Silent => return Vec::new(),
        Mode::ServFail => {
            resp.metadata.response_code = ResponseCode::ServFail;
            return vec![resp.to_vec().unwrap()];
        }
        Mode::Garbage => {
            let mut bytes = resp.to_vec().unwrap();
            bytes[7] = 5; // ANCOUNT = 5, with no records behind it
            return vec![bytes];
        }
        Mode::Normal | Mode::Spoofed => {}
    }
    let qt = q.query_type();
    let rec = |n: &str, ttl: u32, data: RData| Record::from_rdata(name(n), ttl, data);
    let owner = format!("{qname}.");
    match (qname.as_str(), qt) {
        ("slow.test", _) => {
            tokio::time::sleep(Duration::from_millis(250)).await;
            resp.add_answer(rec(&owner, 300, RData::A(A::new(192, 0, 2, 6))));
        }
        ("ttl.test", RecordType::A) => {
            resp.add_answer(rec(&owner, 300, RData::A(A::new(192, 0, 2, 3))));
        }
        ("short.test", RecordType::A) => {
            resp.add_answer(rec(&owner, 1, RData::A(A::new(192, 0, 2, 4))));
        }
        ("txt.test", RecordType::TXT) => {
            resp.add_answer(rec(&owner, 300, RData::TXT(TXT::new(vec!["hello".into()]))));
        }
        ("https.test", RecordType::HTTPS) => {
            let svcb = SVCB::new(1, Name::root(), vec![]);
            resp.add_answer(rec(&owner, 300, RData::HTTPS(HTTPS(svcb))));
        }
        ("alias.test", _) => {
            resp.add_answer(rec(
                &owner,
                300,
                RData::CNAME(CNAME(name("Bad.Target.test."))),
            ));
            resp.add_answer(rec(
                "bad.target.test.",
                300,
                RData::A(A::new(192, 0, 2, 66)),
            ));
        }
        ("chain.test", _) => {
            resp.add_answer(rec(
                &owner,
                300,
                RData::CNAME(CNAME(name("ok.target.test."))),
            ));
            resp.add_answer(rec("ok.target.test.", 300, RData::A(A::new(192, 0, 2, 7))));
        }
        ("safe.target.test", RecordType::A) => {
            resp.add_answer(rec(&owner, 120, RData::A(A::new(192, 0, 2, 99))));
        }
        ("big.test", RecordType::TXT) | ("huge.test", RecordType::TXT) => {
            let n = if qname == "big.test" { 8 } else { 30 };
            for i in 0..n {
                let s = format!("{i:03}-{}", "x".repeat(95));
                resp.add_answer(rec(&owner, 300, RData::TXT(TXT::new(vec![s]))));
            }
        }
        ("nodata.test", _) => {
            resp.add_authority(soa());
        }
        (n, RecordType::A)
            if n.ends_with(".many.test")
                || n == "a.test"
                || n.ends_with(".allowed.test")
                || n.ends_with(".held.test") =>
        {
            resp.add_answer(rec(&owner, 300, RData::A(A::new(192, 0, 2, 1))));
        }
        (n, RecordType::AAAA) if n == "a.test" || n.ends_with(".allowed.test") => {
            resp.add_answer(rec(
                &owner,
                300,
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            ));
        }
        (n, _) if n == "a.test" || n.ends_with(".allowed.test") || n == "safe.target.test" => {
            resp.add_authority(soa());
        }
        _ => {
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.add_authority(soa());
        }
    }
    let mut bytes = resp.to_vec().unwrap();
    let limit = req
        .edns
        .as_ref()
        .map_or(512, |e| usize::from(e.max_payload()));
    if udp && bytes.len() > limit {
        let mut tc = Message::response(req.metadata.id, OpCode::Query);
        tc.metadata.truncation = true;
        tc.metadata.recursion_available = true;
        tc.add_query(q);
        bytes = tc.to_vec().unwrap();
    }
    if mode == Mode::Spoofed {
        let mut fake = bytes.clone();
        fake[0] ^= 0x55;
        // A forged answer with a different address, which must never be used.
        return vec![fake, bytes];
    }
    vec![bytes]
}

/// The test policy: suffix rules on fixed names, recording every event.
#[derive(Default)]
pub struct TestPolicy {
    pub events: Mutex<Vec<QueryEvent>>,
    pub decided: Mutex<Vec<String>>,
    /// Lets clients held at the portal (`*.held.test`, `*.held4.test`) through, as accepting
    /// the agreement would.
    pub released: std::sync::atomic::AtomicBool,
}

/// The portal's addresses in the test policy.
pub const PORTAL_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 77);
pub const PORTAL_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x77);

fn block(category: &str, illegal: bool, force_nxdomain: bool) -> PolicyAnswer {
    PolicyAnswer::Block(BlockInfo {
        illegal,
        category: category.into(),
        rule: format!("rule:{category}").into(),
        force_nxdomain,
    })
}

fn allow(rule: &str) -> AllowInfo {
    AllowInfo {
        category: None,
        rule: rule.into(),
        note: None,
    }
}

fn under(name: &str, domain: &str) -> bool {
    name == domain || name.ends_with(&format!(".{domain}"))
}

impl QueryPolicy for TestPolicy {
    fn decide(&self, _client: IpAddr, name: &str, _qtype: u16) -> PolicyAnswer {
        self.decided.lock().unwrap().push(name.to_string());
        if under(name, "blocked.test") {
            block("Gambling", false, false)
        } else if under(name, "illegal.test") {
            block("Child sexual abuse", true, false)
        } else if under(name, "canary.test") {
            block("DoH canary", false, true)
        } else if (under(name, "held.test") || under(name, "held4.test"))
            && !self.released.load(std::sync::atomic::Ordering::SeqCst)
        {
            PolicyAnswer::Portal {
                v4: PORTAL_V4,
                v6: under(name, "held.test").then_some(PORTAL_V6),
            }
        } else if under(name, "safe.test") {
            PolicyAnswer::SafeSearch {
                target: "safe.target.test".into(),
                allow: Some(allow("test:safe-search")),
            }
        } else {
            PolicyAnswer::Forward(Some(allow("test:allow")))
        }
    }

    fn decide_alias(&self, _client: IpAddr, _question: &str, alias: &str) -> PolicyAnswer {
        if alias.starts_with("bad.") {
            block("Malware", false, false)
        } else {
            PolicyAnswer::Forward(None)
        }
    }

    fn record(&self, event: QueryEvent) {
        self.events.lock().unwrap().push(event);
    }
}

impl TestPolicy {
    pub fn events_for(&self, name: &str) -> Vec<QueryEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| &*e.name == name)
            .cloned()
            .collect()
    }
}

pub fn config(upstreams: Vec<SocketAddr>) -> DnsConfig {
    DnsConfig {
        listen: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))],
        upstreams,
        block_response: BlockResponse::BlockPage {
            v4: Ipv4Addr::new(127, 0, 0, 80),
            v6: Ipv6Addr::LOCALHOST,
        },
        workers: 2,
        upstream_timeout: Duration::from_millis(400),
        rate_limit: None,
        ..DnsConfig::default()
    }
}

pub struct Harness {
    pub server: DnsServer,
    pub addr: SocketAddr,
    pub policy: Arc<TestPolicy>,
    pub upstream: Upstream,
}

pub async fn start() -> Harness {
    start_with(|c| c).await
}

pub async fn start_with(tweak: impl FnOnce(DnsConfig) -> DnsConfig) -> Harness {
    let upstream = Upstream::start(Mode::Normal).await;
    let policy = Arc::new(TestPolicy::default());
    let server = DnsServer::start(tweak(config(vec![upstream.addr])), policy.clone())
        .expect("server starts");
    let addr = server.local_addrs()[0];
    Harness {
        server,
        addr,
        policy,
        upstream,
    }
}

/// A query message; `edns` is the UDP payload size to advertise, if any.
pub fn query(qname: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut msg = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name(qname), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        msg.set_edns(e);
    }
    msg
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0x4000);
    NEXT.fetch_add(7, Ordering::Relaxed)
}

/// The wire form of `msg` with the question name replaced by `name` in its own letter case.
pub fn mixed_case(msg: &Message, name: &str) -> Vec<u8> {
    let mut bytes = msg.to_vec().unwrap();
    let mut pos = 12;
    for label in name.split('.') {
        bytes[pos] = label.len() as u8;
        bytes[pos + 1..pos + 1 + label.len()].copy_from_slice(label.as_bytes());
        pos += 1 + label.len();
    }
    bytes
}

pub async fn udp_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

pub async fn udp(server: SocketAddr, msg: &Message) -> Message {
    let raw = udp_raw(server, &msg.to_vec().unwrap(), Duration::from_secs(3))
        .await
        .expect("an answer over UDP");
    let resp = Message::from_vec(&raw).expect("the answer parses");
    assert_eq!(resp.metadata.id, msg.metadata.id);
    resp
}

pub async fn tcp(server: SocketAddr, msg: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let bytes = msg.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(3), read_framed(&mut stream))
        .await
        .expect("an answer over TCP in time")
        .expect("an answer over TCP");
    let resp = Message::from_vec(&resp).expect("the answer parses");
    assert_eq!(resp.metadata.id, msg.metadata.id);
    resp
}

pub async fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// The EDE option of a response: (INFO-CODE, EXTRA-TEXT).
pub fn ede(msg: &Message) -> Option<(u16, String)> {
    let edns = msg.edns.as_ref()?;
    match edns.option(EdnsCode::from(15u16))? {
        EdnsOption::Unknown(15, data) if data.len() >= 2 => Some((
            u16::from_be_bytes([data[0], data[1]]),
            String::from_utf8(data[2..].to_vec()).unwrap(),
        )),
        other => panic!("unexpected EDE option {other:?}"),
    }
}

pub fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

pub fn aaaa_records(msg: &Message) -> Vec<Ipv6Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect()
}
