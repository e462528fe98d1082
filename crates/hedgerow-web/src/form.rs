//! Forms as sent by a browser: repeated fields (checkboxes) kept, every value trimmed, and
//! size limits checked, so a handler reads fields by name and gets a sentence back for
//! anything it cannot use.

use axum::response::Response;

use crate::frame::bad_request;

/// The fields of a url-encoded form, in order, repeats kept.
pub(crate) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-blank value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A required field, at most `max` characters; the error names the field by its label.
    #[allow(clippy::result_large_err)]
    pub fn required(&self, name: &str, label: &str, max: usize) -> Result<String, Response> {
        match self.get(name) {
            None => Err(bad_request(format!(
                "{label} is missing. Go back, fill it in and send the form again."
            ))),
            Some(v) => within(v, label, max).map(str::to_string),
        }
    }
}

#[allow(clippy::result_large_err)]
fn within<'a>(value: &'a str, label: &str, max: usize) -> Result<&'a str, Response> {
    if value.chars().count() > max {
        Err(bad_request(format!(
            "{label} is longer than {max} characters. Shorten it and send the form again."
        )))
    } else if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Err(bad_request(format!(
            "{label} contains control characters. Remove them and send the form again."
        )))
    } else {
        Ok(value)
    }
}

/// The answer to a form that cannot be read at all (cut short, too large, not a form).
pub(crate) fn unreadable_form(e: impl std::fmt::Display) -> Response {
    bad_request(format!(
        "The form could not be read ({e}). Go back, reload the page and try again."
    ))
}

/// Reads a url-encoded form body (at most 256 KiB) into its fields. For handlers that pass
/// their gate before reading the form, as `Staff::accept` does for typed forms.
pub(crate) async fn read_fields(request: axum::extract::Request) -> Result<Fields, Response> {
    let bytes = axum::body::to_bytes(request.into_body(), 256 * 1024)
        .await
        .map_err(unreadable_form)?;
    Ok(Fields(
        form_urlencoded::parse(&bytes).into_owned().collect(),
    ))
}

/// A local date and time from a `datetime-local` or `date` field, in the school's zone. A
/// date alone means the end of that day.
pub(crate) fn local_moment(
    text: &str,
    zone: &jiff::tz::TimeZone,
) -> Result<jiff::Timestamp, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "{text:?} is not a date and time; write it as 2026-11-23T15:30 or pick it from the calendar"
        )
    };
    // jiff reads a date out of a date-and-time too (dropping the time), so a date alone is
    // recognised by having no time part.
    if !text.contains(['T', 't', ' '])
        && let Ok(date) = text.parse::<jiff::civil::Date>()
    {
        let end = date
            .tomorrow()
            .map_err(|_| bad())?
            .to_datetime(jiff::civil::Time::midnight());
        return end
            .to_zoned_datetime(zone.clone())
            .map(|z| z.timestamp())
            .map_err(|_| bad());
    }
    let dt: jiff::civil::DateTime = text.parse().map_err(|_| bad())?;
    dt.to_zoned_datetime(zone.clone())
        .map(|z| z.timestamp())
        .map_err(|_| bad())
}

#[cfg(test)]
mod moment_tests {
    use super::local_moment;

    #[test]
    fn a_date_and_time_keeps_its_time_and_a_date_alone_means_the_end_of_the_day() {
        let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
        let at = local_moment("2026-12-07T12:31", &zone).unwrap();
        assert_eq!(at.to_string(), "2026-12-07T12:31:00Z");
        let day = local_moment("2026-12-07", &zone).unwrap();
        assert_eq!(day.to_string(), "2026-12-08T00:00:00Z");
        // British Summer Time: the clock reads an hour ahead of UTC.
        let summer = local_moment("2026-07-01T09:00", &zone).unwrap();
        assert_eq!(summer.to_string(), "2026-07-01T08:00:00Z");
    }
}
