//! The compiled policy and the per-request decision.
//!
//! Building an engine resolves every (group, list) pair to one action ahead of time, so a
//! decision is an index lookup followed by array reads: no string maps, and no allocation
//! beyond the match buffer, which is reused.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use hedgerow_lists::{Host, ListClass, ListIndex, Match, Target};
use jiff::Timestamp;
use jiff::civil::DateTime;

use crate::calendar::{Calendar, schedule_active};
use crate::decision::{Decision, Rule};
use crate::error::PolicyError;
use crate::safesearch::{SearchRule, SearchTables};
use crate::spec::{
    Action, GroupKind, GroupSpec, PolicySpec, Sanction, SanctionKind, SiteOverride, Verdict, Via,
};
use crate::validate::{not_strict, validate};

/// One request to decide on. The identity comes from the directory; `at` is the moment of the
/// request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The filtering group; an unknown key is treated as the unknown-client group.
    pub group: &'a str,
    pub user: Option<&'a str>,
    pub device: Option<&'a str>,
    pub target: &'a Target,
    pub at: Timestamp,
}

/// An action as the engine evaluates it.
#[derive(Debug)]
enum Check {
    Allow,
    Block,
    During(Vec<u16>),
    /// Lower-cased usernames.
    For(Vec<String>),
}

#[derive(Debug)]
struct CompiledRule {
    group: u16,
    via: Via,
    check: Check,
}

/// A compiled policy for one school, tied to one list index.
#[derive(Debug)]
pub struct Engine {
    spec: PolicySpec,
    index: Arc<ListIndex>,
    list_count: usize,
    illegal: Vec<bool>,
    group_ids: HashMap<String, u16>,
    unknown: u16,
    rules: Vec<CompiledRule>,
    /// `rules` index for each (group, list): `table[group * list_count + list]`.
    table: Vec<u32>,
    /// `rules` index of each group's default.
    defaults: Vec<u32>,
    overrides_by_group: Vec<Vec<u32>>,
    /// Lower-cased username to indexes into `spec.sanctions`.
    sanctions_by_user: HashMap<String, Vec<u32>>,
    calendar: Calendar,
    search: SearchTables,
}

thread_local! {
    static MATCH_BUFFER: RefCell<Vec<Match>> = const { RefCell::new(Vec::new()) };
}

impl Engine {
    /// Checks the spec against itself and the index, and compiles it.
    pub fn new(spec: PolicySpec, index: Arc<ListIndex>) -> Result<Engine, PolicyError> {
        if let Some(problem) = validate(&spec).into_iter().next() {
            return Err(problem);
        }
        check_count("the number of groups", spec.groups.len(), u16::MAX as usize)?;
        check_count(
            "the number of schedules",
            spec.schedules.len(),
            u16::MAX as usize,
        )?;
        let lists = index.lists();
        for group in &spec.groups {
            for (selector, _) in &group.actions {
                if let crate::Selector::List(name) = selector
                    && !lists.iter().any(|l| &l.name == name)
                {
                    return Err(PolicyError::UnknownList {
                        group: group.key.clone(),
                        list: name.clone(),
                    });
                }
            }
        }
        let group_ids: HashMap<String, u16> = spec
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.key.clone(), i as u16))
            .collect();
        let schedule_ids: HashMap<&str, u16> = spec
            .schedules
            .iter()
            .enumerate()
            .map(|(i, s)| (s.key.as_str(), i as u16))
            .collect();
        let unknown = group_ids[&spec.unknown_group];

        let list_count = lists.len();
        let mut rules = Vec::new();
        let mut rule_ids: HashMap<(u16, Via), u32> = HashMap::new();
        let mut rule_for = |group: u16, via: Via, action: &Action| -> Result<u32, PolicyError> {
            if let Some(id) = rule_ids.get(&(group, via)) {
                return Ok(*id);
            }
            let check = match action {
                Action::Allow => Check::Allow,
                Action::Block => Check::Block,
                Action::AllowDuring(names) => Check::During(
                    names
                        .iter()
                        .filter_map(|n| schedule_ids.get(n.as_str()).copied())
                        .collect(),
                ),
                Action::AllowFor(users) => {
                    Check::For(users.iter().map(|u| u.to_ascii_lowercase()).collect())
                }
            };
            let id = u32::try_from(rules.len()).map_err(|_| PolicyError::TooMany {
                what: "the number of distinct rules",
                count: rules.len(),
                max: u32::MAX as usize,
            })?;
            rules.push(CompiledRule { group, via, check });
            rule_ids.insert((group, via), id);
            Ok(id)
        };
        let mut table = Vec::with_capacity(spec.groups.len() * list_count);
        let mut defaults = Vec::with_capacity(spec.groups.len());
        for (group_id, group) in spec.groups.iter().enumerate() {
            defaults.push(rule_for(group_id as u16, Via::Default, &group.default)?);
            for list in lists {
                let (via, action) = group.resolve_list(&list.name, &list.category);
                table.push(rule_for(group_id as u16, via, action)?);
            }
        }

        let overrides_by_group = spec
            .groups
            .iter()
            .map(|group| {
                spec.overrides
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.groups.as_ref().is_none_or(|gs| gs.contains(&group.key)))
                    .map(|(i, _)| i as u32)
                    .collect()
            })
            .collect();
        let mut sanctions_by_user: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, sanction) in spec.sanctions.iter().enumerate() {
            sanctions_by_user
                .entry(sanction.username.to_ascii_lowercase())
                .or_default()
                .push(i as u32);
        }
        let engine = Engine {
            calendar: Calendar::new(&spec.terms, &spec.closures),
            search: SearchTables::new(&spec.unsafe_search_engines),
            illegal: lists
                .iter()
                .map(|l| l.class == ListClass::Illegal)
                .collect(),
            spec,
            index,
            list_count,
            group_ids,
            unknown,
            rules,
            table,
            defaults,
            overrides_by_group,
            sanctions_by_user,
        };
        engine.check_list_strictness()?;
        Ok(engine)
    }

    /// The category-level check cannot see `list:` actions; with the index at hand every list
    /// can be compared as it will actually be decided.
    fn check_list_strictness(&self) -> Result<(), PolicyError> {
        for (group_id, group) in self.spec.groups.iter().enumerate() {
            if group.kind != GroupKind::Pupil {
                continue;
            }
            for (list_id, list) in self.index.lists().iter().enumerate() {
                if self.illegal[list_id] {
                    continue;
                }
                let pupil_action = self.action_of(
                    &self.rules[self.table[group_id * self.list_count + list_id] as usize],
                );
                let unknown_rule = &self.rules
                    [self.table[self.unknown as usize * self.list_count + list_id] as usize];
                let unknown_action = self.action_of(unknown_rule);
                if !unknown_action.at_least_as_strict_as(pupil_action) {
                    return Err(not_strict(
                        &self.spec,
                        &format!("list:{}", list.name),
                        unknown_action,
                        group,
                        pupil_action,
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    pub fn index(&self) -> &Arc<ListIndex> {
        &self.index
    }

    /// The group a key names, or the unknown-client group for keys that name none.
    pub fn group(&self, key: &str) -> &GroupSpec {
        &self.spec.groups[self.group_id(key) as usize]
    }

    fn group_id(&self, key: &str) -> u16 {
        self.group_ids.get(key).copied().unwrap_or(self.unknown)
    }

    /// The search rule for a target under a group's settings: an alias to the engine's
    /// safe-search name, or a block for an engine that cannot be locked. It applies on top of an
    /// allowing decision; pass the decision's group, which a sanction may have changed.
    pub fn search_rule(&self, group: &str, target: &Target) -> Option<SearchRule> {
        let Host::Name(name) = &target.host else {
            return None;
        };
        self.search.rule(name, &self.group(group).search)
    }

    /// Decides a request, reusing a per-thread match buffer.
    pub fn decide<'a>(&'a self, request: &Request<'a>) -> Decision<'a> {
        MATCH_BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut matches) => self.decide_with(request, &mut matches),
            // Only reachable if a decision is made from inside another on the same thread.
            Err(_) => self.decide_with(request, &mut Vec::new()),
        })
    }

    /// Decides a request using the caller's match buffer, for callers that keep their own.
    pub fn decide_with<'a>(
        &'a self,
        request: &Request<'a>,
        matches: &mut Vec<Match>,
    ) -> Decision<'a> {
        matches.clear();
        self.index.lookup(request.target, matches);
        let target = request.target;

        // A damaged index cannot say what is illegal, so nothing may pass.
        if self.index.is_damaged() {
            let group_id = self.group_id(request.group);
            return self.decision(
                request,
                Verdict::Block,
                Rule::IndexDamaged,
                None,
                group_id,
                None,
            );
        }

        // Illegal content comes first and nothing later can undo it.
        let illegal = most_specific(matches.iter().copied().filter(|m| self.is_illegal(m)));
        if let Some(found) = illegal {
            let list = self.index.list(found.list).map_or("", |l| l.name.as_str());
            let group_id = self.group_id(request.group);
            return self.decision(
                request,
                Verdict::Block,
                Rule::IllegalList { list },
                Some(found),
                group_id,
                None,
            );
        }

        let mut group_id = self.group_id(request.group);
        let mut restricted_by = None;
        if let Some(user) = request.user {
            for sanction in self.active_sanctions(user, request.at) {
                match &sanction.kind {
                    SanctionKind::NoInternet => {
                        let found = most_specific(matches.iter().copied());
                        return self.decision(
                            request,
                            Verdict::Block,
                            Rule::Sanction(sanction),
                            found,
                            group_id,
                            None,
                        );
                    }
                    SanctionKind::Restricted { group } if restricted_by.is_none() => {
                        restricted_by = Some(sanction);
                        group_id = self.group_id(group);
                    }
                    SanctionKind::Restricted { .. } => {}
                }
            }
        }

        if let Some(entry) = self.matching_override(group_id, target, request.at) {
            let found = most_specific(matches.iter().copied());
            return self.decision(
                request,
                entry.verdict,
                Rule::Override(entry),
                found,
                group_id,
                restricted_by,
            );
        }

        let mut local_time: Option<DateTime> = None;
        let mut blocking: Option<(Match, &CompiledRule)> = None;
        let mut allowing: Option<(Match, &CompiledRule)> = None;
        for found in matches.iter().copied() {
            let Some(rule) = self.rule_for(group_id, found) else {
                continue;
            };
            let slot = if self.allows(rule, request, &mut local_time) {
                &mut allowing
            } else {
                &mut blocking
            };
            if slot.is_none_or(|(best, _)| specificity(&found) > specificity(&best)) {
                *slot = Some((found, rule));
            }
        }
        if let Some((found, rule)) = blocking {
            return self.decision(
                request,
                Verdict::Block,
                self.rule_of(rule, false),
                Some(found),
                group_id,
                restricted_by,
            );
        }
        if let Some((found, rule)) = allowing {
            return self.decision(
                request,
                Verdict::Allow,
                self.rule_of(rule, true),
                Some(found),
                group_id,
                restricted_by,
            );
        }

        let rule = &self.rules[self.defaults[group_id as usize] as usize];
        let allowed = self.allows(rule, request, &mut local_time);
        let verdict = if allowed {
            Verdict::Allow
        } else {
            Verdict::Block
        };
        self.decision(
            request,
            verdict,
            self.rule_of(rule, allowed),
            None,
            group_id,
            restricted_by,
        )
    }

    fn is_illegal(&self, found: &Match) -> bool {
        // A list id outside the table can only come from a damaged index; treating it as
        // illegal errs towards blocking.
        self.illegal
            .get(found.list.0 as usize)
            .copied()
            .unwrap_or(true)
    }

    fn rule_for(&self, group_id: u16, found: Match) -> Option<&CompiledRule> {
        let slot = self
            .table
            .get(group_id as usize * self.list_count + found.list.0 as usize)?;
        self.rules.get(*slot as usize)
    }

    fn active_sanctions<'s>(
        &'s self,
        user: &str,
        at: Timestamp,
    ) -> impl Iterator<Item = &'s Sanction> + 's {
        let ids = if self.sanctions_by_user.is_empty() {
            None
        } else if user.bytes().any(|b| b.is_ascii_uppercase()) {
            self.sanctions_by_user.get(&user.to_ascii_lowercase())
        } else {
            self.sanctions_by_user.get(user)
        };
        ids.into_iter()
            .flatten()
            .map(|i| &self.spec.sanctions[*i as usize])
            .filter(move |s| at < s.until)
    }

    /// The most specific live override for the group; block beats allow when equally specific.
    fn matching_override(
        &self,
        group_id: u16,
        target: &Target,
        at: Timestamp,
    ) -> Option<&SiteOverride> {
        let mut best: Option<((usize, usize), &SiteOverride)> = None;
        for id in &self.overrides_by_group[group_id as usize] {
            let entry = &self.spec.overrides[*id as usize];
            if entry.until.is_some_and(|until| at >= until) {
                continue;
            }
            let Some(rank) = override_specificity(entry, target) else {
                continue;
            };
            let better = match best {
                None => true,
                Some((best_rank, current)) => {
                    rank > best_rank
                        || (rank == best_rank
                            && entry.verdict == Verdict::Block
                            && current.verdict == Verdict::Allow)
                }
            };
            if better {
                best = Some((rank, entry));
            }
        }
        best.map(|(_, entry)| entry)
    }

    fn allows(
        &self,
        rule: &CompiledRule,
        request: &Request<'_>,
        local_time: &mut Option<DateTime>,
    ) -> bool {
        match &rule.check {
            Check::Allow => true,
            Check::Block => false,
            Check::During(schedules) => {
                let local =
                    *local_time.get_or_insert_with(|| self.spec.time_zone.to_datetime(request.at));
                schedules.iter().any(|id| {
                    schedule_active(&self.spec.schedules[*id as usize], &self.calendar, local)
                })
            }
            Check::For(users) => request
                .user
                .is_some_and(|user| users.iter().any(|u| u.eq_ignore_ascii_case(user))),
        }
    }

    fn action_of(&self, rule: &CompiledRule) -> &Action {
        let group = &self.spec.groups[rule.group as usize];
        match rule.via {
            Via::List(at) | Via::Category(at) | Via::Parent(at) => &group.actions[at].1,
            Via::Default => &group.default,
        }
    }

    fn rule_of(&self, rule: &CompiledRule, allowed: bool) -> Rule<'_> {
        let group = &self.spec.groups[rule.group as usize];
        let action = self.action_of(rule);
        let selector = match rule.via {
            Via::List(at) | Via::Category(at) | Via::Parent(at) => Some(&group.actions[at].0),
            Via::Default => None,
        };
        let via_parent = matches!(rule.via, Via::Parent(_));
        match (action, allowed) {
            (Action::AllowDuring(schedules), false) => Rule::ScheduleClosed {
                group: &group.key,
                selector,
                schedules,
            },
            (Action::AllowFor(_), false) => Rule::NotNominated {
                group: &group.key,
                selector,
            },
            _ => match selector {
                Some(selector) => Rule::CategoryAction {
                    group: &group.key,
                    selector,
                    via_parent,
                    action,
                },
                None => Rule::GroupDefault {
                    group: &group.key,
                    action,
                },
            },
        }
    }

    fn decision<'a>(
        &'a self,
        request: &Request<'a>,
        verdict: Verdict,
        rule: Rule<'a>,
        matched: Option<Match>,
        group_id: u16,
        restricted_by: Option<&'a Sanction>,
    ) -> Decision<'a> {
        Decision {
            engine: self,
            target: request.target,
            user: request.user,
            verdict,
            rule,
            matched,
            group: &self.spec.groups[group_id as usize],
            restricted_by,
        }
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), PolicyError> {
    if count > max {
        return Err(PolicyError::TooMany { what, count, max });
    }
    Ok(())
}

fn specificity(found: &Match) -> (u16, u16) {
    (found.host_len, found.path_len)
}

/// The most specific match (longest host, then longest path); the first of equals.
fn most_specific(matches: impl Iterator<Item = Match>) -> Option<Match> {
    matches.fold(None, |best: Option<Match>, found| match best {
        Some(current) if specificity(&found) <= specificity(&current) => Some(current),
        _ => Some(found),
    })
}

/// How much of the target an override covers, or `None` when it does not apply.
fn override_specificity(entry: &SiteOverride, target: &Target) -> Option<(usize, usize)> {
    let host_len = match (&entry.host, &target.host) {
        (Host::Name(listed), Host::Name(asked)) => {
            let covers = asked == listed
                || (asked.len() > listed.len()
                    && asked.ends_with(listed.as_str())
                    && asked.as_bytes()[asked.len() - listed.len() - 1] == b'.');
            covers.then_some(listed.len())?
        }
        (listed, asked) if listed == asked => usize::MAX,
        _ => return None,
    };
    let path_len = match &entry.path {
        None => 0,
        Some(prefix) => {
            let path = target.path.as_deref()?;
            path.starts_with(prefix.as_str()).then_some(prefix.len())?
        }
    };
    Some((host_len, path_len))
}
