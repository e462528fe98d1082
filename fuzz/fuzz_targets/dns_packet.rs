//! The DNS server's packet path on arbitrary bytes: a client packet through the fast path
//! (parse, policy, block answer or cache), and on a miss an upstream answer through the
//! response parser, the cache and the answer builder; then the same packet again, which is
//! served from the cache. Every response must parse, be a response with the query's ID, and
//! fit the transport's size limit.
//!
//! Input: byte 0 bit 0 picks TCP; bytes 1-2 are the client packet's length (big-endian); then
//! the client packet; the rest is the upstream answer (header, then records: the harness
//! writes the question in between so that the answer can match).
#![no_main]

use std::net::IpAddr;
use std::sync::Arc;

use hedgerow_dns::fuzzing::{FuzzHarness, check_response};
use hedgerow_dns::{BlockInfo, PolicyAnswer, QueryEvent, QueryPolicy};
use libfuzzer_sys::fuzz_target;

struct FuzzPolicy;

fn block(name: &str) -> PolicyAnswer {
    PolicyAnswer::Block(BlockInfo {
        illegal: name.contains("ill"),
        category: "Gambling \u{1F3B2} with a long display name to stretch the EDE text".into(),
        rule: "fuzz".into(),
        force_nxdomain: name.contains("nx"),
    })
}

impl QueryPolicy for FuzzPolicy {
    fn decide(&self, _client: IpAddr, name: &str, _qtype: u16) -> PolicyAnswer {
        assert!(!name.is_empty() && name.is_ascii(), "bad name for the policy: {name:?}");
        assert!(!name.bytes().any(|b| b.is_ascii_uppercase()), "upper case in {name:?}");
        if name.contains("blk") {
            block(name)
        } else if name.contains("ss") {
            PolicyAnswer::SafeSearch {
                target: "safe.example".into(),
            }
        } else {
            PolicyAnswer::Forward
        }
    }

    fn decide_alias(&self, _client: IpAddr, _question: &str, alias: &str) -> PolicyAnswer {
        assert!(alias.is_ascii(), "bad alias {alias:?}");
        if alias.contains("bad") {
            block(alias)
        } else {
            PolicyAnswer::Forward
        }
    }

    fn record(&self, event: QueryEvent) {
        assert!(!event.name.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (packet, upstream) = rest.split_at(len);
    let tcp = mode & 1 == 1;
    let harness = FuzzHarness::new(Arc::new(FuzzPolicy));
    for round in 0..2 {
        if let Some(resp) = harness.handle(packet, upstream, tcp) {
            if let Err(e) = check_response(packet, &resp, tcp) {
                panic!("round {round}: {e}\nquery {packet:02x?}\nresponse {resp:02x?}");
            }
        }
    }
});
