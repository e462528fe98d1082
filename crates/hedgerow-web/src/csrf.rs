//! CSRF protection in one place: every state-changing request a browser makes (any method but
//! GET and HEAD, outside the token-authenticated JSON API) must carry this session's CSRF
//! token in its form, or it is refused before any handler runs. Handlers check the token too;
//! this layer is what makes forgetting to impossible.
//!
//! The token is read from url-encoded and multipart form bodies (the two kinds a form without
//! JavaScript sends). The body is read whole, within a limit, and handed on unchanged.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use crate::frame::{CSRF_KEY, same};

/// The largest form accepted: a pasted or uploaded import of up to 5 MB, with room for the
/// form's other fields and multipart framing.
pub(crate) const MAX_FORM_BYTES: usize = 8 * 1024 * 1024;

pub(crate) async fn require_csrf(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD)
        || request.uri().path().starts_with("/api/v1/")
    {
        return next.run(request).await;
    }
    let expected = match request.extensions().get::<Session>() {
        Some(session) => session.get::<String>(CSRF_KEY).await.ok().flatten(),
        None => None,
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is larger than Hedgerow accepts (8 MB). Send a smaller file.",
            )
                .into_response();
        }
    };
    let sent = token_in(&content_type, &bytes);
    match (expected, sent) {
        (Some(expected), Some(sent)) if same(expected.as_bytes(), sent.as_bytes()) => {
            next.run(Request::from_parts(parts, Body::from(bytes))).await
        }
        _ => (
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from Hedgerow. Go back, reload the page and try again.",
        )
            .into_response(),
    }
}

/// The `csrf` field of a form body.
fn token_in(content_type: &str, body: &Bytes) -> Option<String> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-www-form-urlencoded" => form_urlencoded::parse(body)
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.into_owned()),
        "multipart/form-data" => {
            let boundary = content_type.split(';').find_map(|p| {
                let p = p.trim();
                p.strip_prefix("boundary=")
                    .map(|b| b.trim_matches('"').to_string())
            })?;
            multipart_field(body, &boundary, "csrf")
        }
        _ => None,
    }
}

/// A small text field of a multipart body, found by name without reading the other parts'
/// contents (an uploaded file is skipped over, never interpreted).
fn multipart_field(body: &[u8], boundary: &str, name: &str) -> Option<String> {
    let delimiter = format!("--{boundary}");
    let wanted = format!("name=\"{name}\"");
    let mut rest = body;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&rest[..headers_end]).ok()?;
        let content = &rest[headers_end + 4..];
        let is_wanted = headers.lines().any(|line| {
            line.to_ascii_lowercase()
                .starts_with("content-disposition:")
                && line.split(';').any(|p| p.trim() == wanted)
        });
        if is_wanted {
            let end = find(content, format!("\r\n{delimiter}").as_bytes())?;
            return std::str::from_utf8(&content[..end])
                .ok()
                .map(|v| v.trim().to_string());
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_in_either_kind_of_form() {
        let body = Bytes::from_static(b"a=1&csrf=tok%2Den&b=2");
        assert_eq!(
            token_in("application/x-www-form-urlencoded", &body).as_deref(),
            Some("tok-en")
        );
        let multipart = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nname=\"csrf\"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc123\r\n--XyZ--\r\n",
        );
        assert_eq!(
            token_in("multipart/form-data; boundary=XyZ", &multipart).as_deref(),
            Some("abc123"),
            "a file that mentions the field name is not mistaken for it"
        );
        assert_eq!(token_in("text/plain", &body), None);
        assert_eq!(
            token_in(
                "multipart/form-data; boundary=XyZ",
                &Bytes::from_static(b"junk")
            ),
            None
        );
        assert_eq!(
            token_in("multipart/form-data", &multipart),
            None,
            "no boundary, no token"
        );
    }
}
