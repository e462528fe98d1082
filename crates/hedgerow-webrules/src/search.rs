//! Search engines: recognising a search request, reading its term and kind, and forcing the
//! engine's own strict safe-search setting.
//!
//! Recognition is by host and path, deliberately narrow: only the endpoints that return
//! results are searches, so a term is never read from, say, a Google Maps URL. Paths are
//! compared percent-decoded and without regard to ASCII case, and query keys likewise, so
//! `/S%65arch?SAFE=off` cannot slip past a rule that `/search?safe=off` would meet.
//!
//! Safe search is forced per engine with the parameter each one documents:
//!
//! | Engine     | Forced                 | Notes                                                  |
//! |------------|------------------------|--------------------------------------------------------|
//! | Google     | `safe=active`          | any other `safe=` is removed                           |
//! | Bing       | `adlt=strict`          |                                                        |
//! | DuckDuckGo | `kp=1`                 | DNS `safe.duckduckgo.com` is stronger where available  |
//! | Yahoo      | `vm=r`                 |                                                        |
//! | Ecosia     | cannot                 | a cookie setting, not a parameter: [`SafeSearchOutcome::CannotEnforce`] |
//! | YouTube    | by header              | send [`YOUTUBE_RESTRICT_HEADER`]; searches are [`SafeSearchOutcome::AlreadySafe`] |

use std::borrow::Cow;
use std::fmt;

use crate::url::{self, Part};

/// The longest term kept, in characters. Real searches are far shorter (Google itself stops
/// at about 2,000 bytes); the cap keeps hostile URLs from filling logs.
pub const MAX_TERM_CHARS: usize = 512;

/// The header (with value `Strict` or `Moderate`) that makes YouTube restrict what it shows,
/// on every host [`is_youtube_host`] accepts. Google documents it for network-level
/// enforcement; YouTube has no query parameter that does the same.
pub const YOUTUBE_RESTRICT_HEADER: &str = "YouTube-Restrict";

/// A search engine Hedgerow recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SearchEngine {
    Google,
    Bing,
    DuckDuckGo,
    Yahoo,
    Ecosia,
    YouTube,
}

impl SearchEngine {
    pub const ALL: [SearchEngine; 6] = [
        SearchEngine::Google,
        SearchEngine::Bing,
        SearchEngine::DuckDuckGo,
        SearchEngine::Yahoo,
        SearchEngine::Ecosia,
        SearchEngine::YouTube,
    ];

    /// The engine's name as people write it, for reports.
    pub fn name(self) -> &'static str {
        match self {
            SearchEngine::Google => "Google",
            SearchEngine::Bing => "Bing",
            SearchEngine::DuckDuckGo => "DuckDuckGo",
            SearchEngine::Yahoo => "Yahoo",
            SearchEngine::Ecosia => "Ecosia",
            SearchEngine::YouTube => "YouTube",
        }
    }

    /// A stable lower-case key, for configuration and stored events.
    pub fn key(self) -> &'static str {
        match self {
            SearchEngine::Google => "google",
            SearchEngine::Bing => "bing",
            SearchEngine::DuckDuckGo => "duckduckgo",
            SearchEngine::Yahoo => "yahoo",
            SearchEngine::Ecosia => "ecosia",
            SearchEngine::YouTube => "youtube",
        }
    }
}

impl fmt::Display for SearchEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a search looks for. Image search matters most to schools: it shows pictures before
/// anyone clicks anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SearchKind {
    Web,
    Images,
    Videos,
    News,
    /// A vertical Hedgerow does not name (shopping, books, maps within search, ...).
    Other,
}

impl SearchKind {
    /// A stable lower-case key, for configuration and stored events.
    pub fn key(self) -> &'static str {
        match self {
            SearchKind::Web => "web",
            SearchKind::Images => "images",
            SearchKind::Videos => "videos",
            SearchKind::News => "news",
            SearchKind::Other => "other",
        }
    }
}

impl fmt::Display for SearchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A recognised search and what was searched for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    pub engine: SearchEngine,
    pub kind: SearchKind,
    /// Decoded, with whitespace and control characters collapsed to single spaces, trimmed,
    /// at most [`MAX_TERM_CHARS`] characters, never empty. When the term parameter appears
    /// more than once, the distinct values are joined with a space: engines differ in which
    /// one they use, and a filter must see every one.
    pub term: String,
}

/// What [`force_safe_search`] decided about a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SafeSearchOutcome {
    /// Not a search endpoint: forward unchanged.
    NotASearch,
    /// A search that is already strict, or whose strictness is enforced another way (YouTube,
    /// by [`YOUTUBE_RESTRICT_HEADER`]): forward unchanged.
    AlreadySafe,
    /// Forward with this path and query instead. It keeps every other parameter in its
    /// order, is a valid origin-form request target, and is [`AlreadySafe`] if checked
    /// again.
    ///
    /// [`AlreadySafe`]: SafeSearchOutcome::AlreadySafe
    Rewritten(String),
    /// A search whose engine offers no parameter to force (Ecosia keeps the setting in a
    /// cookie). The caller decides: block it, or rely on DNS-level enforcement and the
    /// image-search rule.
    CannotEnforce,
}

/// Recognises a search request and reads its engine, kind and term.
///
/// `host` is the request's host, lower-case and without a port; `path_and_query` is the
/// origin-form target (`/search?q=...`). Returns `None` for anything that is not a search
/// with a non-empty term.
pub fn extract_search(host: &str, path_and_query: &str) -> Option<SearchQuery> {
    let (path, query) = url::split_path_query(path_and_query);
    let endpoint = endpoint(host, path, query)?;
    let term = search_term(query.unwrap_or_default(), endpoint.term_param);
    if term.is_empty() {
        return None;
    }
    Some(SearchQuery {
        engine: endpoint.engine,
        kind: endpoint.kind,
        term,
    })
}

/// Whether the request is an image search, term or not: an image search page with no term
/// still shows pictures (Bing's opens on a feed of trending images).
pub fn is_image_search(host: &str, path_and_query: &str) -> bool {
    let (path, query) = url::split_path_query(path_and_query);
    endpoint(host, path, query).is_some_and(|endpoint| endpoint.kind == SearchKind::Images)
}

/// Forces the engine's strict safe-search setting on a search request.
///
/// Every search endpoint is rewritten, with or without a term, because a results page with
/// no term can still show results. The forced parameter takes the place of the first
/// parameter of the same name (compared decoded and case-insensitively) or goes at the end,
/// and every other copy is removed. Other parameters keep their order and meaning; bytes that
/// may not appear in a request target are percent-encoded, and a fragment is dropped.
///
/// Only the URL is looked at: a search sent as a form body (DuckDuckGo's HTML version can
/// POST) is rewritten through its URL, which DuckDuckGo also reads.
pub fn force_safe_search(host: &str, path_and_query: &str) -> SafeSearchOutcome {
    let (path, query) = url::split_path_query(path_and_query);
    let Some(endpoint) = endpoint(host, path, query) else {
        return SafeSearchOutcome::NotASearch;
    };
    let (name, value) = match endpoint.engine {
        SearchEngine::Google => ("safe", "active"),
        SearchEngine::Bing => ("adlt", "strict"),
        SearchEngine::DuckDuckGo => ("kp", "1"),
        SearchEngine::Yahoo => ("vm", "r"),
        SearchEngine::Ecosia => return SafeSearchOutcome::CannotEnforce,
        SearchEngine::YouTube => return SafeSearchOutcome::AlreadySafe,
    };
    force_parameter(path, query.unwrap_or_default(), name, value)
}

/// Whether `host` is one on which YouTube honours [`YOUTUBE_RESTRICT_HEADER`].
pub fn is_youtube_host(host: &str) -> bool {
    matches!(
        &*normal_host(host),
        "youtube.com"
            | "www.youtube.com"
            | "m.youtube.com"
            | "youtubei.googleapis.com"
            | "youtube.googleapis.com"
            | "www.youtube-nocookie.com"
    )
}

/// A search endpoint: where the term is, and what kind of search it is.
struct Endpoint {
    engine: SearchEngine,
    kind: SearchKind,
    term_param: &'static str,
}

/// Recognises a search endpoint from host and path, reading the query only where the kind
/// depends on it or where a path is a search only when it carries a term parameter.
fn endpoint(host: &str, path: &str, query: Option<&str>) -> Option<Endpoint> {
    // Only origin-form targets: `%2Fsearch` decodes to a search path but is not one.
    if !path.starts_with('/') {
        return None;
    }
    let host = normal_host(host);
    let path = url::decode_path(path).to_ascii_lowercase();
    let query = query.unwrap_or_default();
    let has = |name: &str| url::query_pairs(query).any(|(key, _)| url::key_matches(key, name));
    let found = |engine, kind, term_param| {
        Some(Endpoint {
            engine,
            kind,
            term_param,
        })
    };

    if let Some(prefix) = google_prefix(&host) {
        let base = match prefix {
            "images" => SearchKind::Images,
            "news" => SearchKind::News,
            _ => SearchKind::Web,
        };
        return match path.as_str() {
            "/search" => found(SearchEngine::Google, google_kind(base, query), "q"),
            "/images" => found(SearchEngine::Google, SearchKind::Images, "q"),
            "/webhp" if has("q") => found(SearchEngine::Google, google_kind(base, query), "q"),
            _ => None,
        };
    }
    if let Some(prefix) = host.strip_suffix("bing.com")
        && matches!(prefix, "" | "www." | "cn.")
    {
        let kind = if path == "/search" {
            SearchKind::Web
        } else if path == "/images" || path.starts_with("/images/") {
            SearchKind::Images
        } else if path == "/videos" || path.starts_with("/videos/") {
            SearchKind::Videos
        } else if path == "/news" || path.starts_with("/news/") {
            SearchKind::News
        } else {
            return None;
        };
        return found(SearchEngine::Bing, kind, "q");
    }
    if let Some(prefix) = host.strip_suffix("duckduckgo.com")
        && matches!(
            prefix,
            "" | "www." | "html." | "lite." | "start." | "links." | "safe." | "noai."
        )
    {
        let kind = match path.as_str() {
            "/" if has("q") => duckduckgo_kind(query),
            "/html" | "/html/" | "/lite" | "/lite/" => duckduckgo_kind(query),
            // The results themselves arrive through these script endpoints.
            "/d.js" => SearchKind::Web,
            "/i.js" => SearchKind::Images,
            "/v.js" => SearchKind::Videos,
            "/news.js" => SearchKind::News,
            _ => return None,
        };
        return found(SearchEngine::DuckDuckGo, kind, "q");
    }
    if let Some(labels) = yahoo_labels(&host) {
        // Yahoo puts tracking in path parameters: `/search;_ylt=...`.
        let rest = path.strip_prefix("/search")?;
        if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with(';')) {
            return None;
        }
        let vertical = rest.strip_prefix('/').unwrap_or_default();
        let names =
            |word: &str| labels.split('.').any(|label| label == word) || vertical.starts_with(word);
        let kind = if names("images") {
            SearchKind::Images
        } else if names("video") {
            SearchKind::Videos
        } else if names("news") {
            SearchKind::News
        } else {
            SearchKind::Web
        };
        return found(SearchEngine::Yahoo, kind, "p");
    }
    if matches!(&*host, "ecosia.org" | "www.ecosia.org") {
        let kind = match path.as_str() {
            "/search" => SearchKind::Web,
            "/images" => SearchKind::Images,
            "/videos" => SearchKind::Videos,
            "/news" => SearchKind::News,
            _ => return None,
        };
        return found(SearchEngine::Ecosia, kind, "q");
    }
    if matches!(&*host, "youtube.com" | "www.youtube.com" | "m.youtube.com")
        && matches!(path.as_str(), "/results" | "/results/")
    {
        return found(SearchEngine::YouTube, SearchKind::Videos, "search_query");
    }
    None
}

/// The host in one spelling: ASCII lower-case, without a trailing dot. The caller normally
/// does this already; doing it again costs nothing when it has.
fn normal_host(host: &str) -> Cow<'_, str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// For a Google search host, the label before `google` (`""` for none).
///
/// Google answers on `google.com`, on a two-letter country domain (`google.de`), on
/// `google.co.XX` and `google.com.XX`, and on `google.cat`. Only the subdomains that serve
/// search count; `maps.` or `mail.` do not.
fn google_prefix(host: &str) -> Option<&str> {
    let (prefix, rest) = match host.strip_prefix("google.") {
        Some(rest) => ("", rest),
        None => {
            let (prefix, rest) = host.split_once('.')?;
            (prefix, rest.strip_prefix("google.")?)
        }
    };
    if !matches!(prefix, "" | "www" | "m" | "images" | "news" | "encrypted") {
        return None;
    }
    let country = |code: &str| code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase());
    let suffix_ok = match rest {
        "com" | "cat" => true,
        _ => match rest.split_once('.') {
            Some(("co" | "com", code)) => country(code),
            Some(_) => false,
            None => country(rest),
        },
    };
    suffix_ok.then_some(prefix)
}

/// For a Yahoo search host (`search.yahoo.com`, `uk.search.yahoo.com`,
/// `uk.images.search.yahoo.com`), the labels before `search` (`""` for none).
fn yahoo_labels(host: &str) -> Option<&str> {
    if host == "search.yahoo.com" {
        return Some("");
    }
    let labels = host.strip_suffix(".search.yahoo.com")?;
    let mut count = 0;
    for label in labels.split('.') {
        count += 1;
        if count > 2
            || label.is_empty()
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
    }
    Some(labels)
}

/// Google's vertical, from `tbm` (the classic parameter) and `udm` (the newer one). Images
/// wins over anything else, so a request that names two verticals meets the image rule.
fn google_kind(base: SearchKind, query: &str) -> SearchKind {
    let mut kinds = Vec::new();
    for (key, value) in url::query_pairs(query) {
        let value = url::decode_query_value(value);
        let value = value.trim();
        if url::key_matches(key, "tbm") {
            kinds.push(match value.to_ascii_lowercase().as_str() {
                "" => SearchKind::Web,
                "isch" => SearchKind::Images,
                "vid" => SearchKind::Videos,
                "nws" => SearchKind::News,
                _ => SearchKind::Other,
            });
        } else if url::key_matches(key, "udm") {
            kinds.push(match value {
                // 14 is the plain "Web" results filter.
                "" | "14" => SearchKind::Web,
                "2" => SearchKind::Images,
                "7" => SearchKind::Videos,
                _ => SearchKind::Other,
            });
        }
    }
    strongest(base, &kinds)
}

fn duckduckgo_kind(query: &str) -> SearchKind {
    let mut kinds = Vec::new();
    for (key, value) in url::query_pairs(query) {
        if ["ia", "iax", "iar"]
            .iter()
            .any(|name| url::key_matches(key, name))
        {
            let value = url::decode_query_value(value);
            kinds.push(match value.trim().to_ascii_lowercase().as_str() {
                "images" => SearchKind::Images,
                "videos" => SearchKind::Videos,
                "news" => SearchKind::News,
                _ => SearchKind::Web,
            });
        }
    }
    strongest(SearchKind::Web, &kinds)
}

/// Images first (the rule schools care most about), then the other named verticals, then
/// anything unnamed, then plain web.
fn strongest(base: SearchKind, kinds: &[SearchKind]) -> SearchKind {
    let rank = |kind: SearchKind| match kind {
        SearchKind::Images => 4,
        SearchKind::Videos => 3,
        SearchKind::News => 2,
        SearchKind::Other => 1,
        SearchKind::Web => 0,
    };
    kinds
        .iter()
        .copied()
        .chain([base])
        .max_by_key(|&kind| rank(kind))
        .unwrap_or(base)
}

fn search_term(query: &str, name: &str) -> String {
    let mut values: Vec<String> = Vec::new();
    let mut chars = 0;
    for value in url::query_values(query, name) {
        let mut normal = String::new();
        let words = value
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|word| !word.is_empty());
        for word in words {
            if !normal.is_empty() {
                normal.push(' ');
            }
            normal.push_str(word);
        }
        if normal.is_empty() || values.contains(&normal) {
            continue;
        }
        chars += normal.chars().count() + usize::from(!values.is_empty());
        values.push(normal);
        if chars >= MAX_TERM_CHARS {
            break;
        }
    }
    let joined = values.join(" ");
    match joined.char_indices().nth(MAX_TERM_CHARS) {
        // Cutting may leave a space at the end.
        Some((cut, _)) => joined.get(..cut).unwrap_or_default().trim_end().to_owned(),
        None => joined,
    }
}

fn key_of(piece: &str) -> &str {
    piece.split_once('=').map_or(piece, |(key, _)| key)
}

fn force_parameter(path: &str, query: &str, name: &str, value: &str) -> SafeSearchOutcome {
    let pieces = || query.split('&').filter(|piece| !piece.is_empty());
    let forced = format!("{name}={value}");
    let mut copies = pieces().filter(|piece| url::key_matches(key_of(piece), name));
    if let (Some(only), None) = (copies.next(), copies.next())
        && only == forced
    {
        return SafeSearchOutcome::AlreadySafe;
    }

    let mut out = String::with_capacity(path.len() + query.len() + forced.len() + 2);
    url::push_valid(&mut out, path, Part::Path);
    out.push('?');
    let mut placed = false;
    let mut first = true;
    for piece in pieces() {
        let is_forced = url::key_matches(key_of(piece), name);
        if is_forced && placed {
            continue;
        }
        if !first {
            out.push('&');
        }
        first = false;
        if is_forced {
            out.push_str(&forced);
            placed = true;
        } else {
            url::push_valid(&mut out, piece, Part::Query);
        }
    }
    if !placed {
        if !first {
            out.push('&');
        }
        out.push_str(&forced);
    }
    SafeSearchOutcome::Rewritten(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(host: &str, target: &str) -> Option<(SearchEngine, SearchKind, String)> {
        extract_search(host, target).map(|q| (q.engine, q.kind, q.term))
    }

    fn found(
        engine: SearchEngine,
        kind: SearchKind,
        term: &str,
    ) -> Option<(SearchEngine, SearchKind, String)> {
        Some((engine, kind, term.to_owned()))
    }

    use SearchEngine::*;
    use SearchKind::*;

    #[test]
    fn google_on_its_country_domains() {
        let target = "/search?q=volcano+facts&sca_esv=1&source=hp&ei=abc";
        for host in [
            "www.google.com",
            "google.com",
            "www.google.co.uk",
            "www.google.com.au",
            "www.google.de",
            "google.fr",
            "www.google.cat",
            "encrypted.google.com",
            "WWW.Google.COM.",
        ] {
            assert_eq!(
                search(host, target),
                found(Google, Web, "volcano facts"),
                "{host}"
            );
        }
        for host in [
            "maps.google.com",
            "google.evil.com",
            "google.com.evil.com",
            "notgoogle.com",
            "a.b.google.com",
            "www.google.co.uk.example",
            "www.google.museum",
        ] {
            assert_eq!(search(host, "/search?q=x"), None, "{host}");
        }
    }

    #[test]
    fn google_kinds() {
        let host = "www.google.co.uk";
        assert_eq!(
            search(host, "/search?q=cats&tbm=isch&sa=X"),
            found(Google, Images, "cats")
        );
        assert_eq!(
            search(host, "/search?q=cats&udm=2"),
            found(Google, Images, "cats")
        );
        assert_eq!(
            search(host, "/search?q=cats&tbm=vid"),
            found(Google, Videos, "cats")
        );
        assert_eq!(
            search(host, "/search?q=cats&tbm=nws"),
            found(Google, News, "cats")
        );
        assert_eq!(
            search(host, "/search?q=cats&tbm=shop"),
            found(Google, Other, "cats")
        );
        assert_eq!(
            search(host, "/search?q=cats&udm=14"),
            found(Google, Web, "cats")
        );
        assert_eq!(
            search(host, "/search?q=cats&tbm=nws&udm=2"),
            found(Google, Images, "cats")
        );
        assert_eq!(
            search(host, "/images?q=cats"),
            found(Google, Images, "cats")
        );
        assert_eq!(
            search("images.google.com", "/search?q=cats"),
            found(Google, Images, "cats")
        );
        assert_eq!(
            search(host, "/webhp?hl=en&q=cats"),
            found(Google, Web, "cats")
        );
        assert_eq!(search(host, "/webhp?hl=en"), None);
        assert_eq!(search(host, "/maps?q=cats"), None);
        assert_eq!(search(host, "/search?tbm=isch"), None);
        assert!(is_image_search(host, "/search?tbm=isch"));
        assert!(is_image_search(host, "/search?q=a&TBM=ISCH"));
        assert!(!is_image_search(host, "/search?q=a"));
    }

    #[test]
    fn terms_are_decoded_and_tidied() {
        let host = "www.google.com";
        assert_eq!(
            search(host, "/search?q=%20%20caf%C3%A9++au%09lait%0A")
                .unwrap()
                .2,
            "café au lait"
        );
        assert_eq!(search(host, "/search?q=%FFbad").unwrap().2, "\u{FFFD}bad");
        assert_eq!(search(host, "/search?q=100%+sure").unwrap().2, "100% sure");
        assert_eq!(search(host, "/search?q=a%00b").unwrap().2, "a b");
        assert_eq!(search(host, "/search?q=++&hl=en"), None);
        assert_eq!(search(host, "/search?q="), None);
        assert_eq!(
            search(host, "/search?q=cats&q=guns&q=cats").unwrap().2,
            "cats guns"
        );
        assert_eq!(search(host, "/search?q=&q=guns").unwrap().2, "guns");
        assert_eq!(search(host, "/search?Q=guns").unwrap().2, "guns");
        assert_eq!(search(host, "/search?q=a#q=b").unwrap().2, "a");

        let long = "é".repeat(600);
        let term = search(host, &format!("/search?q={long}")).unwrap().2;
        assert_eq!(term.chars().count(), MAX_TERM_CHARS);
        let spaced = "ab ".repeat(400);
        let term = search(host, &format!("/search?q={spaced}")).unwrap().2;
        assert!(term.chars().count() <= MAX_TERM_CHARS && !term.ends_with(' '));
    }

    #[test]
    fn paths_compare_decoded_and_case_insensitively() {
        assert_eq!(
            search("www.google.com", "/s%65arch?q=x"),
            found(Google, Web, "x")
        );
        assert_eq!(search("www.bing.com", "/SEARCH?Q=x"), found(Bing, Web, "x"));
    }

    #[test]
    fn bing() {
        let host = "www.bing.com";
        assert_eq!(
            search(host, "/search?q=rainforest+animals&form=QBLH&sp=-1"),
            found(Bing, Web, "rainforest animals")
        );
        assert_eq!(
            search(host, "/images/search?q=otters&form=HDRSC2&first=1"),
            found(Bing, Images, "otters")
        );
        assert_eq!(
            search(host, "/images/async?q=otters&first=36"),
            found(Bing, Images, "otters")
        );
        assert_eq!(
            search(host, "/videos/search?q=otters"),
            found(Bing, Videos, "otters")
        );
        assert_eq!(
            search(host, "/news/search?q=otters"),
            found(Bing, News, "otters")
        );
        assert_eq!(search("bing.com", "/search?q=x"), found(Bing, Web, "x"));
        assert_eq!(search("cn.bing.com", "/search?q=x"), found(Bing, Web, "x"));
        assert_eq!(search("www.bing.com", "/maps?q=x"), None);
        assert_eq!(search("evilbing.com", "/search?q=x"), None);
        assert!(is_image_search(host, "/images/search"));
    }

    #[test]
    fn duckduckgo() {
        assert_eq!(
            search("duckduckgo.com", "/?q=river+otters&t=h_&ia=web"),
            found(DuckDuckGo, Web, "river otters")
        );
        assert_eq!(
            search("duckduckgo.com", "/?q=otters&t=h_&iax=images&ia=images"),
            found(DuckDuckGo, Images, "otters")
        );
        assert_eq!(
            search("duckduckgo.com", "/?q=otters&ia=videos"),
            found(DuckDuckGo, Videos, "otters")
        );
        assert_eq!(
            search("duckduckgo.com", "/?q=otters&iar=news"),
            found(DuckDuckGo, News, "otters")
        );
        assert_eq!(
            search("html.duckduckgo.com", "/html/?q=otters"),
            found(DuckDuckGo, Web, "otters")
        );
        assert_eq!(
            search("lite.duckduckgo.com", "/lite?q=otters"),
            found(DuckDuckGo, Web, "otters")
        );
        assert_eq!(
            search(
                "duckduckgo.com",
                "/i.js?l=uk-en&o=json&q=otters&vqd=4-1&f=,,,"
            ),
            found(DuckDuckGo, Images, "otters")
        );
        assert_eq!(
            search("links.duckduckgo.com", "/d.js?q=otters&l=uk-en"),
            found(DuckDuckGo, Web, "otters")
        );
        assert_eq!(search("duckduckgo.com", "/about"), None);
        assert_eq!(search("duckduckgo.com", "/"), None);
        assert_eq!(
            force_safe_search("duckduckgo.com", "/"),
            SafeSearchOutcome::NotASearch
        );
    }

    #[test]
    fn yahoo() {
        assert_eq!(
            search("search.yahoo.com", "/search?p=tudor+houses&fr=yfp-t"),
            found(Yahoo, Web, "tudor houses")
        );
        assert_eq!(
            search(
                "uk.search.yahoo.com",
                "/search;_ylt=AwrE;_ylc=X1MD?p=tudors&fr=sfp"
            ),
            found(Yahoo, Web, "tudors")
        );
        assert_eq!(
            search("images.search.yahoo.com", "/search/images?p=tudors"),
            found(Yahoo, Images, "tudors")
        );
        assert_eq!(
            search(
                "uk.images.search.yahoo.com",
                "/search/images;_ylt=A?p=tudors"
            ),
            found(Yahoo, Images, "tudors")
        );
        assert_eq!(
            search("video.search.yahoo.com", "/search/video?p=tudors"),
            found(Yahoo, Videos, "tudors")
        );
        assert_eq!(
            search("search.yahoo.com", "/search/images?p=tudors"),
            found(Yahoo, Images, "tudors")
        );
        assert_eq!(search("search.yahoo.com", "/searching?p=x"), None);
        assert_eq!(search("a.b.c.search.yahoo.com", "/search?p=x"), None);
        assert_eq!(search("search.yahoo.com", "/search?q=x"), None);
    }

    #[test]
    fn ecosia_and_youtube() {
        assert_eq!(
            search("www.ecosia.org", "/search?method=index&q=bees"),
            found(Ecosia, Web, "bees")
        );
        assert_eq!(
            search("www.ecosia.org", "/images?q=bees"),
            found(Ecosia, Images, "bees")
        );
        assert_eq!(
            search("ecosia.org", "/videos?q=bees"),
            found(Ecosia, Videos, "bees")
        );
        assert_eq!(
            search("www.youtube.com", "/results?search_query=bee+dance"),
            found(YouTube, Videos, "bee dance")
        );
        assert_eq!(
            search(
                "m.youtube.com",
                "/results?search_query=bees&sp=EgIQAQ%253D%253D"
            ),
            found(YouTube, Videos, "bees")
        );
        assert_eq!(search("www.youtube.com", "/watch?v=abc"), None);
        assert_eq!(
            force_safe_search("www.ecosia.org", "/search?q=bees"),
            SafeSearchOutcome::CannotEnforce
        );
        assert_eq!(
            force_safe_search("www.youtube.com", "/results?search_query=bees"),
            SafeSearchOutcome::AlreadySafe
        );
        assert_eq!(
            force_safe_search("www.youtube.com", "/watch?v=abc"),
            SafeSearchOutcome::NotASearch
        );
    }

    #[test]
    fn youtube_hosts() {
        for host in [
            "youtube.com",
            "www.youtube.com",
            "m.youtube.com",
            "youtubei.googleapis.com",
            "youtube.googleapis.com",
            "www.youtube-nocookie.com",
            "WWW.YOUTUBE.COM.",
        ] {
            assert!(is_youtube_host(host), "{host}");
        }
        for host in [
            "music.youtube.com",
            "youtube.com.evil",
            "googleapis.com",
            "",
        ] {
            assert!(!is_youtube_host(host), "{host}");
        }
    }

    fn rewritten(host: &str, target: &str) -> String {
        match force_safe_search(host, target) {
            SafeSearchOutcome::Rewritten(out) => out,
            other => panic!("{host}{target}: {other:?}"),
        }
    }

    #[test]
    fn forces_each_engines_parameter() {
        assert_eq!(
            rewritten("www.google.com", "/search?q=cats&hl=en"),
            "/search?q=cats&hl=en&safe=active"
        );
        assert_eq!(
            rewritten("www.google.com", "/search?q=cats&safe=off&hl=en"),
            "/search?q=cats&safe=active&hl=en"
        );
        assert_eq!(
            rewritten(
                "www.google.com",
                "/search?safe=images&q=cats&SAFE=off&s%61fe=off"
            ),
            "/search?safe=active&q=cats"
        );
        assert_eq!(
            rewritten("www.google.com", "/search?q=a&safe=active&safe=off"),
            "/search?q=a&safe=active"
        );
        assert_eq!(
            rewritten("www.google.com", "/search"),
            "/search?safe=active"
        );
        assert_eq!(
            rewritten("www.google.com", "/search?"),
            "/search?safe=active"
        );
        assert_eq!(
            rewritten("www.google.com", "/search?q=a&&b=1#frag"),
            "/search?q=a&b=1&safe=active"
        );
        assert_eq!(
            rewritten("www.bing.com", "/images/search?q=otters&adlt=off"),
            "/images/search?q=otters&adlt=strict"
        );
        assert_eq!(
            rewritten("duckduckgo.com", "/?q=otters&kp=-2&ia=web"),
            "/?q=otters&kp=1&ia=web"
        );
        assert_eq!(rewritten("html.duckduckgo.com", "/html/"), "/html/?kp=1");
        assert_eq!(
            rewritten("search.yahoo.com", "/search;_ylt=A?p=x&vm=p"),
            "/search;_ylt=A?p=x&vm=r"
        );
        assert_eq!(
            force_safe_search("www.google.com", "/search?q=cats&safe=active"),
            SafeSearchOutcome::AlreadySafe
        );
        assert_eq!(
            force_safe_search("www.google.com", "/maps?q=cats"),
            SafeSearchOutcome::NotASearch
        );
        assert_eq!(
            force_safe_search("www.google.com", "/webhp"),
            SafeSearchOutcome::NotASearch
        );
    }

    #[test]
    fn rewriting_makes_sloppy_targets_valid() {
        assert_eq!(
            rewritten("www.google.com", "/search?q=a b\"c|%zz&x=é"),
            "/search?q=a%20b%22c%7C%25zz&x=%C3%A9&safe=active"
        );
        let out = rewritten("www.google.com", "/search?q=a b");
        assert_eq!(
            force_safe_search("www.google.com", &out),
            SafeSearchOutcome::AlreadySafe
        );
        assert_eq!(extract_search("www.google.com", &out).unwrap().term, "a b");
    }
}
