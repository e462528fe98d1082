//! The secrets people carry: visitors' day codes (read aloud and typed on a phone), parents'
//! link tokens (in a URL), and the QR code that carries a parent's link on a printed letter.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The characters of a day code: digits and capital letters without 0, O, 1, I and L, which
/// are easily mistaken for one another when read from a screen or a slip of paper.
const DAY_CODE_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Characters in a day code, not counting the hyphen in the middle.
const DAY_CODE_LENGTH: usize = 8;

/// A day code such as `K7QP-M3XR` from 8 random bytes: 8 characters (about 40 bits) in two
/// groups of four. The bytes are read as one number and written in base 31, so every
/// character is equally likely to within one part in ten million.
pub fn day_code(random: [u8; 8]) -> String {
    let alphabet_size = DAY_CODE_ALPHABET.len() as u64;
    let mut remaining = u64::from_le_bytes(random);
    let mut code = String::with_capacity(DAY_CODE_LENGTH + 1);
    for position in 0..DAY_CODE_LENGTH {
        if position == DAY_CODE_LENGTH / 2 {
            code.push('-');
        }
        let index = usize::try_from(remaining % alphabet_size).unwrap_or(0);
        remaining /= alphabet_size;
        code.push(char::from(
            DAY_CODE_ALPHABET.get(index).copied().unwrap_or(b'2'),
        ));
    }
    code
}

/// The canonical form (`K7QP-M3XR`) of a day code as someone typed it, forgiving lower case,
/// spaces and hyphens (including the dashes phones put in for them) anywhere; `None` when it
/// cannot be a day code, so that the caller can say so without looking anything up.
pub fn normalise_day_code(input: &str) -> Option<String> {
    let mut characters = Vec::with_capacity(DAY_CODE_LENGTH);
    for typed in input.chars() {
        if typed.is_whitespace() || matches!(typed, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}') {
            continue;
        }
        let upper = typed.to_ascii_uppercase();
        let byte = u8::try_from(upper).ok()?;
        if !DAY_CODE_ALPHABET.contains(&byte) || characters.len() == DAY_CODE_LENGTH {
            return None;
        }
        characters.push(upper);
    }
    if characters.len() != DAY_CODE_LENGTH {
        return None;
    }
    let (first, second) = characters.split_at(DAY_CODE_LENGTH / 2);
    Some(format!(
        "{}-{}",
        first.iter().collect::<String>(),
        second.iter().collect::<String>()
    ))
}

/// A parent's link token from 32 random bytes: base64url without padding, 43 characters,
/// safe in a URL path as it is.
pub fn link_token(random: [u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// Whether `text` could be a token made by `link_token` (so that anything else is turned
/// away before it is hashed and looked up).
pub fn looks_like_token(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        && URL_SAFE_NO_PAD
            .decode(text)
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// Why a QR code could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error(
        "the text is too long for a QR code ({length} bytes): use a shorter portal address in the configuration"
    )]
    TooLong { length: usize },
    #[error("the QR code could not be made: {0}")]
    Other(String),
}

/// A standalone `<svg>` element of a QR code for `text`, for printed letters. It has no XML
/// declaration so it can be placed straight into an HTML page, scales with its container
/// (`viewBox`), and keeps the quiet zone scanners need. Error correction is medium, which
/// survives a creased or slightly smudged letter.
pub fn qr_svg(text: &str) -> Result<String, QrError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|error| match error {
            qrcode::types::QrError::DataTooLong => QrError::TooLong { length: text.len() },
            other => QrError::Other(other.to_string()),
        })?;
    let drawing = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(160, 160)
        .quiet_zone(true)
        .build();
    let element = drawing
        .find("<svg")
        .and_then(|start| drawing.get(start..))
        .ok_or_else(|| QrError::Other("the drawing had no <svg> element".to_string()))?;
    Ok(element.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_code_is_two_groups_of_four_from_the_alphabet() {
        for random in [[0u8; 8], [255; 8], [1, 2, 3, 4, 5, 6, 7, 8]] {
            let code = day_code(random);
            assert_eq!(code.len(), 9, "{code}");
            assert_eq!(code.as_bytes().get(4), Some(&b'-'), "{code}");
            assert!(
                code.bytes()
                    .filter(|byte| *byte != b'-')
                    .all(|byte| DAY_CODE_ALPHABET.contains(&byte)),
                "{code}"
            );
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
        }
        // Zero is the first character eight times over; other bytes give other codes.
        assert_eq!(day_code([0; 8]), "2222-2222");
        assert_ne!(
            day_code([1, 0, 0, 0, 0, 0, 0, 0]),
            day_code([2, 0, 0, 0, 0, 0, 0, 0])
        );
        assert_ne!(day_code([0, 0, 0, 0, 0, 0, 0, 1]), day_code([0; 8]));
    }

    #[test]
    fn typed_codes_are_forgiven_case_spaces_and_dashes() {
        let canonical = Some("K7QP-M3XR".to_string());
        for typed in [
            "K7QP-M3XR",
            "k7qp-m3xr",
            "k7qpm3xr",
            " K7QP M3XR ",
            "K7-QP-M3-XR",
            "K7QP\u{2013}M3XR",
            "k 7 q p m 3 x r",
        ] {
            assert_eq!(normalise_day_code(typed), canonical, "{typed:?}");
        }
    }

    #[test]
    fn anything_that_cannot_be_a_code_is_refused() {
        for typed in [
            "",
            "----",
            "K7QP-M3X",
            "K7QP-M3XRA",
            "K7QP-M3X0",
            "K7QP-M3XO",
            "K7QP-M3X1",
            "K7QP-M3XI",
            "K7QP-M3XL",
            "K7QP_M3XR",
            "K7QP-M3XÉ",
            "K7QP-M3X\u{0130}",
        ] {
            assert_eq!(normalise_day_code(typed), None, "{typed:?}");
        }
    }

    #[test]
    fn link_tokens_are_43_url_safe_characters() {
        let token = link_token([0xfb; 32]);
        assert_eq!(token.len(), 43);
        assert!(token.contains('_') || token.contains('-'), "{token}");
        assert!(!token.contains(['+', '/', '=']), "{token}");
        assert!(looks_like_token(&token));
        assert_ne!(link_token([1; 32]), link_token([2; 32]));
    }

    #[test]
    fn only_tokens_look_like_tokens() {
        let token = link_token([7; 32]);
        assert!(!looks_like_token(""));
        assert!(!looks_like_token(&token[..42]));
        assert!(!looks_like_token(&format!("{token}A")));
        assert!(!looks_like_token(&format!("{}=", &token[..42])));
        assert!(!looks_like_token(&"+".repeat(43)));
        assert!(!looks_like_token(&format!("{}.", &token[..42])));
        // 43 characters carry 258 bits; a last character with the spare bits set is not
        // something link_token makes.
        assert!(!looks_like_token(&format!("{}B", &token[..42])));
        assert!(!looks_like_token(
            "../../../../../../../../../../etc/passwd/.."
        ));
    }

    #[test]
    fn the_hash_is_the_records_crate_sha256() {
        assert_eq!(
            crate::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// The dark modules of a drawing, read back from the path the renderer writes
    /// ("M{x} {y}h{size}v{size}..." for each dark module), as (column, row) pairs.
    fn dark_modules(svg: &str) -> std::collections::BTreeSet<(u32, u32)> {
        let path = svg
            .split("d=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a path");
        let module_size: u32 = path
            .split('h')
            .nth(1)
            .and_then(|rest| rest.split('v').next())
            .and_then(|size| size.parse().ok())
            .expect("a module size");
        let quiet_zone = 4 * module_size;
        path.split('M')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let corner = part.split('h').next().expect("a corner");
                let (x, y) = corner.split_once(' ').expect("two numbers");
                let x: u32 = x.parse().expect("x");
                let y: u32 = y.parse().expect("y");
                (
                    (x - quiet_zone) / module_size,
                    (y - quiet_zone) / module_size,
                )
            })
            .collect()
    }

    #[test]
    fn the_qr_drawing_carries_the_text() {
        let link =
            "https://portal.school.example/parent/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let svg = qr_svg(link).expect("a short link fits");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<?xml"));
        assert!(svg.contains("viewBox"));
        let code = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
            .expect("encodes");
        let width = u32::try_from(code.width()).expect("small");
        let expected: std::collections::BTreeSet<(u32, u32)> = code
            .to_colors()
            .into_iter()
            .enumerate()
            .filter(|(_, colour)| *colour == qrcode::Color::Dark)
            .map(|(index, _)| {
                let index = u32::try_from(index).expect("small");
                (index % width, index / width)
            })
            .collect();
        assert_eq!(dark_modules(&svg), expected);
        assert_ne!(qr_svg("https://other.example/").expect("fits"), svg);
    }

    #[test]
    fn text_too_long_for_a_qr_code_is_refused_with_a_reason() {
        let too_long = "x".repeat(5_000);
        let error = qr_svg(&too_long).expect_err("too long");
        assert_eq!(error, QrError::TooLong { length: 5_000 });
        assert!(error.to_string().contains("too long"));
    }
}
