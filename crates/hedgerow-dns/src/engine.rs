//! The query engine shared by the UDP workers and the TCP tasks: the synchronous fast path
//! (`process`) and the asynchronous completion of cache misses (`complete`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, OpCode, Query as HQuery, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use metrics::Counter;
use tokio::sync::oneshot;

use crate::cache::{self, Cache, Entry, KEY_PLAIN, KEY_SAFE_SEARCH, Limits, Reject};
use crate::config::{BlockResponse, DnsConfig};
use crate::forward::Forwarder;
use crate::policy::{
    AllowInfo, BlockInfo, PolicyAnswer, QueryEvent, QueryPolicy, Transport, Verdict,
};
use crate::ratelimit::RateLimiter;
use crate::wire::{self, BlockAnswer, Ede, OwnedQuery, ParseError, Query};

/// Counters exported through the `metrics` facade; handles are taken once, at start.
pub(crate) struct Metrics {
    queries_udp: Counter,
    queries_tcp: Counter,
    pub blocked: Counter,
    pub safe_search: Counter,
    pub portal: Counter,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub upstream_failures: Counter,
    pub rate_limited: Counter,
    pub malformed: Counter,
    pub not_implemented: Counter,
    pub overloaded: Counter,
}

impl Metrics {
    fn new() -> Self {
        Metrics {
            queries_udp: metrics::counter!("hedgerow_dns_queries_total", "transport" => "udp"),
            queries_tcp: metrics::counter!("hedgerow_dns_queries_total", "transport" => "tcp"),
            blocked: metrics::counter!("hedgerow_dns_blocked_total"),
            safe_search: metrics::counter!("hedgerow_dns_safe_search_total"),
            portal: metrics::counter!("hedgerow_dns_portal_total"),
            cache_hits: metrics::counter!("hedgerow_dns_cache_hits_total"),
            cache_misses: metrics::counter!("hedgerow_dns_cache_misses_total"),
            upstream_failures: metrics::counter!("hedgerow_dns_upstream_failures_total"),
            rate_limited: metrics::counter!("hedgerow_dns_rate_limited_total"),
            malformed: metrics::counter!("hedgerow_dns_malformed_total"),
            not_implemented: metrics::counter!("hedgerow_dns_not_implemented_total"),
            overloaded: metrics::counter!("hedgerow_dns_overloaded_total"),
        }
    }
}

/// How long a client may keep the portal's address: short, so that the real answer comes back
/// within seconds of accepting the agreement.
pub(crate) const PORTAL_TTL: u32 = 10;

/// The EDE EXTRA-TEXT of a portal answer, for whoever reads it with dig.
const PORTAL_EDE_TEXT: &str = "Acceptable use agreement not accepted";

/// What the caller does after `process`.
pub(crate) enum Outcome {
    /// Send `out`, then hand the event (if any) to [`Engine::record`].
    Reply(Option<QueryEvent>),
    /// Send nothing.
    Drop,
    /// A cache miss: run [`Engine::complete`] on a task and send what it returns.
    Resolve(Box<Pending>),
}

enum PendingKind {
    Forward,
    SafeSearch { target: Box<[u8]> },
}

impl PendingKind {
    /// How the answer to such a query is reported to the policy.
    fn verdict(&self) -> Verdict {
        match self {
            PendingKind::Forward => Verdict::Allowed,
            PendingKind::SafeSearch { .. } => Verdict::SafeSearch,
        }
    }
}

/// A query waiting for an upstream.
pub(crate) struct Pending {
    query: OwnedQuery,
    name: Box<str>,
    client: IpAddr,
    transport: Transport,
    kind: PendingKind,
    allow: Option<AllowInfo>,
    key: Box<[u8]>,
    pub received: Instant,
}

type Waiters = Vec<oneshot::Sender<Arc<Entry>>>;

pub(crate) struct Engine {
    policy: Arc<dyn QueryPolicy>,
    pub cache: Cache,
    limiter: Option<RateLimiter>,
    forwarder: Forwarder,
    inflight: Mutex<HashMap<Box<[u8]>, Waiters>>,
    block_answer: BlockAnswer,
    block_ttl: u32,
    servfail_ttl: u32,
    payload: u16,
    max_pending: usize,
    pending: AtomicUsize,
    limits: Limits,
    pub metrics: Metrics,
}

impl Engine {
    pub fn new(config: &DnsConfig, policy: Arc<dyn QueryPolicy>) -> Self {
        let limits = Limits {
            max_ttl: config.max_cache_ttl,
        };
        let payload = config.max_udp_payload.max(512);
        Engine {
            policy,
            cache: Cache::new(config.cache_max_bytes),
            limiter: config
                .rate_limit
                .map(|rl| RateLimiter::new(rl, config.rate_limit_clients)),
            forwarder: Forwarder::new(
                &config.upstreams,
                metrics::counter!("hedgerow_dns_upstream_attempt_failures_total"),
                config.upstream_timeout,
                payload,
                limits,
            ),
            inflight: Mutex::new(HashMap::new()),
            block_answer: match config.block_response {
                BlockResponse::BlockPage { v4, v6 } => BlockAnswer::Address {
                    v4: v4.octets(),
                    v6: v6.octets(),
                },
                BlockResponse::Null => BlockAnswer::Address {
                    v4: [0; 4],
                    v6: [0; 16],
                },
                BlockResponse::NxDomain => BlockAnswer::NxDomain,
            },
            block_ttl: config.block_ttl,
            servfail_ttl: config.servfail_ttl,
            payload,
            max_pending: config.max_pending,
            pending: AtomicUsize::new(0),
            limits,
            metrics: Metrics::new(),
        }
    }

    /// The fast path: everything that can be answered without waiting is answered into `out`.
    /// `key` is a reusable scratch buffer for the cache key, so a hit allocates only the name.
    pub fn process(
        &self,
        packet: &[u8],
        client: IpAddr,
        transport: Transport,
        now: Instant,
        out: &mut Vec<u8>,
        key: &mut Vec<u8>,
    ) -> Outcome {
        let (Some(id), Some(flags)) = (wire::u16_at(packet, 0), wire::u16_at(packet, 2)) else {
            self.metrics.malformed.increment(1);
            return Outcome::Drop;
        };
        if packet.len() < wire::HEADER_LEN || flags & wire::FLAG_QR != 0 {
            self.metrics.malformed.increment(1);
            return Outcome::Drop;
        }
        if let Some(limiter) = &self.limiter
            && !limiter.allow(client, now)
        {
            self.metrics.rate_limited.increment(1);
            // Over UDP the source may be forged: silence gives a reflection attack nothing.
            // Over TCP it is not, and REFUSED tells a real client to back off.
            return match transport {
                Transport::Udp => Outcome::Drop,
                Transport::Tcp => {
                    wire::write_error(out, id, flags, wire::RCODE_REFUSED);
                    Outcome::Reply(None)
                }
            };
        }
        let q = match wire::parse_query(packet) {
            Ok(q) => q,
            Err(ParseError::Drop) => {
                self.metrics.malformed.increment(1);
                return Outcome::Drop;
            }
            Err(ParseError::Reply { id, flags, rcode }) => {
                if rcode == wire::RCODE_NOTIMP {
                    self.metrics.not_implemented.increment(1);
                } else {
                    self.metrics.malformed.increment(1);
                }
                wire::write_error(out, id, flags, rcode);
                return Outcome::Reply(None);
            }
        };
        match transport {
            Transport::Udp => self.metrics.queries_udp.increment(1),
            Transport::Tcp => self.metrics.queries_tcp.increment(1),
        }
        if q.edns.is_some_and(|e| e.version != 0) {
            wire::write_badvers(out, &q, self.payload);
            return Outcome::Reply(None);
        }
        if q.qtype == wire::TYPE_AXFR || q.qtype == wire::TYPE_IXFR {
            // Zone transfers are for authoritative servers, and a filter must not offer one.
            wire::write_question_only(out, &q, wire::RCODE_REFUSED, false, self.payload);
            return Outcome::Reply(None);
        }
        let mut name = String::with_capacity(q.qname.len());
        wire::name_to_text(q.qname, &mut name);
        let name: Box<str> = name.into();
        let (kind, verdict, allow) = match self.policy.decide(client, &name, q.qtype) {
            PolicyAnswer::Block(info) => {
                let event = self.answer_block(out, &q, info, None, client, name, transport);
                return Outcome::Reply(Some(event));
            }
            PolicyAnswer::Portal { v4, v6 } => {
                self.metrics.portal.increment(1);
                let ede = Ede {
                    code: wire::EDE_FILTERED,
                    text: PORTAL_EDE_TEXT,
                };
                wire::write_portal(
                    out,
                    &q,
                    v4.octets(),
                    v6.map(|v6| v6.octets()),
                    PORTAL_TTL,
                    self.payload,
                    ede,
                );
                let event = QueryEvent {
                    cache_hit: true,
                    ..event(client, name, &q, Verdict::Portal, transport)
                };
                return Outcome::Reply(Some(event));
            }
            PolicyAnswer::Forward(allow) => {
                cache::make_key(key, KEY_PLAIN, q.qname, q.qtype, q.qclass, &[]);
                (PendingKind::Forward, Verdict::Allowed, allow)
            }
            PolicyAnswer::SafeSearch { target, allow } => {
                self.metrics.safe_search.increment(1);
                let Some(target) = wire::text_to_name(&target) else {
                    tracing::warn!(%target, "the policy gave a safe-search target that is not a host name");
                    wire::write_question_only(out, &q, wire::RCODE_SERVFAIL, false, self.payload);
                    let event = event(client, name, &q, Verdict::SafeSearch, transport);
                    return Outcome::Reply(Some(QueryEvent {
                        rcode: wire::RCODE_SERVFAIL.into(),
                        allow,
                        ..event
                    }));
                };
                cache::make_key(key, KEY_SAFE_SEARCH, q.qname, q.qtype, q.qclass, &target);
                (
                    PendingKind::SafeSearch {
                        target: target.into(),
                    },
                    Verdict::SafeSearch,
                    allow,
                )
            }
        };
        if let Some(entry) = self.cache.get(key, now) {
            self.metrics.cache_hits.increment(1);
            let ev = self.answer_entry(out, &q, &entry, client, name, verdict, transport, now);
            return Outcome::Reply(Some(QueryEvent {
                cache_hit: true,
                ..with_allow(ev, allow)
            }));
        }
        self.metrics.cache_misses.increment(1);
        Outcome::Resolve(Box::new(Pending {
            query: q.to_owned(),
            name,
            client,
            transport,
            kind,
            allow,
            key: key.as_slice().into(),
            received: now,
        }))
    }

    /// Takes a slot for a cache miss; `None` (and a SERVFAIL in `out`) when too many are
    /// already waiting, so a flood of random names cannot grow memory without bound.
    pub fn admit(self: &Arc<Self>, pending: &Pending, out: &mut Vec<u8>) -> Option<PendingSlot> {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.metrics.overloaded.increment(1);
            wire::write_question_only(
                out,
                &pending.query.borrow(),
                wire::RCODE_SERVFAIL,
                false,
                self.payload,
            );
            return None;
        }
        Some(PendingSlot(self.clone()))
    }

    /// Completes a cache miss: resolves (coalesced with identical misses), caches, and writes
    /// the answer for this client.
    pub async fn complete(self: &Arc<Self>, p: &Pending) -> (Vec<u8>, QueryEvent) {
        self.complete_after(p, 0).await
    }

    /// [`Engine::complete`], leaving out the first `skip` upstreams (a direct exchange with
    /// the first one already failed).
    pub async fn complete_after(
        self: &Arc<Self>,
        p: &Pending,
        skip: usize,
    ) -> (Vec<u8>, QueryEvent) {
        let qname_len = p.query.qname.len();
        let lower = p.key.get(5..5 + qname_len).unwrap_or_default();
        let (qtype, qclass) = (p.query.qtype, p.query.qclass);
        let entry = match &p.kind {
            PendingKind::Forward => self.resolve(&p.key, lower, qtype, qclass, skip).await,
            PendingKind::SafeSearch { target } => {
                self.resolve_safe_search(&p.key, lower, qtype, qclass, target)
                    .await
            }
        };
        let mut out = Vec::with_capacity(512);
        let ev = self.answer_pending(&mut out, p, &entry, Instant::now());
        (out, ev)
    }

    /// Writes this waiting query's answer from `entry` into `out`, and its event, with the
    /// policy's reason for allowing unless the answer became a block (a CNAME target).
    fn answer_pending(
        &self,
        out: &mut Vec<u8>,
        p: &Pending,
        entry: &Entry,
        now: Instant,
    ) -> QueryEvent {
        out.clear();
        let ev = self.answer_entry(
            out,
            &p.query.borrow(),
            entry,
            p.client,
            p.name.clone(),
            p.kind.verdict(),
            p.transport,
            now,
        );
        with_allow(ev, p.allow.clone())
    }

    /// Hands an event to the policy, stamping the response time.
    pub fn record(&self, mut event: QueryEvent, received: Instant) {
        event.response_time_us = u64::try_from(received.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.policy.record(event);
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_block(
        &self,
        out: &mut Vec<u8>,
        q: &Query<'_>,
        info: BlockInfo,
        alias: Option<Box<str>>,
        client: IpAddr,
        name: Box<str>,
        transport: Transport,
    ) -> QueryEvent {
        self.metrics.blocked.increment(1);
        let answer = if info.force_nxdomain {
            BlockAnswer::NxDomain
        } else {
            self.block_answer
        };
        let ede = Ede {
            code: if info.illegal {
                wire::EDE_CENSORED
            } else {
                wire::EDE_FILTERED
            },
            text: &info.category,
        };
        wire::write_block(out, q, answer, self.block_ttl, self.payload, ede);
        let rcode = match answer {
            BlockAnswer::NxDomain => wire::RCODE_NXDOMAIN,
            BlockAnswer::Address { .. } => wire::RCODE_NOERROR,
        };
        QueryEvent {
            block: Some(info),
            blocked_alias: alias,
            rcode: rcode.into(),
            cache_hit: true,
            ..event(client, name, q, Verdict::Blocked, transport)
        }
    }

    /// Answers from an entry, unless one of its CNAME targets is blocked for this client.
    #[allow(clippy::too_many_arguments)]
    fn answer_entry(
        &self,
        out: &mut Vec<u8>,
        q: &Query<'_>,
        entry: &Entry,
        client: IpAddr,
        name: Box<str>,
        verdict: Verdict,
        transport: Transport,
        now: Instant,
    ) -> QueryEvent {
        for alias in &entry.aliases {
            if let PolicyAnswer::Block(info) = self.policy.decide_alias(client, &name, alias) {
                return self.answer_block(
                    out,
                    q,
                    info,
                    Some(alias.clone()),
                    client,
                    name,
                    transport,
                );
            }
        }
        let limit = match transport {
            Transport::Udp => q.udp_limit(self.payload),
            Transport::Tcp => usize::from(u16::MAX),
        };
        entry.write_answer(out, q, now, limit, self.payload);
        QueryEvent {
            rcode: entry.rcode.into(),
            ..event(client, name, q, verdict, transport)
        }
    }

    /// Cache, then coalesced upstream resolution; failures become a briefly cached SERVFAIL.
    pub(crate) async fn resolve(
        &self,
        key: &[u8],
        qname: &[u8],
        qtype: u16,
        qclass: u16,
        skip: usize,
    ) -> Arc<Entry> {
        loop {
            if let Some(entry) = self.cache.get(key, Instant::now()) {
                return entry;
            }
            let waiter = {
                let mut map = self.inflight();
                match map.get_mut(key) {
                    Some(waiters) => {
                        let (tx, rx) = oneshot::channel();
                        waiters.push(tx);
                        Some(rx)
                    }
                    None => {
                        map.insert(key.into(), Vec::new());
                        None
                    }
                }
            };
            match waiter {
                // The leader's answer; if the leader went away, go round and lead.
                Some(rx) => match rx.await {
                    Ok(entry) => return entry,
                    Err(_) => continue,
                },
                None => break,
            }
        }
        let lead = LeaderGuard { engine: self, key };
        let entry = match self.forwarder.resolve(qname, qtype, qclass, skip).await {
            Some(entry) => Arc::new(entry),
            None => {
                self.metrics.upstream_failures.increment(1);
                tracing::debug!("every upstream failed; answering SERVFAIL");
                Arc::new(cache::failure_entry(
                    qname,
                    qtype,
                    qclass,
                    Instant::now(),
                    self.servfail_ttl,
                ))
            }
        };
        let now = Instant::now();
        if entry.is_fresh(now) {
            self.cache.insert(key, entry.clone(), now);
        }
        for waiter in lead.finish() {
            let _ = waiter.send(entry.clone());
        }
        entry
    }

    async fn resolve_safe_search(
        &self,
        key: &[u8],
        qname: &[u8],
        qtype: u16,
        qclass: u16,
        target: &[u8],
    ) -> Arc<Entry> {
        let mut target_key = Vec::with_capacity(target.len() + 5);
        cache::make_key(&mut target_key, KEY_PLAIN, target, qtype, qclass, &[]);
        let target_entry = self.resolve(&target_key, target, qtype, qclass, 0).await;
        let now = Instant::now();
        let built = if target_entry.failure {
            Err(Reject::Rcode(wire::RCODE_SERVFAIL))
        } else {
            build_safe_search_entry(
                qname,
                qtype,
                qclass,
                target,
                &target_entry,
                now,
                self.limits,
            )
        };
        match built {
            Ok(entry) => {
                let entry = Arc::new(entry);
                if entry.is_fresh(now) {
                    self.cache.insert(key, entry.clone(), now);
                }
                entry
            }
            Err(reject) => {
                tracing::debug!(?reject, "safe-search target did not resolve");
                Arc::new(cache::failure_entry(qname, qtype, qclass, now, 0))
            }
        }
    }

    /// The question a UDP worker may ask the first upstream itself for this miss (name in
    /// lower-case wire form, type, class), and where; `None` when the miss must take the task
    /// path (a safe-search redirect resolves its target first).
    pub(crate) fn direct_question<'a>(
        &self,
        p: &'a Pending,
    ) -> Option<(SocketAddr, &'a [u8], u16, u16)> {
        match p.kind {
            PendingKind::Forward => {
                let upstream = self.forwarder.first_upstream()?;
                Some((upstream, self.asked_name(p), p.query.qtype, p.query.qclass))
            }
            PendingKind::SafeSearch { .. } => None,
        }
    }

    /// How long one upstream attempt may take, and the EDNS payload size offered upstream.
    pub(crate) fn upstream_limits(&self) -> (Duration, u16) {
        (self.forwarder.timeout(), self.forwarder.payload())
    }

    /// Marks this miss's question as in flight, led by a direct exchange. False when the
    /// question is already in flight: the query should join it on the task path instead, so
    /// identical misses still make one upstream query.
    pub(crate) fn lead_direct(&self, p: &Pending) -> bool {
        let mut map = self.inflight();
        if map.contains_key(&p.key) {
            return false;
        }
        map.insert(p.key.clone(), Vec::new());
        true
    }

    /// Ends a direct exchange with the upstream's answer `resp` (already matched to the
    /// query's ID and question): caches it, hands it to the queries that joined, and writes
    /// this client's answer into `out`. An unusable answer (truncated, a failure code,
    /// garbage) is an error: the in-flight mark is released, and the caller goes on with the
    /// task path, which retries truncated answers over TCP and fails over to the next upstream.
    pub(crate) fn finish_direct(
        &self,
        p: &Pending,
        resp: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<QueryEvent, Reject> {
        let now = Instant::now();
        let (qtype, qclass) = (p.query.qtype, p.query.qclass);
        let entry =
            match cache::build_entry(resp, self.asked_name(p), qtype, qclass, now, self.limits) {
                Ok(entry) => Arc::new(entry),
                Err(reject) => {
                    // A truncated answer is no failure of the upstream: the task path asks it
                    // again over TCP.
                    self.abandon_direct(p, !matches!(reject, Reject::Truncated));
                    return Err(reject);
                }
            };
        if entry.is_fresh(now) {
            self.cache.insert(&p.key, entry.clone(), now);
        }
        let joined = self.inflight().remove(&p.key).unwrap_or_default();
        for waiter in joined {
            let _ = waiter.send(entry.clone());
        }
        Ok(self.answer_pending(out, p, &entry, now))
    }

    /// A direct exchange ended without an answer to give (timeout, network error, unusable
    /// answer): releases the in-flight mark, counting a failed attempt if `failed`. Queries
    /// that had joined go round again and one of them leads on the task path.
    pub(crate) fn abandon_direct(&self, p: &Pending, failed: bool) {
        if failed {
            self.forwarder.count_attempt_failure();
        }
        self.inflight().remove(&p.key);
    }

    fn inflight(&self) -> MutexGuard<'_, HashMap<Box<[u8]>, Waiters>> {
        match self.inflight.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// Counts a cache miss against `max_pending` until dropped.
pub(crate) struct PendingSlot(Arc<Engine>);

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Removes the in-flight marker even if the leading task is cancelled, so waiters retry.
struct LeaderGuard<'a> {
    engine: &'a Engine,
    key: &'a [u8],
}

impl LeaderGuard<'_> {
    fn finish(self) -> Waiters {
        let waiters = self.engine.inflight().remove(self.key).unwrap_or_default();
        std::mem::forget(self);
        waiters
    }
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        self.engine.inflight().remove(self.key);
    }
}

/// The event with the policy's reason for allowing, unless the answer was a block after all
/// (a CNAME target).
fn with_allow(event: QueryEvent, allow: Option<AllowInfo>) -> QueryEvent {
    if event.block.is_some() {
        event
    } else {
        QueryEvent { allow, ..event }
    }
}

fn event(
    client: IpAddr,
    name: Box<str>,
    q: &Query<'_>,
    verdict: Verdict,
    transport: Transport,
) -> QueryEvent {
    QueryEvent {
        client,
        name,
        qtype: q.qtype,
        verdict,
        block: None,
        allow: None,
        blocked_alias: None,
        rcode: 0,
        response_time_us: 0,
        cache_hit: false,
        transport,
    }
}

/// Builds `qname CNAME target` followed by the target's own answer, as one response for
/// `qname`. This is the slow path (once per name and type until the entry expires), so
/// hickory-proto does the decoding and encoding; the result is cached like any answer.
pub(crate) fn build_safe_search_entry(
    qname: &[u8],
    qtype: u16,
    qclass: u16,
    target: &[u8],
    target_entry: &Entry,
    now: Instant,
    limits: Limits,
) -> Result<Entry, Reject> {
    let target_msg =
        Message::from_vec(&target_entry.bytes_at(now)).map_err(|_| Reject::Malformed)?;
    let owner = Name::read(&mut BinDecoder::new(qname)).map_err(|_| Reject::Malformed)?;
    let target_name = Name::read(&mut BinDecoder::new(target)).map_err(|_| Reject::Malformed)?;
    let mut msg = Message::response(0, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.metadata.recursion_available = true;
    msg.metadata.response_code = ResponseCode::from(0, target_entry.rcode);
    let mut question = HQuery::query(owner.clone(), RecordType::from(qtype));
    question.set_query_class(DNSClass::from(qclass));
    msg.add_query(question);
    // The redirect lives as long as what it points at, within the usual cap.
    let ttl = target_entry
        .remaining_ttl(now)
        .clamp(1, limits.max_ttl.max(1));
    let mut cname = Record::from_rdata(owner, ttl, RData::CNAME(CNAME(target_name)));
    cname.dns_class = DNSClass::from(qclass);
    msg.add_answer(cname);
    msg.add_answers(target_msg.answers);
    msg.add_authorities(target_msg.authorities);
    let bytes = msg.to_vec().map_err(|_| Reject::Malformed)?;
    cache::build_entry(&bytes, qname, qtype, qclass, now, limits)
}

impl Engine {
    /// Completes a miss with `resp` as the upstream's answer, without any network: the same
    /// entry building, caching and answering as [`Engine::complete`]. For the fuzz harness.
    pub(crate) fn complete_offline(&self, p: &Pending, resp: &[u8]) -> Vec<u8> {
        let now = Instant::now();
        let qname_len = p.query.qname.len();
        let lower = p.key.get(5..5 + qname_len).unwrap_or_default();
        let (qtype, qclass) = (p.query.qtype, p.query.qclass);
        let asked = match &p.kind {
            PendingKind::Forward => lower,
            PendingKind::SafeSearch { target } => target,
        };
        let entry = match cache::build_entry(resp, asked, qtype, qclass, now, self.limits) {
            Ok(e) => e,
            Err(_) => cache::failure_entry(asked, qtype, qclass, now, self.servfail_ttl),
        };
        let entry = match &p.kind {
            PendingKind::Forward => entry,
            PendingKind::SafeSearch { target } => {
                build_safe_search_entry(lower, qtype, qclass, target, &entry, now, self.limits)
                    .unwrap_or_else(|_| cache::failure_entry(lower, qtype, qclass, now, 0))
            }
        };
        let entry = Arc::new(entry);
        if entry.is_fresh(now) {
            self.cache.insert(&p.key, entry.clone(), now);
        }
        let mut out = Vec::new();
        let verdict = p.kind.verdict();
        let ev = self.answer_entry(
            &mut out,
            &p.query.borrow(),
            &entry,
            p.client,
            p.name.clone(),
            verdict,
            p.transport,
            now,
        );
        self.record(ev, p.received);
        out
    }

    /// The name an upstream is asked for this pending query (the safe-search target or the
    /// question itself), lower-case wire form.
    pub(crate) fn asked_name<'a>(&self, p: &'a Pending) -> &'a [u8] {
        match &p.kind {
            PendingKind::Forward => p.key.get(5..5 + p.query.qname.len()).unwrap_or_default(),
            PendingKind::SafeSearch { target } => target,
        }
    }
}
