//! The decision engine, driven end to end through an in-memory list index.

mod common;

use common::*;
use hedgerow_lists::normalize_host;
use hedgerow_policy::*;

#[test]
fn label_boundaries_and_subdomains() {
    let e = engine(spec());
    let ks2 = ask(&e, "ks2", None, LESSONS);
    assert_eq!(
        ks2.check("example.com"),
        (false, "group:ks2/category:gambling".into())
    );
    assert_eq!(
        ks2.check("https://www.example.com/x"),
        (false, "group:ks2/category:gambling".into())
    );
    assert_eq!(
        ks2.check("notexample.com"),
        (true, "group:ks2/default".into())
    );
    assert_eq!(
        ks2.check("example.com.evil.test"),
        (true, "group:ks2/default".into())
    );
    assert_eq!(
        ks2.reason("http://www.example.com/"),
        "Blocked: www.example.com is listed as Gambling (list gambling), which is blocked for KS2 pupils."
    );
    assert_eq!(
        ks2.reason("notexample.com"),
        "Allowed: notexample.com is not on any list, and unlisted sites are allowed for KS2 pupils."
    );
}

#[test]
fn url_path_prefixes_need_the_path() {
    let e = engine(spec());
    let unknown = ask(&e, "unknown", None, LESSONS);
    // The unknown group blocks online games by default, and coolmath is listed only under /games.
    assert_eq!(
        unknown.check("http://coolmath.example/games/snake"),
        (false, "group:unknown/default".into())
    );
    assert_eq!(
        unknown.reason("http://www.coolmath.example/games/snake"),
        "Blocked: coolmath.example/games is listed as Online games (list coolmath); unidentified devices have no rule for it, and anything without a rule is blocked for them."
    );
    let ks2 = ask(&e, "ks2", None, LESSONS);
    assert_eq!(
        ks2.check("http://coolmath.example/games/snake"),
        (false, "group:ks2/category:online-games/allow-during".into())
    );
    assert!(ks2.allowed("http://coolmath.example/maths"));
    assert!(
        ks2.allowed("coolmath.example"),
        "DNS sees no path, so a path entry cannot match"
    );
}

#[test]
fn list_actions_beat_category_actions() {
    let e = engine(spec());
    let ks1 = ask(&e, "ks1", None, LESSONS);
    assert_eq!(
        ks1.check("http://coolmath.example/games/snake"),
        (true, "group:ks1/list:coolmath".into())
    );
    assert_eq!(
        ks1.check("games.example"),
        (false, "group:ks1/category:online-games".into())
    );
    assert_eq!(
        ks1.reason("http://coolmath.example/games/snake"),
        "Allowed: coolmath.example/games is listed as Online games (list coolmath), which is allowed for KS1 pupils by a rule for that list."
    );
}

#[test]
fn named_services_inherit_their_parent_category() {
    let e = engine(spec());
    let ks1 = ask(&e, "ks1", None, LESSONS);
    let t = target("https://www.youtube.com/watch?v=1");
    let d = e.decide(&Request {
        group: "ks1",
        user: None,
        device: None,
        target: &t,
        at: at(LESSONS),
    });
    assert!(!d.is_allowed());
    assert_eq!(d.category(), Some("youtube"));
    assert_eq!(d.list_name(), Some("youtube"));
    assert_eq!(d.entry_text().as_deref(), Some("youtube.com"));
    assert!(
        matches!(d.rule(), Rule::CategoryAction { via_parent: true, selector: Selector::Category(k), .. } if k == "streaming")
    );
    assert_eq!(d.rule_id(), "group:ks1/category:streaming");
    assert_eq!(
        d.reason(),
        "Blocked: www.youtube.com is listed as YouTube (list youtube), part of Video and audio streaming, which is blocked for KS1 pupils."
    );
    assert!(!ks1.allowed("netflix.example"));
    // Staff have no streaming rule: the default allows.
    assert!(ask(&e, "staff", None, LESSONS).allowed("youtube.com"));
}

#[test]
fn allow_for_admits_only_nominated_users() {
    let e = engine(spec());
    assert_eq!(
        ask(&e, "ks2", Some("J.Bloggs"), LESSONS).check("youtube.com"),
        (true, "group:ks2/category:youtube".into())
    );
    let other = ask(&e, "ks2", Some("a.pupil"), LESSONS);
    assert_eq!(
        other.check("youtube.com"),
        (false, "group:ks2/category:youtube/allow-for".into())
    );
    assert_eq!(
        other.reason("youtube.com"),
        "Blocked: youtube.com is listed as YouTube (list youtube), which KS2 pupils may use only if nominated, and a.pupil is not."
    );
    assert!(
        ask(&e, "ks2", None, LESSONS)
            .reason("youtube.com")
            .ends_with("and nobody is signed in.")
    );
    // The service's own action beats its parent's block.
    assert!(!ask(&e, "ks2", Some("j.bloggs"), LESSONS).allowed("netflix.example"));
}

#[test]
fn any_blocking_list_wins_over_an_allowing_one() {
    let e = engine(spec());
    // play.example is both education and online games.
    assert!(!ask(&e, "ks1", None, LESSONS).allowed("play.example"));
    let t = target("play.example");
    let d = e.decide(&Request {
        group: "ks1",
        user: None,
        device: None,
        target: &t,
        at: at(LESSONS),
    });
    assert_eq!(d.category(), Some("online-games"));
    assert!(ask(&e, "ks2", None, LUNCH).allowed("play.example"));
    assert_eq!(
        ask(&e, "ks2", None, LUNCH).reason("games.example"),
        "Allowed: games.example is listed as Online games (list games), which KS2 pupils may use during lunch, as they can now."
    );
}

#[test]
fn lunch_follows_local_time_across_the_spring_clock_change() {
    let e = engine(spec());
    let ks2 = |when: &str| ask(&e, "ks2", None, when).allowed("games.example");
    // Friday 27 March 2026, GMT: lunch is 12:00-13:00 UTC.
    assert!(ks2("2026-03-27T12:30:00Z"));
    assert!(!ks2("2026-03-27T11:30:00Z"));
    assert!(!ks2("2026-03-27T13:00:00Z"));
    // Sunday 29 March: clocks go forward, and it is not a school day anyway.
    assert!(!ks2("2026-03-29T11:30:00Z"));
    // Monday 30 March, BST: lunch is 11:00-12:00 UTC.
    assert!(ks2("2026-03-30T11:00:00Z"));
    assert!(ks2("2026-03-30T11:30:00Z"));
    assert!(!ks2("2026-03-30T12:30:00Z"));
    assert!(!ks2("2026-03-30T10:59:59Z"));
    let closed = ask(&e, "ks2", None, "2026-03-30T12:30:00Z").reason("games.example");
    assert_eq!(
        closed,
        "Blocked: games.example is listed as Online games (list games), which KS2 pupils may use only during lunch, which is not running now."
    );
}

#[test]
fn lunch_follows_local_time_across_the_autumn_clock_change() {
    let e = engine(spec());
    let ks2 = |when: &str| ask(&e, "ks2", None, when).allowed("games.example");
    // Friday 23 October 2026, BST.
    assert!(ks2("2026-10-23T11:30:00Z"));
    assert!(!ks2("2026-10-23T12:30:00Z"));
    // Sunday 25 October: clocks go back; weekend.
    assert!(!ks2("2026-10-25T12:30:00Z"));
    // Monday 26 October, GMT.
    assert!(ks2("2026-10-26T12:30:00Z"));
    assert!(!ks2("2026-10-26T11:30:00Z"));
}

#[test]
fn term_dates_and_closures_decide_school_days() {
    let e = engine(spec());
    let ks2 = |when: &str| ask(&e, "ks2", None, when).allowed("games.example");
    assert!(ks2("2026-04-02T11:30:00Z"), "last day of spring term, BST");
    assert!(!ks2("2026-04-03T11:30:00Z"), "Easter holidays");
    assert!(!ks2("2026-08-03T11:30:00Z"), "summer holidays");
    assert!(!ks2("2026-11-02T12:30:00Z"), "INSET day");
    assert!(ks2("2026-11-03T12:30:00Z"));
}

fn override_entry(
    id: &str,
    site: &str,
    verdict: Verdict,
    groups: Option<&[&str]>,
    until: Option<&str>,
) -> SiteOverride {
    let (host, path) = match site.split_once('/') {
        Some((host, path)) => (host, Some(format!("/{path}"))),
        None => (site, None),
    };
    SiteOverride {
        id: id.into(),
        host: normalize_host(host).unwrap(),
        path,
        verdict,
        groups: groups.map(|gs| gs.iter().map(|g| g.to_string()).collect()),
        until: until.map(at),
        by: "Mrs Patel".into(),
        reason: "Year 5 probability lesson".into(),
    }
}

#[test]
fn overrides_apply_to_their_groups_until_they_expire() {
    let mut s = spec();
    s.overrides = vec![
        override_entry(
            "dice-lesson",
            "bet.example",
            Verdict::Allow,
            Some(&["ks2"]),
            Some("2026-03-23T11:00:00Z"),
        ),
        override_entry("no-bbc", "bbc.example", Verdict::Block, None, None),
        override_entry(
            "bitesize",
            "www.bbc.example/bitesize",
            Verdict::Allow,
            None,
            None,
        ),
        override_entry("tie-allow", "tie.example", Verdict::Allow, None, None),
        override_entry("tie-block", "tie.example", Verdict::Block, None, None),
    ];
    let e = engine(s);
    let ks2 = ask(&e, "ks2", None, LESSONS);
    assert_eq!(
        ks2.check("http://www.bet.example/roll"),
        (true, "override:dice-lesson".into())
    );
    assert_eq!(
        ks2.reason("bet.example"),
        "Allowed: bet.example is allowed for KS2 pupils by Mrs Patel until 11:00 on 23 March 2026 (Year 5 probability lesson)."
    );
    assert!(
        !ask(&e, "ks1", None, LESSONS).allowed("bet.example"),
        "only for ks2"
    );
    assert_eq!(
        ask(&e, "ks2", None, "2026-03-23T11:00:00Z").check("bet.example"),
        (false, "group:ks2/category:gambling".into()),
        "expired"
    );
    // The more specific path wins over the host; a block wins a tie.
    assert_eq!(
        ks2.check("http://www.bbc.example/bitesize/maths"),
        (true, "override:bitesize".into())
    );
    assert_eq!(
        ks2.check("http://www.bbc.example/news"),
        (false, "override:no-bbc".into())
    );
    assert_eq!(ks2.check("bbc.example"), (false, "override:no-bbc".into()));
    assert_eq!(
        ks2.check("notbbc.example"),
        (true, "group:ks2/default".into())
    );
    assert_eq!(
        ks2.check("tie.example"),
        (false, "override:tie-block".into())
    );
}

fn sanction(id: &str, user: &str, kind: SanctionKind, until: &str) -> Sanction {
    Sanction {
        id: id.into(),
        username: user.into(),
        kind,
        until: at(until),
        by: "Mr Head".into(),
        reason: "misuse of a school laptop".into(),
    }
}

#[test]
fn sanctions_block_or_restrict_until_they_expire() {
    let mut s = spec();
    s.sanctions = vec![
        sanction(
            "s-1",
            "j.bloggs",
            SanctionKind::NoInternet,
            "2026-03-23T15:00:00Z",
        ),
        sanction(
            "s-2",
            "a.pupil",
            SanctionKind::Restricted {
                group: "ks1".into(),
            },
            "2026-03-23T15:00:00Z",
        ),
    ];
    let e = engine(s);
    let barred = ask(&e, "ks2", Some("J.BLOGGS"), LUNCH);
    assert_eq!(barred.check("bbc.example"), (false, "sanction:s-1".into()));
    assert_eq!(
        barred.reason("bbc.example"),
        "Blocked: j.bloggs has no internet access until 15:00 on 23 March 2026 (misuse of a school laptop, set by Mr Head)."
    );
    assert!(ask(&e, "ks2", Some("j.bloggs"), "2026-03-23T15:00:00Z").allowed("bbc.example"));
    let restricted = ask(&e, "ks2", Some("a.pupil"), LUNCH);
    assert_eq!(
        restricted.check("games.example"),
        (false, "group:ks1/category:online-games".into())
    );
    assert_eq!(
        restricted.reason("games.example"),
        "Blocked: games.example is listed as Online games (list games), which is blocked for KS1 pupils (a.pupil is filtered as KS1 pupils until 15:00 on 23 March 2026: misuse of a school laptop)."
    );
    assert!(ask(&e, "ks2", Some("a.pupil"), "2026-03-24T12:30:00Z").allowed("games.example"));
    assert!(ask(&e, "ks2", Some("someone.else"), LUNCH).allowed("games.example"));
}

#[test]
fn unknown_group_keys_get_the_unknown_group() {
    let e = engine(spec());
    let stranger = ask(&e, "no-such-group", None, LESSONS);
    assert_eq!(
        stranger.check("notexample.com"),
        (false, "group:unknown/default".into())
    );
    assert_eq!(
        stranger.reason("notexample.com"),
        "Blocked: notexample.com is not on any list, and unlisted sites are blocked for unidentified devices."
    );
    assert_eq!(
        stranger.check("bbc.example"),
        (true, "group:unknown/category:education".into())
    );
}

#[test]
fn the_unknown_group_must_be_as_strict_as_every_pupil_group() {
    let mut s = spec();
    s.groups[4].actions.push(cat("gambling", Action::Allow));
    let err = Engine::new(s, index()).unwrap_err();
    assert!(
        matches!(&err, PolicyError::UnknownNotStrict { subject, pupil_group, .. } if subject == "gambling" && pupil_group == "ks1"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("set \"gambling\" = \"block\" in group \"unknown\""),
        "{err}"
    );

    // Only the index knows that coolmath is an online-games list.
    let mut s = spec();
    s.groups[4]
        .actions
        .push(list("coolmath", allow_for(&["x"])));
    s.groups[0]
        .actions
        .retain(|(sel, _)| *sel != Selector::List("coolmath".into()));
    let err = Engine::new(s, index()).unwrap_err();
    assert!(
        matches!(&err, PolicyError::UnknownNotStrict { subject, .. } if subject == "list:coolmath"),
        "{err}"
    );

    let mut s = spec();
    s.groups[0].default = Action::Block;
    s.groups[4].default = Action::Allow;
    let err = Engine::new(s, index()).unwrap_err();
    assert!(
        matches!(&err, PolicyError::UnknownNotStrict { subject, .. } if subject == "default"),
        "{err}"
    );

    // Matching a pupil group's schedule-limited access is strict enough.
    let mut s = spec();
    s.groups[4]
        .actions
        .push(cat("online-games", during(&["lunch"])));
    s.groups[0].actions.retain(|(sel, _)| {
        *sel != Selector::List("coolmath".into())
            && *sel != Selector::Category("online-games".into())
    });
    s.groups[0]
        .actions
        .push(cat("online-games", during(&["lunch"])));
    assert!(Engine::new(s, index()).is_ok());
}

#[test]
fn inconsistent_specs_are_refused_with_reasons() {
    let mut s = spec();
    s.groups[1].actions.push(cat("chat", during(&["break"])));
    assert!(
        matches!(Engine::new(s, index()), Err(PolicyError::UnknownSchedule { schedule, .. }) if schedule == "break")
    );

    let mut s = spec();
    s.groups[1].actions.push(list("gamez", Action::Block));
    assert!(
        matches!(Engine::new(s, index()), Err(PolicyError::UnknownList { list, .. }) if list == "gamez")
    );

    let mut s = spec();
    s.groups[1].actions.push(cat("gaming", Action::Block));
    assert!(
        matches!(Engine::new(s, index()), Err(PolicyError::UnknownCategory { key, .. }) if key == "gaming")
    );

    let mut s = spec();
    s.schedules[0].times[0] = TimeRange {
        start: jiff::civil::time(13, 0, 0, 0),
        end: jiff::civil::time(12, 0, 0, 0),
    };
    assert!(matches!(
        Engine::new(s, index()),
        Err(PolicyError::BadTimeRange { .. })
    ));

    let mut s = spec();
    let term = &mut s.terms[0];
    std::mem::swap(&mut term.start, &mut term.end);
    let err = Engine::new(s, index()).unwrap_err();
    assert!(
        err.to_string()
            .contains("term \"Spring 2026\" ends (2026-01-05) before it starts"),
        "{err}"
    );

    let mut s = spec();
    s.unknown_group = "nobody".into();
    assert!(matches!(
        Engine::new(s, index()),
        Err(PolicyError::MissingUnknownGroup(_))
    ));

    let mut s = spec();
    s.sanctions.push(sanction(
        "s",
        "x",
        SanctionKind::Restricted {
            group: "ks9".into(),
        },
        LUNCH,
    ));
    assert!(
        matches!(Engine::new(s, index()), Err(PolicyError::UnknownGroup { group, .. }) if group == "ks9")
    );

    let mut s = spec();
    s.groups[1].actions.push(cat("gambling", Action::Allow));
    assert!(
        matches!(Engine::new(s, index()), Err(PolicyError::DuplicateAction { selector, .. }) if selector == "category:gambling")
    );

    let mut s = spec();
    s.groups.push(s.groups[0].clone());
    assert!(matches!(
        Engine::new(s, index()),
        Err(PolicyError::DuplicateGroup(_))
    ));
}

#[test]
fn a_callers_own_buffer_gives_the_same_answer() {
    let e = engine(spec());
    let t = target("https://www.example.com/");
    let request = Request {
        group: "ks2",
        user: None,
        device: Some("ks2-laptop-07"),
        target: &t,
        at: at(LESSONS),
    };
    let mut buffer = Vec::new();
    let mine = e.decide_with(&request, &mut buffer);
    let shared = e.decide(&request);
    assert_eq!(mine.rule_id(), shared.rule_id());
    assert_eq!(mine.matched(), shared.matched());
    assert_eq!(mine.verdict(), Verdict::Block);
}

/// An index whose checksum matches but whose transducer is malformed (found by fuzzing; see
/// docs/fuzzing.md). Nothing can be vouched for with it, so every request must be blocked.
#[test]
fn a_damaged_index_blocks_everything() {
    let hex = "4852574944583031020000002aa6750594000000000000005000000000000000020000000003006164730b006164766572746973696e67030000000103006977661300696c6c6567616c2d6368696c642d6162757365020000000200000000000000010000000200000000000100000003000000000000000000000000000010a1cddccdd6cdd5001082eac5d0c9cfc2cdc4cb79";
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let index = std::sync::Arc::new(hedgerow_lists::ListIndex::from_vec(bytes).unwrap());
    let mut spec = spec();
    for group in &mut spec.groups {
        // The forged file's lists are not the fixture's; keep only category actions.
        group
            .actions
            .retain(|(selector, _)| matches!(selector, Selector::Category(_)));
    }
    let e = Engine::new(spec, index).unwrap();
    let staff = ask(&e, "staff", None, LESSONS);
    // Staff may reach unlisted sites: the block below is the damage, not the policy.
    assert!(e.group("staff").default == Action::Allow);
    assert_eq!(
        staff.check("www.example.com"),
        (false, "index-damaged".into())
    );
    assert!(
        staff
            .reason("www.example.com")
            .contains("category lists are damaged")
    );
    assert_eq!(
        staff.check("http://other.example/path"),
        (false, "index-damaged".into())
    );
}
