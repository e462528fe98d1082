//! Properties that must hold for any input: day codes survive however they are retyped,
//! nothing typed into an agreement becomes markup, and renewal dates behave for any day.

use hedgerow_agreements::{
    PICTURES, Renewal, day_code, link_token, looks_like_token, normalise_day_code, render_body,
};
use jiff::civil::Date;
use proptest::prelude::*;

/// Retypes a code the ways people do: any case, and spaces or hyphens anywhere.
fn retyped(code: &str, lower: &[bool], separators: &[u8]) -> String {
    let mut out = String::new();
    for (index, character) in code.chars().filter(|c| *c != '-').enumerate() {
        match separators.get(index).copied().unwrap_or(0) % 4 {
            1 => out.push(' '),
            2 => out.push('-'),
            3 => out.push_str(" - "),
            _ => {}
        }
        if lower.get(index).copied().unwrap_or(false) {
            out.push(character.to_ascii_lowercase());
        } else {
            out.push(character);
        }
    }
    out
}

proptest! {
    #[test]
    fn a_day_code_is_already_canonical(random in any::<[u8; 8]>()) {
        let code = day_code(random);
        prop_assert_eq!(normalise_day_code(&code), Some(code));
    }

    #[test]
    fn a_retyped_day_code_comes_back_the_same(
        random in any::<[u8; 8]>(),
        lower in proptest::collection::vec(any::<bool>(), 8),
        separators in proptest::collection::vec(any::<u8>(), 8),
    ) {
        let code = day_code(random);
        let typed = retyped(&code, &lower, &separators);
        prop_assert_eq!(normalise_day_code(&typed), Some(code));
    }

    #[test]
    fn whatever_is_typed_normalises_to_a_canonical_code_or_nothing(input in ".{0,24}") {
        if let Some(code) = normalise_day_code(&input) {
            prop_assert_eq!(code.len(), 9);
            prop_assert_eq!(normalise_day_code(&code), Some(code.clone()));
        }
    }

    #[test]
    fn every_link_token_looks_like_one(random in any::<[u8; 32]>()) {
        prop_assert!(looks_like_token(&link_token(random)));
    }

    #[test]
    fn rendering_never_lets_a_typed_angle_bracket_through(
        lines in proptest::collection::vec(
            prop_oneof![
                ".{0,40}",
                ".{0,40}".prop_map(|text| format!("## {text}")),
                ".{0,40}".prop_map(|text| format!("- {text}")),
                (0..PICTURES.len(), ".{0,40}").prop_map(|(index, text)| {
                    format!("[picture:{}] {text}", PICTURES.get(index).copied().unwrap_or("star"))
                }),
                (".{0,12}", ".{0,40}").prop_map(|(name, text)| format!("[picture:{name}] {text}")),
                Just(String::new()),
            ],
            0..12,
        )
    ) {
        let body = lines.join("\n");
        let html = render_body(&body);
        // Every tag in the output is one the renderer writes itself (or a picture's own).
        let checked = hedgerow_agreements::fuzzing::check_rendered(&body, &html);
        prop_assert!(checked.is_ok(), "{:?}", checked);
    }

    #[test]
    fn an_acceptance_expires_on_a_renewal_date_after_its_window(
        days_from_2000 in 0i64..20_000,
        month in 1i8..=12,
        day in 1i8..=31,
        window in 0i32..=120,
    ) {
        let Ok(renewal) = Renewal::new(month, day, window) else {
            return Ok(());
        };
        let accepted_on = Date::constant(2000, 1, 1)
            .checked_add(jiff::Span::new().days(days_from_2000))
            .expect("in range");
        let expires_on = renewal.expires_on(accepted_on);
        let threshold = accepted_on
            .checked_add(jiff::Span::new().days(i64::from(window)))
            .expect("in range");
        prop_assert!(expires_on > threshold);
        prop_assert_eq!(expires_on.month(), month);
        let leap_day_moved = month == 2 && day == 29 && expires_on.day() == 28;
        prop_assert!(expires_on.day() == day || leap_day_moved);
        // It is the first such date: a year earlier is not after the threshold.
        let a_year_earlier = accepted_on
            .checked_sub(jiff::Span::new().years(1))
            .expect("in range");
        let year_before = renewal.expires_on(a_year_earlier);
        prop_assert!(year_before <= threshold);
        // Accepting today always lets someone in, and not with a reminder straight away.
        let standing = renewal.standing(Some(accepted_on), true, accepted_on);
        prop_assert_eq!(standing.key(), "current");
    }
}
