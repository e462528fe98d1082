//! Changes under change control reach the running gateway without a restart: a change written
//! to the store (as the admin app writes it) changes a live DNS answer within 5 seconds, and a
//! change that needs a second person's approval does nothing until it is approved.

mod support;

use std::time::Duration;

use hedgerow_policy::change::{ChangeVerdict, PolicyChange};
use hedgerow_store::{NewPolicyChange, Store};
use support::*;

#[test]
fn an_approved_unblock_reaches_the_dns_filter_within_five_seconds() {
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
    let answer = |name: &str| {
        gateway
            .dig_from("127.0.0.21", &["+short", name])
            .trim()
            .to_string()
    };
    assert_eq!(
        answer("bets.example"),
        "127.0.0.1",
        "blocked: the block page's address"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("data/hedgerow.db").display()
    );
    runtime.block_on(async {
        let store = Store::open(&url).await.unwrap();
        let school = store.school_by_slug("test-school").await.unwrap().unwrap();
        let change = PolicyChange::SiteOverride {
            host: "bets.example".into(),
            path: None,
            verdict: ChangeVerdict::Allow,
            groups: Some(vec!["ks2".into()]),
            until: None,
        };
        let proposed = store
            .propose_change(
                &NewPolicyChange {
                    school: school.id,
                    created_by: "teacher.a".into(),
                    reason: "Probability lesson uses this site's odds tables".into(),
                    kind: "unblock-for-pupils".into(),
                    change: change.to_json(),
                    diff: "ks2: bets.example block → allow".into(),
                    applies_until: None,
                    source: "admin".into(),
                },
                jiff::Timestamp::now(),
            )
            .await
            .unwrap();

        // Unblocking for pupils needs a second person by default: nothing changes yet.
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(
            answer("bets.example"),
            "127.0.0.1",
            "a pending change does nothing"
        );

        store
            .approve_change(
                school.id,
                proposed.id,
                "online.safety.lead",
                jiff::Timestamp::now(),
            )
            .await
            .unwrap();
        store.close().await;
    });
    let took = within(Duration::from_secs(5), || {
        answer("bets.example") == "192.0.2.1"
    });
    assert!(
        took.is_some(),
        "the approved change did not reach the DNS filter within 5 s:\n{}",
        gateway.log()
    );
    // `hedgerow explain` reads the change log too, so it answers as the gateway does.
    let explained = std::process::Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(["explain", "--config"])
        .arg(&config)
        .args(["--device", "laptop-a", "http://bets.example/"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(text.starts_with("ALLOWED"), "{text}");
    assert!(
        text.contains("change-"),
        "names the change that decided: {text}"
    );

    // Other groups are untouched.
    assert_eq!(
        gateway
            .dig_from("127.0.0.99", &["+short", "bets.example"])
            .trim(),
        "127.0.0.1"
    );
}
