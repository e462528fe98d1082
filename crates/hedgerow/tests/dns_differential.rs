//! Differential check: for every query of the shared DNS workload, Hedgerow blocks or forwards
//! exactly as unbound does when both filter with the same lists (unbound configured as in
//! `../shared/bench/peers/dns_bench.sh`: one `local-zone: "<d>." always_nxdomain` per blocked
//! domain, forwarding everything else). See docs/dns.md for the deliberate differences, which
//! this test turns off so that only list semantics are compared.

mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

fn is_ipv4(name: &str) -> bool {
    name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// unbound with one always_nxdomain zone per blocked (non-address) domain, as the peer bench.
fn start_unbound(dir: &Path, upstream: SocketAddr) -> (Running, SocketAddr) {
    let blocklists = shared_data().join("blocklists");
    let mut zones = std::collections::BTreeSet::new();
    for list in policy_lists() {
        let text =
            std::fs::read_to_string(blocklists.join(format!("{list}.domains"))).unwrap_or_default();
        zones.extend(
            text.lines()
                .map(str::trim)
                .filter(|d| !d.is_empty() && !is_ipv4(d))
                .map(str::to_string),
        );
    }
    let block: String = zones
        .iter()
        .map(|d| format!("local-zone: \"{d}.\" always_nxdomain\n"))
        .collect();
    std::fs::write(dir.join("unbound-block.conf"), block).unwrap();
    let port = free_port();
    let conf = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{dir}\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n  num-threads: 1\n  msg-cache-size: 64m\n  rrset-cache-size: 128m\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  do-not-query-localhost: no\n  module-config: \"iterator\"\n  include: \"{dir}/unbound-block.conf\"\nforward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@{up}\n",
        dir = dir.display(),
        up = upstream.port()
    );
    std::fs::write(dir.join("unbound.conf"), conf).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let running = spawn_resolver(
        Command::new("unbound")
            .args(["-d", "-c"])
            .arg(dir.join("unbound.conf")),
        "unbound",
        addr,
    );
    (running, addr)
}

/// Hedgerow filtering with exactly the policy's lists, and the DNS-only rules turned off.
fn hedgerow_config(dir: &Path) -> std::path::PathBuf {
    workload_school(
        dir,
        "safe_search = false\nyoutube = \"off\"\nblock_unsafe_search_engines = false\n",
        "[dns]\nrate_limit_qps = 0\nblock_response = \"nxdomain\"\n",
    )
}

fn query_packet(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut packet = Vec::with_capacity(32 + name.len());
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes());
    packet
}

/// Sends every name to `server` (a window of queries in flight, retrying the silent ones) and
/// returns the response code of each.
fn rcodes(server: SocketAddr, names: &[String]) -> Vec<u8> {
    const WINDOW: usize = 200;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut answers: Vec<Option<u8>> = vec![None; names.len()];
    let mut in_flight: HashMap<u16, (usize, Instant)> = HashMap::new();
    let mut next = 0;
    let mut next_id: u16 = 0;
    let mut retries: Vec<usize> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut buf = [0u8; 4096];
    while answers.iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "{server} stopped answering");
        while in_flight.len() < WINDOW && (next < names.len() || !retries.is_empty()) {
            let index = retries.pop().unwrap_or_else(|| {
                next += 1;
                next - 1
            });
            next_id = next_id.wrapping_add(1);
            while in_flight.contains_key(&next_id) {
                next_id = next_id.wrapping_add(1);
            }
            socket
                .send(&query_packet(next_id, &names[index], 1))
                .unwrap();
            in_flight.insert(next_id, (index, Instant::now()));
        }
        match socket.recv(&mut buf) {
            Ok(n) if n >= 12 => {
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                if let Some((index, _)) = in_flight.remove(&id) {
                    answers[index] = Some(buf[3] & 0x0f);
                }
            }
            _ => {
                let now = Instant::now();
                let lost: Vec<u16> = in_flight
                    .iter()
                    .filter(|(_, (_, sent))| now.duration_since(*sent) > Duration::from_secs(2))
                    .map(|(id, _)| *id)
                    .collect();
                for id in lost {
                    if let Some((index, _)) = in_flight.remove(&id) {
                        retries.push(index);
                    }
                }
            }
        }
    }
    answers.into_iter().map(|a| a.unwrap_or(255)).collect()
}

#[test]
fn blocked_or_forwarded_matches_unbound_on_every_workload_query() {
    if !have_tools(&["dig", "dnsmasq", "unbound"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_upstream, up_addr) = start_upstream(&[]);
    let (_unbound, unbound) = start_unbound(dir.path(), up_addr);
    let config = hedgerow_config(dir.path());
    let gateway = start_gateway(
        &["serve", "--config", config.to_str().unwrap()],
        up_addr,
        dir.path(),
    );

    let workload = std::fs::read_to_string(shared_data().join("workload/dns-queries.txt")).unwrap();
    let names: Vec<String> = workload
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let ours = rcodes(gateway.dns, &names);
    let theirs = rcodes(unbound, &names);
    const NXDOMAIN: u8 = 3;
    let mut differences = Vec::new();
    for ((name, ours), theirs) in names.iter().zip(&ours).zip(&theirs) {
        if (*ours == NXDOMAIN) != (*theirs == NXDOMAIN) {
            differences.push(format!(
                "{name}: hedgerow rcode {ours}, unbound rcode {theirs}"
            ));
        }
    }
    let blocked = ours.iter().filter(|r| **r == NXDOMAIN).count();
    eprintln!(
        "{} queries; hedgerow blocked {blocked}, unbound blocked {}; {} differ",
        names.len(),
        theirs.iter().filter(|r| **r == NXDOMAIN).count(),
        differences.len()
    );
    assert!(blocked > 40_000, "the lists were not applied");
    assert!(
        differences.is_empty(),
        "{} differences, first:\n{}",
        differences.len(),
        differences
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
