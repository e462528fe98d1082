//! The documented example loads and builds working inputs; malformed files are refused with the
//! right key path and line.

use std::sync::Arc;

use hedgerow_config::{Config, ConfigError};
use hedgerow_lists::{Entry, IndexBuilder, ListClass, ListIndex, Target, normalize_host};
use hedgerow_policy::{Engine, GroupKind, InspectScope, Request, WebSettings};

/// The ```toml block of docs/configuration.md that follows "## Complete example".
fn documented_example() -> String {
    let doc = include_str!("../../../docs/configuration.md");
    let after = &doc[doc.find("## Complete example").expect("example heading")..];
    let start = after.find("```toml\n").expect("toml block") + "```toml\n".len();
    let end = after[start..].find("\n```").expect("end of block");
    after[start..start + end].to_string()
}

#[test]
fn the_documented_example_loads_and_decides() {
    let config = Config::parse(&documented_example()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.upstreams.len(), 2);
    assert_eq!(config.upstreams[1].port(), 53);
    assert_eq!(config.listeners["dns"].port(), 5300);
    assert_eq!(
        config.lists.index.to_str(),
        Some("/var/lib/hedgerow/lists.hidx")
    );
    let spec = config.policy_spec("oakfield").unwrap();
    assert_eq!(spec.groups.len(), 5);
    assert_eq!(spec.closures.len(), 3);

    // The web proxy's settings.
    assert_eq!(config.listeners["proxy"].port(), 3128);
    let proxy = &config.proxy;
    assert_eq!(
        proxy.public_address.as_ref().unwrap().to_string(),
        "proxy.oakfield.example:3128"
    );
    assert_eq!(proxy.no_inspect, vec!["bank.example".to_string()]);
    assert!(proxy.never_inspects_host("www.bank.example"));
    assert!(!proxy.never_inspects_host("notbank.example"));
    assert_eq!(proxy.no_inspect_categories, vec!["banking".to_string()]);
    assert_eq!(
        (
            proxy.failed_logins,
            proxy.lockout_seconds,
            proxy.sign_in_minutes
        ),
        (5, 300, 15)
    );
    assert_eq!(spec.online_safety_lead.as_deref(), Some("Mrs Okafor"));
    assert!(spec.online_safety_contact.is_some());
    let group = |key: &str| spec.groups.iter().find(|g| g.key == key).unwrap();
    assert_eq!(
        group("ks2").web.inspect,
        InspectScope::Categories(vec!["social-networking".into(), "chat".into()])
    );
    assert!(group("ks2").web.blocks_file_type("archives"));
    assert_eq!(
        group("ks2").web.download_limit_bytes,
        Some(200 * 1024 * 1024)
    );
    assert_eq!(group("ks1").web, WebSettings::default_for(GroupKind::Pupil));
    assert!(group("staff").web.inspect.is_nothing());
    assert!(group("staff").web.blocked_file_types.is_empty());

    let directory = config.directory().unwrap();
    let who = directory.resolve(None, "10.20.2.44".parse().unwrap(), None);
    assert_eq!(who.group, "ks2");
    assert_eq!(who.how.to_string(), "device ks2-laptops (10.20.2.44)");

    let mut builder = IndexBuilder::new();
    let games = builder
        .add_list("games", "online-games", ListClass::Category)
        .unwrap();
    builder
        .add(
            games,
            &Entry::Domain(normalize_host("games.example").unwrap()),
        )
        .unwrap();
    let coolmath = builder
        .add_list("coolmath", "online-games", ListClass::Category)
        .unwrap();
    builder
        .add(
            coolmath,
            &Entry::Domain(normalize_host("coolmath.example").unwrap()),
        )
        .unwrap();
    let index = Arc::new(ListIndex::from_vec(builder.build().unwrap()).unwrap());
    let engine = Engine::new(spec.clone(), index).unwrap();
    let target = Target::parse("games.example").unwrap();
    let decide = |at: &str| {
        engine
            .decide(&Request {
                group: who.group,
                user: None,
                device: Some("ks2-laptops"),
                target: &target,
                at: at.parse().unwrap(),
            })
            .is_allowed()
    };
    assert!(decide("2026-03-23T12:15:00Z"), "Monday lunchtime");
    assert!(!decide("2026-03-23T10:15:00Z"), "Monday lessons");
    assert!(!decide("2026-05-04T12:15:00Z"), "bank holiday");

    // The override's local "until" is read in school time (GMT in March).
    assert_eq!(
        spec.overrides[0].until,
        Some("2026-03-12T15:30:00Z".parse().unwrap())
    );
}

const BASE: &str = r#"data_dir = "/var/lib/hedgerow"
[lists]
sources = []

[[school]]
slug = "oakfield"
name = "Oakfield"
terms = [{ name = "Spring", start = 2026-01-05, end = 2026-03-27 }]

[school.schedules]
lunch = { school_days = true, times = ["12:00-13:00"] }

[school.groups.ks2]
kind = "pupil"
default = "allow"

[school.groups.ks2.actions]
gambling = "block"

[school.groups.unknown]
kind = "unidentified"
default = "block"
"#;

fn errors(text: &str) -> Vec<ConfigError> {
    match Config::parse(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.0,
    }
}

/// 1-based number of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
        + 1
}

/// Asserts some error has this path, is on the line holding `needle`, and says `says`.
fn assert_error(text: &str, path: &str, needle: &str, says: &str) {
    let errors = errors(text);
    let line = line_of(text, needle);
    assert!(
        errors
            .iter()
            .any(|e| e.path == path && e.line == line && e.message.contains(says)),
        "wanted {path} on line {line} saying {says:?}; got:\n{}",
        errors
            .iter()
            .map(|e| format!("  {e}\n"))
            .collect::<String>()
    );
}

fn with(replace: &str, by: &str) -> String {
    assert!(BASE.contains(replace), "{replace:?}");
    BASE.replacen(replace, by, 1)
}

#[test]
fn the_base_is_valid() {
    let config = Config::parse(BASE).unwrap();
    assert_eq!(
        config.schools[0].policy.time_zone.iana_name(),
        Some("Europe/London")
    );
    assert!(
        config
            .database_url
            .starts_with("sqlite:///var/lib/hedgerow/hedgerow.db")
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let text = with("gambling = \"block\"", "gambling = \"block");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].line,
        line_of(&text, "gambling = "),
        "{}",
        errors[0]
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let text = with(
        "name = \"Oakfield\"",
        "name = \"Oakfield\"\ncolour = \"green\"",
    );
    assert_error(
        &text,
        "school[0].colour",
        "colour",
        "unknown field `colour`",
    );
    let text = with("data_dir", "data_dri");
    assert_error(&text, "data_dri", "data_dri", "unknown field");
    let text = with("kind = \"pupil\"", "kind = \"pupil\"\ndefualt = \"allow\"");
    assert_error(
        &text,
        "school[0].groups.ks2.defualt",
        "defualt",
        "unknown field",
    );
}

#[test]
fn wrong_kinds_of_value_are_refused() {
    let text = with("kind = \"pupil\"", "kind = \"pupils\"");
    assert_error(
        &text,
        "school[0].groups.ks2.kind",
        "pupils",
        "unknown variant",
    );
}

#[test]
fn bad_actions_and_categories() {
    let text = with("gambling = \"block\"", "gambling = \"alow\"");
    assert_error(
        &text,
        "school[0].groups.ks2.actions.gambling",
        "alow",
        "is not an action",
    );
    let text = with("gambling = \"block\"", "gaming = \"block\"");
    assert_error(
        &text,
        "school[0].groups.ks2.actions.gaming",
        "gaming",
        "not a Hedgerow category",
    );
    let text = with(
        "gambling = \"block\"",
        "online-games = { allow-during = [\"break\"] }",
    );
    assert_error(
        &text,
        "school[0].groups.ks2.actions.online-games",
        "online-games",
        "schedule \"break\" is not defined",
    );
    let text = with(
        "gambling = \"block\"",
        "online-games = { allow-sometimes = [\"lunch\"] }",
    );
    assert_error(
        &text,
        "school[0].groups.ks2.actions.online-games",
        "online-games",
        "not an action",
    );
}

#[test]
fn allowing_illegal_content_is_refused() {
    for action in [
        "\"allow\"",
        "{ allow-for = [\"head\"] }",
        "{ allow-during = [\"lunch\"] }",
    ] {
        let text = with(
            "gambling = \"block\"",
            &format!("gambling = \"block\"\nillegal-child-abuse = {action}"),
        );
        assert_error(
            &text,
            "school[0].groups.ks2.actions.illegal-child-abuse",
            "illegal-child-abuse",
            "always blocked",
        );
    }
    // Blocking illegal content explicitly is redundant but harmless.
    let text = with(
        "gambling = \"block\"",
        "gambling = \"block\"\nillegal-terrorism = \"block\"",
    );
    assert!(Config::parse(&text).is_ok());
}

#[test]
fn the_unknown_group_must_be_strict_enough() {
    let text = format!("{BASE}\n[school.groups.unknown.actions]\ngambling = \"allow\"\n");
    assert_error(
        &text,
        "school[0].groups.unknown.actions.gambling",
        "gambling = \"allow\"",
        "at least as strictly as every pupil group",
    );
    let text = with(
        "kind = \"unidentified\"\ndefault = \"block\"",
        "kind = \"unidentified\"\ndefault = \"allow\"",
    );
    assert_error(
        &text,
        "school[0].groups.unknown",
        "[school.groups.unknown]",
        "set \"gambling\" = \"block\"",
    );
    let text = with("[school.groups.unknown]", "[school.groups.strangers]");
    assert_error(
        &text,
        "school[0].unknown_group",
        "[[school]]",
        "\"unknown\" is not defined",
    );
}

#[test]
fn bad_times_dates_and_zones() {
    let text = with("\"12:00-13:00\"", "\"13:00-12:00\"");
    assert_error(
        &text,
        "school[0].schedules.lunch.times[0]",
        "13:00-12:00",
        "ends before it starts",
    );
    let text = with("\"12:00-13:00\"", "\"noon-1pm\"");
    assert_error(
        &text,
        "school[0].schedules.lunch.times[0]",
        "noon",
        "not a time range",
    );
    let text = with("end = 2026-03-27", "end = 2025-03-27");
    assert_error(
        &text,
        "school[0].terms[0].end",
        "2025-03-27",
        "ends (2025-03-27) before it starts",
    );
    let text = with("start = 2026-01-05", "start = \"5th January\"");
    assert_error(
        &text,
        "school[0].terms[0].start",
        "5th January",
        "is not a date",
    );
    let text = with(
        "name = \"Oakfield\"",
        "name = \"Oakfield\"\ntimezone = \"Europe/Londn\"",
    );
    assert_error(
        &text,
        "school[0].timezone",
        "Londn",
        "not a known time zone",
    );
    let text = with("lunch = {", "days = { days = [\"funday\"] }\nlunch = {");
    assert_error(
        &text,
        "school[0].schedules.days.days[0]",
        "funday",
        "not a day of the week",
    );
    let text = with(
        "terms = [{ name = \"Spring\", start = 2026-01-05, end = 2026-03-27 }]",
        "",
    );
    assert_error(
        &text,
        "school[0].schedules.lunch.school_days",
        "lunch =",
        "needs term dates",
    );
}

const DEVICES: &str = r#"
[[school.devices]]
name = "ks2-laptops"
kind = "laptop"
group = "ks2"
addresses = ["10.20.2.0/24"]

[[school.devices]]
name = "trolley"
kind = "laptop"
group = "ks9"
addresses = ["10.20.2.0/24", "10.20.3.7/16"]

[[school.users]]
username = "j.bloggs"
name = "Jo Bloggs"
kind = "pupil"
group = "ks3"
"#;

#[test]
fn device_and_user_mistakes() {
    let text = format!("{BASE}{DEVICES}");
    assert_error(
        &text,
        "school[0].devices[1].group",
        "\"ks9\"",
        "group \"ks9\" is not defined; use one of: ks2, unknown",
    );
    assert_error(
        &text,
        "school[0].devices[1].addresses[0]",
        "addresses = [\"10.20.2.0/24\", ",
        "already given to school[0].devices[0].addresses[0] (line 28)",
    );
    assert_error(
        &text,
        "school[0].devices[1].addresses[1]",
        "10.20.3.7/16",
        "did you mean 10.20.0.0/16",
    );
    assert_error(
        &text,
        "school[0].users[0].group",
        "\"ks3\"",
        "group \"ks3\" is not defined",
    );
    // Several problems are reported in one pass, in file order.
    let all = errors(&text);
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.windows(2).all(|w| w[0].line <= w[1].line));
}

#[test]
fn addresses_clash_across_schools() {
    let second = BASE[BASE.find("[[school]]").unwrap()..].replace("oakfield", "elmtree");
    let device =
        "\n[[school.devices]]\nname = \"net\"\nkind = \"network\"\naddresses = [\"10.0.0.0/8\"]\n";
    let text = format!("{BASE}{device}\n{second}{device}");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "school[1].devices[0].addresses[0]");
    assert!(
        errors[0]
            .message
            .contains("already given to school[0].devices[0].addresses[0]"),
        "{}",
        errors[0]
    );
}

#[test]
fn override_and_sanction_mistakes() {
    let text = format!(
        r#"{BASE}
[[school.users]]
username = "j.bloggs"
name = "Jo Bloggs"
kind = "pupil"
group = "ks2"

[[school.overrides]]
id = "lesson"
site = "www.bbc.co.uk/bitesize"
action = "allow"
groups = ["year5"]
until = 2026-03-12
by = "Mrs Patel"
reason = "Science"

[[school.overrides]]
id = "lesson" # again
site = "http://bad host/"
action = "block"
by = "IT"
reason = "x"

[[school.sanctions]]
id = "s1"
user = "n.body"
no_internet = true
until = 2026-03-20T15:30:00
by = "Head"
reason = "x"

[[school.sanctions]]
id = "s2"
user = "j.bloggs"
no_internet = true
filter_as = "ks2"
until = 2026-03-20T15:30:00
by = "Head"
reason = "x"
"#
    );
    assert_error(
        &text,
        "school[0].overrides[0].groups[0]",
        "year5",
        "not defined",
    );
    assert_error(
        &text,
        "school[0].overrides[0].until",
        "until = 2026-03-12",
        "needs a time as well",
    );
    assert_error(
        &text,
        "school[0].overrides[1].id",
        "# again",
        "already the id of overrides[0]",
    );
    assert_error(
        &text,
        "school[0].overrides[1].site",
        "bad host",
        "is not a site",
    );
    assert_error(
        &text,
        "school[0].sanctions[0].user",
        "n.body",
        "no user \"n.body\"",
    );
    assert_error(
        &text,
        "school[0].sanctions[1].filter_as",
        "filter_as = \"ks2\"",
        "not both",
    );
}

#[test]
fn top_level_mistakes() {
    let text = with(
        "[lists]",
        "upstreams = [\"dns.quad9.net\"]\n[listeners]\ndns = \"localhost:53\"\n[lists]",
    );
    assert_error(&text, "upstreams[0]", "quad9", "not a resolver address");
    assert_error(
        &text,
        "listeners.dns",
        "localhost",
        "not an address and port",
    );
    let text = BASE.replace("[lists]\nsources = []\n", "");
    let errors = errors(&text);
    assert!(
        errors[0].message.contains("missing field `lists`"),
        "{errors:?}"
    );
    let text = BASE[..BASE.find("[[school]]").unwrap()].to_string();
    assert_error(&text, "school", "data_dir", "no school is described");
}

#[test]
fn search_settings_default_by_kind_and_can_be_set() {
    use hedgerow_policy::YoutubeRestrict;
    let config = Config::parse(BASE).unwrap_or_else(|e| panic!("{e}"));
    let spec = config.policy_spec("oakfield").unwrap();
    let ks2 = spec.groups.iter().find(|g| g.key == "ks2").unwrap();
    assert!(ks2.search.safe_search && ks2.search.block_unsafe_engines);
    assert_eq!(ks2.search.youtube, YoutubeRestrict::Strict);
    assert!(spec.unsafe_search_engines.iter().any(|e| e == "yandex.ru"));

    let text = BASE
        .replace("kind = \"pupil\"\ndefault = \"allow\"", "kind = \"pupil\"\ndefault = \"allow\"\nsafe_search = false\nyoutube = \"moderate\"\nblock_unsafe_search_engines = false")
        .replace("name = \"Oakfield\"\n", "name = \"Oakfield\"\nunsafe_search_engines = [\"Search.Example\"]\n");
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let spec = config.policy_spec("oakfield").unwrap();
    let ks2 = spec.groups.iter().find(|g| g.key == "ks2").unwrap();
    assert!(!ks2.search.safe_search && !ks2.search.block_unsafe_engines);
    assert_eq!(ks2.search.youtube, YoutubeRestrict::Moderate);
    assert_eq!(
        spec.unsafe_search_engines,
        vec!["search.example".to_string()]
    );

    let bad = BASE.replace(
        "kind = \"pupil\"\ndefault = \"allow\"",
        "kind = \"pupil\"\ndefault = \"allow\"\nyoutube = \"sometimes\"",
    );
    let found = errors(&bad);
    assert!(found[0].to_string().contains("youtube"), "{}", found[0]);
    let bad = BASE.replace(
        "name = \"Oakfield\"\n",
        "name = \"Oakfield\"\nunsafe_search_engines = [\"bad..name\"]\n",
    );
    let found = errors(&bad);
    assert!(
        found[0].to_string().contains("unsafe_search_engines[0]"),
        "{}",
        found[0]
    );
    assert!(
        found[0]
            .to_string()
            .contains(&format!("line {}", line_of(&bad, "unsafe_search_engines"))),
        "{}",
        found[0]
    );
}

#[test]
fn a_device_owner_must_be_a_user() {
    let text = format!(
        "{BASE}\n[[school.devices]]\nname = \"ipad-1\"\nkind = \"ipad\"\ngroup = \"ks2\"\naddresses = [\"10.1.1.1\"]\nowner = \"nobody\"\n"
    );
    let found = errors(&text);
    assert!(
        found[0].to_string().contains("devices[0].owner"),
        "{}",
        found[0]
    );
    assert!(
        found[0]
            .to_string()
            .contains(&format!("line {}", line_of(&text, "owner ="))),
        "{}",
        found[0]
    );
}

#[test]
fn proxy_settings_default_and_follow_the_listener() {
    let config = Config::parse(BASE).unwrap();
    assert_eq!(config.proxy, hedgerow_config::ProxySettings::default());
    assert_eq!(config.proxy.public_address, None);
    assert_eq!(
        config.proxy.no_inspect_categories,
        vec!["banking".to_string()]
    );
    assert_eq!(config.proxy.idle_timeout_seconds, 60);
    assert_eq!(config.proxy.connect_ports, vec![443]);

    let text = with("[lists]", "[listeners]\nproxy = \"10.0.0.1:3128\"\n[lists]");
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.proxy.public_address.unwrap().to_string(),
        "10.0.0.1:3128"
    );
    assert!(config.proxy.public_address_from_listener);

    let text = with(
        "[lists]",
        "[listeners]\nproxy = \"[::]:8080\"\n[proxy]\npublic_address = \"Proxy.School.Example\"\nparent = \"[2001:db8::1]:3128\"\nno_inspect = [\"*.Bank.Example.\"]\nno_inspect_categories = []\nmax_header_bytes = 65536\nconnect_ports = [443, 8443, 443]\n[lists]",
    );
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let proxy = &config.proxy;
    assert_eq!(
        proxy.public_address.as_ref().unwrap().to_string(),
        "proxy.school.example:8080",
        "the port defaults to the listener's"
    );
    assert!(!proxy.public_address_from_listener);
    assert_eq!(
        proxy.parent.as_ref().unwrap().to_string(),
        "[2001:db8::1]:3128"
    );
    assert_eq!(
        proxy.parent.as_ref().unwrap().socket_addr(),
        Some("[2001:db8::1]:3128".parse().unwrap())
    );
    assert!(proxy.never_inspects_host("bank.example"));
    assert!(proxy.never_inspects_host("online.bank.example"));
    assert!(proxy.no_inspect_categories.is_empty());
    assert_eq!(proxy.max_header_bytes, Some(65536));
    assert_eq!(proxy.connect_ports, vec![443, 8443]);
}

#[test]
fn proxy_mistakes_name_the_key_and_line() {
    let text = with("[lists]", "[listeners]\nproxy = \"0.0.0.0:3128\"\n[lists]");
    assert_error(&text, "listeners.proxy", "0.0.0.0", "public_address");

    let proxy = |body: &str| with("[lists]", &format!("[proxy]\n{body}\n[lists]"));
    assert_error(
        &proxy("parent = \"upstream.example\""),
        "proxy.parent",
        "parent",
        "has no port",
    );
    assert_error(
        &proxy("parent = \"upstream.example:99999\""),
        "proxy.parent",
        "parent",
        "not a port",
    );
    assert_error(
        &proxy("public_address = \"bad..name:3128\""),
        "proxy.public_address",
        "public_address",
        "not a host name",
    );
    assert_error(
        &proxy("no_inspect = [\"ok.example\", \"bad..example\"]"),
        "proxy.no_inspect[1]",
        "no_inspect",
        "not a host name",
    );
    assert_error(
        &proxy("no_inspect_categories = [\"banks\"]"),
        "proxy.no_inspect_categories[0]",
        "no_inspect_categories",
        "not a Hedgerow category",
    );
    assert_error(
        &proxy("connect_ports = []"),
        "proxy.connect_ports",
        "connect_ports",
        "at least [443]",
    );
    assert_error(
        &proxy("connect_ports = [443, 0]"),
        "proxy.connect_ports[1]",
        "connect_ports",
        "not a port",
    );
    assert_error(
        &proxy("connect_ports = [443, 70000]"),
        "proxy.connect_ports[1]",
        "connect_ports",
        "",
    );
    assert_error(
        &proxy("failed_logins = 0"),
        "proxy.failed_logins",
        "failed_logins",
        "out of range",
    );
    assert_error(
        &proxy("idle_timeout_seconds = 100000"),
        "proxy.idle_timeout_seconds",
        "idle_timeout",
        "1 to 3600",
    );
    assert_error(
        &proxy("max_header_bytes = 100"),
        "proxy.max_header_bytes",
        "max_header_bytes",
        "4096 to 1048576",
    );
    assert_error(
        &proxy("hosts_file = \" \""),
        "proxy.hosts_file",
        "hosts_file",
        "is empty",
    );
    assert_error(
        &proxy("lockout = 30"),
        "proxy.lockout",
        "lockout",
        "unknown field",
    );
    assert_error(
        &proxy("sign_in_minutes = -1"),
        "proxy.sign_in_minutes",
        "sign_in_minutes",
        "",
    );
}

#[test]
fn group_web_settings_are_checked() {
    let ks2 = |extra: &str| {
        BASE.replacen(
            "kind = \"pupil\"\ndefault = \"allow\"",
            &format!("kind = \"pupil\"\ndefault = \"allow\"\n{extra}"),
            1,
        )
    };
    let web = |text: &str, key: &str| {
        let config = Config::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let spec = config.policy_spec("oakfield").unwrap();
        spec.groups
            .iter()
            .find(|g| g.key == key)
            .unwrap()
            .web
            .clone()
    };
    assert_eq!(web(BASE, "ks2"), WebSettings::default_for(GroupKind::Pupil));
    assert_eq!(
        web(&ks2("inspect = [\"all\"]"), "ks2").inspect,
        InspectScope::All
    );
    assert_eq!(
        web(&ks2("inspect = \"all\""), "ks2").inspect,
        InspectScope::All
    );
    assert_eq!(
        web(&ks2("inspect = []"), "ks2").inspect,
        InspectScope::Nothing
    );
    assert_eq!(
        web(&ks2("inspect = [\"chat\", \"chat\", \"youtube\"]"), "ks2").inspect,
        InspectScope::Categories(vec!["chat".into(), "youtube".into()])
    );
    // Staff may allow every kind of file; the unknown group still blocks the pupil defaults.
    assert!(
        web(&ks2("blocked_file_types = []"), "ks2")
            .blocked_file_types
            .is_empty()
    );
    assert_eq!(
        web(
            &ks2("blocked_file_types = [\"disk-images\", \"scripts\", \"executables\", \"installers\", \"scripts\"]"),
            "ks2"
        )
        .blocked_file_types,
        ["executables", "installers", "scripts", "disk-images"]
    );

    assert_error(
        &ks2("inspect = [\"chat\", \"gamez\"]"),
        "school[0].groups.ks2.inspect[1]",
        "inspect",
        "not a Hedgerow category",
    );
    assert_error(
        &ks2("inspect = [\"all\", \"chat\"]"),
        "school[0].groups.ks2.inspect",
        "inspect",
        "already covers every category",
    );
    assert_error(
        &ks2("inspect = true"),
        "school[0].groups.ks2.inspect",
        "inspect",
        "not a list of categories",
    );
    assert_error(
        &ks2("inspect = [\"banking\"]"),
        "school[0].groups.ks2.inspect[0]",
        "inspect",
        "no_inspect_categories",
    );
    assert_error(
        &ks2("blocked_file_types = [\"exe\"]"),
        "school[0].groups.ks2.blocked_file_types[0]",
        "blocked_file_types",
        "executables, installers, scripts, disk-images, archives",
    );
    assert_error(
        &ks2("download_limit_mb = 0"),
        "school[0].groups.ks2.download_limit_mb",
        "download_limit_mb",
        "at least 1",
    );
}

#[test]
fn the_unknown_group_must_block_what_pupils_cannot_download() {
    // A pupil group adds archives and a size limit; the unknown group, left to its defaults,
    // has neither.
    let text = BASE.replacen(
        "kind = \"pupil\"\ndefault = \"allow\"",
        "kind = \"pupil\"\ndefault = \"allow\"\nblocked_file_types = [\"executables\", \"archives\"]\ndownload_limit_mb = 50",
        1,
    );
    let found = errors(&text);
    assert!(
        found.iter().any(|e| e.path == "school[0].groups.unknown"
            && e.message.contains("archives")
            && e.message.contains("\"ks2\"")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|e| e.path == "school[0].groups.unknown" && e.message.contains("50 MB")),
        "{found:?}"
    );
    let text = text.replacen(
        "kind = \"unidentified\"\ndefault = \"block\"",
        "kind = \"unidentified\"\ndefault = \"block\"\nblocked_file_types = [\"scripts\"]\ndownload_limit_mb = 100",
        1,
    );
    assert_error(
        &text,
        "school[0].groups.unknown.blocked_file_types",
        "blocked_file_types = [\"scripts\"]",
        "archives",
    );
    assert_error(
        &text,
        "school[0].groups.unknown.download_limit_mb",
        "download_limit_mb = 100",
        "50 MB",
    );
    let fixed = text
        .replace("[\"scripts\"]", "[\"executables\", \"archives\"]")
        .replace("= 100", "= 50");
    Config::parse(&fixed).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_online_safety_lead_is_optional_but_not_empty() {
    let config = Config::parse(BASE).unwrap();
    assert_eq!(config.schools[0].policy.online_safety_lead, None);
    let text = with(
        "name = \"Oakfield\"",
        "name = \"Oakfield\"\nonline_safety_lead = \"  Mr Ng \"\nonline_safety_contact = \"room 4\"",
    );
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.schools[0].policy.online_safety_lead.as_deref(),
        Some("Mr Ng")
    );
    assert_eq!(
        config.schools[0].policy.online_safety_contact.as_deref(),
        Some("room 4")
    );
    let text = with(
        "name = \"Oakfield\"",
        "name = \"Oakfield\"\nonline_safety_lead = \"\"",
    );
    assert_error(
        &text,
        "school[0].online_safety_lead",
        "online_safety_lead",
        "is empty",
    );
}

#[test]
fn the_portal_and_the_agreement_hold() {
    // No portal, no hold: nothing changes for schools that do not use agreements.
    let config = Config::parse(BASE).unwrap();
    assert!(config.schools[0].agreement_hold.is_empty());
    assert_eq!(config.portal.address, None);
    assert_eq!(config.portal.url, None);

    // The portal's addresses and URL default to its listener's.
    let text = with(
        "[lists]",
        "[listeners]\nportal = \"10.20.0.5:8080\"\n[lists]",
    )
    .replace(
        "[school.groups.unknown]",
        "[school.agreements]\nhold = [\"ks2\", \"unknown\", \"ks2\"]\n\n[school.groups.unknown]",
    );
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.schools[0].agreement_hold, vec!["ks2", "unknown"]);
    assert_eq!(config.portal.address, Some("10.20.0.5".parse().unwrap()));
    assert_eq!(config.portal.url.as_deref(), Some("http://10.20.0.5:8080/"));
    assert_eq!(config.portal.host().as_deref(), Some("10.20.0.5"));

    // Written values win over the listener's.
    let text = with(
        "[lists]",
        "[listeners]\nportal = \"0.0.0.0:80\"\n[portal]\naddress = \"10.20.0.6\"\naddress_v6 = \"2001:db8::6\"\nurl = \"http://Portal.Oakfield.example\"\n[lists]",
    );
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let portal = &config.portal;
    assert_eq!(portal.address, Some("10.20.0.6".parse().unwrap()));
    assert_eq!(portal.address_v6, Some("2001:db8::6".parse().unwrap()));
    assert_eq!(
        portal.url.as_deref(),
        Some("http://portal.oakfield.example/")
    );
    assert!(portal.is_portal_host("portal.oakfield.example"));
    assert!(portal.is_portal_host("10.20.0.6"));
    assert!(!portal.is_portal_host("www.oakfield.example"));
}

#[test]
fn portal_mistakes_are_refused_with_their_line() {
    let text = with("[lists]", "[listeners]\nportal = \"0.0.0.0:8080\"\n[lists]");
    assert_error(
        &text,
        "listeners.portal",
        "portal = ",
        "set address under [portal]",
    );
    let text = with("[lists]", "[portal]\naddress = \"::1\"\n[lists]");
    assert_error(
        &text,
        "portal.address",
        "address = ",
        "must be an IPv4 address",
    );
    let text = with("[lists]", "[portal]\naddress = \"portal\"\n[lists]");
    assert_error(
        &text,
        "portal.address",
        "address = ",
        "is not an IPv4 address",
    );
    let text = with("[lists]", "[portal]\naddress_v6 = \"10.0.0.1\"\n[lists]");
    assert_error(
        &text,
        "portal.address_v6",
        "address_v6 = ",
        "is not an IPv6 address",
    );
    let text = with(
        "[lists]",
        "[portal]\nurl = \"http://portal.example/welcome\"\n[lists]",
    );
    assert_error(&text, "portal.url", "url = ", "no path");
    let text = with("[lists]", "[portal]\nurl = \"portal.example\"\n[lists]");
    assert_error(&text, "portal.url", "url = ", "starting http://");
    let text = with(
        "[lists]",
        "[portal]\nurl = \"http://x/\"\nhold = []\n[lists]",
    );
    assert_error(&text, "portal.hold", "hold = ", "unknown field");

    let text = with(
        "[school.groups.unknown]",
        "[school.agreements]\nhold = [\"ks2\", \"year7\"]\n\n[school.groups.unknown]",
    );
    assert_error(
        &text,
        "school[0].agreements.hold[1]",
        "hold = ",
        "there is no group \"year7\"",
    );
}
