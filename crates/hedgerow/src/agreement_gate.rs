//! The agreement gate: who is held at the access portal until they accept their acceptable use
//! agreement, as the DNS filter and the proxy ask on every query and request.
//!
//! Only groups a school lists in `[school.agreements] hold` are held. The state the question
//! needs (for each held school: its held groups and their audiences, who has a current
//! acceptance and until when, which addresses a visitor's day code admitted) is built from the
//! store off the query path and swapped in whole behind an `ArcSwap`, so [`AgreementGate::held`]
//! takes no lock and allocates nothing; for a school that holds no one it is one hash lookup,
//! and with no holds at all one atomic load. A ticker watches the store's agreements
//! fingerprint every two seconds, and the portal asks for a refresh the moment someone accepts.
//!
//! Expiry is worked out when the state is built: an acceptance lets its subject in until the
//! start of its expiry day in the school's time zone, so the date passing needs no rebuild.
//! The portal learns who is at it through the proxy from [`AgreementGate::vouch`]: the client's
//! address and user, signed with a key made afresh by each process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use hedgerow_agreements::Audience;
use hedgerow_config::PortalSettings;
use hedgerow_identity::Identity;
use hedgerow_policy::GroupKind;
use hedgerow_store::{SchoolId, Store, SubjectKind};
use hedgerow_web::portal::{PortalGate, PortalPerson, PortalVisitor};
use jiff::Timestamp;
use ring::hmac;
use tracing::warn;

use crate::setup::Snapshot;
use crate::signed_in::SignedIn;

/// The rule id of a held query or request in the activity log.
pub const HELD_RULE: &str = "agreement:not-accepted";

/// The rule id of a request for the portal itself, which is always let through.
pub const PORTAL_RULE: &str = "agreement:portal";

/// The header in which the proxy tells the portal who is at it (the portal's own name for it).
pub use hedgerow_web::portal::VOUCH_HEADER;

/// How often the ticker asks the store whether anything about agreements changed.
const TICK: Duration = Duration::from_secs(2);

/// How long a vouch is believed: long enough for one page and its form.
const VOUCH_SECONDS: i64 = 600;

/// The gate shared by the DNS filter, the proxy and the portal.
pub struct AgreementGate {
    store: Store,
    current: Arc<ArcSwap<Snapshot>>,
    signed_in: Arc<SignedIn>,
    schools: HashMap<String, SchoolId>,
    /// Each school's held group keys, from the configuration (replaced on reload).
    holds: ArcSwap<HashMap<String, Vec<String>>>,
    /// False when no school holds anyone: the query path stops at this.
    any_hold: AtomicBool,
    state: ArcSwap<GateState>,
    portal: PortalSettings,
    /// Names (lower case) and addresses never held: the portal's and the admin app's.
    exempt_names: Vec<String>,
    exempt_addresses: Vec<IpAddr>,
    key: hmac::Key,
    /// The store's fingerprint when the state was last built; `None` forces a rebuild.
    seen: tokio::sync::Mutex<Option<String>>,
}

#[derive(Default)]
struct GateState {
    /// Only schools that hold someone.
    schools: HashMap<String, SchoolGate>,
}

struct SchoolGate {
    /// Held group key → its audience, and whether its devices are personal (pupil or staff
    /// groups: a device answers for itself) rather than shared by visitors.
    hold: HashMap<String, (Audience, bool)>,
    /// Audiences with a current agreement; with none there is nothing to accept, so no one
    /// in that audience is held.
    published: Vec<Audience>,
    /// Username → (audience, let in until) for each current acceptance.
    users: HashMap<String, Vec<(Audience, Timestamp)>>,
    /// Device name → (audience, let in until).
    devices: HashMap<String, Vec<(Audience, Timestamp)>>,
    /// Visitors' addresses admitted with a day code → until when.
    visitors: HashMap<IpAddr, Timestamp>,
}

impl AgreementGate {
    /// A gate with nothing accepted yet; call [`AgreementGate::refresh`] before serving.
    /// `exempt` lists the admin app's names and addresses, which are never held.
    pub fn new(
        store: Store,
        current: Arc<ArcSwap<Snapshot>>,
        signed_in: Arc<SignedIn>,
        schools: HashMap<String, SchoolId>,
        holds: HashMap<String, Vec<String>>,
        portal: PortalSettings,
        exempt: &[String],
    ) -> Arc<AgreementGate> {
        let mut exempt_names = Vec::new();
        let mut exempt_addresses: Vec<IpAddr> = Vec::new();
        let portal_names = portal.host().into_iter();
        for entry in exempt.iter().cloned().chain(portal_names) {
            let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
            match entry.trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => exempt_addresses.push(ip.to_canonical()),
                Err(_) if !entry.is_empty() => exempt_names.push(entry),
                Err(_) => {}
            }
        }
        exempt_addresses.extend(portal.address.map(IpAddr::V4));
        exempt_addresses.extend(portal.address_v6.map(IpAddr::V6));
        let any_hold = holds.values().any(|keys| !keys.is_empty());
        Arc::new(AgreementGate {
            store,
            current,
            signed_in,
            schools,
            holds: ArcSwap::from_pointee(holds),
            any_hold: AtomicBool::new(any_hold),
            state: ArcSwap::from_pointee(GateState::default()),
            portal,
            exempt_names,
            exempt_addresses,
            key: hedgerow_web::portal::process_key(),
            seen: tokio::sync::Mutex::new(None),
        })
    }

    /// Whether anyone in any school can be held; `false` lets callers skip the question.
    pub fn holds_anyone(&self) -> bool {
        self.any_hold.load(Ordering::Relaxed)
    }

    /// The portal's settings (addresses for DNS, URL for redirects).
    pub fn portal(&self) -> &PortalSettings {
        &self.portal
    }

    /// The audience whose agreement this client must accept before going further, or `None`
    /// when it is not held.
    pub fn held(
        &self,
        school_slug: &str,
        identity: &Identity<'_>,
        client: IpAddr,
    ) -> Option<Audience> {
        if !self.holds_anyone() {
            return None;
        }
        let state = self.state.load();
        let school = state.schools.get(school_slug)?;
        let &(audience, personal) = school.hold.get(identity.group)?;
        if !school.published.contains(&audience) {
            return None;
        }
        let now = Timestamp::now();
        let current = |list: Option<&Vec<(Audience, Timestamp)>>| {
            list.is_some_and(|list| list.iter().any(|&(a, until)| a == audience && now < until))
        };
        let admitted = match (identity.user, identity.device) {
            (Some(user), _) => current(school.users.get(user.username.as_str())),
            (None, Some(device)) if personal => current(school.devices.get(device.name.as_str())),
            _ => school
                .visitors
                .get(&client.to_canonical())
                .is_some_and(|until| now < *until),
        };
        (!admitted).then_some(audience)
    }

    /// Whether a name or address (a query's name, a request's host; any case, no port) is
    /// never held: the portal's own, or the admin app's.
    pub fn is_exempt_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.exempt_addresses.contains(&ip.to_canonical());
        }
        self.exempt_names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(host))
    }

    /// Whether a request for `host:port` is for the portal, so the proxy forwards it with a
    /// vouch. The port counts: other services on the portal's address (the admin app, say) are
    /// filtered like any site and never see a vouch.
    pub fn is_portal(&self, host: &str, port: u16) -> bool {
        self.portal.is_portal_host(host) && self.portal.port() == Some(port)
    }

    /// The portal's URL with `then` set to where the client wanted to go.
    pub fn portal_redirect(&self, then: &str) -> String {
        hedgerow_web::portal::portal_link(self.portal.url.as_deref().unwrap_or("/"), then)
    }

    /// Vouches for who is at the portal through the proxy: `"<address> <user or -> <unix
    /// seconds> <signature>"`, which [`AgreementGate::check_vouch`] believes for ten minutes.
    pub fn vouch(&self, client: IpAddr, user: Option<&str>) -> String {
        let user = user
            .filter(|u| !u.is_empty() && !u.contains(char::is_whitespace))
            .unwrap_or("-");
        let message = format!(
            "{} {user} {}",
            client.to_canonical(),
            Timestamp::now().as_second()
        );
        let tag = hmac::sign(&self.key, message.as_bytes());
        format!("{message} {}", hex(tag.as_ref()))
    }

    /// The client and user a vouch names, when its signature checks and it is recent.
    pub fn check_vouch(&self, value: &str) -> Option<(IpAddr, Option<String>)> {
        let (message, signature) = value.trim().rsplit_once(' ')?;
        let tag = unhex(signature)?;
        hmac::verify(&self.key, message.as_bytes(), &tag).ok()?;
        let mut parts = message.split(' ');
        let client = parts.next()?.parse::<IpAddr>().ok()?;
        let user = parts.next()?;
        let at = parts.next()?.parse::<i64>().ok()?;
        let age = Timestamp::now().as_second() - at;
        if !(-60..=VOUCH_SECONDS).contains(&age) || parts.next().is_some() {
            return None;
        }
        Some((client, (user != "-").then(|| user.to_string())))
    }

    /// Replaces the held groups after a configuration reload; the next tick rebuilds.
    pub async fn set_holds(&self, holds: HashMap<String, Vec<String>>) {
        self.any_hold
            .store(holds.values().any(|k| !k.is_empty()), Ordering::Relaxed);
        self.holds.store(Arc::new(holds));
        *self.seen.lock().await = None;
    }

    /// Rebuilds the state from the store now.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let mut seen = self.seen.lock().await;
        let fingerprint = self
            .store
            .agreements_fingerprint()
            .await
            .context("cannot read the agreements' fingerprint")?;
        self.rebuild().await?;
        *seen = Some(fingerprint);
        Ok(())
    }

    /// Rebuilds whenever the store's fingerprint changes; runs until aborted.
    pub async fn run_ticker(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if !self.holds_anyone() {
                continue;
            }
            let fingerprint = match self.store.agreements_fingerprint().await {
                Ok(f) => f,
                Err(e) => {
                    warn!("cannot check whether agreements changed: {e}");
                    continue;
                }
            };
            let mut seen = self.seen.lock().await;
            if seen.as_deref() == Some(fingerprint.as_str()) {
                continue;
            }
            match self.rebuild().await {
                Ok(()) => *seen = Some(fingerprint),
                Err(e) => warn!("cannot re-read agreements for the portal hold: {e:#}"),
            }
        }
    }

    async fn rebuild(&self) -> anyhow::Result<()> {
        let snapshot = self.current.load_full();
        let holds = self.holds.load_full();
        let now = Timestamp::now();
        let mut schools = HashMap::new();
        for (slug, keys) in holds.iter().filter(|(_, keys)| !keys.is_empty()) {
            let (Some(&school), Some(engine)) =
                (self.schools.get(slug), snapshot.engines.get(slug))
            else {
                continue;
            };
            let spec = engine.spec();
            let zone = spec.time_zone.clone();
            let mut hold = HashMap::new();
            for key in keys {
                if let Some(group) = spec.groups.iter().find(|g| &g.key == key) {
                    let audience = Audience::for_group(group.kind.key(), key, &group.name);
                    let personal = devices_answer_for_themselves(group.kind);
                    hold.insert(key.clone(), (audience, personal));
                }
            }
            let (current, acceptances) = self
                .store
                .agreement_gate_rows(school)
                .await
                .with_context(|| format!("cannot read the agreements of {slug}"))?;
            let settings = self.store.agreement_settings(school).await?;
            let renewal = hedgerow_web::renewal_of(&settings);
            let today = now.to_zoned_datetime(zone.clone()).date();
            let current: HashMap<Audience, i64> = current
                .iter()
                .filter_map(|(audience, id)| Some((Audience::parse(audience)?, *id)))
                .collect();
            let mut users: HashMap<String, Vec<(Audience, Timestamp)>> = HashMap::new();
            let mut devices: HashMap<String, Vec<(Audience, Timestamp)>> = HashMap::new();
            for row in acceptances {
                let Some(audience) = Audience::parse(&row.audience) else {
                    continue;
                };
                let accepted_on = row.accepted_at.to_zoned_datetime(zone.clone()).date();
                let of_current = current.get(&audience) == Some(&row.version_id);
                if !renewal
                    .standing(Some(accepted_on), of_current, today)
                    .lets_in()
                {
                    continue;
                }
                let until = renewal
                    .expires_on(accepted_on)
                    .to_zoned_datetime(zone.clone())
                    .map_or(Timestamp::MAX, |z| z.timestamp());
                let into = match row.subject_kind {
                    SubjectKind::User => &mut users,
                    SubjectKind::Device => &mut devices,
                    SubjectKind::Visitor => continue,
                };
                into.entry(row.subject).or_default().push((audience, until));
            }
            let mut visitors: HashMap<IpAddr, Timestamp> = HashMap::new();
            for admission in self.store.visitor_admissions(school, now).await? {
                let until = visitors
                    .entry(admission.client_addr.to_canonical())
                    .or_insert(admission.until);
                *until = (*until).max(admission.until);
            }
            schools.insert(
                slug.clone(),
                SchoolGate {
                    hold,
                    published: current.keys().copied().collect(),
                    users,
                    devices,
                    visitors,
                },
            );
        }
        self.state.store(Arc::new(GateState { schools }));
        Ok(())
    }

    /// Who is at `client`, and whether they are held, for the portal.
    fn visitor(&self, client: IpAddr, user: Option<&str>) -> Option<PortalVisitor> {
        let snapshot = self.current.load();
        let identity = snapshot.directory.resolve(None, client, user);
        let slug = identity.school.slug.as_str();
        let school = *self.schools.get(slug)?;
        let spec = snapshot.engines.get(slug).map(|e| e.spec());
        let group = spec.and_then(|s| s.groups.iter().find(|g| g.key == identity.group));
        let kind = group.map_or(GroupKind::Unidentified, |g| g.kind);
        let group_name = group.map_or(identity.group, |g| g.name.as_str());
        let audience = Audience::for_group(kind.key(), identity.group, group_name);
        let person = match (identity.user, identity.device) {
            (Some(user), _) => PortalPerson::User {
                username: user.username.clone(),
                display_name: user.display_name.clone(),
            },
            (None, Some(device)) if devices_answer_for_themselves(kind) => PortalPerson::Device {
                name: device.name.clone(),
            },
            _ => PortalPerson::Guest,
        };
        Some(PortalVisitor {
            school,
            school_slug: slug.to_string(),
            school_name: identity.school.name.clone(),
            client,
            person,
            audience,
            group_name: group_name.to_string(),
            held: self.held(slug, &identity, client).is_some(),
            online_safety_lead: spec.and_then(|s| s.online_safety_lead.clone()),
        })
    }
}

/// Whether a device in a group of this kind, with nobody signed in and no owner, accepts its
/// agreement for itself (a class's shared iPad), rather than each guest on it by address (a
/// guest Wi-Fi network).
pub fn devices_answer_for_themselves(kind: GroupKind) -> bool {
    matches!(kind, GroupKind::Pupil | GroupKind::Staff)
}

/// The project's own agreement texts, one per audience, as `Store::ensure_default_agreements`
/// publishes them for a school that has none.
pub fn default_agreements() -> Vec<(String, String, String)> {
    Audience::ALL
        .iter()
        .map(|audience| {
            let template = hedgerow_agreements::default_template(*audience);
            (audience.key().to_string(), template.title, template.body)
        })
        .collect()
}

#[async_trait]
impl PortalGate for AgreementGate {
    fn who(&self, peer: IpAddr, vouched: Option<&str>) -> Option<PortalVisitor> {
        match vouched.and_then(|v| self.check_vouch(v)) {
            Some((client, user)) => {
                let user = user.or_else(|| self.signed_in.user_at(client).map(|u| u.to_string()));
                self.visitor(client, user.as_deref())
            }
            None => {
                let peer = peer.to_canonical();
                let user = self.signed_in.user_at(peer);
                self.visitor(peer, user.as_deref())
            }
        }
    }

    fn audience_of(&self, school_slug: &str, group_key: &str) -> Audience {
        let snapshot = self.current.load();
        let group = snapshot
            .engines
            .get(school_slug)
            .and_then(|e| e.spec().groups.iter().find(|g| g.key == group_key));
        match group {
            Some(group) => Audience::for_group(group.kind.key(), &group.key, &group.name),
            // A child's group that is no longer configured: a pupil all the same.
            None => Audience::for_group("pupil", group_key, group_key),
        }
    }

    async fn refresh(&self) {
        if let Err(e) = AgreementGate::refresh(self).await {
            warn!("cannot re-read agreements after an acceptance: {e:#}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_nonsense() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("é1"), None);
    }
}
