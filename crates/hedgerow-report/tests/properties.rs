//! Property tests: whatever the configuration's names and the store's counts, rendering never
//! panics, the HTML stays well-formed with nothing unescaped, and the PDF always parses with a
//! correct cross-reference table.

mod common;

use common::{check_well_formed, check_xref, page_texts};
use hedgerow_report::{
    CategoryCount, Outcomes, ResponseTimes, WeeklyReport, render_html, render_pdf,
};
use proptest::prelude::*;

fn any_minutes() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(f64::NAN)),
        Just(Some(f64::INFINITY)),
        Just(Some(-1.0)),
        Just(Some(f64::MAX)),
        (0.0..100_000.0f64).prop_map(Some),
    ]
}

/// Names as configuration might hold them, hostile ones included.
fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 ()\\\\<>&\"'’–…€]{0,60}",
        Just("<script>alert(1)</script>".to_owned()),
        Just(String::new()),
    ]
}

fn any_date() -> impl Strategy<Value = jiff::civil::Date> {
    (-9999i16..=9999, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| jiff::civil::date(y, m, d))
}

/// Any instant jiff can hold, in zones either side of UTC.
fn any_moment() -> impl Strategy<Value = jiff::ZonedDateTime> {
    let (min, max) = (
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    (
        min..=max,
        prop::sample::select(vec![
            "UTC",
            "Europe/London",
            "Pacific/Kiritimati",
            "America/New_York",
        ]),
    )
        .prop_map(|(second, zone)| {
            let timestamp =
                jiff::Timestamp::from_second(second).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            timestamp
                .in_tz(zone)
                .expect("a zone in the bundled database")
        })
}

fn any_week() -> impl Strategy<Value = WeeklyReport> {
    (
        (any_date(), any_date(), any_moment()),
        any_name(),
        prop::collection::vec((any_name(), any::<u32>(), any::<u32>()), 0..14),
        any::<[u32; 5]>(),
        prop::collection::vec((any_name(), any::<u32>()), 0..14),
        (
            any::<u32>(),
            any::<u32>(),
            any_minutes(),
            any_minutes(),
            any_minutes(),
        ),
        any::<(u32, u32, u32)>(),
        prop::collection::vec((any_name(), any::<u32>(), any::<u32>()), 0..6),
        any::<Option<u32>>(),
    )
        .prop_map(
            |(
                (period_start, period_end, generated_at),
                school,
                categories,
                by_severity,
                by_group,
                response,
                outcomes,
                circumvention,
                previous,
            )| {
                WeeklyReport {
                    school_name: school,
                    period_start,
                    period_end,
                    generated_at,
                    by_category: categories
                        .into_iter()
                        .map(|(label, count, high_severity)| CategoryCount {
                            category: label.clone(),
                            label,
                            count,
                            high_severity,
                        })
                        .collect(),
                    by_severity,
                    by_group,
                    response: ResponseTimes {
                        triaged: response.0,
                        untriaged: response.1,
                        median_minutes: response.2,
                        p90_minutes: response.3,
                        high_severity_median_minutes: response.4,
                    },
                    outcomes: Outcomes {
                        triaged_to_concern: outcomes.0,
                        false_positive: outcomes.1,
                        no_further_action: outcomes.2,
                    },
                    circumvention,
                    previous_week_total: previous,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn html_is_always_well_formed_and_escaped(week in any_week()) {
        let html = render_html(&week);
        prop_assert!(check_well_formed(&html).is_ok(), "{:?}", check_well_formed(&html));
        prop_assert!(!html.contains("<script"));
        prop_assert!(!html.contains("NaN"));
    }

    #[test]
    fn pdf_always_parses_with_a_correct_xref(week in any_week()) {
        let pdf = render_pdf(&week);
        prop_assert!(check_xref(&pdf).is_ok(), "{:?}", check_xref(&pdf));
        let pages = page_texts(&pdf);
        prop_assert!(pages.is_ok(), "{:?}", pages.err());
        let pages = pages.unwrap_or_default();
        prop_assert!(!pages.is_empty());
        let text: Vec<&String> = pages.iter().flatten().collect();
        let last = format!("Page {0} of {0}", pages.len());
        prop_assert!(text.iter().any(|t| **t == last));
        prop_assert!(!text.iter().any(|t| t.contains("NaN")));
    }
}
