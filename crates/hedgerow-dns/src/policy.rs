//! The boundary between the DNS server and the filtering policy: the server asks, the policy
//! decides, and the server reports what it answered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The filtering policy as the DNS server sees it.
///
/// Implementations swap their own state on reload (for example behind an `ArcSwap`), so the
/// server holds one `Arc<dyn QueryPolicy>` for its whole life. Every method runs on the query
/// path, on the UDP worker threads and on tokio tasks, so all of them must be quick and must not
/// block.
pub trait QueryPolicy: Send + Sync + 'static {
    /// Decides for a question. `name` is lower-case ASCII without the trailing dot, punycode as
    /// on the wire; bytes that cannot appear in a host name (and dots inside a label) are written
    /// in the RFC 1035 `\DDD` / `\.` escapes, so a suffix match still sees the real parent
    /// domain. The root is `"."`.
    fn decide(&self, client: IpAddr, name: &str, qtype: u16) -> PolicyAnswer;

    /// Decides for a CNAME target met in the answer to `question`. The server calls this for
    /// every CNAME target in the answer, on every answer (cached or not), so that a chain into a
    /// blocked name is blocked for this client. Only [`PolicyAnswer::Block`] has an effect here;
    /// the other answers let the chain through.
    fn decide_alias(&self, client: IpAddr, question: &str, alias: &str) -> PolicyAnswer;

    /// Reports one answered query. Called after the answer was sent, once per query that got as
    /// far as a policy decision (malformed, rate-limited and NOTIMP queries are only counted in
    /// the metrics). Must be cheap: queue the event, do not write it here.
    fn record(&self, event: QueryEvent);
}

/// What the policy wants done with a question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyAnswer {
    /// Allowed: answer from the cache or the upstream resolvers. The [`AllowInfo`], if any,
    /// comes back in the query's [`QueryEvent`].
    Forward(Option<AllowInfo>),
    /// Answer `qname CNAME target` plus the target's records for the same type, resolved
    /// upstream and cached, as a recursive resolver would for a real CNAME.
    SafeSearch {
        /// The name the question is redirected to (lower-case, no trailing dot).
        target: Arc<str>,
        /// Comes back in the query's [`QueryEvent`].
        allow: Option<AllowInfo>,
    },
    /// Blocked by policy or by an illegal-content list.
    Block(BlockInfo),
    /// The client is held at the access portal until it accepts its acceptable use
    /// agreement: A is answered with `v4`, AAAA with `v6` (or no data without one), any other
    /// type with no data, all with a short TTL so that access returns soon after accepting.
    /// Never cached. In [`QueryPolicy::decide_alias`] it has no effect.
    Portal { v4: Ipv4Addr, v6: Option<Ipv6Addr> },
}

/// Why a name is blocked, and how to say so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Blocked by an illegal-content list: the Extended DNS Error says Censored (16) rather
    /// than Filtered (17).
    pub illegal: bool,
    /// Display name of the category, sent as the EDE EXTRA-TEXT (for example "Gambling").
    pub category: Arc<str>,
    /// The rule that matched, for the event log only; never sent to the client.
    pub rule: Arc<str>,
    /// Answer NXDOMAIN whatever the configured block response is, for names whose meaning is
    /// their absence (the Firefox DoH canary `use-application-dns.net`).
    pub force_nxdomain: bool,
}

/// Why a name is allowed, as the policy wants it logged: handed back with the query's event so
/// that logging need not decide a second time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowInfo {
    /// The category key the name is in, if it is in one.
    pub category: Option<Arc<str>>,
    /// The rule that allowed it.
    pub rule: Arc<str>,
    /// Anything else worth logging (for example where safe search sent the question).
    pub note: Option<Arc<str>>,
}

/// How a query was answered, as far as the policy is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Resolved normally (including upstream failures, which carry SERVFAIL in `rcode`).
    Allowed,
    /// Answered with the block response.
    Blocked,
    /// Answered with the safe-search redirect.
    SafeSearch,
    /// Answered with the access portal's address (see [`PolicyAnswer::Portal`]).
    Portal,
}

/// The transport a query came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Plain DNS over UDP.
    Udp,
    /// Plain DNS over TCP.
    Tcp,
}

/// One answered query, handed to [`QueryPolicy::record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryEvent {
    /// The client's address.
    pub client: IpAddr,
    /// The question name, as given to [`QueryPolicy::decide`].
    pub name: Box<str>,
    /// The question type.
    pub qtype: u16,
    /// Allowed, blocked or redirected.
    pub verdict: Verdict,
    /// Why it was blocked, when it was.
    pub block: Option<BlockInfo>,
    /// What the policy said when it allowed the question (see [`PolicyAnswer::Forward`]);
    /// `None` when it gave nothing, or when a CNAME target was blocked after all.
    pub allow: Option<AllowInfo>,
    /// The CNAME target that caused the block, when the question itself was allowed.
    pub blocked_alias: Option<Box<str>>,
    /// The response code sent (the extended code when EDNS carried one).
    pub rcode: u16,
    /// From receiving the query to handing the answer to the socket, in microseconds.
    pub response_time_us: u64,
    /// Answered from the cache (or locally) without waiting for an upstream.
    pub cache_hit: bool,
    /// UDP or TCP.
    pub transport: Transport,
}
