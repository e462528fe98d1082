//! The access portal over HTTP, with a fake gateway (`FakeGate`) and a real SQLite store:
//! accepting one's own agreement, visitors' day codes, parents' links, where browsers sent by
//! the filter are redirected, and that bad forms are refused without losing what was typed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use hedgerow_agreements::{Audience, default_template, link_token, sha256_hex};
use hedgerow_store::{
    AcceptanceMethod, ActingUser, ImportedPerson, PeopleBatch, SchoolId, Store, SubjectKind,
    UserKind,
};
use hedgerow_web::portal::{Portal, PortalGate, PortalPerson, PortalVisitor};
use jiff::{Timestamp, ToSpan};
use tower_service::Service;

const PUBLIC_URL: &str = "http://portal.school.test/";

/// The gateway as the portal sees it: who is at each address, and how often it was asked to
/// re-read acceptances.
struct FakeGate {
    at: Mutex<HashMap<IpAddr, PortalVisitor>>,
    refreshed: AtomicUsize,
}

#[async_trait]
impl PortalGate for FakeGate {
    fn who(&self, peer: IpAddr, vouched: Option<&str>) -> Option<PortalVisitor> {
        // The real gate checks an HMAC; here "good <address>" stands for a valid signature.
        let client = match vouched {
            Some(v) => v.strip_prefix("good ")?.parse().ok()?,
            None => peer,
        };
        self.at.lock().ok()?.get(&client).cloned()
    }

    fn audience_of(&self, _school_slug: &str, group_key: &str) -> Audience {
        Audience::for_group("pupil", group_key, group_key)
    }

    async fn refresh(&self) {
        self.refreshed.fetch_add(1, Ordering::SeqCst);
    }
}

struct Site {
    store: Store,
    school: SchoolId,
    gate: Arc<FakeGate>,
    router: axum::Router,
}

const PUPIL_ADDR: &str = "10.1.1.10";
const KS2_ADDR: &str = "10.1.1.20";
const GUEST_ADDR: &str = "10.9.0.5";

fn visitor(
    school: SchoolId,
    client: &str,
    person: PortalPerson,
    audience: Audience,
) -> PortalVisitor {
    PortalVisitor {
        school,
        school_slug: "oak".into(),
        school_name: "Oak Primary".into(),
        client: client.parse().unwrap(),
        person,
        audience,
        group_name: "Pupils".into(),
        held: true,
        online_safety_lead: Some("Ms Rowan".into()),
    }
}

async fn site() -> Site {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let school = store
        .ensure_school("oak", "Oak Primary", "Europe/London")
        .await
        .unwrap();
    let defaults: Vec<(String, String, String)> = Audience::ALL
        .iter()
        .map(|a| {
            let t = default_template(*a);
            (a.key().to_string(), t.title, t.body)
        })
        .collect();
    store
        .ensure_default_agreements(school, &defaults)
        .await
        .unwrap();
    let person = |username: &str, name: &str, group: &str, class: &str| ImportedPerson {
        username: username.into(),
        display_name: name.into(),
        group_key: group.into(),
        year_group: None,
        class_name: Some(class.into()),
        email: None,
        staff_code: None,
        suggested_roles: Vec::new(),
        date_of_birth: None,
    };
    store
        .import_people(
            school,
            &PeopleBatch::People {
                kind: UserKind::Pupil,
                people: vec![
                    person("a.able", "Amy Able", "ks1", "Robins"),
                    person("b.bell", "Ben Bell", "ks2", "Owls"),
                ],
                disable_missing: false,
            },
            &ActingUser {
                name: "head".into(),
                from_addr: None,
            },
        )
        .await
        .unwrap();
    let mut at = HashMap::new();
    let amy = PortalPerson::User {
        username: "a.able".into(),
        display_name: "Amy Able".into(),
    };
    at.insert(
        PUPIL_ADDR.parse().unwrap(),
        visitor(school, PUPIL_ADDR, amy, Audience::EyfsKs1),
    );
    let ben = PortalPerson::User {
        username: "b.bell".into(),
        display_name: "Ben Bell".into(),
    };
    at.insert(
        KS2_ADDR.parse().unwrap(),
        visitor(school, KS2_ADDR, ben, Audience::Ks2),
    );
    at.insert(
        GUEST_ADDR.parse().unwrap(),
        visitor(school, GUEST_ADDR, PortalPerson::Guest, Audience::Visitors),
    );
    let gate = Arc::new(FakeGate {
        at: Mutex::new(at),
        refreshed: AtomicUsize::new(0),
    });
    let portal = Portal::new(store.clone(), gate.clone(), PUBLIC_URL.into());
    Site {
        router: portal.router(),
        store,
        school,
        gate,
    }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Site {
    async fn send(
        &self,
        from: &str,
        method: &str,
        host: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .unwrap();
        let peer: SocketAddr = format!("{from}:50000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = self.router.clone();
        let response = router.call(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
            .await
            .unwrap();
        Answer {
            status,
            location,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, from: &str, path: &str) -> Answer {
        self.send(from, "GET", "portal.school.test", path, &[])
            .await
    }

    async fn post(&self, from: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(from, "POST", "portal.school.test", path, form)
            .await
    }
}

/// The value of a hidden field in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {page}"))
        + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end]
        .replace("&#43;", "+")
        .replace("&#x2b;", "+")
}

#[tokio::test]
async fn a_browser_sent_for_another_site_is_redirected_to_the_portal_with_then() {
    let site = site().await;
    let answer = site
        .send(PUPIL_ADDR, "GET", "www.example.org", "/games?level=2", &[])
        .await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        answer.location.as_deref(),
        Some("http://portal.school.test/?then=http%3A%2F%2Fwww.example.org%2Fgames%3Flevel%3D2")
    );
    // A captive-portal probe gets the same.
    let probe = site
        .send(
            GUEST_ADDR,
            "GET",
            "connectivitycheck.gstatic.com",
            "/generate_204",
            &[],
        )
        .await;
    assert_eq!(probe.status, StatusCode::FOUND);
    assert!(
        probe
            .location
            .unwrap()
            .starts_with("http://portal.school.test/?then=http%3A%2F%2Fconnectivitycheck")
    );
    // A POST to another site is redirected too, never handled.
    let post = site
        .send(
            PUPIL_ADDR,
            "POST",
            "www.example.org",
            "/accept",
            &[("agree", "yes")],
        )
        .await;
    assert_eq!(post.status, StatusCode::FOUND);
}

#[tokio::test]
async fn a_young_pupil_reads_the_pictures_agreement_accepts_and_is_sent_on() {
    let site = site().await;
    let page = site
        .get(PUPIL_ADDR, "/?then=http%3A%2F%2Fwww.example.org%2F")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Amy Able"));
    assert!(
        page.body.contains("class=\"pupil\""),
        "pupil pages use large type"
    );
    assert!(
        page.body.contains("<svg"),
        "the EYFS/KS1 agreement shows its pictures"
    );
    let notice = hedgerow_agreements::monitoring_notice(Audience::EyfsKs1)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;");
    assert!(
        page.body.contains(&notice),
        "the monitoring notice is part of the page"
    );
    assert!(page.body.contains("I have read this and I agree"));
    let version = hidden(&page.body, "version");
    let token = hidden(&page.body, "token");

    // Without the box ticked: refused, nothing recorded, the gate not asked to refresh.
    let unticked = site
        .post(
            PUPIL_ADDR,
            "/accept",
            &[("version", &version), ("token", &token)],
        )
        .await;
    assert_eq!(unticked.status, StatusCode::BAD_REQUEST);
    assert!(unticked.body.contains("Tick the box"));
    let none = site
        .store
        .acceptances_for(site.school, SubjectKind::User, "a.able")
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(site.gate.refreshed.load(Ordering::SeqCst), 0);

    let accepted = site
        .post(
            PUPIL_ADDR,
            "/accept",
            &[
                ("version", &version),
                ("token", &token),
                ("agree", "yes"),
                ("then", "http://www.example.org/"),
            ],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        accepted.location.as_deref(),
        Some("http://www.example.org/")
    );
    assert_eq!(site.gate.refreshed.load(Ordering::SeqCst), 1);
    let recorded = site
        .store
        .acceptances_for(site.school, SubjectKind::User, "a.able")
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, AcceptanceMethod::Portal);
    assert_eq!(recorded[0].relationship, "self");
    assert_eq!(recorded[0].audience, "eyfs-ks1");
    assert_eq!(recorded[0].version_id.to_string(), version);
    assert_eq!(recorded[0].client_addr.as_deref(), Some(PUPIL_ADDR));

    let again = site.get(PUPIL_ADDR, "/").await;
    assert!(again.body.contains("You have agreed"), "{}", again.body);
}

#[tokio::test]
async fn a_forged_or_stale_form_is_refused() {
    let site = site().await;
    let page = site.get(KS2_ADDR, "/").await;
    let version = hidden(&page.body, "version");
    let token = hidden(&page.body, "token");
    // Another site cannot know the token; and a token is bound to the client's address.
    let forged = site
        .post(
            KS2_ADDR,
            "/accept",
            &[("version", &version), ("token", "AAAA"), ("agree", "yes")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(forged.body.contains("expired"));
    let other_client = {
        let mut at = site.gate.at.lock().unwrap();
        let mut moved = at.get(&KS2_ADDR.parse().unwrap()).unwrap().clone();
        moved.client = "10.1.1.21".parse().unwrap();
        at.insert(moved.client, moved);
        "10.1.1.21"
    };
    let elsewhere = site
        .post(
            other_client,
            "/accept",
            &[("version", &version), ("token", &token), ("agree", "yes")],
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);

    // A new version published while the page was open: read it first.
    site.store
        .publish_agreement(
            site.school,
            "ks2",
            "Our rules",
            "- Be kind online.",
            "head",
            "",
        )
        .await
        .unwrap();
    let stale = site
        .post(
            KS2_ADDR,
            "/accept",
            &[("version", &version), ("token", &token), ("agree", "yes")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert!(stale.body.contains("changed while you were reading"));
    assert!(
        stale.body.contains("Be kind online."),
        "the new version is shown"
    );
    let none = site
        .store
        .acceptances_for(site.school, SubjectKind::User, "b.bell")
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(site.gate.refreshed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unsafe_then_is_never_followed() {
    let site = site().await;
    let page = site.get(KS2_ADDR, "/?then=javascript%3Aalert(1)").await;
    assert!(!page.body.contains("javascript:"));
    let version = hidden(&page.body, "version");
    let token = hidden(&page.body, "token");
    let accepted = site
        .post(
            KS2_ADDR,
            "/accept",
            &[
                ("version", &version),
                ("token", &token),
                ("agree", "yes"),
                ("then", "javascript:alert(1)"),
            ],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        accepted.location.as_deref(),
        Some("http://portal.school.test/done")
    );
}

#[tokio::test]
async fn the_proxy_vouches_for_who_is_at_the_portal() {
    let site = site().await;
    // Through the proxy the connection comes from the gateway itself; the signed header names
    // the pupil. An unsigned claim is not believed.
    let vouched = {
        let mut request = Request::builder()
            .uri("/")
            .header(header::HOST, "portal.school.test")
            .header("x-hedgerow-portal-client", format!("good {KS2_ADDR}"))
            .body(axum::body::Body::empty())
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(
            "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        ));
        let mut router = site.router.clone();
        let response = router.call(request).await.unwrap();
        String::from_utf8(
            axum::body::to_bytes(response.into_body(), 1 << 22)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap()
    };
    assert!(vouched.contains("Ben Bell"));
    let unknown = site.get("192.0.2.1", "/").await;
    assert!(unknown.body.contains("cannot tell which school network"));
}

#[tokio::test]
async fn a_visitor_with_todays_code_is_admitted_and_other_codes_are_refused_with_reasons() {
    let site = site().await;
    let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
    let today = Timestamp::now().to_zoned_datetime(zone).date();
    let code = hedgerow_agreements::day_code([7, 1, 2, 3, 4, 5, 6, 8]);
    site.store
        .issue_visitor_code(
            site.school,
            &sha256_hex(code.as_bytes()),
            "Dr Visiting Speaker",
            today,
            "reception",
        )
        .await
        .unwrap();
    let tomorrow_code = hedgerow_agreements::day_code([9, 9, 9, 9, 9, 9, 9, 9]);
    let tomorrow = today.tomorrow().unwrap();
    site.store
        .issue_visitor_code(
            site.school,
            &sha256_hex(tomorrow_code.as_bytes()),
            "Early Bird",
            tomorrow,
            "reception",
        )
        .await
        .unwrap();

    let page = site.get(GUEST_ADDR, "/").await;
    assert!(page.body.contains("Day code"));
    assert!(page.body.contains("action=\"/visitor\""));
    let version = hidden(&page.body, "version");
    let token = hidden(&page.body, "token");

    // Nonsense: refused, and the name typed is kept.
    let nonsense = site
        .post(
            GUEST_ADDR,
            "/visitor",
            &[
                ("version", &version),
                ("token", &token),
                ("code", "hello"),
                ("name", "Pat Guest"),
                ("agree", "yes"),
            ],
        )
        .await;
    assert_eq!(nonsense.status, StatusCode::BAD_REQUEST);
    assert!(nonsense.body.contains("does not look like a day code"));
    assert!(nonsense.body.contains("value=\"Pat Guest\""));

    // Tomorrow's code: refused, naming its day.
    let early = site
        .post(
            GUEST_ADDR,
            "/visitor",
            &[
                ("version", &version),
                ("token", &token),
                ("code", &tomorrow_code),
                ("name", "Pat Guest"),
                ("agree", "yes"),
            ],
        )
        .await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST);
    let day_words = tomorrow.strftime("%A %-d %B %Y").to_string();
    assert!(
        early.body.contains(&day_words),
        "names {day_words}: {}",
        early.body
    );
    assert!(
        site.store
            .visitor_admissions(site.school, Timestamp::now())
            .await
            .unwrap()
            .is_empty()
    );

    // Today's code typed loosely (lower case, no hyphen) works.
    let loose = code.replace('-', "").to_lowercase();
    let admitted = site
        .post(
            GUEST_ADDR,
            "/visitor",
            &[
                ("version", &version),
                ("token", &token),
                ("code", &loose),
                ("name", "Pat Guest"),
                ("agree", "yes"),
            ],
        )
        .await;
    assert_eq!(admitted.status, StatusCode::SEE_OTHER, "{}", admitted.body);
    let admissions = site
        .store
        .visitor_admissions(site.school, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(admissions.len(), 1);
    assert_eq!(admissions[0].client_addr.to_string(), GUEST_ADDR);
    assert!(
        admissions[0].until > Timestamp::now()
            && admissions[0].until <= Timestamp::now() + 25.hours()
    );
    assert_eq!(site.gate.refreshed.load(Ordering::SeqCst), 1);
    let signed = site
        .store
        .acceptances_for(site.school, SubjectKind::Visitor, "Dr Visiting Speaker")
        .await
        .unwrap();
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].signed_by, "Pat Guest");
    assert_eq!(signed[0].audience, "visitors");
}

#[tokio::test]
async fn a_parent_link_co_signs_and_sets_image_consent_showing_only_first_name_and_class() {
    let site = site().await;
    let token = link_token([42; 32]);
    let expires = Timestamp::now() + 24.hours();
    site.store
        .create_parent_link(
            site.school,
            "a.able",
            &sha256_hex(token.as_bytes()),
            expires,
            "office",
        )
        .await
        .unwrap();
    let path = format!("/parent/{token}");
    let page = site.get("203.0.113.9", &path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Amy"));
    assert!(page.body.contains("Robins"));
    assert!(!page.body.contains("Able"), "only the first name is shown");
    assert!(!page.body.contains("a.able"), "not the username");
    assert!(
        page.body.contains("<svg"),
        "the child's agreement with its pictures"
    );
    let form_token = hidden(&page.body, "form_token");
    let child_version = hidden(&page.body, "child_version");
    let parents_version = hidden(&page.body, "parents_version");

    // No name: refused, with the choices kept.
    let nameless = site
        .post(
            "203.0.113.9",
            &path,
            &[
                ("form_token", &form_token),
                ("child_version", &child_version),
                ("parents_version", &parents_version),
                ("cosign", "yes"),
                ("consent-website", "given"),
                ("consent-press", "refused"),
            ],
        )
        .await;
    assert_eq!(nameless.status, StatusCode::BAD_REQUEST);
    assert!(nameless.body.contains("Type your name"));
    assert!(
        nameless
            .body
            .contains("id=\"cosign\" name=\"cosign\" value=\"yes\" checked")
    );
    assert!(
        nameless
            .body
            .contains("name=\"consent-press\" value=\"refused\" checked")
    );
    assert!(
        site.store
            .image_consent_for(site.school, "a.able")
            .await
            .unwrap()
            .is_empty()
    );

    // A made-up consent value is refused.
    let odd = site
        .post(
            "203.0.113.9",
            &path,
            &[
                ("form_token", &form_token),
                ("parent_name", "Sam Able"),
                ("consent-website", "maybe"),
            ],
        )
        .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST);

    let sent = site
        .post(
            "203.0.113.9",
            &path,
            &[
                ("form_token", &form_token),
                ("child_version", &child_version),
                ("parents_version", &parents_version),
                ("parent_name", "Sam Able"),
                ("cosign", "yes"),
                ("parents_agree", "yes"),
                ("consent-website", "given"),
                ("consent-press", "refused"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("Thank you, Sam Able"));
    let signed = site
        .store
        .acceptances_for(site.school, SubjectKind::User, "a.able")
        .await
        .unwrap();
    assert_eq!(signed.len(), 2);
    assert!(
        signed
            .iter()
            .all(|a| a.method == AcceptanceMethod::ParentLink
                && a.relationship == "parent-carer"
                && a.signed_by == "Sam Able")
    );
    let mut audiences: Vec<&str> = signed.iter().map(|a| a.audience.as_str()).collect();
    audiences.sort();
    assert_eq!(audiences, ["eyfs-ks1", "parents"]);
    let consent = site
        .store
        .image_consent_for(site.school, "a.able")
        .await
        .unwrap();
    assert_eq!(
        consent.get("website").map(|c| c.state.as_str()),
        Some("given")
    );
    assert_eq!(
        consent.get("press").map(|c| c.state.as_str()),
        Some("refused")
    );
    assert_eq!(
        consent.get("website").map(|c| c.via.as_str()),
        Some("parent-link")
    );
    assert!(!consent.contains_key("newsletter"));
    // A parent's signature does not open the gate, so the gate need not re-read.
    assert_eq!(site.gate.refreshed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_link_that_does_not_work_gets_the_same_page_whatever_the_reason() {
    let site = site().await;
    let old = link_token([1; 32]);
    let new = link_token([2; 32]);
    let expired = link_token([3; 32]);
    let later = Timestamp::now() + 24.hours();
    site.store
        .create_parent_link(
            site.school,
            "b.bell",
            &sha256_hex(old.as_bytes()),
            later,
            "office",
        )
        .await
        .unwrap();
    site.store
        .create_parent_link(
            site.school,
            "b.bell",
            &sha256_hex(new.as_bytes()),
            later,
            "office",
        )
        .await
        .unwrap();
    site.store
        .create_parent_link(
            site.school,
            "a.able",
            &sha256_hex(expired.as_bytes()),
            Timestamp::now() + 1.second(),
            "office",
        )
        .await
        .unwrap();
    // The store will not make a link that has already expired, so let this one run out.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let works = site.get("203.0.113.9", &format!("/parent/{new}")).await;
    assert_eq!(works.status, StatusCode::OK);
    let revoked = site.get("203.0.113.9", &format!("/parent/{old}")).await;
    let lapsed = site.get("203.0.113.9", &format!("/parent/{expired}")).await;
    let unknown = site
        .get("203.0.113.9", &format!("/parent/{}", link_token([9; 32])))
        .await;
    let garbage = site.get("203.0.113.9", "/parent/%3Cscript%3E").await;
    assert_eq!(revoked.status, StatusCode::NOT_FOUND);
    assert!(
        revoked
            .body
            .contains("ask the school office for a new letter")
    );
    for other in [&lapsed, &unknown, &garbage] {
        assert_eq!(other.status, revoked.status);
        assert_eq!(other.body, revoked.body);
    }
    // Posting to a dead link changes nothing.
    let post = site
        .post(
            "203.0.113.9",
            &format!("/parent/{old}"),
            &[("parent_name", "X"), ("consent-website", "given")],
        )
        .await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
    assert!(
        site.store
            .image_consent_for(site.school, "b.bell")
            .await
            .unwrap()
            .is_empty()
    );
}
