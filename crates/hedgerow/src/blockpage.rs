//! The pages the web proxy serves itself: the block page, the "report a site" form, the thank-you
//! page after a review request, and the proxy's error pages.
//!
//! Each page is one self-contained HTML document: inline CSS only, no scripts, no images, no
//! external resources, because it is served in place of a page from any origin. The templates
//! (`templates/*.html`) are compiled in with askama, which escapes every value for HTML, so a URL
//! or a name from the network cannot become markup. There are two voices: pupils get short,
//! plain words; staff get the full detail (the rule's id, the device's address).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use askama::Template;
use hedgerow_policy::PolicySpec;
use hedgerow_records::escape_html;
use hedgerow_store::{Contact, ContactRole, ReviewKind, SchoolId, Store};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// How long the block page trusts what it last read of the contacts register.
pub const REGISTER_REFRESH: Duration = Duration::from_secs(5);

/// Who the pages tell pupils and staff to speak to about online safety.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnlineSafetyContact {
    /// The person, by name.
    pub lead: Option<String>,
    /// How to reach them.
    pub contact: Option<String>,
}

impl OnlineSafetyContact {
    /// The online-safety lead of a school's roles and contacts register (the first, when
    /// several share the role), with their email address and telephone number; `None` when the
    /// register names no online-safety lead.
    pub fn from_register(contacts: &[Contact]) -> Option<OnlineSafetyContact> {
        let lead = contacts
            .iter()
            .find(|c| c.details.role == ContactRole::OnlineSafetyLead)?;
        let ways: Vec<&str> = [lead.details.email.as_deref(), lead.details.phone.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        Some(OnlineSafetyContact {
            lead: Some(lead.details.name.clone()),
            contact: (!ways.is_empty()).then(|| ways.join(", ")),
        })
    }

    /// As the configuration names them (`online_safety_lead`, `online_safety_contact`).
    pub fn from_policy(spec: Option<&PolicySpec>) -> OnlineSafetyContact {
        OnlineSafetyContact {
            lead: spec.and_then(|s| s.online_safety_lead.clone()),
            contact: spec.and_then(|s| s.online_safety_contact.clone()),
        }
    }
}

/// What was last read from the register: per school slug, its online-safety lead if it has
/// one, and its recent review requests (so a person who asked sees what became of it).
#[derive(Default)]
struct RegisterCopy {
    read_at: Option<Instant>,
    leads: HashMap<String, OnlineSafetyContact>,
    requests: HashMap<String, Vec<hedgerow_store::ReviewRequest>>,
}

/// How far back the block page looks for a person's earlier request about a site.
pub const REQUEST_MEMORY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Who is looking at a block page, to find their earlier requests.
pub struct Asker<'a> {
    pub user: Option<&'a str>,
    pub device: Option<&'a str>,
    pub addr: std::net::IpAddr,
}

/// The roles and contacts register as the proxy's pages read it: a copy in memory, read again
/// in the background when it is older than [`REGISTER_REFRESH`], so a page never waits for
/// the store and a change in the admin app shows within seconds. A school whose register
/// names no online-safety lead keeps the one its configuration names.
pub struct ContactsRegister {
    store: Store,
    schools: HashMap<String, SchoolId>,
    copy: ArcSwap<RegisterCopy>,
    reading: AtomicBool,
}

impl ContactsRegister {
    /// Starts reading the register at once when called inside the runtime.
    pub fn new(store: Store, schools: HashMap<String, SchoolId>) -> Arc<ContactsRegister> {
        let register = Arc::new(ContactsRegister {
            store,
            schools,
            copy: ArcSwap::from_pointee(RegisterCopy::default()),
            reading: AtomicBool::new(false),
        });
        register.read_if_stale();
        // Kept fresh in the background too, so the first page after a quiet spell (a pupil
        // who browsed allowed pages for an hour) is not the one that finds the copy stale.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&register);
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(REGISTER_REFRESH).await;
                    match weak.upgrade() {
                        Some(register) => register.read_if_stale(),
                        None => break,
                    }
                }
            });
        }
        register
    }

    /// Who a school's pages name: the register's online-safety lead, else the configuration's.
    pub fn online_safety(
        self: &Arc<Self>,
        school: &str,
        spec: Option<&PolicySpec>,
    ) -> OnlineSafetyContact {
        self.read_if_stale();
        match self.copy.load().leads.get(school) {
            Some(lead) => lead.clone(),
            None => OnlineSafetyContact::from_policy(spec),
        }
    }

    /// What became of this person's latest request about `host` in the last
    /// [`REQUEST_MEMORY`], in one sentence for the block page: waiting, declined with the
    /// reason, or approved (for a time that may have ended). A person is matched by user when
    /// signed in, else by device, else by address.
    pub fn earlier_request(
        self: &Arc<Self>,
        school: &str,
        asker: &Asker<'_>,
        host: &str,
        zone: &TimeZone,
    ) -> Option<String> {
        self.read_if_stale();
        let copy = self.copy.load();
        let since =
            Timestamp::now() - jiff::SignedDuration::from_secs(REQUEST_MEMORY.as_secs() as i64);
        let request = copy.requests.get(school)?.iter().find(|r| {
            let asked = &r.request;
            let same_person = match (asker.user, asker.device) {
                (Some(user), _) => asked.requested_by_user.as_deref() == Some(user),
                (None, Some(device)) => {
                    asked.requested_by_user.is_none() && asked.device.as_deref() == Some(device)
                }
                (None, None) => {
                    asked.requested_by_user.is_none()
                        && asked.device.is_none()
                        && asked.client_addr == asker.addr
                }
            };
            same_person && asked.host.eq_ignore_ascii_case(host) && asked.created_at >= since
        })?;
        let asked_on = local_time(request.request.created_at, zone);
        Some(match request.status {
            hedgerow_store::ReviewStatus::New => {
                format!(
                    "You asked about this site on {asked_on}. Your request is waiting for a decision."
                )
            }
            hedgerow_store::ReviewStatus::Declined => format!(
                "You asked about this site on {asked_on}. The request was declined: {}",
                request
                    .decision_note
                    .as_deref()
                    .unwrap_or("no reason was given.")
            ),
            hedgerow_store::ReviewStatus::Approved => format!(
                "You asked about this site on {asked_on}. It was allowed{}; that has ended or does not cover this page.",
                request
                    .decision_note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
        })
    }

    /// Reads the register again in the background when the copy is old and no read is under
    /// way; without a runtime (never the case in the gateway) the copy stays as it is.
    fn read_if_stale(self: &Arc<Self>) {
        let stale = self
            .copy
            .load()
            .read_at
            .is_none_or(|at| at.elapsed() >= REGISTER_REFRESH);
        if !stale || self.reading.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let register = Arc::clone(self);
                runtime.spawn(async move {
                    register.read().await;
                    register.reading.store(false, Ordering::Release);
                });
            }
            Err(_) => self.reading.store(false, Ordering::Release),
        }
    }

    /// One read of every school's register. A school whose register cannot be read keeps
    /// what was read before, and the next read is tried after [`REGISTER_REFRESH`] anyway.
    async fn read(&self) {
        let before = self.copy.load_full();
        let mut leads = HashMap::new();
        let mut requests = HashMap::new();
        for (slug, id) in &self.schools {
            match self.store.review_requests(*id, None, 500).await {
                Ok(found) => {
                    requests.insert(slug.clone(), found);
                }
                Err(e) => {
                    tracing::warn!(school = %slug, "review requests could not be read for the block page: {e}");
                    if let Some(old) = before.requests.get(slug) {
                        requests.insert(slug.clone(), old.clone());
                    }
                }
            }
            match self.store.contacts(*id).await {
                Ok(contacts) => {
                    if let Some(lead) = OnlineSafetyContact::from_register(&contacts) {
                        leads.insert(slug.clone(), lead);
                    }
                }
                Err(e) => {
                    tracing::warn!(school = %slug, "the contacts register could not be read for the block page: {e}");
                    if let Some(lead) = before.leads.get(slug) {
                        leads.insert(slug.clone(), lead.clone());
                    }
                }
            }
        }
        self.copy.store(Arc::new(RegisterCopy {
            read_at: Some(Instant::now()),
            leads,
            requests,
        }));
    }
}

/// Everything the block page says about one blocked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPage {
    /// The address that was asked for, in full.
    pub url: String,
    pub host: String,
    /// The category's name (e.g. "Online games"), when the site is on a list.
    pub category_name: Option<String>,
    /// The decision's reason in plain words: [`hedgerow_policy::Decision`]'s sentence.
    pub rule_sentence: String,
    /// The rule's id, for staff and for the review.
    pub rule_id: String,
    /// The signed-in person's display name.
    pub user: Option<String>,
    /// The device's name.
    pub device: Option<String>,
    /// The client's address, as text.
    pub client_addr: String,
    /// When, in the school's local time ([`local_time`]).
    pub at: String,
    pub school_name: String,
    pub online_safety_lead: Option<String>,
    pub online_safety_contact: Option<String>,
    /// The URL the review form posts to.
    pub review_action: String,
    /// What became of this person's earlier request about the site, if they made one.
    pub earlier_request: Option<String>,
    /// The pupil version (short, simple words) rather than the staff version.
    pub pupil: bool,
    /// The HTTP status the page is sent with (the page does not show it).
    pub status: u16,
}

#[derive(Template)]
#[template(path = "block.html")]
struct BlockTemplate<'a> {
    url: &'a str,
    host: &'a str,
    category_name: Option<&'a str>,
    rule_sentence: &'a str,
    rule_id: &'a str,
    user: Option<&'a str>,
    device: Option<&'a str>,
    client_addr: &'a str,
    at: &'a str,
    school_name: &'a str,
    online_safety_lead: Option<&'a str>,
    online_safety_contact: Option<&'a str>,
    review_action: &'a str,
    earlier_request: Option<&'a str>,
    pupil: bool,
}

impl BlockPage {
    /// The page as HTML.
    pub fn render(&self) -> String {
        let template = BlockTemplate {
            url: &self.url,
            host: &self.host,
            category_name: self.category_name.as_deref(),
            rule_sentence: &self.rule_sentence,
            rule_id: &self.rule_id,
            user: self.user.as_deref(),
            device: self.device.as_deref(),
            client_addr: &self.client_addr,
            at: &self.at,
            school_name: &self.school_name,
            online_safety_lead: self.online_safety_lead.as_deref(),
            online_safety_contact: self.online_safety_contact.as_deref(),
            review_action: &self.review_action,
            earlier_request: self.earlier_request.as_deref(),
            pupil: self.pupil,
        };
        render_or_fallback(&template, "This page is blocked at school.")
    }
}

/// The standalone "report a site" page: for a page that was allowed but should not have been
/// (or, from a link, one that is blocked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportForm<'a> {
    /// Filled into the address field, if known (e.g. from a `?url=` link).
    pub url: Option<&'a str>,
    pub school_name: &'a str,
    pub online_safety_lead: Option<&'a str>,
    pub online_safety_contact: Option<&'a str>,
    /// The URL the form posts to.
    pub review_action: &'a str,
    pub pupil: bool,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportTemplate<'a> {
    form_url: &'a str,
    school_name: &'a str,
    online_safety_lead: Option<&'a str>,
    online_safety_contact: Option<&'a str>,
    review_action: &'a str,
    pupil: bool,
}

/// The "report a site" page as HTML.
pub fn render_report_form(form: &ReportForm<'_>) -> String {
    let template = ReportTemplate {
        form_url: form.url.unwrap_or(""),
        school_name: form.school_name,
        online_safety_lead: form.online_safety_lead,
        online_safety_contact: form.online_safety_contact,
        review_action: form.review_action,
        pupil: form.pupil,
    };
    render_or_fallback(&template, "Report a site.")
}

#[derive(Template)]
#[template(path = "received.html")]
struct ReceivedTemplate<'a> {
    url: &'a str,
    should_be_blocked: bool,
    school_name: &'a str,
    online_safety_lead: Option<&'a str>,
    online_safety_contact: Option<&'a str>,
    pupil: bool,
}

/// The thank-you page after a review request was stored.
pub fn review_received_page(
    url: &str,
    kind: ReviewKind,
    school_name: &str,
    online_safety_lead: Option<&str>,
    online_safety_contact: Option<&str>,
    pupil: bool,
) -> String {
    let template = ReceivedTemplate {
        url,
        should_be_blocked: kind == ReviewKind::ShouldBeBlocked,
        school_name,
        online_safety_lead,
        online_safety_contact,
        pupil,
    };
    render_or_fallback(&template, "Thank you. Your request has been recorded.")
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    title: &'a str,
    sentence: &'a str,
    what_to_do: &'a str,
}

/// A page for a proxy error (a bad request, an unreachable site, a site whose certificate
/// cannot be trusted): a title, one sentence saying what happened, and what to do about it.
pub fn error_page(title: &str, sentence: &str, what_to_do: &str) -> String {
    let template = ErrorTemplate {
        title,
        sentence,
        what_to_do,
    };
    render_or_fallback(&template, sentence)
}

#[derive(Template)]
#[template(path = "held.html")]
struct HeldTemplate<'a> {
    portal_link: &'a str,
}

/// The page for a request held at the access portal where a redirect cannot be sent (inside
/// an inspected tunnel): a link to the portal, which the browser also follows by itself.
pub fn held_page(portal_link: &str) -> String {
    render_or_fallback(&HeldTemplate { portal_link }, portal_link)
}

/// A moment as the block page shows it, in the school's time zone: "Tuesday 10 March 2026,
/// 14:05".
pub fn local_time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%A %-d %B %Y, %H:%M")
        .to_string()
}

/// Renders a template; if that ever fails (it can only fail if writing to a string does), a
/// minimal page with the text escaped by hand, so the client still gets an answer.
fn render_or_fallback(template: &impl Template, text: &str) -> String {
    template.render().unwrap_or_else(|error| {
        tracing::error!(%error, "a proxy page could not be rendered; sending a plain one");
        format!(
            "<!DOCTYPE html><html lang=\"en-GB\"><meta charset=\"utf-8\"><title>Hedgerow</title><p>{}</p></html>",
            escape_html(text)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help links every page carries (templates/_help.html).
    const CEOP_REPORT_URL: &str = "https://www.ceop.police.uk/CEOP-Reporting/";
    const CHILDLINE_URL: &str = "https://www.childline.org.uk/";

    fn page(pupil: bool) -> BlockPage {
        BlockPage {
            url: "http://games.example/play?level=2".into(),
            host: "games.example".into(),
            category_name: Some("Online games".into()),
            rule_sentence: "Online games is blocked for KS2 pupils.".into(),
            rule_id: "group:ks2:online-games".into(),
            user: Some("Demo Pupil (Year 5)".into()),
            device: Some("ks2-laptop".into()),
            client_addr: "127.0.0.20".into(),
            at: "Tuesday 10 March 2026, 14:05".into(),
            school_name: "Hedgerow Demo Primary School".into(),
            online_safety_lead: Some("Ms Rowan Ashdown".into()),
            online_safety_contact: Some("the school office".into()),
            review_action: "http://127.0.0.1:3128/hedgerow/review".into(),
            earlier_request: Some(
                "You asked about this site on 9 Mar. The request was declined: <b>not for lessons</b>"
                    .into(),
            ),
            pupil,
            status: 403,
        }
    }

    /// Every page is self-contained and accessible in the same basic ways.
    fn assert_well_formed(html: &str) {
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("<html lang=\"en-GB\">"));
        assert!(html.contains("name=\"viewport\""));
        // No scripts, and nothing loaded from anywhere: no style sheets, images, frames, media
        // or CSS URLs.
        for tag in [
            "<script", "<link", "<img", "<iframe", "<object", "<embed", "<video", "<audio",
            "<source", "url(", "@import",
        ] {
            assert!(!html.contains(tag), "{tag} in the page");
        }
        assert!(
            !html.contains("{{") && !html.contains("{%"),
            "template syntax left over"
        );
    }

    /// Every form control has a label pointing at it.
    fn assert_controls_labelled(html: &str) {
        for id in ["kind-unblock", "kind-block", "comment"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id} missing");
            assert!(
                html.contains(&format!("<label for=\"{id}\""))
                    || html.contains(&format!("<label class=\"field-label\" for=\"{id}\"")),
                "{id} has no label"
            );
        }
    }

    #[test]
    fn the_pupil_page_is_short_and_says_what_to_do() {
        let html = page(true).render();
        assert_well_formed(&html);
        assert_controls_labelled(&html);
        assert!(html.contains("This page is blocked at school. If you think that is wrong, ask your teacher or press the button."));
        assert!(html.contains("http://games.example/play?level=2"));
        assert!(html.contains("Online games"));
        assert!(html.contains("Online games is blocked for KS2 pupils."));
        assert!(html.contains("Demo Pupil (Year 5)"));
        assert!(html.contains("ks2-laptop"));
        assert!(html.contains("Tuesday 10 March 2026, 14:05"));
        assert!(html.contains("Ms Rowan Ashdown"));
        assert!(html.contains("the school office"));
        assert!(html.contains("This should not be blocked"));
        assert!(html.contains("This should be blocked"));
        assert!(html.contains("action=\"http://127.0.0.1:3128/hedgerow/review\""));
        assert!(
            html.contains(
                "type=\"hidden\" name=\"url\" value=\"http://games.example/play?level=2\""
            )
        );
        assert!(html.contains("maxlength=\"2000\""));
        assert!(html.contains(CEOP_REPORT_URL));
        assert!(html.contains(CHILDLINE_URL));
        assert!(html.contains("0800 1111"));
        // The outcome of the pupil's earlier request, escaped like everything else.
        assert!(
            html.contains("The request was declined: &#60;b&#62;not for lessons"),
            "{html}"
        );
        // The staff detail is not for pupils.
        assert!(!html.contains("group:ks2:online-games"));
        assert!(!html.contains("127.0.0.20"));
    }

    #[test]
    fn the_staff_page_has_the_full_detail() {
        let html = page(false).render();
        assert_well_formed(&html);
        assert_controls_labelled(&html);
        for expected in [
            "This page is blocked",
            "http://games.example/play?level=2",
            "games.example",
            "Online games",
            "Online games is blocked for KS2 pupils.",
            "<code>group:ks2:online-games</code>",
            "Demo Pupil (Year 5)",
            "ks2-laptop (127.0.0.20)",
            "Tuesday 10 March 2026, 14:05",
            "Hedgerow Demo Primary School",
            "Ms Rowan Ashdown",
            "Send for review",
            CEOP_REPORT_URL,
            CHILDLINE_URL,
        ] {
            assert!(html.contains(expected), "missing {expected:?}");
        }
        assert!(!html.contains("ask your teacher or press the button"));

        let mut anonymous = page(false);
        anonymous.user = None;
        anonymous.device = None;
        anonymous.category_name = None;
        anonymous.online_safety_lead = None;
        anonymous.online_safety_contact = None;
        let html = anonymous.render();
        assert!(html.contains("Not signed in"));
        assert!(html.contains("Unknown device (127.0.0.20)"));
        assert!(html.contains("Not on any category list"));
        assert_well_formed(&html);
    }

    #[test]
    fn everything_from_outside_is_escaped() {
        let mut hostile = page(true);
        hostile.url = "http://evil.example/<script>alert(1)</script>\"onmouseover=\"x".into();
        hostile.host = "<b>evil.example</b>".into();
        hostile.user = Some("<img src=x onerror=alert(1)>".into());
        hostile.online_safety_lead = Some("Mr O'Brien & <i>co</i>".into());
        for pupil in [true, false] {
            hostile.pupil = pupil;
            let html = hostile.render();
            assert_well_formed(&html);
            assert!(!html.contains("<script>alert(1)"), "{html}");
            assert!(!html.contains("<b>evil"));
            assert!(!html.contains("<img"));
            assert!(!html.contains("<i>co"));
            assert!(
                !html.contains("\"onmouseover=\""),
                "attribute values cannot be broken out of"
            );
            assert!(
                html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
                "{html}"
            );
        }
        let report = render_report_form(&ReportForm {
            url: Some("\"><script>alert(1)</script>"),
            school_name: "<School>",
            online_safety_lead: None,
            online_safety_contact: Some("<a href=x>"),
            review_action: "/hedgerow/review",
            pupil: false,
        });
        assert!(!report.contains("<script>alert"));
        assert!(!report.contains("<School>"));
        assert!(!report.contains("<a href=x>"));
        let received = review_received_page(
            "<script>x</script>",
            ReviewKind::ShouldNotBeBlocked,
            "S",
            None,
            None,
            true,
        );
        assert!(!received.contains("<script>x"));
        let error = error_page("<t>", "<s>", "<w>");
        assert!(!error.contains("<t>") && !error.contains("<s>") && !error.contains("<w>"));
    }

    #[test]
    fn the_report_form_offers_both_directions() {
        let html = render_report_form(&ReportForm {
            url: Some("https://allowed.example/page"),
            school_name: "Hedgerow Demo Primary School",
            online_safety_lead: Some("Ms Rowan Ashdown"),
            online_safety_contact: None,
            review_action: "http://127.0.0.1:3128/hedgerow/review",
            pupil: true,
        });
        assert_well_formed(&html);
        assert_controls_labelled(&html);
        assert!(html.contains("<label class=\"field-label\" for=\"url\">"));
        assert!(html.contains("value=\"https://allowed.example/page\""));
        assert!(html.contains("value=\"should_be_blocked\" checked"));
        assert!(html.contains("value=\"should_not_be_blocked\""));
        assert!(html.contains("Ms Rowan Ashdown"));
        assert!(html.contains(CHILDLINE_URL));
        let empty = render_report_form(&ReportForm {
            url: None,
            school_name: "S",
            online_safety_lead: None,
            online_safety_contact: None,
            review_action: "/r",
            pupil: false,
        });
        assert!(empty.contains("name=\"url\" value=\"\""));
    }

    #[test]
    fn the_thank_you_page_repeats_the_request() {
        let html = review_received_page(
            "http://games.example/",
            ReviewKind::ShouldNotBeBlocked,
            "Hedgerow Demo Primary School",
            Some("Ms Rowan Ashdown"),
            None,
            true,
        );
        assert_well_formed(&html);
        assert!(html.contains("Thank you"));
        assert!(html.contains("http://games.example/"));
        assert!(html.contains("You said this page should not be blocked."));
        assert!(html.contains("Ms Rowan Ashdown"));
        let staff = review_received_page(
            "http://news.example/",
            ReviewKind::ShouldBeBlocked,
            "S",
            None,
            Some("room 4"),
            false,
        );
        assert!(staff.contains("You asked for this page to be blocked."));
        assert!(staff.contains("room 4"));
    }

    #[test]
    fn error_pages_say_what_happened_and_what_to_do() {
        let html = error_page(
            "The site could not be reached",
            "games.example did not answer.",
            "Check the address, or try again in a few minutes.",
        );
        assert_well_formed(&html);
        assert!(html.contains("<title>The site could not be reached</title>"));
        assert!(html.contains("<h1>The site could not be reached</h1>"));
        assert!(html.contains("games.example did not answer."));
        assert!(html.contains("What to do"));
        assert!(html.contains("Check the address, or try again in a few minutes."));
    }

    #[test]
    fn the_held_page_links_to_the_portal() {
        let html = held_page("http://10.0.0.5/?then=http%3A%2F%2Fa.example%2F&x=<y>");
        assert_well_formed(&html);
        assert!(
            html.contains("<h1>Accept the school's agreement first</h1>"),
            "{html}"
        );
        let escaped = "http://10.0.0.5/?then=http%3A%2F%2Fa.example%2F&#38;x=&#60;y&#62;";
        assert!(
            html.contains(&format!("<a href=\"{escaped}\">Open the agreement</a>")),
            "{html}"
        );
        assert!(
            html.contains(&format!("content=\"0; url={escaped}\"")),
            "{html}"
        );
    }

    #[test]
    fn times_are_shown_in_school_time() {
        let zone = TimeZone::get("Europe/London").unwrap();
        let winter: Timestamp = "2026-03-10T14:05:00Z".parse().unwrap();
        assert_eq!(local_time(winter, &zone), "Tuesday 10 March 2026, 14:05");
        let summer: Timestamp = "2026-06-01T08:30:00Z".parse().unwrap();
        assert_eq!(local_time(summer, &zone), "Monday 1 June 2026, 09:30");
    }

    fn contact(role: ContactRole, name: &str, email: Option<&str>, phone: Option<&str>) -> Contact {
        Contact {
            id: hedgerow_store::ContactId(1),
            school: SchoolId(1),
            details: hedgerow_store::ContactDetails {
                role,
                name: name.into(),
                email: email.map(Into::into),
                phone: phone.map(Into::into),
                notes: None,
            },
            updated_by: "dsl".into(),
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_register_names_the_online_safety_lead() {
        let register = [
            contact(ContactRole::Dsl, "Mr Dee", Some("dsl@school.example"), None),
            contact(
                ContactRole::OnlineSafetyLead,
                "Ms Lead",
                Some("lead@school.example"),
                Some("01234 567890"),
            ),
            contact(ContactRole::OnlineSafetyLead, "Mr Second", None, None),
        ];
        assert_eq!(
            OnlineSafetyContact::from_register(&register),
            Some(OnlineSafetyContact {
                lead: Some("Ms Lead".into()),
                contact: Some("lead@school.example, 01234 567890".into()),
            })
        );
        let no_way = [contact(
            ContactRole::OnlineSafetyLead,
            "Mr Second",
            None,
            Some(" "),
        )];
        assert_eq!(
            OnlineSafetyContact::from_register(&no_way).unwrap().contact,
            None
        );
        assert_eq!(OnlineSafetyContact::from_register(&register[..1]), None);
        assert_eq!(
            OnlineSafetyContact::from_policy(None),
            OnlineSafetyContact::default()
        );
    }

    #[test]
    fn without_a_read_of_the_register_the_configuration_is_used() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
            let store = Store::open(&url).await.unwrap();
            let school = store.ensure_school("oak", "Oak School", "Europe/London").await.unwrap();
            let schools = HashMap::from([("oak".to_string(), school)]);
            let register = ContactsRegister::new(store.clone(), schools);
            let config = hedgerow_config::Config::parse(
                "data_dir = \"/tmp/x\"\n[lists]\nsources = [\"/tmp/x\"]\n[[school]]\nslug = \"oak\"\nname = \"Oak\"\nonline_safety_lead = \"Mrs Configured\"\n[school.groups.unknown]\nkind = \"unidentified\"\ndefault = \"allow\"\n",
            )
            .unwrap();
            let spec = &config.schools[0].policy;
            register.read().await;
            assert_eq!(
                register.online_safety("oak", Some(spec)).lead.as_deref(),
                Some("Mrs Configured")
            );
            store
                .set_contact(
                    school,
                    None,
                    &hedgerow_store::ContactDetails {
                        role: ContactRole::OnlineSafetyLead,
                        name: "Ms Registered".into(),
                        email: Some("osl@oak.example".into()),
                        phone: None,
                        notes: None,
                    },
                    &hedgerow_store::ActingUser::new("dsl"),
                )
                .await
                .unwrap();
            register.read().await;
            let named = register.online_safety("oak", Some(spec));
            assert_eq!(named.lead.as_deref(), Some("Ms Registered"));
            assert_eq!(named.contact.as_deref(), Some("osl@oak.example"));
            assert_eq!(
                register.online_safety("elsewhere", None),
                OnlineSafetyContact::default()
            );
        });
    }

    #[test]
    fn the_fallback_escapes_too() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
