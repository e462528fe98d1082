//! Turning the file as written into checked settings, collecting every problem on the way.
//!
//! Each check names the key path and points at the value it is about. A school with problems is
//! still checked to the end, so one run reports as much as possible.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;

use hedgerow_identity::{Cidr, Device, SchoolDirectory, User, UserKind};
use hedgerow_lists::{Host, Target, normalize_host, taxonomy};
use hedgerow_policy::safesearch::DEFAULT_UNSAFE_ENGINES;
use hedgerow_policy::{
    Action, Closure, GroupKind, GroupSpec, PolicyError, PolicySpec, Sanction, SanctionKind,
    ScheduleSpec, Selector, SiteOverride, Term, TimeRange, Verdict,
};
use hedgerow_policy::{FILE_TYPE_KEYS, InspectScope, SearchSettings, WebSettings, YoutubeRestrict};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use crate::error::{ConfigErrors, Report};
use crate::raw::*;
use crate::{
    AdminSettings, AdminTls, BlockResponse, Config, DEFAULT_PROXY_PORT, DnsSettings, HostPort,
    ListsConfig, ProxySettings, SchoolConfig,
};

const DEFAULT_TIMEZONE: &str = "Europe/London";
const DEFAULT_UNKNOWN_GROUP: &str = "unknown";
const DNS_PORT: u16 = 53;

pub(crate) fn build(text: &str, raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut report = Report::new(text);

    let data_dir = raw.data_dir.get_ref().trim().to_string();
    if data_dir.is_empty() {
        report.add(
            "data_dir",
            raw.data_dir.span(),
            "is empty; give the directory Hedgerow keeps its data in",
        );
    }
    let data_dir = PathBuf::from(data_dir);

    let mut listeners = BTreeMap::new();
    for (name, address) in &raw.listeners {
        match address.get_ref().trim().parse::<SocketAddr>() {
            Ok(parsed) => {
                listeners.insert(name.clone(), parsed);
            }
            Err(_) => report.add(
                format!("listeners.{name}"),
                address.span(),
                format!(
                    "{:?} is not an address and port; write e.g. \"127.0.0.1:5300\" or \"[::1]:5300\"",
                    address.get_ref()
                ),
            ),
        }
    }

    let mut upstreams = Vec::new();
    for (at, upstream) in raw.upstreams.iter().enumerate() {
        let text = upstream.get_ref().trim();
        let parsed = text.parse::<SocketAddr>().ok().or_else(|| {
            text.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, DNS_PORT))
        });
        match parsed {
            Some(address) => upstreams.push(address),
            None => report.add(
                format!("upstreams[{at}]"),
                upstream.span(),
                format!(
                    "{text:?} is not a resolver address; write e.g. \"9.9.9.9:53\" or \"9.9.9.9\""
                ),
            ),
        }
    }

    let raw_lists = raw.lists.get_ref();
    let lists = ListsConfig {
        sources: raw_lists.sources.iter().map(PathBuf::from).collect(),
        illegal: raw_lists.illegal.iter().map(PathBuf::from).collect(),
        taxonomy: raw_lists.taxonomy.as_ref().map(PathBuf::from),
        index: raw_lists
            .index
            .as_ref()
            .map_or_else(|| data_dir.join("lists.hidx"), PathBuf::from),
    };

    let database_url = match raw.database.as_ref().and_then(|d| d.get_ref().url.as_ref()) {
        Some(url) if url.get_ref().trim().is_empty() => {
            report.add(
                "database.url",
                url.span(),
                "is empty; remove it to use SQLite in data_dir, or give a URL",
            );
            String::new()
        }
        Some(url) => url.get_ref().trim().to_string(),
        None => format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("hedgerow.db").display()
        ),
    };

    let dns = dns_settings(&mut report, raw.dns.as_ref());
    let proxy = proxy_settings(&mut report, raw.proxy.as_ref(), &raw.listeners, &listeners);
    let admin = admin_settings(&mut report, raw.admin.as_ref(), &raw.listeners, &listeners);
    let monitoring = crate::monitoring::monitoring_settings(&mut report, raw.monitoring.as_ref());
    let retention = crate::retention::retention_settings(&mut report, raw.retention.as_ref());
    let portal = crate::portal::portal_settings(
        &mut report,
        raw.portal.as_ref(),
        &raw.listeners,
        &listeners,
    );

    if raw.school.is_empty() {
        report.add(
            "school",
            0..0,
            "no school is described; add a [[school]] table",
        );
    }
    let mut schools = Vec::new();
    let mut slugs: HashMap<String, usize> = HashMap::new();
    let mut addresses: HashMap<Cidr, (String, usize)> = HashMap::new();
    for (index, school) in raw.school.iter().enumerate() {
        let path = format!("school[{index}]");
        let slug = school.get_ref().slug.get_ref();
        if let Some(first) = slugs.insert(slug.clone(), index) {
            report.add(
                format!("{path}.slug"),
                school.get_ref().slug.span(),
                format!("the slug {slug:?} is already used by school[{first}]; give each school its own slug"),
            );
        }
        if let Some(built) =
            SchoolBuilder::new(&mut report, text, path, &mut addresses, &proxy).build(school)
        {
            schools.push(built);
        }
    }

    report.finish()?;
    Ok(Config {
        data_dir,
        lists,
        listeners,
        upstreams,
        database_url,
        dns,
        proxy,
        admin,
        monitoring,
        retention,
        portal,
        schools,
    })
}

struct SchoolBuilder<'r, 't, 'a> {
    report: &'r mut Report<'t>,
    text: &'t str,
    path: String,
    /// Addresses across every school, with the device path that holds each.
    addresses: &'a mut HashMap<Cidr, (String, usize)>,
    proxy: &'a ProxySettings,
    errors_before: usize,
}

impl<'r, 't, 'a> SchoolBuilder<'r, 't, 'a> {
    fn new(
        report: &'r mut Report<'t>,
        text: &'t str,
        path: String,
        addresses: &'a mut HashMap<Cidr, (String, usize)>,
        proxy: &'a ProxySettings,
    ) -> Self {
        let errors_before = report.errors.len();
        SchoolBuilder {
            report,
            text,
            path,
            addresses,
            proxy,
            errors_before,
        }
    }

    fn add(&mut self, key: impl std::fmt::Display, span: Range<usize>, message: impl Into<String>) {
        let path = format!("{}.{key}", self.path);
        self.report.add(path, span, message);
    }

    fn line_of(&self, offset: usize) -> usize {
        crate::error::line_and_column(self.text, offset).0
    }

    fn build(mut self, school: &Sp<RawSchool>) -> Option<SchoolConfig> {
        let raw = school.get_ref();
        let slug = raw.slug.get_ref().clone();
        if slug.is_empty()
            || !slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            self.add(
                "slug",
                raw.slug.span(),
                format!("{slug:?} is not a usable slug; use lower-case letters, digits and hyphens, e.g. \"oakfield\""),
            );
        }

        let time_zone = match &raw.timezone {
            None => TimeZone::get(DEFAULT_TIMEZONE).ok(),
            Some(name) => match TimeZone::get(name.get_ref()) {
                Ok(tz) => Some(tz),
                Err(_) => {
                    self.add(
                        "timezone",
                        name.span(),
                        format!(
                            "{:?} is not a known time zone; use an IANA name such as \"Europe/London\"",
                            name.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let time_zone = time_zone.unwrap_or(TimeZone::UTC);

        let terms = self.terms(raw);
        let closures = self.closures(raw);
        let schedules = self.schedules(raw, !terms.is_empty());
        let schedule_keys: HashSet<&str> = raw.schedules.keys().map(String::as_str).collect();
        let groups = self.groups(raw, &schedule_keys);
        let group_keys: HashSet<&str> = raw.groups.keys().map(String::as_str).collect();

        let unknown_group = raw
            .unknown_group
            .as_ref()
            .map_or(DEFAULT_UNKNOWN_GROUP.to_string(), |g| g.get_ref().clone());
        if !group_keys.contains(unknown_group.as_str()) {
            let span = raw
                .unknown_group
                .as_ref()
                .map_or(school.span(), |g| g.span());
            self.add(
                "unknown_group",
                span,
                format!(
                    "the unknown-client group {unknown_group:?} is not defined; add [school.groups.{unknown_group}] or set unknown_group to a defined group"
                ),
            );
        }

        let monitoring = crate::monitoring::school_monitoring(
            self.report,
            &self.path,
            raw.monitoring.as_ref(),
            &group_keys,
        );
        let agreement_hold = crate::portal::agreement_hold(
            self.report,
            &self.path,
            raw.agreements.as_ref(),
            &group_keys,
        );
        let devices = self.devices(raw, &group_keys);
        let users = self.users(raw, &group_keys);
        self.check_owners(raw, &users);
        let overrides = self.overrides(raw, &group_keys, &time_zone);
        let sanctions = self.sanctions(raw, &group_keys, &users, &time_zone);

        let policy = PolicySpec {
            school: slug.clone(),
            school_name: raw.name.clone(),
            time_zone,
            terms,
            closures,
            schedules,
            groups,
            unknown_group: unknown_group.clone(),
            overrides,
            sanctions,
            unsafe_search_engines: self.unsafe_search_engines(raw),
            online_safety_lead: self.optional_text("online_safety_lead", &raw.online_safety_lead),
            online_safety_contact: self
                .optional_text("online_safety_contact", &raw.online_safety_contact),
        };
        if self.report.errors.len() == self.errors_before {
            self.strictness(raw, &policy, school.span());
            self.web_strictness(raw, &policy, school.span());
        }
        if self.report.errors.len() == self.errors_before {
            // The checks above should have caught everything the engine refuses; anything left is
            // still reported rather than surfacing later when the engine is built.
            for problem in hedgerow_policy::validate(&policy) {
                self.add("groups", school.span(), problem.to_string());
            }
        }
        let directory = SchoolDirectory {
            slug,
            name: raw.name.clone(),
            unknown_group,
            users,
            devices,
        };
        (self.report.errors.len() == self.errors_before).then_some(SchoolConfig {
            policy,
            directory,
            monitoring,
            agreement_hold,
        })
    }

    fn terms(&mut self, raw: &RawSchool) -> Vec<Term> {
        let mut terms = Vec::new();
        for (at, term) in raw.terms.iter().enumerate() {
            let term = term.get_ref();
            let start = self.date(format!("terms[{at}].start"), &term.start);
            let end = self.date(format!("terms[{at}].end"), &term.end);
            if let (Some(start), Some(end)) = (start, end) {
                if end < start {
                    self.add(
                        format!("terms[{at}].end"),
                        term.end.span(),
                        format!(
                            "term {:?} ends ({end}) before it starts ({start}); check the dates",
                            term.name
                        ),
                    );
                }
                terms.push(Term {
                    name: term.name.clone(),
                    start,
                    end,
                });
            }
        }
        terms
    }

    fn closures(&mut self, raw: &RawSchool) -> Vec<Closure> {
        let mut closures = Vec::new();
        for (at, closure) in raw.closures.iter().enumerate() {
            let span = closure.span();
            let closure = closure.get_ref();
            let (start, end) = match (&closure.date, &closure.start, &closure.end) {
                (Some(date), None, None) => {
                    let day = self.date(format!("closures[{at}].date"), date);
                    (day, day)
                }
                (None, Some(start), Some(end)) => (
                    self.date(format!("closures[{at}].start"), start),
                    self.date(format!("closures[{at}].end"), end),
                ),
                _ => {
                    self.add(
                        format!("closures[{at}]"),
                        span,
                        "give either `date` for one day, or both `start` and `end` for several days",
                    );
                    continue;
                }
            };
            let (Some(start), Some(end)) = (start, end) else {
                continue;
            };
            if end < start {
                let end_span = closure.end.as_ref().map_or(span.clone(), |e| e.span());
                self.add(
                    format!("closures[{at}].end"),
                    end_span,
                    format!("the closure ends ({end}) before it starts ({start}); check the dates"),
                );
            }
            closures.push(Closure {
                start,
                end,
                reason: closure.reason.clone(),
            });
        }
        closures
    }

    fn schedules(&mut self, raw: &RawSchool, have_terms: bool) -> Vec<ScheduleSpec> {
        let mut schedules = Vec::new();
        for (key, schedule) in &raw.schedules {
            let spec = schedule.get_ref();
            let mut weekdays = Vec::new();
            for (at, day) in spec.days.iter().enumerate() {
                match hedgerow_policy::parse_weekday(day.get_ref()) {
                    Some(d) => weekdays.push(d),
                    None => self.add(
                        format!("schedules.{key}.days[{at}]"),
                        day.span(),
                        format!(
                            "{:?} is not a day of the week; write e.g. \"mon\" or \"monday\"",
                            day.get_ref()
                        ),
                    ),
                }
            }
            let mut times = Vec::new();
            for (at, range) in spec.times.iter().enumerate() {
                match TimeRange::parse(range.get_ref()) {
                    Ok(r) => times.push(r),
                    Err(message) => self.add(
                        format!("schedules.{key}.times[{at}]"),
                        range.span(),
                        message,
                    ),
                }
            }
            if spec.school_days && !have_terms {
                self.add(
                    format!("schedules.{key}.school_days"),
                    schedule.span(),
                    "school_days needs term dates, but this school lists no terms; add `terms` or remove school_days",
                );
            }
            schedules.push(ScheduleSpec {
                key: key.clone(),
                weekdays,
                school_days: spec.school_days,
                times,
            });
        }
        schedules
    }

    fn unsafe_search_engines(&mut self, raw: &RawSchool) -> Vec<String> {
        let Some(list) = &raw.unsafe_search_engines else {
            return DEFAULT_UNSAFE_ENGINES
                .iter()
                .map(|s| s.to_string())
                .collect();
        };
        let mut names = Vec::new();
        for (at, name) in list.iter().enumerate() {
            match normalize_host(name.get_ref()) {
                Ok(Host::Name(name)) => names.push(name),
                Ok(_) => self.add(
                    format!("unsafe_search_engines[{at}]"),
                    name.span(),
                    "is an address; give the search engine's host name",
                ),
                Err(e) => self.add(
                    format!("unsafe_search_engines[{at}]"),
                    name.span(),
                    e.to_string(),
                ),
            }
        }
        names
    }

    fn groups(&mut self, raw: &RawSchool, schedules: &HashSet<&str>) -> Vec<GroupSpec> {
        let mut groups = Vec::new();
        for (key, group) in &raw.groups {
            let spec = group.get_ref();
            let default = self.action(format!("groups.{key}.default"), &spec.default, schedules);
            let mut actions = Vec::new();
            for (selector_text, action_value) in &spec.actions {
                let path = format!("groups.{key}.actions.{}", quote_key(selector_text));
                let selector = Selector::parse(selector_text);
                match &selector {
                    Selector::List(name) if name.is_empty() => {
                        self.add(
                            &path,
                            action_value.span(),
                            "`list:` needs a list name, e.g. \"list:games\"",
                        );
                        continue;
                    }
                    Selector::Category(category) if taxonomy::category(category).is_none() => {
                        self.add(
                            &path,
                            action_value.span(),
                            format!(
                                "{category:?} is not a Hedgerow category; use a category key such as \"gambling\" (see `hedgerow lists categories`) or \"list:NAME\" for one source list"
                            ),
                        );
                        continue;
                    }
                    _ => {}
                }
                let Some(action) = self.action(&path, action_value, schedules) else {
                    continue;
                };
                if selector.is_illegal_category() && action != Action::Block {
                    self.add(
                        &path,
                        action_value.span(),
                        format!(
                            "{selector_text:?} is illegal content, which is always blocked and cannot be allowed; remove this line"
                        ),
                    );
                    continue;
                }
                actions.push((selector, action));
            }
            let web = self.web_settings(key, spec);
            groups.push(GroupSpec {
                key: key.clone(),
                name: spec.name.clone().unwrap_or_else(|| key.clone()),
                kind: group_kind(spec.kind),
                actions,
                default: default.unwrap_or(Action::Block),
                search: search_settings(spec),
                web,
            });
        }
        groups
    }

    /// A group's web proxy settings: what it says, and the defaults for its kind where it is
    /// silent.
    fn web_settings(&mut self, key: &str, spec: &RawGroup) -> WebSettings {
        let defaults = WebSettings::default_for(group_kind(spec.kind));
        let inspect = match &spec.inspect {
            Some(value) => self.inspect_scope(key, value),
            None => defaults.inspect,
        };
        let blocked_file_types = match &spec.blocked_file_types {
            None => defaults.blocked_file_types,
            Some(list) => {
                let mut chosen = HashSet::new();
                for (at, item) in list.iter().enumerate() {
                    let word = item.get_ref().trim();
                    match FILE_TYPE_KEYS.iter().find(|k| **k == word) {
                        Some(known) => {
                            chosen.insert(*known);
                        }
                        None => self.add(
                            format!("groups.{key}.blocked_file_types[{at}]"),
                            item.span(),
                            format!(
                                "{word:?} is not a kind of file; use some of: {}",
                                FILE_TYPE_KEYS.join(", ")
                            ),
                        ),
                    }
                }
                FILE_TYPE_KEYS
                    .iter()
                    .filter(|k| chosen.contains(*k))
                    .map(|k| k.to_string())
                    .collect()
            }
        };
        let download_limit_bytes = spec.download_limit_mb.as_ref().and_then(|mb| {
            let path = format!("groups.{key}.download_limit_mb");
            match *mb.get_ref() {
                0 => {
                    self.add(
                        path,
                        mb.span(),
                        "must be at least 1; leave it out for no limit",
                    );
                    None
                }
                n => match n.checked_mul(1024 * 1024) {
                    Some(bytes) => Some(bytes),
                    None => {
                        self.add(path, mb.span(), "is too large; leave it out for no limit");
                        None
                    }
                },
            }
        });
        WebSettings {
            inspect,
            blocked_file_types,
            download_limit_bytes,
        }
    }

    /// `inspect = "all"`, `["all"]`, `[]` or a list of category keys.
    fn inspect_scope(&mut self, key: &str, value: &Sp<toml::Value>) -> InspectScope {
        const EXPECTED: &str = "write inspect = [\"all\"] for every site, a list of category keys such as [\"social-networking\", \"chat\"], or [] for none";
        let path = format!("groups.{key}.inspect");
        let items: Vec<&toml::Value> = match value.get_ref() {
            toml::Value::String(_) => vec![value.get_ref()],
            toml::Value::Array(items) => items.iter().collect(),
            _ => {
                self.add(
                    &path,
                    value.span(),
                    format!("this is not a list of categories; {EXPECTED}"),
                );
                return InspectScope::Nothing;
            }
        };
        let mut categories: Vec<String> = Vec::new();
        let mut all = false;
        for (at, item) in items.iter().enumerate() {
            let item_path = if matches!(value.get_ref(), toml::Value::Array(_)) {
                format!("{path}[{at}]")
            } else {
                path.clone()
            };
            let Some(word) = item.as_str().map(str::trim) else {
                self.add(
                    item_path,
                    value.span(),
                    format!("this is not a category key; {EXPECTED}"),
                );
                continue;
            };
            if word == "all" {
                all = true;
            } else if taxonomy::category(word).is_none() {
                self.add(
                    item_path,
                    value.span(),
                    format!(
                        "{word:?} is not a Hedgerow category; use a category key such as \"social-networking\" (see `hedgerow lists categories`) or \"all\""
                    ),
                );
            } else if self.proxy.no_inspect_categories.iter().any(|c| c == word) {
                self.add(
                    item_path,
                    value.span(),
                    format!(
                        "{word:?} is never inspected because [proxy] no_inspect_categories lists it; remove it from one of the two"
                    ),
                );
            } else if !categories.iter().any(|c| c == word) {
                categories.push(word.to_string());
            }
        }
        if all && !categories.is_empty() {
            self.add(
                &path,
                value.span(),
                "\"all\" already covers every category; give either [\"all\"] or a list of categories",
            );
        }
        if all {
            InspectScope::All
        } else if categories.is_empty() {
            InspectScope::Nothing
        } else {
            InspectScope::Categories(categories)
        }
    }

    /// Optional free text: trimmed, and not empty if given.
    fn optional_text(&mut self, key: &str, value: &Option<Sp<String>>) -> Option<String> {
        let value = value.as_ref()?;
        let text = value.get_ref().trim();
        if text.is_empty() {
            self.add(
                key,
                value.span(),
                "is empty; write it, or leave the key out",
            );
            return None;
        }
        Some(text.to_string())
    }

    fn action(
        &mut self,
        path: impl std::fmt::Display,
        value: &Sp<toml::Value>,
        schedules: &HashSet<&str>,
    ) -> Option<Action> {
        const EXPECTED: &str = "write \"allow\", \"block\", { allow-during = [\"lunch\"] } or { allow-for = [\"username\"] }";
        let parsed = match value.get_ref() {
            toml::Value::String(word) => match word.as_str() {
                "allow" => Ok(Action::Allow),
                "block" => Ok(Action::Block),
                other => Err(format!("{other:?} is not an action; {EXPECTED}")),
            },
            toml::Value::Table(table) if table.len() == 1 => {
                let (kind, names) = table
                    .iter()
                    .next()
                    .map(|(k, v)| (k.as_str(), v))
                    .unwrap_or(("", value.get_ref()));
                let names: Option<Vec<String>> = names
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| i.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .unwrap_or(None);
                match (kind, names) {
                    (_, Some(names)) if names.is_empty() => Err(format!(
                        "{kind} needs at least one name; use \"block\" to block outright"
                    )),
                    ("allow-during", Some(names)) => {
                        match names.iter().find(|n| !schedules.contains(n.as_str())) {
                            Some(missing) => Err(format!(
                                "the schedule {missing:?} is not defined; add it under [school.schedules] or use a defined schedule"
                            )),
                            None => Ok(Action::AllowDuring(names)),
                        }
                    }
                    ("allow-for", Some(names)) => Ok(Action::AllowFor(names)),
                    _ => Err(format!("this table is not an action; {EXPECTED}")),
                }
            }
            _ => Err(format!("this is not an action; {EXPECTED}")),
        };
        match parsed {
            Ok(action) => Some(action),
            Err(message) => {
                self.add(path, value.span(), message);
                None
            }
        }
    }

    fn devices(&mut self, raw: &RawSchool, groups: &HashSet<&str>) -> Vec<Device> {
        let mut devices = Vec::new();
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (at, device) in raw.devices.iter().enumerate() {
            let spec = device.get_ref();
            let name = spec.name.get_ref();
            if let Some(first) = names.insert(name, at) {
                self.add(
                    format!("devices[{at}].name"),
                    spec.name.span(),
                    format!("{name:?} is already the name of devices[{first}]; give each device its own name"),
                );
            }
            if let Some(group) = &spec.group {
                self.check_group(format!("devices[{at}].group"), group, groups);
            }
            if spec.addresses.is_empty() {
                self.add(
                    format!("devices[{at}].addresses"),
                    device.span(),
                    "a device needs at least one address or network, e.g. addresses = [\"10.20.0.0/24\"]",
                );
            }
            let mut cidrs = Vec::new();
            for (index, address) in spec.addresses.iter().enumerate() {
                let path = format!("devices[{at}].addresses[{index}]");
                match address.get_ref().parse::<Cidr>() {
                    Ok(cidr) => {
                        let full_path = format!("{}.{path}", self.path);
                        let line = self.line_of(address.span().start);
                        if let Some((other, other_line)) = self.addresses.get(&cidr).cloned() {
                            self.add(
                                &path,
                                address.span(),
                                format!(
                                    "{cidr} is already given to {other} (line {other_line}); an address or network may belong to one device only"
                                ),
                            );
                        } else {
                            self.addresses.insert(cidr, (full_path, line));
                        }
                        cidrs.push(cidr);
                    }
                    Err(error) => self.add(&path, address.span(), error.to_string()),
                }
            }
            devices.push(Device {
                name: name.clone(),
                kind: spec.kind.clone(),
                group: spec.group.as_ref().map(|g| g.get_ref().clone()),
                addresses: cidrs,
                requires_login: spec.requires_login,
                owner: spec.owner.as_ref().map(|o| o.get_ref().clone()),
            });
        }
        devices
    }

    /// A device's owner must be one of the school's users.
    fn check_owners(&mut self, raw: &RawSchool, users: &[User]) {
        for (at, device) in raw.devices.iter().enumerate() {
            if let Some(owner) = &device.get_ref().owner
                && !users
                    .iter()
                    .any(|u| u.username.eq_ignore_ascii_case(owner.get_ref()))
            {
                self.add(
                    format!("devices[{at}].owner"),
                    owner.span(),
                    format!("{:?} is not a user of this school; add them under [[school.users]] or correct the name", owner.get_ref()),
                );
            }
        }
    }

    fn users(&mut self, raw: &RawSchool, groups: &HashSet<&str>) -> Vec<User> {
        let mut users = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (at, user) in raw.users.iter().enumerate() {
            let spec = user.get_ref();
            let username = spec.username.get_ref().trim();
            if username.is_empty() {
                self.add(
                    format!("users[{at}].username"),
                    spec.username.span(),
                    "is empty; give the sign-in name",
                );
            }
            if let Some(first) = seen.insert(username.to_ascii_lowercase(), at) {
                self.add(
                    format!("users[{at}].username"),
                    spec.username.span(),
                    format!("{username:?} is already used by users[{first}] (usernames ignore case); remove or rename one"),
                );
            }
            self.check_group(format!("users[{at}].group"), &spec.group, groups);
            users.push(User {
                username: username.to_string(),
                display_name: spec.name.clone(),
                kind: match spec.kind {
                    RawUserKind::Pupil => UserKind::Pupil,
                    RawUserKind::Staff => UserKind::Staff,
                    RawUserKind::Visitor => UserKind::Visitor,
                },
                group: spec.group.get_ref().clone(),
            });
        }
        users
    }

    fn overrides(
        &mut self,
        raw: &RawSchool,
        groups: &HashSet<&str>,
        tz: &TimeZone,
    ) -> Vec<SiteOverride> {
        let mut overrides = Vec::new();
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (at, entry) in raw.overrides.iter().enumerate() {
            let spec = entry.get_ref();
            self.check_id(
                format!("overrides[{at}].id"),
                &spec.id,
                &mut ids,
                "overrides",
            );
            if let Some(names) = &spec.groups {
                for (index, group) in names.iter().enumerate() {
                    self.check_group(format!("overrides[{at}].groups[{index}]"), group, groups);
                }
            }
            let until = spec
                .until
                .as_ref()
                .and_then(|u| self.instant(format!("overrides[{at}].until"), u, tz));
            let target = match Target::parse(spec.site.get_ref()) {
                Ok(target) => target,
                Err(error) => {
                    self.add(
                        format!("overrides[{at}].site"),
                        spec.site.span(),
                        format!(
                            "{:?} is not a site: {error}; write e.g. \"www.bbc.co.uk/bitesize\"",
                            spec.site.get_ref()
                        ),
                    );
                    continue;
                }
            };
            overrides.push(SiteOverride {
                id: spec.id.get_ref().clone(),
                host: target.host,
                path: target.path.filter(|p| p != "/"),
                verdict: match spec.action {
                    RawVerdict::Allow => Verdict::Allow,
                    RawVerdict::Block => Verdict::Block,
                },
                groups: spec
                    .groups
                    .as_ref()
                    .map(|names| names.iter().map(|g| g.get_ref().clone()).collect()),
                until,
                by: spec.by.clone(),
                reason: spec.reason.clone(),
            });
        }
        overrides
    }

    fn sanctions(
        &mut self,
        raw: &RawSchool,
        groups: &HashSet<&str>,
        users: &[User],
        tz: &TimeZone,
    ) -> Vec<Sanction> {
        let mut sanctions = Vec::new();
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (at, entry) in raw.sanctions.iter().enumerate() {
            let spec = entry.get_ref();
            self.check_id(
                format!("sanctions[{at}].id"),
                &spec.id,
                &mut ids,
                "sanctions",
            );
            let username = spec.user.get_ref();
            if !users
                .iter()
                .any(|u| u.username.eq_ignore_ascii_case(username))
            {
                self.add(
                    format!("sanctions[{at}].user"),
                    spec.user.span(),
                    format!("there is no user {username:?} in this school; check the username against [[school.users]]"),
                );
            }
            let kind = match (spec.no_internet, &spec.filter_as) {
                (true, None) => SanctionKind::NoInternet,
                (false, Some(group)) => {
                    self.check_group(format!("sanctions[{at}].filter_as"), group, groups);
                    SanctionKind::Restricted {
                        group: group.get_ref().clone(),
                    }
                }
                (true, Some(group)) => {
                    self.add(
                        format!("sanctions[{at}].filter_as"),
                        group.span(),
                        "give exactly one of `no_internet = true` or `filter_as = \"GROUP\"`, not both",
                    );
                    continue;
                }
                (false, None) => {
                    self.add(
                        format!("sanctions[{at}]"),
                        entry.span(),
                        "give exactly one of `no_internet = true` or `filter_as = \"GROUP\"`",
                    );
                    continue;
                }
            };
            let Some(until) = self.instant(format!("sanctions[{at}].until"), &spec.until, tz)
            else {
                continue;
            };
            sanctions.push(Sanction {
                id: spec.id.get_ref().clone(),
                username: username.clone(),
                kind,
                until,
                by: spec.by.clone(),
                reason: spec.reason.clone(),
            });
        }
        sanctions
    }

    fn strictness(&mut self, raw: &RawSchool, policy: &PolicySpec, school_span: Range<usize>) {
        let Some(unknown) = raw.groups.get(&policy.unknown_group) else {
            return;
        };
        for problem in hedgerow_policy::strictness_problems(policy) {
            let PolicyError::UnknownNotStrict { subject, .. } = &problem else {
                continue;
            };
            let group_path = format!("groups.{}", policy.unknown_group);
            let (path, span) = if subject == "default" {
                (
                    format!("{group_path}.default"),
                    unknown.get_ref().default.span(),
                )
            } else if let Some(value) = unknown.get_ref().actions.get(subject) {
                (
                    format!("{group_path}.actions.{}", quote_key(subject)),
                    value.span(),
                )
            } else {
                let span = if unknown.span().is_empty() {
                    school_span.clone()
                } else {
                    unknown.span()
                };
                (group_path, span)
            };
            self.add(path, span, problem.to_string());
        }
    }

    /// Unknown clients must also be kept from every kind of download a pupil group is kept
    /// from, and from downloads larger than any pupil group may make.
    fn web_strictness(&mut self, raw: &RawSchool, policy: &PolicySpec, school_span: Range<usize>) {
        let Some(unknown) = policy.groups.iter().find(|g| g.key == policy.unknown_group) else {
            return;
        };
        let Some(raw_unknown) = raw.groups.get(&policy.unknown_group) else {
            return;
        };
        let group_path = format!("groups.{}", policy.unknown_group);
        let fallback = if raw_unknown.span().is_empty() {
            school_span
        } else {
            raw_unknown.span()
        };
        for pupil in policy.groups.iter().filter(|g| g.kind == GroupKind::Pupil) {
            let missing: Vec<&str> = pupil
                .web
                .blocked_file_types
                .iter()
                .filter(|t| !unknown.web.blocks_file_type(t))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                let (path, span) = match &raw_unknown.get_ref().blocked_file_types {
                    Some(list) => (
                        format!("{group_path}.blocked_file_types"),
                        list.first().map_or(fallback.clone(), |item| item.span()),
                    ),
                    None => (group_path.clone(), fallback.clone()),
                };
                self.add(
                    path,
                    span,
                    format!(
                        "unidentified clients must be at least as restricted as pupils, but the pupil group {:?} blocks downloads of {} and the unknown-client group does not; add them to its blocked_file_types",
                        pupil.key,
                        missing.join(", ")
                    ),
                );
            }
            if let Some(limit) = pupil.web.download_limit_bytes
                && unknown
                    .web
                    .download_limit_bytes
                    .is_none_or(|mine| mine > limit)
            {
                let (path, span) = match &raw_unknown.get_ref().download_limit_mb {
                    Some(mb) => (format!("{group_path}.download_limit_mb"), mb.span()),
                    None => (group_path.clone(), fallback.clone()),
                };
                self.add(
                    path,
                    span,
                    format!(
                        "unidentified clients must be at least as restricted as pupils, but the pupil group {:?} may download at most {} MB; set download_limit_mb here to that or less",
                        pupil.key,
                        limit / (1024 * 1024)
                    ),
                );
            }
        }
    }

    fn check_group(&mut self, path: String, group: &Sp<String>, groups: &HashSet<&str>) {
        if !groups.contains(group.get_ref().as_str()) {
            let mut known: Vec<&str> = groups.iter().copied().collect();
            known.sort_unstable();
            self.add(
                path,
                group.span(),
                format!(
                    "the group {:?} is not defined; use one of: {}",
                    group.get_ref(),
                    known.join(", ")
                ),
            );
        }
    }

    fn check_id<'s>(
        &mut self,
        path: String,
        id: &'s Sp<String>,
        ids: &mut HashMap<&'s str, usize>,
        table: &str,
    ) {
        let text = id.get_ref().as_str();
        if text.trim().is_empty() {
            self.add(
                path,
                id.span(),
                "is empty; give a short key such as \"y5-science-2026-03\"",
            );
        } else if let Some(first) = ids.insert(text, ids.len()) {
            self.add(
                path,
                id.span(),
                format!("{text:?} is already the id of {table}[{first}]; ids must be unique"),
            );
        }
    }

    fn date(&mut self, path: impl std::fmt::Display, value: &Sp<toml::Value>) -> Option<Date> {
        let text = match value.get_ref() {
            toml::Value::Datetime(dt) => dt.to_string(),
            toml::Value::String(s) => s.clone(),
            _ => String::new(),
        };
        match text.parse::<Date>() {
            Ok(date) if !text.contains(['T', ' ']) => Some(date),
            _ => {
                self.add(
                    path,
                    value.span(),
                    "is not a date; write it like 2025-09-03",
                );
                None
            }
        }
    }

    /// An instant: with an offset (`2026-03-12T15:30:00Z`) as written, without one in the
    /// school's time zone.
    fn instant(
        &mut self,
        path: impl std::fmt::Display,
        value: &Sp<toml::Value>,
        tz: &TimeZone,
    ) -> Option<Timestamp> {
        let text = match value.get_ref() {
            toml::Value::Datetime(dt) => dt.to_string(),
            toml::Value::String(s) => s.clone(),
            _ => String::new(),
        };
        if let Ok(at) = text.parse::<Timestamp>() {
            return Some(at);
        }
        if let Ok(local) = text.parse::<DateTime>()
            && text.contains(['T', ' '])
            && let Ok(zoned) = tz.to_zoned_datetime(local)
        {
            return Some(zoned.timestamp());
        }
        let message = if text.parse::<Date>().is_ok() {
            "needs a time as well as a date, e.g. 2026-03-12T15:30 (school time) or 2026-03-12T15:30:00Z"
        } else {
            "is not a date and time; write e.g. 2026-03-12T15:30 (school time) or 2026-03-12T15:30:00Z"
        };
        self.add(path, value.span(), message);
        None
    }
}

/// Writes a key as it would appear in a key path: quoted when it is not a bare TOML key.
fn quote_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn group_kind(kind: RawGroupKind) -> GroupKind {
    match kind {
        RawGroupKind::Pupil => GroupKind::Pupil,
        RawGroupKind::Staff => GroupKind::Staff,
        RawGroupKind::Visitor => GroupKind::Visitor,
        RawGroupKind::Unidentified => GroupKind::Unidentified,
    }
}

/// A group's search settings: what it says, and the defaults for its kind where it is silent.
fn search_settings(group: &RawGroup) -> SearchSettings {
    let defaults = SearchSettings::default_for(group_kind(group.kind));
    SearchSettings {
        safe_search: group.safe_search.unwrap_or(defaults.safe_search),
        youtube: match group.youtube {
            Some(RawYoutube::Off) => YoutubeRestrict::Off,
            Some(RawYoutube::Moderate) => YoutubeRestrict::Moderate,
            Some(RawYoutube::Strict) => YoutubeRestrict::Strict,
            None => defaults.youtube,
        },
        block_unsafe_engines: group
            .block_unsafe_search_engines
            .unwrap_or(defaults.block_unsafe_engines),
    }
}

fn dns_settings(report: &mut Report, raw: Option<&Sp<RawDns>>) -> DnsSettings {
    let Some(raw) = raw else {
        return DnsSettings::default();
    };
    let table = raw.get_ref();
    let address = |report: &mut Report, key: &str, value: &Option<Sp<String>>| -> Option<IpAddr> {
        let value = value.as_ref()?;
        match value.get_ref().trim().parse::<IpAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                report.add(
                    format!("dns.{key}"),
                    value.span(),
                    format!("{:?} is not an IP address", value.get_ref()),
                );
                None
            }
        }
    };
    let v4 = match address(report, "block_page_address", &table.block_page_address) {
        Some(IpAddr::V4(a)) => Some(a),
        Some(IpAddr::V6(_)) => {
            let span = table.block_page_address.as_ref().map_or(0..0, |v| v.span());
            report.add(
                "dns.block_page_address",
                span,
                "must be an IPv4 address; put the IPv6 one in block_page_address_v6",
            );
            None
        }
        None => None,
    };
    let v6 = match address(
        report,
        "block_page_address_v6",
        &table.block_page_address_v6,
    ) {
        Some(IpAddr::V6(a)) => Some(a),
        Some(IpAddr::V4(_)) => {
            let span = table
                .block_page_address_v6
                .as_ref()
                .map_or(0..0, |v| v.span());
            report.add("dns.block_page_address_v6", span, "must be an IPv6 address");
            None
        }
        None => None,
    };
    let block_response = match table.block_response {
        Some(RawBlockResponse::BlockPage) => BlockResponse::BlockPage,
        Some(RawBlockResponse::Null) => BlockResponse::Null,
        Some(RawBlockResponse::Nxdomain) | None => BlockResponse::NxDomain,
    };
    if block_response == BlockResponse::BlockPage
        && v4.is_none()
        && table.block_page_address.is_none()
    {
        report.add(
            "dns.block_response",
            raw.span(),
            "is \"block-page\" but no block_page_address is given; add the address the block page is served on",
        );
    }
    if table.workers == Some(0) {
        report.add(
            "dns.workers",
            raw.span(),
            "must be at least 1; leave it out for one per core",
        );
    }
    DnsSettings {
        block_response,
        block_page_v4: v4,
        block_page_v6: v6,
        rate_limit_qps: table.rate_limit_qps,
        workers: table.workers,
        cache_bytes: table.cache_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
    }
}

/// The `[proxy]` table, with the public address defaulting to the `proxy` listener.
fn proxy_settings(
    report: &mut Report,
    raw: Option<&Sp<RawProxy>>,
    raw_listeners: &BTreeMap<String, Sp<String>>,
    listeners: &BTreeMap<String, SocketAddr>,
) -> ProxySettings {
    let mut settings = ProxySettings::default();
    let listener = listeners.get("proxy").copied();
    let table = raw.map(|r| r.get_ref());

    let host_port =
        |report: &mut Report, key: &str, value: &Sp<String>, default_port| match HostPort::parse(
            value.get_ref(),
            default_port,
        ) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                report.add(format!("proxy.{key}"), value.span(), message);
                None
            }
        };
    let written_public = table.and_then(|t| t.public_address.as_ref());
    settings.public_address = match written_public {
        Some(value) => host_port(
            report,
            "public_address",
            value,
            Some(listener.map_or(DEFAULT_PROXY_PORT, |l| l.port())),
        ),
        None => listener.map(HostPort::from),
    };
    settings.public_address_from_listener = written_public.is_none() && listener.is_some();
    if written_public.is_none()
        && let Some(listener) = listener
        && listener.ip().is_unspecified()
    {
        let span = raw_listeners.get("proxy").map_or(0..0, |v| v.span());
        report.add(
            "listeners.proxy",
            span,
            format!(
                "the proxy listens on every address ({}), which clients cannot use to reach it; set public_address under [proxy] to the name or address clients use, e.g. \"proxy.school.example:{}\"",
                listener.ip(),
                listener.port()
            ),
        );
    }
    let Some(table) = table else {
        return settings;
    };

    settings.parent = table
        .parent
        .as_ref()
        .and_then(|value| host_port(report, "parent", value, None));

    let path = |report: &mut Report, key: String, value: &Sp<String>| -> Option<PathBuf> {
        let text = value.get_ref().trim();
        if text.is_empty() {
            report.add(
                format!("proxy.{key}"),
                value.span(),
                "is empty; give a file's path",
            );
            None
        } else {
            Some(PathBuf::from(text))
        }
    };
    settings.hosts_file = table
        .hosts_file
        .as_ref()
        .and_then(|value| path(report, "hosts_file".into(), value));
    settings.trust_roots = table
        .trust_roots
        .iter()
        .enumerate()
        .filter_map(|(at, value)| path(report, format!("trust_roots[{at}]"), value))
        .collect();

    for (at, value) in table.no_inspect.iter().enumerate() {
        let text = value.get_ref().trim();
        let bare = text
            .strip_prefix("*.")
            .or_else(|| text.strip_prefix('.'))
            .unwrap_or(text);
        match normalize_host(bare) {
            Ok(host) => {
                let host = host.as_text().into_owned();
                if !settings.no_inspect.contains(&host) {
                    settings.no_inspect.push(host);
                }
            }
            Err(error) => report.add(
                format!("proxy.no_inspect[{at}]"),
                value.span(),
                format!(
                    "{text:?} is not a host name: {error}; write e.g. \"bank.example\" (its subdomains are included)"
                ),
            ),
        }
    }
    if let Some(categories) = &table.no_inspect_categories {
        settings.no_inspect_categories.clear();
        for (at, value) in categories.iter().enumerate() {
            let key = value.get_ref().trim();
            if taxonomy::category(key).is_none() {
                report.add(
                    format!("proxy.no_inspect_categories[{at}]"),
                    value.span(),
                    format!(
                        "{key:?} is not a Hedgerow category; use a category key such as \"banking\" (see `hedgerow lists categories`)"
                    ),
                );
            } else if !settings.no_inspect_categories.iter().any(|c| c == key) {
                settings.no_inspect_categories.push(key.to_string());
            }
        }
    }

    if let Some(ports) = &table.connect_ports {
        if ports.get_ref().is_empty() {
            report.add(
                "proxy.connect_ports",
                ports.span(),
                "is empty, which would refuse every HTTPS site; give at least [443], or leave it out",
            );
        }
        let mut chosen = Vec::new();
        for (at, port) in ports.get_ref().iter().enumerate() {
            match *port.get_ref() {
                0 => report.add(
                    format!("proxy.connect_ports[{at}]"),
                    port.span(),
                    "0 is not a port; give 1 to 65535, e.g. 443",
                ),
                p if !chosen.contains(&p) => chosen.push(p),
                _ => {}
            }
        }
        if !chosen.is_empty() {
            settings.connect_ports = chosen;
        }
    }

    let bounded =
        |report: &mut Report, key: &str, value: &Sp<u64>, min: u64, max: u64, unit: &str| {
            let n = *value.get_ref();
            if n < min || n > max {
                report.add(
                    format!("proxy.{key}"),
                    value.span(),
                    format!("{n} is out of range; give {min} to {max} {unit}"),
                );
                None
            } else {
                Some(n)
            }
        };
    if let Some(value) = &table.failed_logins {
        let as_u64 = Sp::new(value.span(), u64::from(*value.get_ref()));
        if let Some(n) = bounded(report, "failed_logins", &as_u64, 1, 1000, "failed sign-ins") {
            settings.failed_logins = n as u32;
        }
    }
    if let Some(value) = &table.lockout_seconds
        && let Some(n) = bounded(report, "lockout_seconds", value, 1, 86_400, "seconds")
    {
        settings.lockout_seconds = n;
    }
    if let Some(value) = &table.sign_in_minutes
        && let Some(n) = bounded(report, "sign_in_minutes", value, 1, 24 * 60, "minutes")
    {
        settings.sign_in_minutes = n;
    }
    if let Some(value) = &table.idle_timeout_seconds
        && let Some(n) = bounded(report, "idle_timeout_seconds", value, 1, 3_600, "seconds")
    {
        settings.idle_timeout_seconds = n;
    }
    if let Some(value) = &table.max_header_bytes {
        let as_u64 = Sp::new(value.span(), *value.get_ref() as u64);
        if let Some(n) = bounded(
            report,
            "max_header_bytes",
            &as_u64,
            4_096,
            1_048_576,
            "bytes",
        ) {
            settings.max_header_bytes = Some(n as usize);
        }
    }
    settings
}

/// The `[admin]` table, checked against the `admin` listener it serves.
fn admin_settings(
    report: &mut Report,
    raw: Option<&Sp<RawAdmin>>,
    raw_listeners: &BTreeMap<String, Sp<String>>,
    listeners: &BTreeMap<String, SocketAddr>,
) -> AdminSettings {
    let mut settings = AdminSettings::default();
    let errors_before = report.errors.len();
    if let Some(table) = raw {
        let span = table.span();
        let table = table.get_ref();
        let tls = table
            .tls
            .as_ref()
            .map_or(RawAdminTls::Off, |t| *t.get_ref());
        let tls_name = match tls {
            RawAdminTls::Off => "off",
            RawAdminTls::SchoolCa => "school-ca",
            RawAdminTls::Files => "files",
        };

        let path = |report: &mut Report, key: &str, value: &Sp<String>| -> Option<PathBuf> {
            let text = value.get_ref().trim();
            if text.is_empty() {
                report.add(
                    format!("admin.{key}"),
                    value.span(),
                    "is empty; give the path of a PEM file",
                );
                None
            } else {
                Some(PathBuf::from(text))
            }
        };
        settings.tls = match tls {
            RawAdminTls::Off => AdminTls::Off,
            RawAdminTls::SchoolCa => AdminTls::SchoolCa,
            RawAdminTls::Files => {
                let tls_span = table.tls.as_ref().map_or(span.clone(), |t| t.span());
                let mut file = |key: &str, value: &Option<Sp<String>>, what: &str| match value {
                    Some(value) => path(report, key, value),
                    None => {
                        report.add(
                            "admin.tls",
                            tls_span.clone(),
                            format!(
                                "tls = \"files\" needs {key}: the path of {what}, e.g. {key} = \"/etc/hedgerow/admin-{key}.pem\""
                            ),
                        );
                        None
                    }
                };
                let cert = file(
                    "cert",
                    &table.cert,
                    "the PEM certificate chain (the server's certificate first)",
                );
                let key = file("key", &table.key, "the PEM private key");
                match (cert, key) {
                    (Some(cert), Some(key)) => AdminTls::Files { cert, key },
                    _ => AdminTls::Off,
                }
            }
        };
        if tls != RawAdminTls::Files {
            for (key, value) in [("cert", &table.cert), ("key", &table.key)] {
                if let Some(value) = value {
                    report.add(
                        format!("admin.{key}"),
                        value.span(),
                        format!(
                            "{key} is only used with tls = \"files\" (tls is \"{tls_name}\"); set tls = \"files\" or remove {key}"
                        ),
                    );
                }
            }
        }

        for (at, value) in table.names.iter().enumerate() {
            let text = value.get_ref().trim();
            let key = format!("admin.names[{at}]");
            if tls != RawAdminTls::SchoolCa {
                report.add(
                    key,
                    value.span(),
                    format!(
                        "names are only used with tls = \"school-ca\" (tls is \"{tls_name}\"): a certificate from files names its own hosts; set tls = \"school-ca\" or remove names"
                    ),
                );
                break;
            }
            if text.contains('*') {
                report.add(
                    key,
                    value.span(),
                    format!(
                        "{text:?} is a wildcard, which the school CA does not certify; list each name staff use, e.g. \"hedgerow.school.lan\""
                    ),
                );
                continue;
            }
            match normalize_host(text) {
                Ok(host) => {
                    let host = host.as_text().into_owned();
                    if !settings.names.contains(&host) {
                        settings.names.push(host);
                    }
                }
                Err(error) => report.add(
                    key,
                    value.span(),
                    format!(
                        "{text:?} is not a host name or address: {error}; write e.g. \"hedgerow.school.lan\" or \"10.0.0.2\""
                    ),
                ),
            }
        }

        settings.behind_tls_proxy = table
            .behind_tls_proxy
            .as_ref()
            .is_some_and(|b| *b.get_ref());
        if settings.behind_tls_proxy
            && tls != RawAdminTls::Off
            && let Some(value) = &table.behind_tls_proxy
        {
            report.add(
                "admin.behind_tls_proxy",
                value.span(),
                format!(
                    "behind_tls_proxy = true means the reverse proxy serves HTTPS and the app plain HTTP, but tls is \"{tls_name}\"; choose one: remove behind_tls_proxy, or set tls = \"off\""
                ),
            );
        }
        match (&table.trusted_proxy, settings.behind_tls_proxy) {
            (Some(value), true) => match value.get_ref().trim().parse::<IpAddr>() {
                Ok(address) => settings.trusted_proxy = Some(address.to_canonical()),
                Err(_) => report.add(
                    "admin.trusted_proxy",
                    value.span(),
                    format!(
                        "{:?} is not an IP address; give the reverse proxy's address as the app sees it, e.g. \"10.0.0.5\" (no port)",
                        value.get_ref()
                    ),
                ),
            },
            (Some(value), false) => report.add(
                "admin.trusted_proxy",
                value.span(),
                "trusted_proxy is only used with behind_tls_proxy = true; add behind_tls_proxy = true if a reverse proxy serves the app, or remove trusted_proxy",
            ),
            (None, true) => {
                let span = table
                    .behind_tls_proxy
                    .as_ref()
                    .map_or(span.clone(), |b| b.span());
                report.add(
                    "admin.behind_tls_proxy",
                    span,
                    "behind_tls_proxy = true needs trusted_proxy, the reverse proxy's address (e.g. trusted_proxy = \"10.0.0.5\"): without it every sign-in seems to come from the proxy, and one person's failed sign-ins would lock everyone out",
                );
            }
            (None, false) => {}
        }
    }

    // A mistake in the table above would make this check speak of settings never chosen.
    if report.errors.len() == errors_before
        && let Some(listener) = listeners.get("admin")
        && let Err(message) = settings.check_listener(*listener)
    {
        let span = raw_listeners.get("admin").map_or(0..0, |v| v.span());
        report.add("listeners.admin", span, message);
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{Time, Weekday};

    #[test]
    fn time_ranges() {
        let r = TimeRange::parse("12:00-13:00").unwrap();
        assert_eq!(
            (r.start, r.end),
            (Time::constant(12, 0, 0, 0), Time::constant(13, 0, 0, 0))
        );
        assert_eq!(TimeRange::parse(" 8:30 - 24:00").unwrap().end, Time::MAX);
        assert!(
            TimeRange::parse("13:00-12:00")
                .unwrap_err()
                .contains("ends before it starts")
        );
        assert!(
            TimeRange::parse("noon-1pm")
                .unwrap_err()
                .contains("not a time range")
        );
        assert!(TimeRange::parse("12:00").is_err());
        assert!(TimeRange::parse("25:00-26:00").is_err());
    }

    #[test]
    fn weekdays_accept_short_and_long_names() {
        assert_eq!(hedgerow_policy::parse_weekday("Mon"), Some(Weekday::Monday));
        assert_eq!(
            hedgerow_policy::parse_weekday("sunday"),
            Some(Weekday::Sunday)
        );
        assert_eq!(hedgerow_policy::parse_weekday("funday"), None);
    }
}
