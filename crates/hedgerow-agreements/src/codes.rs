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
        code.push(char::from(DAY_CODE_ALPHABET.get(index).copied().unwrap_or(b'2')));
    }
    code
}

/// The canonical form (`K7QP-M3XR`) of a day code as someone typed it, forgiving lower case,
/// spaces and hyphens (including the dashes phones put in for them) anywhere; `None` when it
/// cannot be a day code, so that the caller can say so without looking anything up.
pub fn normalise_day_code(input: &str) -> Option<String> {
    let mut characters = Vec::with_capacity(DAY_CODE_LENGTH);
    for typed in input.chars() {
        if typed.is_whitespace() || matches!(typed, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}')
        {
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
