//! Entry points for the fuzz target: the fast path and the upstream-response path without
//! sockets, plus the checks every response must pass.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::Message;

use crate::config::{BlockResponse, DnsConfig};
use crate::engine::{Engine, Outcome};
use crate::policy::{QueryPolicy, Transport};
use crate::wire;

/// The server's packet handling with the network replaced by given bytes.
pub struct FuzzHarness {
    engine: Arc<Engine>,
}

impl FuzzHarness {
    /// A harness with a small cache, no rate limit and a block-page block response.
    pub fn new(policy: Arc<dyn QueryPolicy>) -> Self {
        let config = DnsConfig {
            upstreams: vec![(Ipv4Addr::LOCALHOST, 9).into()],
            rate_limit: None,
            cache_max_bytes: 256 * 1024,
            block_response: BlockResponse::BlockPage {
                v4: Ipv4Addr::new(127, 0, 0, 80),
                v6: std::net::Ipv6Addr::LOCALHOST,
            },
            ..DnsConfig::default()
        };
        FuzzHarness {
            engine: Arc::new(Engine::new(&config, policy)),
        }
    }

    /// Handles `packet` from a client as the server would, and returns what it would send.
    /// On a cache miss, `upstream` stands for the upstream's answer: its first 12 bytes are the
    /// header, then the harness inserts the question asked (so the answer can match it), then
    /// the rest of `upstream` follows as the records.
    pub fn handle(&self, packet: &[u8], upstream: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        let client = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
        let mut out = Vec::new();
        let mut key = Vec::new();
        match self.engine.process(
            packet,
            client,
            transport,
            Instant::now(),
            &mut out,
            &mut key,
        ) {
            Outcome::Drop => None,
            Outcome::Reply(_) => Some(out),
            Outcome::Resolve(pending) => {
                let asked = self.engine.asked_name(&pending);
                let mut resp = Vec::with_capacity(upstream.len() + asked.len() + 4);
                resp.extend_from_slice(upstream.get(..12).unwrap_or(upstream));
                if resp.len() == 12 {
                    wire::put_u16(&mut resp, 4, 1);
                    resp.extend_from_slice(asked);
                    let q = pending_question(packet);
                    resp.extend_from_slice(&q);
                    resp.extend_from_slice(upstream.get(12..).unwrap_or_default());
                }
                Some(self.engine.complete_offline(&pending, &resp))
            }
        }
    }
}

/// QTYPE and QCLASS of a query the fast path accepted.
fn pending_question(packet: &[u8]) -> [u8; 4] {
    let mut q = [0u8; 4];
    if let Ok(query) = wire::parse_query(packet) {
        q[..2].copy_from_slice(&query.qtype.to_be_bytes());
        q[2..].copy_from_slice(&query.qclass.to_be_bytes());
    }
    q
}

/// Checks a response the server produced for `query`: it must parse as a DNS message, be a
/// response, carry the query's ID, and fit the transport's size limit.
pub fn check_response(query: &[u8], response: &[u8], tcp: bool) -> Result<(), String> {
    let msg = Message::from_vec(response).map_err(|e| format!("response does not parse: {e}"))?;
    if msg.metadata.message_type != hickory_proto::op::MessageType::Response {
        return Err("QR is not set".into());
    }
    if wire::u16_at(query, 0) != Some(msg.metadata.id) {
        return Err("the ID differs from the query's".into());
    }
    let limit = if tcp {
        usize::from(u16::MAX)
    } else {
        wire::parse_query(query).map_or(512, |q| q.udp_limit(1232))
    };
    if response.len() > limit {
        return Err(format!(
            "{} bytes exceed the limit of {limit}",
            response.len()
        ));
    }
    if let Ok(q) = wire::parse_query(query)
        && q.edns.is_none()
        && msg.edns.is_some()
    {
        return Err("OPT sent to a client that did not send one".into());
    }
    Ok(())
}
