//! Sanctions recorded on a safeguarding record, both ends: a restricted profile applied from
//! a record takes effect in the DNS filter and the proxy and ends by itself at its time, and
//! a suspension lifted early from the record ends at once. The record keeps both ends, and
//! the change log holds each change with the record's number. Run on the embedded SQLite
//! store and again with the gateway on PostgreSQL.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use support::admin::{AdminSite, StaffAccount, location, origin_for};
use support::*;

/// A KS2 pupil whose group allows games, and a stricter group (`ks2-restricted`) that
/// blocks them, at a local origin; the store on `database` (a PostgreSQL URL) or SQLite.
fn school(
    database: Option<&str>,
) -> Option<(
    tempfile::TempDir,
    Running,
    support::origin::TestOrigin,
    AdminSite,
    StaffAccount,
)> {
    if !have_tools(&["curl", "dig", "dnsmasq"]) {
        return None;
    }
    let (upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (origin, proxy_table) =
        origin_for(dir.path(), Ipv4Addr::new(127, 0, 0, 88), &["games.example"]);
    let database = database_table(database);
    let extra = format!(
        "{restricted}\n[[school.overrides]]\nid = \"games-for-restricted\"\nsite = \"games.example\"\naction = \"block\"\ngroups = [\"ks2-restricted\"]\nby = \"Test\"\nreason = \"Games are for break time\"\n{proxy_table}{database}",
        restricted = group("ks2-restricted", "pupil", &["gambling"]),
    );
    let config = small_school(dir.path(), &extra);
    let dsl = StaffAccount::create(&config, "dsl", "dsl");
    let site = AdminSite::start(&config, dir.path(), &["--upstream", &up_addr.to_string()]);
    site.wait_for_dns();
    Some((dir, upstream, origin, site, dsl))
}

/// The next whole minute at least 20 seconds away, in the form's local time, and how long
/// until then.
fn next_minute() -> (String, Duration) {
    let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
    let now = jiff::Timestamp::now().to_zoned_datetime(zone.clone());
    let mut at = now
        .datetime()
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap()
        + jiff::SignedDuration::from_mins(1);
    if (at.to_zoned_datetime(zone.clone()).unwrap().timestamp() - now.timestamp())
        < jiff::SignedDuration::from_secs(20)
    {
        at += jiff::SignedDuration::from_mins(1);
    }
    let wait = at.to_zoned_datetime(zone).unwrap().timestamp() - now.timestamp();
    (
        at.strftime("%Y-%m-%dT%H:%M").to_string(),
        Duration::from_secs(wait.as_secs().unsigned_abs()),
    )
}

#[test]
fn a_records_sanction_ends_by_itself_and_a_lifted_one_ends_at_once() {
    sanctions_from_a_record(None);
}

#[test]
fn a_records_sanction_ends_by_itself_and_a_lifted_one_ends_at_once_on_postgresql() {
    if let Some(url) = postgres_database() {
        sanctions_from_a_record(Some(&url));
    }
}

fn sanctions_from_a_record(database: Option<&str>) {
    let Some((_dir, _upstream, origin, site, dsl)) = school(database) else {
        return;
    };
    let games = format!("http://games.example:{}/lobby", origin.http_addr().port());
    let dns = || site.dns_answer(PUPIL_LAPTOP, "games.example");
    let proxy = || site.through_proxy(Some(PUPIL_LAPTOP), &games).status;
    assert_eq!((dns().as_str(), proxy()), ("192.0.2.1", 200));

    let client = site.signed_in(&dsl);
    let (status, headers, body) = client.submit(
        "/concerns/new",
        "/concerns",
        &[
            ("record_type", "online-safety"),
            ("reporter", "Class teacher"),
            ("location", "in-school"),
            ("person_1_name", "Pupil A"),
            ("person_1_username", "pupil.a"),
            ("person_1_role", "pupil"),
            ("person_1_involvement", "responsible"),
            ("type", "age-inappropriate"),
            ("summary", "Played games in lessons after warnings"),
        ],
    );
    assert_eq!(status, 303, "{headers}{body}");
    let record = location(&headers);
    let record = record.split('?').next().unwrap().to_string();

    // A restricted profile until the next minute: games are blocked at once...
    let (until, wait) = next_minute();
    let (status, headers, body) = client.submit(
        &record,
        &format!("{record}/sanctions"),
        &[
            ("username", "pupil.a"),
            ("kind", "restricted"),
            ("filter_as", "ks2-restricted"),
            ("until", &until),
            ("reason", "Games only at break for now"),
        ],
    );
    assert_eq!(status, 303, "{headers}{body}");
    let applied = within(Duration::from_secs(5), || {
        dns() == "127.0.0.1" && proxy() == 403
    });
    assert!(
        applied.is_some(),
        "restricted: DNS {} proxy {}\n{}",
        dns(),
        proxy(),
        site.log()
    );
    let page = client.page(&record);
    assert!(
        page.contains("Restricted profile: filtered as ks2-restricted"),
        "{page}"
    );
    assert!(page.contains("Ends by itself"), "{page}");

    // ...and open again when it ends, with nothing done by anyone.
    let ended = within(wait + Duration::from_secs(15), || {
        dns() == "192.0.2.1" && proxy() == 200
    });
    assert!(
        ended.is_some(),
        "after the end: DNS {} proxy {}",
        dns(),
        proxy()
    );
    let page = client.page(&record);
    assert!(page.contains("Ended by itself"), "{page}");

    // A suspension lifted early ends at once, and the record says who lifted it.
    let (status, headers, body) = client.submit(
        &record,
        &format!("{record}/sanctions"),
        &[
            ("username", "pupil.a"),
            ("kind", "suspended"),
            ("days", "3"),
            ("reason", "No internet for three days"),
        ],
    );
    assert_eq!(status, 303, "{headers}{body}");
    assert!(within(Duration::from_secs(5), || dns() == "127.0.0.1").is_some());
    let page = client.page(&record);
    let lift = page
        .split("action=\"")
        .filter_map(|s| s.split('"').next())
        .find(|a| a.ends_with("/lift"))
        .unwrap_or_else(|| panic!("a lift form: {page}"))
        .to_string();
    let (status, headers, body) = client.submit(&record, &lift, &[]);
    assert_eq!(status, 303, "{headers}{body}");
    let lifted = within(Duration::from_secs(5), || {
        dns() == "192.0.2.1" && proxy() == 200
    });
    assert!(
        lifted.is_some(),
        "after lifting: DNS {} proxy {}",
        dns(),
        proxy()
    );
    let page = client.page(&record);
    assert!(page.contains("Lifted early"), "{page}");
    assert!(page.contains("by dsl"), "{page}");

    // The change log holds all three changes, each naming the record.
    let changes = client.page("/changes");
    let number = record.trim_start_matches("/concerns/");
    assert!(
        changes.matches(&format!("record #{number}")).count() >= 3,
        "{changes}"
    );
}
