//! The DNS filter as a school meets it: `hedgerow demo` and `hedgerow serve` answering real dig
//! and dnsperf queries from each demo device's address, forwarding to a real (dnsmasq) upstream.

mod support;

use std::time::{Duration, Instant};

use support::*;

const KS1: &str = "127.0.0.10";
const KS2: &str = "127.0.0.20";
const STAFF: &str = "127.0.0.30";
const GUEST: &str = "127.0.0.40";
const UNKNOWN: &str = "127.0.0.99";

fn demo() -> Option<(Gateway, Running, tempfile::TempDir)> {
    if !have_tools(&["dig", "dnsmasq"]) {
        return None;
    }
    let (upstream, up_addr) = start_upstream(&[
        "--txt-record=txt.example,hello from upstream",
        // A TXT answer too big for 512 bytes, to force truncation and TCP.
        "--txt-record=big.example,\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        "--txt-record=big.example,\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"",
        "--txt-record=big.example,\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let gateway = start_gateway(
        &["demo", "--data-dir", data.to_str().unwrap()],
        up_addr,
        dir.path(),
    );
    Some((gateway, upstream, dir))
}

#[test]
fn the_demo_filters_each_group_from_its_own_address() {
    let Some((gateway, _upstream, _dir)) = demo() else {
        return;
    };

    // Gambling is blocked for everyone, with an Extended DNS Error naming the category, and
    // subdomains with it; a name that merely ends the same way is not.
    for source in [KS1, KS2, STAFF, GUEST, UNKNOWN] {
        let answer = gateway.dig_from(source, &["www.pokerstars.com"]);
        assert_eq!(status(&answer), "NXDOMAIN", "{source}: {answer}");
        assert_eq!(
            ede(&answer),
            Some("; EDE: 17 (Filtered): (Gambling)"),
            "{source}"
        );
    }
    assert_eq!(
        gateway
            .dig_from(KS2, &["+short", "notpokerstars.com"])
            .trim(),
        "192.0.2.1"
    );

    // Online games: blocked for the youngest and for unknown devices, allowed for staff and guests.
    for (source, blocked) in [(KS1, true), (STAFF, false), (GUEST, false), (UNKNOWN, true)] {
        let answer = gateway.dig_from(source, &["roblox.com"]);
        let expected = if blocked { "NXDOMAIN" } else { "NOERROR" };
        assert_eq!(status(&answer), expected, "{source}: {answer}");
    }

    // Illegal content: Censored (16), for every group, staff included.
    let answer = gateway.dig_from(STAFF, &["iwf-check.hedgerow.test"]);
    assert_eq!(status(&answer), "NXDOMAIN");
    assert!(
        ede(&answer).is_some_and(|l| l.starts_with("; EDE: 16 (Censored)")),
        "{answer}"
    );

    // AAAA passes through for allowed names and is blocked with the name.
    assert_eq!(
        gateway
            .dig_from(KS2, &["+short", "example.org", "AAAA"])
            .trim(),
        "2001:db8::1"
    );
    assert_eq!(
        status(&gateway.dig_from(KS2, &["pokerstars.com", "AAAA"])),
        "NXDOMAIN"
    );

    // Other types pass through.
    let txt = gateway.dig_from(STAFF, &["+short", "txt.example", "TXT"]);
    assert_eq!(txt.trim(), "\"hello from upstream\"");
}

#[test]
fn safe_search_and_circumvention() {
    let Some((gateway, _upstream, _dir)) = demo() else {
        return;
    };

    let google = gateway.dig_from(KS2, &["+noall", "+answer", "www.google.co.uk"]);
    assert!(
        google.contains("CNAME\tforcesafesearch.google.com."),
        "{google}"
    );
    assert!(
        google.contains("192.0.2.1"),
        "the alias is resolved too: {google}"
    );
    let bing = gateway.dig_from(KS1, &["+noall", "+answer", "www.bing.com"]);
    assert!(bing.contains("CNAME\tstrict.bing.com."), "{bing}");
    let ddg = gateway.dig_from(STAFF, &["+noall", "+answer", "duckduckgo.com"]);
    assert!(
        ddg.contains("CNAME\tsafe.duckduckgo.com."),
        "staff get safe search too: {ddg}"
    );
    // YouTube: moderate for guests, untouched for staff (and blocked as streaming for pupils).
    let guest = gateway.dig_from(GUEST, &["+noall", "+answer", "www.youtube.com"]);
    assert!(
        guest.contains("CNAME\trestrictmoderate.youtube.com."),
        "{guest}"
    );
    let staff = gateway.dig_from(STAFF, &["+noall", "+answer", "www.youtube.com"]);
    assert!(!staff.contains("CNAME"), "{staff}");
    // Engines that cannot be locked are blocked for pupils, not for staff.
    assert_eq!(status(&gateway.dig_from(KS2, &["yandex.ru"])), "NXDOMAIN");
    assert_eq!(status(&gateway.dig_from(STAFF, &["yandex.ru"])), "NOERROR");

    // Circumvention: the DoH canary, Private Relay and DoH resolvers.
    assert_eq!(
        status(&gateway.dig_from(STAFF, &["use-application-dns.net"])),
        "NXDOMAIN"
    );
    for name in [
        "mask.icloud.com",
        "mask-h2.icloud.com",
        "dns.google",
        "mozilla.cloudflare-dns.com",
    ] {
        let answer = gateway.dig_from(KS2, &[name]);
        assert_eq!(status(&answer), "NXDOMAIN", "{name}");
        assert!(
            ede(&answer).is_some_and(|l| l.contains("VPNs, proxies and DNS-over-HTTPS")),
            "{name}: {answer}"
        );
    }

    // An allowed name whose answer is an alias of a blocked one is blocked.
    let chained = gateway.dig_from(KS2, &["cdn-alias.example"]);
    assert_eq!(status(&chained), "NXDOMAIN", "{chained}");
    assert!(
        ede(&chained).is_some_and(|l| l.contains("Gambling")),
        "{chained}"
    );
}

#[test]
fn truncation_falls_back_to_tcp() {
    let Some((gateway, _upstream, _dir)) = demo() else {
        return;
    };
    // Without EDNS the limit is 512 bytes: the filter truncates and dig retries over TCP.
    let answer = gateway.dig_from(STAFF, &["+noedns", "big.example", "TXT"]);
    assert!(
        answer.contains("Truncated, retrying in TCP mode"),
        "{answer}"
    );
    assert!(
        answer.contains("bbbbbbbbbb") && answer.contains("cccccccccc"),
        "{answer}"
    );
    // And TCP on its own works.
    assert!(
        gateway
            .dig_from(STAFF, &["+tcp", "+short", "example.org"])
            .contains("192.0.2.1")
    );
}

#[test]
fn queries_are_logged_as_activity_events() {
    let Some((mut gateway, _upstream, dir)) = demo() else {
        return;
    };
    gateway.dig_from(KS2, &["www.pokerstars.com"]);
    gateway.dig_from(STAFF, &["example.org", "AAAA"]);
    gateway.dig_from(KS2, &["mask.icloud.com"]);
    gateway.dig_from(KS1, &["www.bing.com"]);
    gateway.dig_from(KS2, &["yandex.ru"]);
    gateway.dig_from(STAFF, &["use-application-dns.net"]);
    assert!(
        gateway.process.stop(),
        "a clean shutdown:\n{}",
        gateway.log()
    );

    let db = dir.path().join("demo/hedgerow.db");
    let rows = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = hedgerow_store::Store::open_sqlite_file(&db).await.unwrap();
        let school = store.school_by_slug("demo-primary").await.unwrap().unwrap();
        let reader = hedgerow_store::Reader {
            actor: "test".into(),
            from_addr: None,
            purpose: "checking the DNS activity log".into(),
        };
        store
            .read_events(
                &reader,
                &hedgerow_store::EventFilter::school(school.id, 100),
            )
            .await
            .unwrap()
    });
    let find = |host: &str| {
        rows.iter()
            .map(|r| &r.event)
            .find(|e| e.host == host)
            .unwrap_or_else(|| panic!("no event for {host}"))
    };
    let gambling = find("www.pokerstars.com");
    assert_eq!(gambling.verdict, hedgerow_store::Verdict::Block);
    assert_eq!(gambling.category.as_deref(), Some("gambling"));
    assert_eq!(gambling.rule, "group:ks2/category:gambling");
    assert_eq!(gambling.device.as_deref(), Some("ks2-laptop"));
    assert_eq!(gambling.client_ip.to_string(), KS2);
    assert_eq!(gambling.qtype.as_deref(), Some("A"));
    assert!(gambling.duration_us.is_some());
    let allowed = find("example.org");
    assert_eq!(allowed.verdict, hedgerow_store::Verdict::Allow);
    assert_eq!(allowed.qtype.as_deref(), Some("AAAA"));
    assert_eq!(allowed.group.as_deref(), Some("staff"));
    // The rule and notes of answers come from the decision that answered them.
    assert!(
        allowed.rule.starts_with("group:staff/"),
        "an allowed name logs the rule that allowed it: {}",
        allowed.rule
    );
    let safe = find("www.bing.com");
    assert_eq!(
        safe.reason.as_deref(),
        Some("safe search: answered as strict.bing.com")
    );
    assert!(safe.rule.starts_with("group:ks1/"), "{}", safe.rule);
    let unsafe_engine = find("yandex.ru");
    assert_eq!(unsafe_engine.verdict, hedgerow_store::Verdict::Block);
    assert_eq!(
        unsafe_engine.reason.as_deref(),
        Some("a search engine that cannot be locked to safe search")
    );
    let canary = find("use-application-dns.net");
    assert_eq!(canary.rule, "dns:doh-canary");
    assert_eq!(
        canary.reason.as_deref(),
        Some("the Firefox DNS-over-HTTPS canary, answered NXDOMAIN")
    );
    let relay = find("mask.icloud.com");
    assert_eq!(
        relay.category.as_deref(),
        Some("circumvention"),
        "a circumvention attempt"
    );
}

#[test]
fn block_page_answers_and_a_sanction_taking_effect_on_reload() {
    if !have_tools(&["dig", "dnsmasq"]) {
        return;
    }
    let (_upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let gateway = start_gateway(
        &["serve", "--config", config.to_str().unwrap()],
        up_addr,
        dir.path(),
    );

    // Block-page mode: the block page's addresses, still with the EDE.
    let blocked = gateway.dig_from("127.0.0.21", &["bets.example"]);
    assert!(blocked.contains("127.0.0.1"), "{blocked}");
    assert_eq!(ede(&blocked), Some("; EDE: 17 (Filtered): (Gambling)"));
    assert_eq!(
        gateway
            .dig_from("127.0.0.21", &["+short", "bets.example", "AAAA"])
            .trim(),
        "::1"
    );
    assert_eq!(
        gateway
            .dig_from("127.0.0.21", &["+short", "wikipedia.org"])
            .trim(),
        "192.0.2.1"
    );

    // The DSL suspends the pupil's internet access; a reload makes it take effect.
    small_school(
        dir.path(),
        "\n[[school.sanctions]]\nid = \"2026-001\"\nuser = \"pupil.a\"\nno_internet = true\nuntil = 2099-01-01T00:00:00\nby = \"dsl\"\nreason = \"Incident 2026-001\"\n",
    );
    signal(&gateway.process.child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = gateway.dig_from("127.0.0.21", &["+short", "wikipedia.org"]);
        if answer.trim() == "127.0.0.1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sanction did not take effect: {answer}\n{}",
            gateway.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Another device is not affected.
    assert_eq!(
        gateway
            .dig_from("127.0.0.22", &["+short", "wikipedia.org"])
            .trim(),
        "192.0.2.1"
    );
}

#[test]
fn a_reload_under_load_loses_no_query() {
    if !have_tools(&["dig", "dnsmasq", "dnsperf"]) {
        return;
    }
    let (_upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let gateway = start_gateway(
        &["serve", "--config", config.to_str().unwrap()],
        up_addr,
        dir.path(),
    );
    let queries = dir.path().join("queries.txt");
    let names: String = (0..500)
        .map(|i| match i % 4 {
            0 => format!("www{i}.bets.example A\n"),
            1 => format!("host{i}.example.org A\n"),
            2 => format!("host{i}.example.org AAAA\n"),
            _ => "wikipedia.org A\n".to_string(),
        })
        .collect();
    std::fs::write(&queries, names).unwrap();

    let load = std::process::Command::new("dnsperf")
        .args([
            "-s",
            "127.0.0.1",
            "-p",
            &gateway.dns.port().to_string(),
            "-d",
            queries.to_str().unwrap(),
        ])
        .args(["-l", "6", "-Q", "2000", "-t", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1500));
        signal(&gateway.process.child, "HUP");
    }
    let report = String::from_utf8_lossy(&load.wait_with_output().unwrap().stdout).into_owned();
    let number = |label: &str| -> u64 {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in:\n{report}"))
    };
    assert!(number("Queries completed:") > 5_000, "{report}");
    assert_eq!(number("Queries lost:"), 0, "{report}");
    assert!(
        gateway
            .log()
            .matches("reloaded lists and configuration")
            .count()
            >= 3,
        "{}",
        gateway.log()
    );
}

#[test]
fn serve_overrides_for_data_dir_and_lists_hold_across_a_reload() {
    if !have_tools(&["dig", "dnsmasq"]) {
        return;
    }
    let (_upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let other_lists = dir.path().join("other-lists");
    std::fs::create_dir_all(&other_lists).unwrap();
    std::fs::write(other_lists.join("gambling.domains"), "other-bets.example\n").unwrap();
    let other_data = dir.path().join("other-data");
    let gateway = start_gateway(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            other_data.to_str().unwrap(),
            "--lists",
            other_lists.to_str().unwrap(),
        ],
        up_addr,
        dir.path(),
    );
    let blocked =
        |name: &str| gateway.dig_from("127.0.0.21", &["+short", name]).trim() == "127.0.0.1";
    assert!(blocked("other-bets.example"), "the --lists folder is used");
    assert!(!blocked("bets.example"), "the configured folder is not");
    assert!(other_data.join("lists.hidx").is_file() && other_data.join("hedgerow.db").is_file());
    assert!(
        !dir.path().join("data/lists.hidx").exists(),
        "nothing written to the configured data_dir"
    );

    signal(&gateway.process.child, "HUP");
    wait_for(
        || gateway.log().contains("reloaded lists and configuration"),
        "the reload",
    );
    assert!(
        blocked("other-bets.example") && !blocked("bets.example"),
        "a reload keeps the overrides"
    );
}

#[test]
fn a_failed_reload_keeps_the_previous_policy_and_says_why() {
    if !have_tools(&["dig", "dnsmasq"]) {
        return;
    }
    let (_upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let gateway = start_gateway(
        &["serve", "--config", config.to_str().unwrap()],
        up_addr,
        dir.path(),
    );
    let blocked = || {
        gateway
            .dig_from("127.0.0.21", &["+short", "bets.example"])
            .trim()
            == "127.0.0.1"
    };
    assert!(blocked());

    // A mistake in the file: the reload is refused, the running policy stays.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("gambling = \"block\"", "gambling = \"sometimes\""),
    )
    .unwrap();
    signal(&gateway.process.child, "HUP");
    wait_for(
        || gateway.log().contains("reload failed"),
        "the refused reload",
    );
    assert!(
        gateway.log().contains("gambling"),
        "the log names the problem:\n{}",
        gateway.log()
    );
    assert!(blocked(), "still filtering with the previous policy");
    assert_eq!(
        gateway
            .dig_from("127.0.0.21", &["+short", "wikipedia.org"])
            .trim(),
        "192.0.2.1"
    );
}
