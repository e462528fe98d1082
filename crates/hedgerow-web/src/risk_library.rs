//! Monitoring's risk libraries for the people who tune them (`/monitoring/library`): every
//! entry with its category, language, severity and phrases, the school's changes in force, a
//! box to try a phrase as a child of each age would type it, and forms to switch an entry off,
//! re-rate it or add the school's own. Each change goes through change control like a policy
//! change (a required reason, the school's approval rules, the change log), and the monitor
//! picks it up within seconds. Switching an entry back on is reverting its change.
//!
//! The page shows the built-in libraries; files added with `[monitoring] libraries` are used
//! by the monitor but not listed here.

use std::sync::{Arc, Mutex, OnceLock};

use askama::Template;
use axum::Router;
use axum::extract::{Form, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use hedgerow_accounts::Permission;
use hedgerow_monitor::{tuned_classifier, tunings_in};
use hedgerow_policy::change::{PolicyChange, RiskTuning};
use hedgerow_risk::{AgeBand, Classifier, RiskCategory, RiskLibrary, Tuning};
use jiff::Timestamp;

use crate::AdminApp;
use crate::alerts::severity_text;
use crate::form::Fields;
use crate::frame::{Frame, Staff, bad_request, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/monitoring/library"),
    ("POST", "/monitoring/library"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new().route("/monitoring/library", get(page).post(change))
}

/// The shipped libraries, read once.
fn library() -> &'static RiskLibrary {
    static LIBRARY: OnceLock<RiskLibrary> = OnceLock::new();
    LIBRARY.get_or_init(RiskLibrary::builtin)
}

/// The classifier for a school's tunings, with the refusals of those it could not use.
/// Building one takes about a second (the libraries expand to many thousands of phrases), so
/// the last one built is kept and reused while the tunings are the same.
fn classifier_for(tunings: &[Tuning]) -> Result<(Arc<Classifier>, Vec<String>), String> {
    type Built = (Vec<Tuning>, Arc<Classifier>, Vec<String>);
    static LAST: Mutex<Option<Built>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((seen, classifier, refused)) = last.as_ref()
        && seen.as_slice() == tunings
    {
        return Ok((Arc::clone(classifier), refused.clone()));
    }
    let (classifier, refused) = tuned_classifier(library(), tunings).map_err(|e| e.to_string())?;
    let classifier = Arc::new(classifier);
    let refused: Vec<String> = refused.iter().map(ToString::to_string).collect();
    *last = Some((tunings.to_vec(), Arc::clone(&classifier), refused.clone()));
    Ok((classifier, refused))
}

/// The longest reason, phrase list and tried text accepted.
const MAX_REASON: usize = 1_000;
const MAX_PHRASES: usize = 4_000;
const MAX_TRY: usize = 500;

/// Phrases shown per entry before "and N more".
const SHOWN_PHRASES: usize = 6;
/// Alternatives of a word list shown in a phrase before "… N more".
const SHOWN_ALTERNATIVES: usize = 3;

/// A phrase as the page shows it: a word list's group `{a|b|c|d|e}` (how the library keeps an
/// `@NAME` list) becomes `(a | b | c | … 2 more)`, so a list of eighty groups does not fill the
/// page.
fn readable_phrase(phrase: &str) -> String {
    let mut readable = String::with_capacity(phrase.len().min(200));
    let mut rest = phrase;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        readable.push_str(&rest[..open]);
        let alternatives: Vec<&str> = rest[open + 1..close].split('|').collect();
        readable.push('(');
        readable.push_str(
            &alternatives
                .iter()
                .take(SHOWN_ALTERNATIVES)
                .copied()
                .collect::<Vec<_>>()
                .join(" | "),
        );
        let hidden = alternatives.len().saturating_sub(SHOWN_ALTERNATIVES);
        if hidden > 0 {
            readable.push_str(&format!(" | … {hidden} more"));
        }
        readable.push(')');
        rest = &rest[close + 1..];
    }
    readable.push_str(rest);
    readable
}

struct EntryRow {
    id: String,
    category: &'static str,
    language: String,
    severity: String,
    /// What the school's changes did to it, if anything.
    tuned: Option<String>,
    off: bool,
    phrases: String,
}

struct Choice {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "risk_library.html")]
struct LibraryTemplate {
    frame: Frame,
    rows: Vec<EntryRow>,
    categories: Vec<Choice>,
    bands: Vec<Choice>,
    tried: String,
    band: String,
    verdict: Option<String>,
    refused: Vec<String>,
}

fn band_label(band: AgeBand) -> &'static str {
    match band {
        AgeBand::EarlyYears => "EYFS and KS1 (4 to 7)",
        AgeBand::Primary => "KS2 (7 to 11)",
        AgeBand::Secondary => "Secondary (11 to 16)",
        AgeBand::SixthForm => "Sixth form (16 to 18)",
        AgeBand::Adult => "Adults (staff, visitors)",
    }
}

/// The school's risk-library changes in force, with the change id of each.
async fn school_tunings(app: &AdminApp, staff: &Staff) -> Result<Vec<(String, Tuning)>, Response> {
    let changes = app
        .store
        .active_changes(staff.school, Timestamp::now())
        .await
        .map_err(|e| server_error("reading the changes in force", e))?;
    Ok(tunings_in(
        changes.iter().map(|c| (c.stamp_id(), c.change.as_str())),
    ))
}

async fn page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(r) = staff.require(Permission::TuneRiskLibraries) {
        return r;
    }
    let fields = Fields(
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    let library = library();
    let tunings = match school_tunings(&app, &staff).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let only: Vec<Tuning> = tunings.iter().map(|(_, t)| t.clone()).collect();
    let (classifier, refused) = match classifier_for(&only) {
        Ok(built) => built,
        Err(e) => return server_error("building the risk classifier", e),
    };

    let tried = fields.get("try").unwrap_or_default().to_string();
    if tried.chars().count() > MAX_TRY {
        return bad_request(format!(
            "The text to try is longer than {MAX_TRY} characters. Shorten it and try again."
        ));
    }
    let band = fields
        .get("band")
        .and_then(AgeBand::parse)
        .unwrap_or(AgeBand::Secondary);
    let verdict = (!tried.is_empty()).then(|| match classifier.classify(&tried, band) {
        Some(m) => format!(
            "{}, severity {}, from entry {} (matched “{}”).",
            m.category.label(),
            severity_text(m.severity),
            m.entry,
            m.matched
        ),
        None => "No risk found: this would raise no alert.".to_string(),
    });

    let mut rows: Vec<EntryRow> = library.entries().map(|e| row(e, &tunings)).collect();
    for (id, tuning) in &tunings {
        if let Tuning::Add { entry } = tuning {
            let mut added = row(entry, &tunings);
            added.tuned = Some(format!("the school's own entry ({id})"));
            rows.push(added);
        }
    }
    rows.sort_by(|a, b| (a.category, &a.id).cmp(&(b.category, &b.id)));

    render(&LibraryTemplate {
        frame: staff.frame("/monitoring/library"),
        rows,
        categories: RiskCategory::ALL
            .iter()
            .map(|c| Choice {
                value: c.as_str(),
                label: c.label(),
            })
            .collect(),
        bands: AgeBand::ALL
            .iter()
            .map(|b| Choice {
                value: b.as_str(),
                label: band_label(*b),
            })
            .collect(),
        tried,
        band: band.as_str().to_string(),
        verdict,
        refused,
    })
}

fn row(entry: &hedgerow_risk::RiskEntry, tunings: &[(String, Tuning)]) -> EntryRow {
    let mut severity = entry.severity;
    let mut tuned = None;
    let mut off = false;
    for (id, tuning) in tunings {
        match tuning {
            Tuning::Disable { entry: e } if *e == entry.id => {
                off = true;
                tuned = Some(format!("switched off ({id})"));
            }
            Tuning::SetSeverity {
                entry: e,
                severity: n,
            } if *e == entry.id => {
                severity = *n;
                tuned = Some(format!("re-rated from {} ({id})", entry.severity));
            }
            _ => {}
        }
    }
    let mut phrases: Vec<String> = entry
        .phrases
        .iter()
        .take(SHOWN_PHRASES)
        .map(|phrase| readable_phrase(phrase))
        .collect();
    let more = entry.phrases.len().saturating_sub(SHOWN_PHRASES);
    if more > 0 {
        phrases.push(format!("and {more} more"));
    }
    EntryRow {
        id: entry.id.clone(),
        category: entry.category.label(),
        language: entry.language.clone(),
        severity: severity_text(severity),
        tuned,
        off,
        phrases: phrases.join(" · "),
    }
}

/// The change a form asks for, checked against the libraries with the school's other changes.
#[allow(clippy::result_large_err)]
fn change_from_form(
    fields: &Fields,
    library: &RiskLibrary,
    tunings: &[(String, Tuning)],
) -> Result<PolicyChange, Response> {
    let severity = |fields: &Fields| -> Result<u8, Response> {
        fields
            .get("severity")
            .and_then(|s| s.parse::<u8>().ok())
            .filter(|n| (1..=5).contains(n))
            .ok_or_else(|| bad_request("Choose a severity from 1 (advisory) to 5 (imminent risk)."))
    };
    let entry = fields.required("entry", "The entry", 100)?;
    let change = match fields.get("action") {
        Some("disable") => PolicyChange::RiskEntry {
            entry,
            tuning: RiskTuning::Disable,
        },
        Some("severity") => PolicyChange::RiskEntry {
            entry,
            tuning: RiskTuning::Severity(severity(fields)?),
        },
        Some("add") => {
            let category = fields
                .get("category")
                .and_then(RiskCategory::parse)
                .ok_or_else(|| bad_request("Choose the new entry's category from the list."))?;
            let phrases: Vec<String> = fields
                .required("phrases", "The phrases", MAX_PHRASES)?
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            let language = fields.get("language").unwrap_or("en").to_lowercase();
            // The school's own entries live under `school.`, apart from the shipped ones.
            let id: String = entry
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            PolicyChange::RiskEntry {
                entry: format!("school.{}", id.trim_matches('-')),
                tuning: RiskTuning::Add {
                    category: category.as_str().to_string(),
                    severity: severity(fields)?,
                    language,
                    phrases,
                },
            }
        }
        _ => {
            return Err(bad_request(
                "Choose what to do: switch the entry off, change its severity, or add an entry.",
            ));
        }
    };
    let PolicyChange::RiskEntry { entry, tuning } = &change else {
        return Err(bad_request("That is not a risk-library change."));
    };
    let Some(new) = hedgerow_monitor::tuning_for(entry, tuning) else {
        return Err(bad_request(
            "The category is not one of the risk categories.",
        ));
    };
    let mut all: Vec<Tuning> = tunings.iter().map(|(_, t)| t.clone()).collect();
    all.push(new);
    if let Err(e) = Classifier::new(library, &all) {
        return Err(bad_request(format!("The change was not made: {e}.")));
    }
    Ok(change)
}

async fn change(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::TuneRiskLibraries) {
        return r;
    }
    let fields = Fields(fields);
    let reason = match fields.required("reason", "The reason for the change", MAX_REASON) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let tunings = match school_tunings(&app, &staff).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let change = match change_from_form(&fields, library(), &tunings) {
        Ok(c) => c,
        Err(r) => return r,
    };
    crate::policy::propose_and_show(&app, &staff, &change, &reason).await
}

#[cfg(test)]
mod tests {
    use super::readable_phrase;

    #[test]
    fn long_word_lists_are_shortened_on_the_page() {
        assert_eq!(
            readable_phrase("{muslims|jewish people|gays|women|refugees} are ~2 {vermin|scum}"),
            "(muslims | jewish people | gays | … 2 more) are ~2 (vermin | scum)"
        );
        assert_eq!(readable_phrase("kill ~2 myself"), "kill ~2 myself");
        assert_eq!(readable_phrase("odd {brace"), "odd {brace");
    }
}
