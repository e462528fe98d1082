//! The DNS filter's policy: the gateway's answer to the DNS server's questions.
//!
//! The server (`hedgerow-dns`) knows nothing of schools; this adapter turns a client address and
//! a name into an identity and a decision with the current snapshot, adds the DNS-only rules
//! (safe-search aliases, the Firefox DoH canary, search engines that cannot be locked), and turns
//! every answered query into an activity event. Logging happens on a thread of its own: the
//! query path only hands the event over.
//!
//! A client held at the access portal (see `agreement_gate.rs`) gets the portal's address for
//! every name except the portal's and the admin app's own; illegal-content lists still answer
//! with the block response, since that block must never depend on anything else.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use arc_swap::ArcSwap;
use hedgerow_dns::{
    AllowInfo, BlockInfo, PolicyAnswer, QueryEvent, QueryPolicy, Transport, Verdict as DnsVerdict,
};
use hedgerow_lists::{Host, Target, normalize_host};
use hedgerow_policy::safesearch::UNSAFE_SEARCH_CATEGORY;
use hedgerow_policy::{Decision, Request, Rule, SearchRule};
use hedgerow_store::{ActivityEvent, EventSink, EventSource, Verdict};

use crate::agreement_gate::{AgreementGate, HELD_RULE};
use crate::setup::Snapshot;
use crate::signed_in::SignedIn;

/// Firefox asks for this name before turning on DNS-over-HTTPS by itself; NXDOMAIN tells it
/// not to, which keeps its lookups on the school's filter.
pub const DOH_CANARY: &str = "use-application-dns.net";

/// Events waiting to be turned into activity records. Beyond this the oldest are not dropped:
/// new ones are, and counted, so a flood never holds up an answer.
const EVENT_QUEUE: usize = 16_384;
/// How long the logging thread lets events gather between drains while traffic flows. It only
/// delays the activity log, never an answer.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// The rule of the DoH canary's NXDOMAIN, and what the log says about it.
const CANARY_RULE: &str = "dns:doh-canary";
const CANARY_NOTE: &str = "the Firefox DNS-over-HTTPS canary, answered NXDOMAIN";
/// The end of the rule of a block for a search engine that cannot be locked to safe search
/// (`group:KEY/search:unsafe-engine`), and what the log says about it.
const UNSAFE_ENGINE_RULE_END: &str = "/search:unsafe-engine";
const UNSAFE_ENGINE_NOTE: &str = "a search engine that cannot be locked to safe search";
/// The rule logged for a name no list can name (the root, a name with escaped bytes).
const UNCHECKED_RULE: &str = "dns:unchecked";

/// The gateway's policy as the DNS server sees it.
pub struct GatewayDnsPolicy {
    current: Arc<ArcSwap<Snapshot>>,
    signed_in: Arc<SignedIn>,
    gate: Option<Arc<AgreementGate>>,
    events: SyncSender<(QueryEvent, jiff::Timestamp)>,
}

impl GatewayDnsPolicy {
    /// Builds the policy and starts the thread that logs its queries into `sink`. The thread
    /// ends, having logged everything handed to it, once the policy is dropped.
    pub fn new(
        current: Arc<ArcSwap<Snapshot>>,
        signed_in: Arc<SignedIn>,
        sink: EventSink,
        schools: std::collections::HashMap<String, hedgerow_store::SchoolId>,
        gate: Option<Arc<AgreementGate>>,
    ) -> std::io::Result<(Arc<GatewayDnsPolicy>, std::thread::JoinHandle<()>)> {
        let (events, queue) = std::sync::mpsc::sync_channel(EVENT_QUEUE);
        let logger = EventLogger {
            current: Arc::clone(&current),
            signed_in: Arc::clone(&signed_in),
            sink,
            schools,
        };
        let thread = std::thread::Builder::new()
            .name("dns-events".into())
            .spawn(move || logger.run(queue))?;
        let policy = Arc::new(GatewayDnsPolicy {
            current,
            signed_in,
            gate,
            events,
        });
        Ok((policy, thread))
    }
}

/// What one question comes to, for answering and for logging alike.
///
/// `detailed` also renders the rule of allowed answers, which only the event log needs; the
/// check of a CNAME target skips that work.
fn judge(
    snapshot: &Snapshot,
    signed_in: &SignedIn,
    gate: Option<&AgreementGate>,
    client: IpAddr,
    name: &str,
    detailed: bool,
) -> Judgement {
    if name == DOH_CANARY {
        return Judgement::Canary;
    }
    let Ok(host @ Host::Name(_)) = normalize_host(name) else {
        // The root, and names no host can have (escaped bytes): nothing a list can name.
        return Judgement::Unchecked;
    };
    let target = Target::host_only(host);
    let user = signed_in.user_at(client);
    let identity = snapshot.directory.resolve(None, client, user.as_deref());
    let Some(engine) = snapshot.engines.get(&identity.school.slug) else {
        return Judgement::Unchecked;
    };
    let request = Request {
        group: identity.group,
        user: identity.user.map(|u| u.username.as_str()),
        device: identity.device.map(|d| d.name.as_str()),
        target: &target,
        at: jiff::Timestamp::now(),
    };
    let decision = engine.decide(&request);
    let outcome = Outcome::of(&decision, detailed);
    // Held at the portal: every name but the portal's own, except that illegal content keeps
    // its block answer.
    if let Some(gate) = gate.filter(|g| g.holds_anyone())
        && !outcome.illegal
        && gate
            .held(&identity.school.slug, &identity, client)
            .is_some()
        && !gate.is_exempt_host(name)
    {
        return Judgement::Held;
    }
    if !decision.is_allowed() {
        return Judgement::Decided(outcome);
    }
    // An override that allows a site by hand is a teacher's decision about that site; the
    // safe-search alias still applies, the unlockable-engine block does not.
    let overridden = matches!(decision.rule(), Rule::Override(_));
    match engine.search_rule(&decision.group().key, &target) {
        Some(SearchRule::Rewrite { target, .. }) => Judgement::SafeSearch { target, outcome },
        Some(SearchRule::UnsafeEngine) if !overridden => Judgement::UnsafeEngine {
            group: decision.group().key.clone(),
        },
        _ => Judgement::Decided(outcome),
    }
}

/// The parts of a decision that outlive the snapshot it came from. The reason sentence is not
/// kept: at tens of thousands of queries a second, rendering one per event would cost more than
/// answering; it can be rendered from the rule whenever someone reads the log.
struct Outcome {
    allowed: bool,
    illegal: bool,
    category: Option<String>,
    rule: String,
}

impl Outcome {
    /// What the event log keeps of an allowed answer.
    fn allow_info(self, note: Option<String>) -> AllowInfo {
        AllowInfo {
            category: self.category.map(Arc::from),
            rule: Arc::from(self.rule),
            note: note.map(Arc::from),
        }
    }

    fn of(decision: &Decision<'_>, detailed: bool) -> Outcome {
        let allowed = decision.is_allowed();
        Outcome {
            allowed,
            illegal: matches!(decision.rule(), Rule::IllegalList { .. }),
            category: decision.category().map(str::to_string),
            rule: if detailed || !allowed {
                decision.rule_id()
            } else {
                String::new()
            },
        }
    }
}

enum Judgement {
    Canary,
    /// Held at the access portal until the agreement is accepted.
    Held,
    Unchecked,
    Decided(Outcome),
    SafeSearch {
        target: &'static str,
        outcome: Outcome,
    },
    UnsafeEngine {
        group: String,
    },
}

fn category_name(key: &str) -> &str {
    hedgerow_lists::category(key).map_or(key, |c| c.name)
}

impl QueryPolicy for GatewayDnsPolicy {
    fn decide(&self, client: IpAddr, name: &str, _qtype: u16) -> PolicyAnswer {
        // Detailed: the rule of an allowed name travels with the answer to the event log, which
        // then need not decide again.
        self.answer(client, name, true)
    }

    fn decide_alias(&self, client: IpAddr, _question: &str, alias: &str) -> PolicyAnswer {
        // An alias is judged as if it had been asked for, except that safe-search aliases of
        // our own making are not rewritten again. Only a block matters here, so the rule of an
        // allowed alias is not rendered.
        match self.answer(client, alias, false) {
            PolicyAnswer::SafeSearch { .. } => PolicyAnswer::Forward(None),
            other => other,
        }
    }

    fn record(&self, event: QueryEvent) {
        match self.events.try_send((event, jiff::Timestamp::now())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("hedgerow_dns_events_dropped_total").increment(1)
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl GatewayDnsPolicy {
    fn answer(&self, client: IpAddr, name: &str, detailed: bool) -> PolicyAnswer {
        let snapshot = self.current.load();
        match judge(
            &snapshot,
            &self.signed_in,
            self.gate.as_deref(),
            client,
            name,
            detailed,
        ) {
            Judgement::Canary => PolicyAnswer::Block(BlockInfo {
                illegal: false,
                category: Arc::from(category_name("circumvention")),
                rule: Arc::from(CANARY_RULE),
                force_nxdomain: true,
            }),
            Judgement::Held => match self.gate.as_deref().and_then(|g| g.portal().address) {
                Some(v4) => PolicyAnswer::Portal {
                    v4,
                    v6: self.gate.as_deref().and_then(|g| g.portal().address_v6),
                },
                // The gateway refuses to hold anyone without a portal address; should one
                // ever be missing, a held client is blocked rather than let through.
                None => PolicyAnswer::Block(BlockInfo {
                    illegal: false,
                    category: Arc::from("Acceptable use agreement not accepted"),
                    rule: Arc::from(HELD_RULE),
                    force_nxdomain: false,
                }),
            },
            Judgement::Unchecked => PolicyAnswer::Forward(None),
            Judgement::Decided(outcome) if outcome.allowed => {
                PolicyAnswer::Forward(detailed.then(|| outcome.allow_info(None)))
            }
            Judgement::Decided(outcome) => PolicyAnswer::Block(BlockInfo {
                illegal: outcome.illegal,
                category: Arc::from(outcome.category.as_deref().map_or("Blocked", category_name)),
                rule: Arc::from(outcome.rule),
                force_nxdomain: false,
            }),
            Judgement::SafeSearch { target, outcome } => PolicyAnswer::SafeSearch {
                target: Arc::from(target),
                allow: detailed.then(|| {
                    outcome.allow_info(Some(format!("safe search: answered as {target}")))
                }),
            },
            Judgement::UnsafeEngine { group } => PolicyAnswer::Block(BlockInfo {
                illegal: false,
                category: Arc::from(category_name(UNSAFE_SEARCH_CATEGORY)),
                rule: Arc::from(format!("group:{group}{UNSAFE_ENGINE_RULE_END}")),
                force_nxdomain: false,
            }),
        }
    }
}

/// Turns answered queries into activity events, off the query path.
struct EventLogger {
    current: Arc<ArcSwap<Snapshot>>,
    signed_in: Arc<SignedIn>,
    sink: EventSink,
    schools: std::collections::HashMap<String, hedgerow_store::SchoolId>,
}

impl EventLogger {
    /// Waits for an event, then, for as long as events keep coming, lets them gather for
    /// [`GATHER`] between drains: a resolver under load then hands events over without waking
    /// this thread (a system call and a context switch) for each query.
    fn run(self, queue: Receiver<(QueryEvent, jiff::Timestamp)>) {
        while let Ok(first) = queue.recv() {
            self.log(first);
            loop {
                std::thread::sleep(GATHER);
                let mut taken = 0usize;
                while let Ok(next) = queue.try_recv() {
                    self.log(next);
                    taken += 1;
                }
                if taken == 0 {
                    break;
                }
            }
        }
    }

    fn log(&self, (event, at): (QueryEvent, jiff::Timestamp)) {
        if let Some(activity) = self.activity(&event, at)
            && self.sink.record(activity).is_err()
        {
            metrics::counter!("hedgerow_dns_events_dropped_total").increment(1);
        }
    }

    fn activity(&self, event: &QueryEvent, at: jiff::Timestamp) -> Option<ActivityEvent> {
        let snapshot = self.current.load();
        let user = self.signed_in.user_at(event.client);
        let identity = snapshot
            .directory
            .resolve(None, event.client, user.as_deref());
        let school = *self.schools.get(&identity.school.slug)?;
        // The policy's reasons come back with the event: a block's (which wins: a CNAME into a
        // blocked name is only seen in the answer), or those it gave when it allowed the name.
        // An answer with neither is a name no list can name (the root, escaped bytes).
        let note = match (&event.allow, &event.block) {
            (Some(allow), None) => allow.note.as_deref().map(str::to_string),
            (_, Some(block)) if &*block.rule == CANARY_RULE => Some(CANARY_NOTE.to_string()),
            (_, Some(block)) if block.rule.ends_with(UNSAFE_ENGINE_RULE_END) => {
                Some(UNSAFE_ENGINE_NOTE.to_string())
            }
            _ => None,
        };
        let (category, rule) = match (&event.block, &event.allow) {
            _ if event.verdict == DnsVerdict::Portal => (None, HELD_RULE.to_string()),
            (Some(block), _) => (category_key(&block.category), block.rule.to_string()),
            (None, Some(allow)) => (
                allow.category.as_deref().map(str::to_string),
                allow.rule.to_string(),
            ),
            (None, None) => (None, UNCHECKED_RULE.to_string()),
        };
        let reason = match &event.blocked_alias {
            Some(alias) => Some(format!(
                "Blocked: the answer for {} is an alias of {alias}, which is blocked",
                event.name
            )),
            None if event.verdict == DnsVerdict::Portal => Some(
                "held at the access portal: the acceptable use agreement has not been accepted"
                    .to_string(),
            ),
            None => note,
        };
        Some(ActivityEvent {
            school,
            at,
            source: EventSource::Dns,
            client_ip: event.client,
            user: identity.user.map(|u| u.username.clone()),
            device: identity.device.map(|d| d.name.clone()),
            group: Some(identity.group.to_string()),
            host: event.name.to_string(),
            url: None,
            method: (event.transport == Transport::Tcp).then(|| "TCP".to_string()),
            qtype: Some(qtype_name(event.qtype)),
            category,
            verdict: if matches!(event.verdict, DnsVerdict::Blocked | DnsVerdict::Portal) {
                Verdict::Block
            } else {
                Verdict::Allow
            },
            rule,
            reason,
            search_term: None,
            status: Some(event.rcode),
            bytes: None,
            duration_us: Some(u32::try_from(event.response_time_us).unwrap_or(u32::MAX)),
            page_title: None,
        })
    }
}

/// The category key for a display name sent in a block (the server only carries the name).
fn category_key(display: &str) -> Option<String> {
    hedgerow_lists::CATEGORIES
        .iter()
        .find(|c| c.name == display)
        .map(|c| c.key.to_string())
}

/// The mnemonic for common record types, the number otherwise (RFC 3597 style).
pub fn qtype_name(qtype: u16) -> String {
    match qtype {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        64 => "SVCB".into(),
        65 => "HTTPS".into(),
        255 => "ANY".into(),
        other => format!("TYPE{other}"),
    }
}
