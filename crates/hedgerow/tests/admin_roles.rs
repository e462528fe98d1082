//! Who may open what in the admin app: every route the app serves, walked by every role, with
//! the answer checked against the role matrix. The expected permission of each route is
//! written here, apart from the app's code, and the test fails if the app gains a route this
//! table does not name. Also: a form without the session's CSRF token is refused whoever
//! sends it, the API refuses session cookies, and the navigation offers no page the role
//! cannot open.

mod support;

use hedgerow_accounts::{Permission as P, Role, can};
use support::admin::{AdminSite, StaffAccount, csrf_in, one_per_role};
use support::*;

/// Who may use a route.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in person holding any of these permissions.
    AnyOf(&'static [P]),
    /// Bearer tokens only (the JSON API): a session cookie gets 401 whoever holds it.
    Api,
}

/// The expected rule of every route, by method and path pattern.
fn expected(method: &str, path: &str) -> Option<Rule> {
    use Rule::*;
    if path == "/api/v1/openapi.json" {
        return Some(Public);
    }
    if path.starts_with("/api/v1") {
        return Some(Api);
    }
    Some(match (method, path) {
        ("GET", "/healthz") | (_, "/login") | (_, "/login/code") => Public,
        ("POST", "/logout") => AnyOf(&[P::ViewDashboard]),
        ("GET", "/") => AnyOf(&[P::ViewDashboard]),
        ("POST", "/school") => AnyOf(&[P::AllSchools]),
        // Policy and change control.
        ("GET", "/policy") | ("POST", "/policy/change") => AnyOf(&[P::EditPolicy]),
        ("POST", "/policy/approval-rules") => AnyOf(&[P::ApprovePolicyChange]),
        ("GET", "/changes") | ("GET", "/changes/export.csv") | ("GET", "/changes/{id}") => {
            AnyOf(&[P::EditPolicy, P::ApprovePolicyChange, P::ViewAuditLog])
        }
        ("POST", "/changes/{id}/approve") | ("POST", "/changes/{id}/reject") => {
            AnyOf(&[P::ApprovePolicyChange])
        }
        ("POST", "/changes/{id}/revert") => AnyOf(&[P::EditPolicy]),
        // Review requests.
        ("GET", "/requests") => AnyOf(&[
            P::ReviewRequests,
            P::RequestAccessForClass,
            P::ViewOwnRequests,
        ]),
        ("POST", "/requests") => AnyOf(&[P::RequestAccessForClass]),
        ("POST", "/requests/settings")
        | ("POST", "/requests/{id}/approve")
        | ("POST", "/requests/{id}/decline") => AnyOf(&[P::ReviewRequests]),
        // Activity and the audit log.
        ("GET", "/activity") | ("GET", "/activity/person/{username}") => {
            AnyOf(&[P::ViewPersonActivity])
        }
        ("GET", "/activity/export.csv") => AnyOf(&[P::ExportActivity]),
        ("GET", "/audit") => AnyOf(&[P::ViewAuditLog]),
        // Monitoring alerts and the concerns opened from them.
        ("GET", "/alerts") | ("GET", "/alerts/{id}") => AnyOf(&[P::ViewAlerts]),
        ("POST", "/alerts/{id}/triage") | ("POST", "/alerts/{id}/concern") => {
            AnyOf(&[P::TriageAlerts])
        }
        ("GET", "/monitoring/report") | ("GET", "/monitoring/report.pdf") => {
            AnyOf(&[P::ViewMonitoringReport])
        }
        ("GET", "/records/termly") | ("GET", "/records/termly.pdf") => {
            AnyOf(&[P::ViewTermlyReport])
        }
        ("GET", "/monitoring/library") | ("POST", "/monitoring/library") => {
            AnyOf(&[P::TuneRiskLibraries])
        }
        // Safeguarding records: staff record and read back their own; the leads act on all.
        ("GET", "/concerns") | ("GET", "/concerns/{id}") => {
            AnyOf(&[P::RecordConcern, P::ManageConcerns])
        }
        ("GET", "/concerns/new") | ("POST", "/concerns") => AnyOf(&[P::RecordConcern]),
        ("POST", "/concerns/{id}/take")
        | ("POST", "/concerns/{id}/actions")
        | ("POST", "/concerns/{id}/procedures")
        | ("POST", "/concerns/{id}/steps")
        | ("POST", "/concerns/{id}/sanctions")
        | ("POST", "/concerns/{id}/sanctions/{sanction}/lift")
        | ("POST", "/concerns/{id}/alerts")
        | ("POST", "/concerns/{id}/evidence")
        | ("POST", "/concerns/{id}/close")
        | ("POST", "/concerns/{id}/reopen")
        | ("GET", "/pupils/{username}/chronology") => AnyOf(&[P::ManageConcerns]),
        // Records management: retention, legal hold, destruction, subject access, transfers.
        ("POST", "/concerns/{id}/hold")
        | ("POST", "/concerns/{id}/destroy")
        | ("GET", "/records")
        | ("GET", "/records/subject-access")
        | ("GET", "/records/subject-access/{username}")
        | ("GET", "/records/subject-access/{username}/export.json")
        | ("GET", "/records/subject-access/{username}/export.html")
        | ("GET", "/records/transfers")
        | ("POST", "/records/transfers")
        | ("POST", "/records/transfers/{id}/receipt")
        | ("POST", "/records/transfers/receive") => AnyOf(&[P::ManageRecords]),
        // Checks, annual reviews, contacts.
        ("GET", "/checks") | ("GET", "/checks/{id}") => AnyOf(&[P::ViewChecks]),
        ("POST", "/checks")
        | ("POST", "/checks/self-test")
        | ("POST", "/checks/{id}/follow-up") => AnyOf(&[P::RunChecks]),
        ("GET", "/reviews") => AnyOf(&[P::ViewChecks]),
        ("POST", "/reviews") | ("POST", "/reviews/actions/{id}/done") => {
            AnyOf(&[P::EditAnnualReview])
        }
        ("GET", "/contacts") => AnyOf(&[P::ViewDashboard]),
        ("POST", "/contacts") | ("POST", "/contacts/{id}/remove") => AnyOf(&[P::ManageContacts]),
        // People, accounts, tokens.
        ("GET", "/people") => AnyOf(&[P::ManageAccounts, P::ImportPeople]),
        ("POST", "/people/import") | ("POST", "/people/import/confirm") => {
            AnyOf(&[P::ImportPeople])
        }
        ("POST", "/people/accounts")
        | ("POST", "/people/accounts/{id}/roles")
        | ("POST", "/people/accounts/{id}/disable")
        | ("POST", "/people/accounts/{id}/enable") => AnyOf(&[P::ManageAccounts]),
        // Acceptable use agreements, image consent, visitors' day codes.
        ("GET", "/agreements")
        | ("GET", "/agreements/{audience}")
        | ("GET", "/agreements/{audience}/v/{version}") => {
            AnyOf(&[P::ViewAgreements, P::ManageAgreements])
        }
        ("GET", "/agreements/settings")
        | ("POST", "/agreements/settings")
        | ("POST", "/agreements/{audience}") => AnyOf(&[P::ManageAgreements]),
        ("GET", "/agreements/report")
        | ("GET", "/agreements/report.csv")
        | ("POST", "/agreements/paper")
        | ("POST", "/agreements/letters")
        | ("POST", "/agreements/remind") => AnyOf(&[P::ViewAgreements]),
        ("GET", "/image-consent")
        | ("GET", "/image-consent/do-not-photograph")
        | ("GET", "/image-consent/{username}") => AnyOf(&[P::ViewImageConsent]),
        ("POST", "/image-consent/{username}") => AnyOf(&[P::ManageImageConsent]),
        ("GET", "/visitors") | ("POST", "/visitors") => AnyOf(&[P::IssueVisitorCodes]),
        ("GET", "/account")
        | ("POST", "/account/password")
        | ("GET", "/account/totp")
        | ("POST", "/account/totp") => AnyOf(&[P::ViewDashboard]),
        ("GET", "/api-tokens") | ("POST", "/api-tokens") | ("POST", "/api-tokens/{id}/revoke") => {
            AnyOf(&[P::UseApi])
        }
        _ => return None,
    })
}

/// A concrete path for a pattern: ids that exist nowhere, so an allowed request changes
/// nothing.
fn concrete(path: &str) -> String {
    path.replace("{id}", "987654")
        .replace("{sanction}", "987654")
        .replace("{username}", "nobody.here")
        // A real audience, so its page answers; a version that does not exist.
        .replace("{audience}", "ks2")
        .replace("{version}", "987654")
}

fn allowed(roles: &[Role], rule: Rule) -> bool {
    match rule {
        Rule::Public => true,
        Rule::AnyOf(permissions) => permissions.iter().any(|p| can(roles, *p)),
        Rule::Api => false,
    }
}

#[test]
fn every_route_with_every_role() {
    if !have_tools(&["curl"]) {
        return;
    }
    let routes = hedgerow_web::all_routes();
    let unknown: Vec<_> = routes
        .iter()
        .filter(|(m, p)| expected(m, p).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "routes this test does not know (add their rule): {unknown:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let accounts = one_per_role(&config);
    let site = AdminSite::start(&config, dir.path(), &[]);

    // Signed out: every non-public route sends the browser to the sign-in page (or, for the
    // API, answers 401).
    let stranger = site.client();
    for (method, path) in &routes {
        let rule = expected(method, path).unwrap();
        let form: &[(&str, &str)] = if *method == "POST" {
            &[("csrf", "none")]
        } else {
            &[]
        };
        let reply = stranger.send(method, &concrete(path), form, &[]);
        match rule {
            Rule::Public => {}
            Rule::Api => assert_eq!(reply.status, 401, "{method} {path} signed out"),
            Rule::AnyOf(_) if *method == "GET" => {
                assert_eq!(reply.status, 303, "{method} {path} signed out");
                assert!(
                    reply.headers.contains("location: /login"),
                    "{method} {path}"
                );
            }
            Rule::AnyOf(_) => assert!(
                matches!(reply.status, 303 | 403),
                "{method} {path} signed out: {}",
                reply.status
            ),
        }
    }

    for (role_key, account) in &accounts {
        let role = Role::parse(role_key).unwrap();
        let roles = [role];
        let client = site.signed_in(account);
        let (_, _, home) = client.request("/", &[]);
        let csrf = csrf_in(&home).expect("the dashboard carries a CSRF token");

        for (method, path) in &routes {
            if *path == "/logout" || path.starts_with("/login") {
                continue;
            }
            let rule = expected(method, path).unwrap();
            let url = concrete(path);
            let reply = if *method == "GET" {
                client.send("GET", &url, &[], &[])
            } else {
                client.send(method, &url, &[("csrf", &csrf)], &[])
            };
            match rule {
                Rule::Public => {}
                Rule::Api => assert_eq!(
                    reply.status, 401,
                    "{role_key}: {method} {path} must not be reachable with a session cookie"
                ),
                Rule::AnyOf(_) => {
                    if allowed(&roles, rule) {
                        assert!(
                            reply.status != 403
                                && reply.status < 500
                                && !reply.headers.contains("location: /login"),
                            "{role_key} may use {method} {path} but got {}: {}",
                            reply.status,
                            reply.body
                        );
                    } else {
                        assert_eq!(
                            reply.status, 403,
                            "{role_key} must not use {method} {path}: {}",
                            reply.body
                        );
                    }
                }
            }
            // Whoever sends it, a form without this session's token is refused.
            if *method == "POST" && matches!(rule, Rule::AnyOf(_)) {
                let forged = client.send(method, &url, &[("csrf", "forged")], &[]);
                assert_eq!(
                    forged.status, 403,
                    "{role_key}: {method} {path} without CSRF"
                );
            }
        }

        // The navigation offers only pages the role may open.
        for href in nav_links(&home) {
            let rule = expected("GET", &href).unwrap_or_else(|| panic!("nav link {href}"));
            assert!(
                allowed(&roles, rule),
                "{role_key} is offered {href} in the navigation"
            );
        }
        assert_eq!(client.request("/", &[]).0, 200);
    }

    // The walk changed nothing it should not have: every account still signs in.
    let again: &StaffAccount = &accounts[0].1;
    site.signed_in(again);
}

/// The hrefs of the main navigation.
fn nav_links(page: &str) -> Vec<String> {
    let Some(start) = page.find("<nav") else {
        return Vec::new();
    };
    let end = page[start..]
        .find("</nav>")
        .map_or(page.len(), |e| start + e);
    page[start..end]
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect()
}
