//! One entry point that runs every parser in the crate on the same input, for the
//! `agreement_text` fuzz target (`fuzz_target!(|data: &[u8]| hedgerow_agreements::fuzzing::exercise(data))`),
//! and the check of rendered agreements that the property tests share.
//!
//! Agreement texts are typed by schools and shown to children, so besides "never panics" it
//! checks the promise `render_body` makes (nothing typed becomes markup) and the ones the day
//! code and renewal functions make; a fuzzer that finds a broken promise reports a crash.

use jiff::civil::Date;

use crate::{Renewal, Standing, check_template, looks_like_token, normalise_day_code, render_body};

/// The tags `render_body` writes itself; a picture's own SVG is skipped whole.
const RENDERED_TAGS: [&str; 11] = [
    "p>",
    "/p>",
    "h2>",
    "/h2>",
    "ul>",
    "ul class=\"agreement-pictures\">",
    "/ul>",
    "li>",
    "/li>",
    "span>",
    "/span>",
];

/// Whether `html`, rendered from `body`, holds only tags the renderer writes itself and every
/// `<` typed in `body` as `&lt;`. The error says which tag got through.
pub fn check_rendered(body: &str, html: &str) -> Result<(), String> {
    let mut inside_picture = false;
    for tag in html.split('<').skip(1) {
        if tag.starts_with("svg ") {
            inside_picture = true;
        }
        if inside_picture {
            if tag.starts_with("/svg>") {
                inside_picture = false;
            }
            continue;
        }
        if !RENDERED_TAGS.iter().any(|known| tag.starts_with(known)) {
            return Err(format!("unexpected tag <{tag} from {body:?}"));
        }
    }
    let typed = body.matches('<').count();
    let escaped = html.matches("&lt;").count();
    if escaped != typed {
        return Err(format!(
            "{typed} angle brackets typed but {escaped} escaped, from {body:?}"
        ));
    }
    Ok(())
}

/// Runs every parser on `input`: the text (lossily decoded) as an agreement whose first line
/// is the title, each line as a day code and a link token, and the first bytes as a renewal
/// date, window and acceptance date.
///
/// # Panics
///
/// When a promise is broken: rendered text lets typed markup through, a normalised day code
/// does not normalise to itself, or an acceptance's expiry is not after the day it was made
/// or its standing on that day does not let it in.
pub fn exercise(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let (title, body) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = check_template(title, body);
    let html = render_body(body);
    if let Err(problem) = check_rendered(body, &html) {
        panic!("{problem}");
    }
    for line in text.lines().take(64) {
        if let Some(code) = normalise_day_code(line) {
            assert_eq!(normalise_day_code(&code).as_deref(), Some(code.as_str()));
        }
        let _ = looks_like_token(line);
    }
    if let [
        month,
        day,
        window,
        year_high,
        year_low,
        accepted_month,
        accepted_day,
        ..,
    ] = input
    {
        let Ok(renewal) = Renewal::new(
            (*month % 14) as i8,
            (*day % 33) as i8,
            i32::from(*window) - 8,
        ) else {
            return;
        };
        let year = 1900 + i16::from(*year_high % 4) * 100 + i16::from(*year_low % 100);
        let Ok(accepted) = Date::new(
            year,
            (*accepted_month % 12 + 1) as i8,
            (*accepted_day % 28 + 1) as i8,
        ) else {
            return;
        };
        let expires = renewal.expires_on(accepted);
        assert!(expires > accepted, "{accepted} expires on {expires}");
        let standing = renewal.standing(Some(accepted), true, accepted);
        assert!(
            standing.lets_in(),
            "accepted today stands as {}",
            standing.key()
        );
        assert_eq!(
            renewal.standing(Some(accepted), false, accepted),
            Standing::OldVersion
        );
    }
}
