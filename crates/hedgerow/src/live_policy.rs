//! Policy changes made in the admin app, live in the running gateway within seconds.
//!
//! The configuration file is the base; the store's change log (`hedgerow_store::changes`)
//! holds the changes made since, and [`apply_changes`] applies the ones in force, in order, to
//! a clone of each school's configured [`PolicySpec`] before its engine is built. A change that
//! no longer applies (its group was removed from the configuration, say) is skipped with a
//! warning rather than stopping the gateway.
//!
//! [`LivePolicy`] holds what a rebuild needs (the configuration, the store, the snapshot) and
//! [`LivePolicy::refresh`] builds a new snapshot from the index already loaded (no list is
//! compiled or mapped again), the configuration and the changes in force, and swaps it in
//! whole. The gateway refreshes at start, after every SIGHUP reload, and from a ticker every
//! [`TICK`] that looks at the store's change fingerprint and the next expiry only, so a change
//! made by another process (the admin app) reaches the DNS filter and the proxy within about
//! two seconds; the admin app may also call `refresh` straight after a change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use hedgerow_lists::{ListClass, Target};
use hedgerow_policy::PolicySpec;
use hedgerow_policy::change::{ChangeStamp, PolicyChange};
use hedgerow_store::{ChangesVersion, NewPolicyChange, PolicyChangeRecord, SchoolId, Store};
use jiff::Timestamp;
use tracing::{info, warn};

use crate::setup::{ConfigFile, Snapshot};

/// How often the gateway looks for changes made elsewhere and for changes running out.
pub const TICK: Duration = Duration::from_secs(2);

/// The changes in force per school slug, as the snapshot builder takes them.
pub type ActiveChanges = HashMap<String, Vec<PolicyChangeRecord>>;

/// Applies the changes in force to a clone of a school's configured policy, in order. A change
/// that cannot be read or applied is skipped (and logged); the others still apply.
pub fn apply_changes(base: &PolicySpec, changes: Option<&Vec<PolicyChangeRecord>>) -> PolicySpec {
    let mut spec = base.clone();
    for record in changes.into_iter().flatten() {
        let change = match PolicyChange::from_json(&record.change) {
            Ok(change) => change,
            Err(e) => {
                warn!(school = %base.school, change = record.id.0, "skipping a policy change: {e}");
                continue;
            }
        };
        let stamp = ChangeStamp {
            id: record.stamp_id(),
            by: record
                .approved_by
                .clone()
                .unwrap_or_else(|| record.created_by.clone()),
            reason: record.reason.clone(),
        };
        let mut next = spec.clone();
        match change.apply(&mut next, &stamp) {
            Ok(()) => spec = next,
            Err(e) => {
                warn!(school = %base.school, change = record.id.0, "skipping a policy change that no longer applies: {e}")
            }
        }
    }
    spec
}

/// The running gateway's policy: configuration plus the change log, kept live.
pub struct LivePolicy {
    current: Arc<ArcSwap<Snapshot>>,
    store: Store,
    schools: HashMap<String, SchoolId>,
    config: Mutex<Arc<ConfigFile>>,
    /// What the last refresh saw: the change log's fingerprint and the next expiry.
    seen: Mutex<(ChangesVersion, Option<Timestamp>)>,
    /// One rebuild at a time, so an older one never replaces a newer.
    rebuilding: tokio::sync::Mutex<()>,
}

impl LivePolicy {
    pub fn new(
        config: ConfigFile,
        current: Arc<ArcSwap<Snapshot>>,
        store: Store,
        schools: HashMap<String, SchoolId>,
    ) -> LivePolicy {
        LivePolicy {
            current,
            store,
            schools,
            config: Mutex::new(Arc::new(config)),
            seen: Mutex::new((ChangesVersion::default(), None)),
            rebuilding: tokio::sync::Mutex::new(()),
        }
    }

    fn config(&self) -> Arc<ConfigFile> {
        Arc::clone(&self.config.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn active_changes(&self, now: Timestamp) -> anyhow::Result<ActiveChanges> {
        let mut all = HashMap::new();
        for (slug, id) in &self.schools {
            let changes = self
                .store
                .active_changes(*id, now)
                .await
                .context("cannot read the policy changes in force")?;
            all.insert(slug.clone(), changes);
        }
        Ok(all)
    }

    /// Rebuilds the snapshot from the index in use, the configuration and the changes in force,
    /// and swaps it in.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _one = self.rebuilding.lock().await;
        let index = Arc::clone(&self.current.load().index);
        self.rebuild(&self.config(), index).await
    }

    /// After a SIGHUP: the new configuration and the freshly compiled index, with the changes.
    pub async fn reload(&self, config: ConfigFile) -> anyhow::Result<()> {
        let _one = self.rebuilding.lock().await;
        let index = hedgerow_catalog::open_index(&config.index_path).with_context(|| {
            format!(
                "the list index {} is not usable",
                config.index_path.display()
            )
        })?;
        self.rebuild(&config, Arc::new(index)).await?;
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(())
    }

    async fn rebuild(
        &self,
        config: &ConfigFile,
        index: Arc<hedgerow_lists::ListIndex>,
    ) -> anyhow::Result<()> {
        let now = Timestamp::now();
        // Read the fingerprint first: a change landing during the rebuild moves it again and
        // is picked up at the next tick.
        let version = self.store.changes_version().await?;
        let next_expiry = self.store.next_change_expiry(now).await?;
        let changes = self.active_changes(now).await?;
        let snapshot = Snapshot::with_index_and_changes(config, index, &changes)?;
        crate::gateway::self_check(&snapshot)?;
        self.current.store(Arc::new(snapshot));
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = (version, next_expiry);
        let applied: usize = changes.values().map(Vec::len).sum();
        info!(
            changes = applied,
            "policy snapshot rebuilt with the changes in force"
        );
        Ok(())
    }

    /// Refreshes when the change log moved or a change ran out since the last refresh.
    pub async fn refresh_if_changed(&self) -> anyhow::Result<bool> {
        let now = Timestamp::now();
        let version = self.store.changes_version().await?;
        let (seen, next_expiry) = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let expired = next_expiry.is_some_and(|t| t <= now);
        if version == seen && !expired {
            return Ok(false);
        }
        if expired {
            // Keep the log's statuses true; the snapshot stops applying them either way.
            self.store.expire_changes(now).await?;
        }
        self.refresh().await?;
        Ok(true)
    }

    /// Runs until the task is aborted: [`Self::refresh_if_changed`] every [`TICK`].
    pub async fn run_ticker(self: Arc<Self>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh_if_changed().await {
                warn!("could not bring policy changes into force, will try again: {e:#}");
            }
        }
    }

    /// The snapshot in use.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The store the change log lives in (the self-test records its check there too).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A school's id in the store, by slug.
    pub fn school_id(&self, school: &str) -> Option<SchoolId> {
        self.schools.get(school).copied()
    }

    /// The policy in force for a school now (configuration plus changes).
    pub fn effective_spec(&self, school: &str) -> anyhow::Result<PolicySpec> {
        Ok(self.current.load().engine(school)?.spec().clone())
    }

    /// Checks a change against the policy in force and the loaded lists, and returns what the
    /// change log records for it: the kind and the difference. Refuses any change that would
    /// allow something on an illegal-content list.
    pub fn prepare(
        &self,
        school: &str,
        change: &PolicyChange,
    ) -> anyhow::Result<(String, String, PolicySpec)> {
        let before = self.effective_spec(school)?;
        let snapshot = self.current.load();
        if let PolicyChange::CategoryAction {
            selector, action, ..
        } = change
            && let hedgerow_policy::Selector::List(name) =
                hedgerow_policy::Selector::parse(selector)
            && action.as_ref() != Some(&hedgerow_policy::change::ChangeAction::Block)
            && snapshot
                .index
                .lists()
                .iter()
                .any(|l| l.name == name && l.class == ListClass::Illegal)
        {
            anyhow::bail!(
                "list:{name} is illegal content, which is always blocked and cannot be allowed by any change"
            );
        }
        if let PolicyChange::SiteOverride {
            host,
            path,
            verdict: hedgerow_policy::change::ChangeVerdict::Allow,
            ..
        } = change
        {
            let text = format!("{}{}", host.trim(), path.as_deref().unwrap_or(""));
            if let Ok(target) = Target::parse(&text) {
                let mut matches = Vec::new();
                snapshot.index.lookup(&target, &mut matches);
                if matches.iter().any(|m| {
                    snapshot
                        .index
                        .list(m.list)
                        .is_some_and(|l| l.class == ListClass::Illegal)
                }) {
                    anyhow::bail!(
                        "{text} is on an illegal-content list, which is always blocked and cannot be allowed by any change"
                    );
                }
            }
        }
        let mut after = before.clone();
        change.apply(
            &mut after,
            &ChangeStamp {
                id: "change-new".into(),
                by: "preview".into(),
                reason: "preview".into(),
            },
        )?;
        Ok((
            change.kind(&before).to_string(),
            change.describe_diff(&before),
            after,
        ))
    }

    /// Proposes a change for a school (checked first, see [`Self::prepare`]) and, when it
    /// applies at once, brings it into force before returning.
    pub async fn propose(
        &self,
        school: &str,
        change: &PolicyChange,
        by: &str,
        reason: &str,
        source: &str,
    ) -> anyhow::Result<PolicyChangeRecord> {
        let id = *self
            .schools
            .get(school)
            .with_context(|| format!("there is no school {school:?}"))?;
        let (kind, diff, _) = self.prepare(school, change)?;
        let record = self
            .store
            .propose_change(
                &NewPolicyChange {
                    school: id,
                    created_by: by.to_owned(),
                    reason: reason.to_owned(),
                    kind,
                    change: change.to_json(),
                    diff,
                    applies_until: change.until(),
                    source: source.to_owned(),
                },
                Timestamp::now(),
            )
            .await?;
        self.refresh().await?;
        Ok(record)
    }
}
