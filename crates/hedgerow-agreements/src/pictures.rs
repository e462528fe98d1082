//! The small pictures beside the sentences of the youngest pupils' agreement: hand-drawn
//! inline SVGs (48 by 48), each with a title that screen readers announce, so that a
//! child who cannot read every word yet can still follow along with an adult.

/// The names a `[picture:NAME]` line may use.
pub const PICTURES: &[&str] = &[
    "computer",
    "tell-adult",
    "kind-words",
    "stop",
    "lock",
    "camera",
    "eye",
    "clock",
    "star",
    "home",
];

/// Every picture's opening tag says the same about size and role; only the drawing differs.
macro_rules! picture {
    ($title:literal, $shapes:literal) => {
        concat!(
            "<svg class=\"agreement-picture\" xmlns=\"http://www.w3.org/2000/svg\" ",
            "viewBox=\"0 0 48 48\" width=\"48\" height=\"48\" role=\"img\">",
            "<title>",
            $title,
            "</title>",
            $shapes,
            "</svg>"
        )
    };
}

/// The inline SVG for a picture's name, or `None` for a name that is not in `PICTURES`.
pub(crate) fn picture_svg(name: &str) -> Option<&'static str> {
    Some(match name {
        "computer" => picture!(
            "A computer",
            "<rect x=\"5\" y=\"7\" width=\"38\" height=\"26\" rx=\"3\" fill=\"#37474f\"/>\
             <rect x=\"9\" y=\"11\" width=\"30\" height=\"18\" fill=\"#81d4fa\"/>\
             <rect x=\"21\" y=\"33\" width=\"6\" height=\"5\" fill=\"#37474f\"/>\
             <rect x=\"13\" y=\"38\" width=\"22\" height=\"4\" rx=\"2\" fill=\"#37474f\"/>"
        ),
        "tell-adult" => picture!(
            "A child talking to a grown-up",
            "<circle cx=\"33\" cy=\"11\" r=\"6\" fill=\"#8d6e63\"/>\
             <rect x=\"26\" y=\"19\" width=\"14\" height=\"25\" rx=\"6\" fill=\"#5c6bc0\"/>\
             <circle cx=\"14\" cy=\"26\" r=\"5\" fill=\"#ffcc80\"/>\
             <rect x=\"9\" y=\"32\" width=\"10\" height=\"12\" rx=\"5\" fill=\"#ef5350\"/>\
             <path d=\"M3 4h18v10H11l-4 4v-4H3z\" fill=\"#fff\" stroke=\"#333\" \
             stroke-width=\"1.5\" stroke-linejoin=\"round\"/>"
        ),
        "kind-words" => picture!(
            "A speech bubble with a heart in it",
            "<path d=\"M7 6h34a3 3 0 0 1 3 3v22a3 3 0 0 1-3 3H21l-9 8v-8H7a3 3 0 0 1-3-3V9\
             a3 3 0 0 1 3-3z\" fill=\"#fff\" stroke=\"#333\" stroke-width=\"2\" \
             stroke-linejoin=\"round\"/>\
             <path d=\"M24 29c-6-4-9-7-9-10.5a4.5 4.5 0 0 1 9-1 4.5 4.5 0 0 1 9 1\
             c0 3.5-3 6.5-9 10.5z\" fill=\"#e53935\"/>"
        ),
        "stop" => picture!(
            "A red stop sign",
            "<polygon points=\"16,3 32,3 45,16 45,32 32,45 16,45 3,32 3,16\" \
             fill=\"#d32f2f\" stroke=\"#fff\" stroke-width=\"2\"/>\
             <rect x=\"11\" y=\"21\" width=\"26\" height=\"6\" rx=\"1\" fill=\"#fff\"/>"
        ),
        "lock" => picture!(
            "A padlock",
            "<path d=\"M16 22v-6a8 8 0 0 1 16 0v6\" fill=\"none\" stroke=\"#546e7a\" \
             stroke-width=\"4\"/>\
             <rect x=\"10\" y=\"22\" width=\"28\" height=\"21\" rx=\"3\" fill=\"#fbc02d\"/>\
             <circle cx=\"24\" cy=\"31\" r=\"3\" fill=\"#5d4037\"/>\
             <rect x=\"22.5\" y=\"31\" width=\"3\" height=\"7\" fill=\"#5d4037\"/>"
        ),
        "camera" => picture!(
            "A camera",
            "<rect x=\"15\" y=\"9\" width=\"12\" height=\"7\" rx=\"2\" fill=\"#455a64\"/>\
             <rect x=\"4\" y=\"14\" width=\"40\" height=\"26\" rx=\"4\" fill=\"#455a64\"/>\
             <circle cx=\"24\" cy=\"27\" r=\"9\" fill=\"#cfd8dc\"/>\
             <circle cx=\"24\" cy=\"27\" r=\"5\" fill=\"#263238\"/>\
             <rect x=\"35\" y=\"18\" width=\"5\" height=\"3\" fill=\"#ffeb3b\"/>"
        ),
        "eye" => picture!(
            "An eye, for grown-ups who can see what is done online",
            "<path d=\"M2 24c6-10 14-15 22-15s16 5 22 15c-6 10-14 15-22 15S8 34 2 24z\" \
             fill=\"#fff\" stroke=\"#333\" stroke-width=\"2\"/>\
             <circle cx=\"24\" cy=\"24\" r=\"8\" fill=\"#1e88e5\"/>\
             <circle cx=\"24\" cy=\"24\" r=\"4\" fill=\"#111\"/>"
        ),
        "clock" => picture!(
            "A clock",
            "<circle cx=\"24\" cy=\"24\" r=\"20\" fill=\"#fff\" stroke=\"#333\" \
             stroke-width=\"3\"/>\
             <path d=\"M24 12v12l8 6\" fill=\"none\" stroke=\"#333\" stroke-width=\"3\" \
             stroke-linecap=\"round\"/>"
        ),
        "star" => picture!(
            "A gold star",
            "<polygon points=\"24,5 29.3,18.7 44,19.5 32.6,28.8 36.3,43 24,35 11.7,43 \
             15.4,28.8 4,19.5 18.7,18.7\" fill=\"#fdd835\" stroke=\"#f9a825\" \
             stroke-width=\"2\" stroke-linejoin=\"round\"/>"
        ),
        "home" => picture!(
            "A house",
            "<rect x=\"11\" y=\"23\" width=\"26\" height=\"20\" fill=\"#ffb74d\"/>\
             <rect x=\"21\" y=\"31\" width=\"7\" height=\"12\" fill=\"#6d4c41\"/>\
             <path d=\"M6 25 24 9l18 16\" fill=\"none\" stroke=\"#6d4c41\" stroke-width=\"4\" \
             stroke-linejoin=\"round\" stroke-linecap=\"round\"/>"
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_a_small_titled_drawing() {
        for name in PICTURES {
            let svg = picture_svg(name).unwrap_or_else(|| panic!("no drawing for {name}"));
            assert!(svg.starts_with("<svg "), "{name}");
            assert!(svg.ends_with("</svg>"), "{name}");
            assert!(svg.contains("viewBox=\"0 0 48 48\""), "{name}");
            assert!(svg.contains("role=\"img\"><title>"), "{name}");
            assert_eq!(svg.matches("<svg").count(), 1, "{name}");
            // Nothing that could run or fetch anything.
            for forbidden in ["script", "href", "on", "url("] {
                assert!(
                    !svg.split('<').any(|tag| tag.starts_with(forbidden)),
                    "{name} has {forbidden}"
                );
            }
            assert!(!svg.contains("href") && !svg.contains("url("), "{name}");
        }
    }

    #[test]
    fn names_are_distinct_and_others_have_no_drawing() {
        let names: std::collections::BTreeSet<_> = PICTURES.iter().collect();
        assert_eq!(names.len(), PICTURES.len());
        let titles: std::collections::BTreeSet<_> = PICTURES
            .iter()
            .filter_map(|name| picture_svg(name))
            .filter_map(|svg| svg.split("<title>").nth(1)?.split("</title>").next())
            .collect();
        assert_eq!(titles.len(), PICTURES.len());
        assert_eq!(picture_svg("Computer"), None);
        assert_eq!(picture_svg(""), None);
    }
}
