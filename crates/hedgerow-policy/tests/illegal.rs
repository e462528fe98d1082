//! The one invariant that matters most: nothing allows an entry on an illegal-content list.
//!
//! The spec here tries every lever there is to allow the illegal entries, and the engine must
//! block them anyway, with the illegal list named as the reason.

mod common;

use common::*;
use hedgerow_lists::normalize_host;
use hedgerow_policy::*;
use proptest::prelude::*;

/// Every way a spec could try to allow illegal content, all at once.
fn permissive_spec() -> PolicySpec {
    let tries = || {
        vec![
            cat("illegal-child-abuse", Action::Allow),
            cat("illegal-terrorism", during(&["always"])),
            list("iwf", Action::Allow),
            list("ctiru", allow_for(&["staff.member", "j.bloggs"])),
        ]
    };
    let mut s = spec();
    for group in &mut s.groups {
        group.actions = tries();
        group.default = Action::Allow;
    }
    // A second, equally permissive staff-like group to be restricted into.
    s.groups.push(group(
        "open",
        "open",
        GroupKind::Staff,
        Action::Allow,
        tries(),
    ));
    let allow_site =
        |id: &str, host: &str, path: Option<&str>, groups: Option<Vec<String>>| SiteOverride {
            id: id.into(),
            host: normalize_host(host).unwrap(),
            path: path.map(Into::into),
            verdict: Verdict::Allow,
            groups,
            until: None,
            by: "someone".into(),
            reason: "trying to allow illegal content".into(),
        };
    s.overrides = vec![
        allow_site("o1", "evil.example", None, None),
        allow_site(
            "o2",
            "www.evil.example",
            None,
            Some(vec!["ks1".into(), "staff".into()]),
        ),
        allow_site("o3", "host.example", Some("/abuse/page.html"), None),
        allow_site("o4", "host.example", None, None),
        allow_site("o5", "forum.example", Some("/t/"), None),
        allow_site("o6", "example", None, None),
    ];
    s.sanctions = vec![Sanction {
        id: "to-open".into(),
        username: "j.bloggs".into(),
        kind: SanctionKind::Restricted {
            group: "open".into(),
        },
        until: at("2030-01-01T00:00:00Z"),
        by: "someone".into(),
        reason: "restricted into a permissive group".into(),
    }];
    s
}

const ILLEGAL_TARGETS: &[&str] = &[
    "evil.example",
    "www.evil.example",
    "http://deep.sub.evil.example/anything?x=1",
    "http://host.example/abuse/page.html",
    "https://HOST.example:443/abuse/page.html",
    "http://forum.example/t/1234",
    "http://www.forum.example/t/",
];

const GROUPS: &[&str] = &[
    "ks1",
    "ks2",
    "staff",
    "visitors",
    "unknown",
    "open",
    "not-a-group",
];
const USERS: &[Option<&str>] = &[None, Some("j.bloggs"), Some("staff.member"), Some("nobody")];
const TIMES: &[&str] = &[
    LUNCH,
    LESSONS,
    "2026-03-29T01:30:00Z",
    "2026-08-01T00:00:00Z",
];

#[test]
fn nothing_can_allow_an_illegal_entry() {
    let e = engine(permissive_spec());
    for url in ILLEGAL_TARGETS {
        for group in GROUPS {
            for user in USERS {
                for when in TIMES {
                    let t = target(url);
                    let d = e.decide(&Request {
                        group,
                        user: *user,
                        device: None,
                        target: &t,
                        at: at(when),
                    });
                    assert_eq!(
                        d.verdict(),
                        Verdict::Block,
                        "{url} for {group} {user:?} at {when}"
                    );
                    assert!(
                        matches!(d.rule(), Rule::IllegalList { .. }),
                        "{url}: {}",
                        d.rule_id()
                    );
                    assert!(d.rule_id().starts_with("illegal:"), "{}", d.rule_id());
                    assert!(
                        d.reason().contains("illegal-content list"),
                        "{}",
                        d.reason()
                    );
                }
            }
        }
    }
    // The permissive spec really is permissive: neighbours of the illegal entries are allowed.
    let staff = ask(&e, "staff", None, LESSONS);
    assert!(staff.allowed("http://host.example/abuse/other.html"));
    assert!(staff.allowed("http://forum.example/u/1"));
    assert!(staff.allowed("notevil.example"));
}

#[test]
fn the_decision_names_the_illegal_list() {
    let e = engine(permissive_spec());
    let t = target("http://host.example/abuse/page.html");
    let d = e.decide(&Request {
        group: "staff",
        user: None,
        device: None,
        target: &t,
        at: at(LESSONS),
    });
    assert_eq!(d.rule_id(), "illegal:iwf");
    assert_eq!(d.category(), Some("illegal-child-abuse"));
    assert_eq!(
        d.reason(),
        "Blocked: host.example is on the illegal-content list iwf (Child sexual abuse material (IWF list)), which is always blocked."
    );
}

proptest! {
    #[test]
    fn random_subdomains_requests_and_moments_stay_blocked(
        labels in proptest::collection::vec("[a-z0-9]{1,10}", 0..4),
        group in proptest::sample::select(GROUPS),
        user in proptest::sample::select(USERS),
        seconds in 1_700_000_000i64..1_900_000_000,
        path in "(/[a-z]{0,8}){0,3}",
    ) {
        let e = engine(permissive_spec());
        let mut host = labels.join(".");
        if !host.is_empty() {
            host.push('.');
        }
        host.push_str("evil.example");
        let t = target(&format!("http://{host}{path}"));
        let d = e.decide(&Request {
            group,
            user,
            device: None,
            target: &t,
            at: jiff::Timestamp::from_second(seconds).unwrap(),
        });
        prop_assert_eq!(d.verdict(), Verdict::Block);
        prop_assert_eq!(d.rule_id(), "illegal:iwf");
    }

    #[test]
    fn a_label_glued_to_a_listed_name_is_a_different_site(prefix in "[a-z0-9-]{1,12}") {
        prop_assume!(!prefix.starts_with('-') && !prefix.ends_with('-'));
        let e = engine(spec());
        let glued = format!("{prefix}example.com");
        let ks2 = ask(&e, "ks2", None, LESSONS);
        prop_assert!(ks2.allowed(&glued));
        let subdomain = format!("{prefix}.example.com");
        prop_assert!(!ks2.allowed(&subdomain));
    }
}
