//! A DNS server for load tests (dnsperf): a built-in upstream on loopback that answers every A
//! question with 192.0.2.1 (TTL 1 day), and a policy that blocks names containing "blocked".
//!
//! Usage: `cargo run --release -p hedgerow-dns --example bench_server -- [LISTEN] [WORKERS]`
//! (default 127.0.0.1:5300, one worker per core). Stops on Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hedgerow_dns::{
    BlockInfo, BlockResponse, DnsConfig, DnsServer, PolicyAnswer, QueryEvent, QueryPolicy,
};
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

struct BenchPolicy {
    events: AtomicU64,
}

impl QueryPolicy for BenchPolicy {
    fn decide(&self, _client: IpAddr, name: &str, _qtype: u16) -> PolicyAnswer {
        if name.contains("blocked") {
            PolicyAnswer::Block(BlockInfo {
                illegal: false,
                category: "Gambling".into(),
                rule: "bench".into(),
                force_nxdomain: false,
            })
        } else {
            PolicyAnswer::Forward(None)
        }
    }

    fn decide_alias(&self, _client: IpAddr, _question: &str, _alias: &str) -> PolicyAnswer {
        PolicyAnswer::Forward(None)
    }

    fn record(&self, _event: QueryEvent) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

async fn upstream() -> std::io::Result<SocketAddr> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = sock.local_addr()?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::response(req.metadata.id, OpCode::Query);
            resp.metadata.recursion_desired = true;
            resp.metadata.recursion_available = true;
            if let Some(q) = req.queries.first() {
                resp.add_query(q.clone());
                if q.query_type() == RecordType::A {
                    let a = RData::A(A::new(192, 0, 2, 1));
                    resp.add_answer(Record::from_rdata(q.name().clone(), 86_400, a));
                }
            } else {
                resp.metadata.response_code = ResponseCode::FormErr;
            }
            if let Ok(bytes) = resp.to_vec() {
                let _ = sock.send_to(&bytes, peer).await;
            }
        }
    });
    Ok(addr)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = SocketAddr::from_str(&args.next().unwrap_or_else(|| "127.0.0.1:5300".into()))?;
    let mut config = DnsConfig {
        listen: vec![listen],
        upstreams: vec![upstream().await?],
        block_response: BlockResponse::Null,
        rate_limit: None,
        ..DnsConfig::default()
    };
    if let Some(w) = args.next() {
        config.workers = w.parse()?;
    }
    let policy = Arc::new(BenchPolicy {
        events: AtomicU64::new(0),
    });
    let server = DnsServer::start(config, policy.clone())?;
    eprintln!("serving on {:?}", server.local_addrs());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    eprintln!("{} queries recorded", policy.events.load(Ordering::Relaxed));
    Ok(())
}
