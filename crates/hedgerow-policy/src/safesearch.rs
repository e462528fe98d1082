//! Safe search, locked on where a group needs it.
//!
//! The search engines publish names that serve only filtered results: Google's
//! `forcesafesearch.google.com`, Bing's `strict.bing.com`, DuckDuckGo's `safe.duckduckgo.com`, and
//! YouTube's `restrict.youtube.com` / `restrictmoderate.youtube.com`. A resolver that answers the
//! engine's own names with an alias to those turns safe search on for every device, whatever
//! the browser or account says. Engines that offer no such name cannot be locked, so groups that
//! need safe search are kept off them instead.

use std::collections::HashSet;

use crate::spec::{GroupKind, YoutubeRestrict};

/// What searching looks like for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchSettings {
    /// Google, Bing and DuckDuckGo answered with their safe-search names.
    pub safe_search: bool,
    /// YouTube's Restricted Mode.
    pub youtube: YoutubeRestrict,
    /// Search engines that cannot be locked to safe search are blocked.
    pub block_unsafe_engines: bool,
}

impl SearchSettings {
    /// The defaults for a kind of group: pupils and unidentified devices get everything locked,
    /// visitors safe search and moderate YouTube, staff safe search only.
    pub fn default_for(kind: GroupKind) -> SearchSettings {
        match kind {
            GroupKind::Pupil | GroupKind::Unidentified => SearchSettings {
                safe_search: true,
                youtube: YoutubeRestrict::Strict,
                block_unsafe_engines: true,
            },
            GroupKind::Visitor => SearchSettings {
                safe_search: true,
                youtube: YoutubeRestrict::Moderate,
                block_unsafe_engines: false,
            },
            GroupKind::Staff => SearchSettings {
                safe_search: true,
                youtube: YoutubeRestrict::Off,
                block_unsafe_engines: false,
            },
        }
    }
}

/// What the search rules say about a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchRule {
    /// Answer the host as an alias of `target`, the engine's safe-search name.
    Rewrite {
        engine: &'static str,
        target: &'static str,
    },
    /// A search engine that cannot be locked to safe search, for a group that needs it.
    UnsafeEngine,
}

/// The category key reported when an unlockable search engine is blocked.
pub const UNSAFE_SEARCH_CATEGORY: &str = "search-engines-unfiltered";

pub const GOOGLE_SAFE: &str = "forcesafesearch.google.com";
pub const BING_SAFE: &str = "strict.bing.com";
pub const DUCKDUCKGO_SAFE: &str = "safe.duckduckgo.com";
pub const YOUTUBE_STRICT: &str = "restrict.youtube.com";
pub const YOUTUBE_MODERATE: &str = "restrictmoderate.youtube.com";

/// Google's search domains (the country domains it serves search on). Each is rewritten with
/// and without `www.`.
const GOOGLE_DOMAINS: &[&str] = &[
    "google.com",
    "google.ad",
    "google.ae",
    "google.com.af",
    "google.com.ag",
    "google.al",
    "google.am",
    "google.co.ao",
    "google.com.ar",
    "google.as",
    "google.at",
    "google.com.au",
    "google.az",
    "google.ba",
    "google.com.bd",
    "google.be",
    "google.bf",
    "google.bg",
    "google.com.bh",
    "google.bi",
    "google.bj",
    "google.com.bn",
    "google.com.bo",
    "google.com.br",
    "google.bs",
    "google.bt",
    "google.co.bw",
    "google.by",
    "google.com.bz",
    "google.ca",
    "google.cat",
    "google.cd",
    "google.cf",
    "google.cg",
    "google.ch",
    "google.ci",
    "google.co.ck",
    "google.cl",
    "google.cm",
    "google.cn",
    "google.com.co",
    "google.co.cr",
    "google.com.cu",
    "google.cv",
    "google.com.cy",
    "google.cz",
    "google.de",
    "google.dj",
    "google.dk",
    "google.dm",
    "google.com.do",
    "google.dz",
    "google.com.ec",
    "google.ee",
    "google.com.eg",
    "google.es",
    "google.com.et",
    "google.fi",
    "google.com.fj",
    "google.fm",
    "google.fr",
    "google.ga",
    "google.ge",
    "google.gg",
    "google.com.gh",
    "google.com.gi",
    "google.gl",
    "google.gm",
    "google.gr",
    "google.com.gt",
    "google.gy",
    "google.com.hk",
    "google.hn",
    "google.hr",
    "google.ht",
    "google.hu",
    "google.co.id",
    "google.ie",
    "google.co.il",
    "google.im",
    "google.co.in",
    "google.iq",
    "google.is",
    "google.it",
    "google.je",
    "google.com.jm",
    "google.jo",
    "google.co.jp",
    "google.co.ke",
    "google.com.kh",
    "google.ki",
    "google.kg",
    "google.co.kr",
    "google.com.kw",
    "google.kz",
    "google.la",
    "google.com.lb",
    "google.li",
    "google.lk",
    "google.co.ls",
    "google.lt",
    "google.lu",
    "google.lv",
    "google.com.ly",
    "google.co.ma",
    "google.md",
    "google.me",
    "google.mg",
    "google.mk",
    "google.ml",
    "google.com.mm",
    "google.mn",
    "google.com.mt",
    "google.mu",
    "google.mv",
    "google.mw",
    "google.com.mx",
    "google.com.my",
    "google.co.mz",
    "google.com.na",
    "google.com.ng",
    "google.com.ni",
    "google.ne",
    "google.nl",
    "google.no",
    "google.com.np",
    "google.nr",
    "google.nu",
    "google.co.nz",
    "google.com.om",
    "google.com.pa",
    "google.com.pe",
    "google.com.pg",
    "google.com.ph",
    "google.com.pk",
    "google.pl",
    "google.pn",
    "google.com.pr",
    "google.ps",
    "google.pt",
    "google.com.py",
    "google.com.qa",
    "google.ro",
    "google.rs",
    "google.ru",
    "google.rw",
    "google.com.sa",
    "google.com.sb",
    "google.sc",
    "google.se",
    "google.com.sg",
    "google.sh",
    "google.si",
    "google.sk",
    "google.com.sl",
    "google.sn",
    "google.so",
    "google.sm",
    "google.sr",
    "google.st",
    "google.com.sv",
    "google.td",
    "google.tg",
    "google.co.th",
    "google.com.tj",
    "google.tl",
    "google.tm",
    "google.tn",
    "google.to",
    "google.com.tr",
    "google.tt",
    "google.com.tw",
    "google.co.tz",
    "google.com.ua",
    "google.co.ug",
    "google.co.uk",
    "google.com.uy",
    "google.co.uz",
    "google.com.vc",
    "google.co.ve",
    "google.co.vi",
    "google.com.vn",
    "google.vu",
    "google.ws",
    "google.co.za",
    "google.co.zm",
    "google.co.zw",
];

const BING_NAMES: &[&str] = &["bing.com", "www.bing.com"];
const DUCKDUCKGO_NAMES: &[&str] = &[
    "duckduckgo.com",
    "www.duckduckgo.com",
    "start.duckduckgo.com",
];
const YOUTUBE_NAMES: &[&str] = &[
    "www.youtube.com",
    "m.youtube.com",
    "youtube.com",
    "youtubei.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube-nocookie.com",
];

/// Search engines that offer no way to lock safe search by name. They and their subdomains are
/// blocked for groups with `block_unsafe_engines`; a school can replace the list.
pub const DEFAULT_UNSAFE_ENGINES: &[&str] = &[
    "search.yahoo.com",
    "yandex.com",
    "yandex.ru",
    "ya.ru",
    "baidu.com",
    "ask.com",
    "search.aol.com",
    "startpage.com",
    "search.brave.com",
    "qwant.com",
    "mojeek.com",
    "swisscows.com",
    "yep.com",
    "presearch.com",
    "ecosia.org",
];

/// The rewrite and block tables, built once per engine.
#[derive(Debug, Clone)]
pub struct SearchTables {
    google: HashSet<String>,
    unsafe_engines: HashSet<String>,
}

impl SearchTables {
    pub fn new(unsafe_engines: &[String]) -> SearchTables {
        let google = GOOGLE_DOMAINS
            .iter()
            .flat_map(|d| [d.to_string(), format!("www.{d}")])
            .collect();
        SearchTables {
            google,
            unsafe_engines: unsafe_engines
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        }
    }

    /// The rule for a (normalised, lower-case) host name under a group's settings.
    pub fn rule(&self, name: &str, settings: &SearchSettings) -> Option<SearchRule> {
        if settings.safe_search {
            if self.google.contains(name) {
                return Some(SearchRule::Rewrite {
                    engine: "Google",
                    target: GOOGLE_SAFE,
                });
            }
            if BING_NAMES.contains(&name) {
                return Some(SearchRule::Rewrite {
                    engine: "Bing",
                    target: BING_SAFE,
                });
            }
            if DUCKDUCKGO_NAMES.contains(&name) {
                return Some(SearchRule::Rewrite {
                    engine: "DuckDuckGo",
                    target: DUCKDUCKGO_SAFE,
                });
            }
        }
        if YOUTUBE_NAMES.contains(&name) {
            match settings.youtube {
                YoutubeRestrict::Strict => {
                    return Some(SearchRule::Rewrite {
                        engine: "YouTube",
                        target: YOUTUBE_STRICT,
                    });
                }
                YoutubeRestrict::Moderate => {
                    return Some(SearchRule::Rewrite {
                        engine: "YouTube",
                        target: YOUTUBE_MODERATE,
                    });
                }
                YoutubeRestrict::Off => {}
            }
        }
        if settings.block_unsafe_engines && self.is_unsafe_engine(name) {
            return Some(SearchRule::UnsafeEngine);
        }
        None
    }

    /// The name or one of its parents is on the unsafe-engine list (label boundaries only).
    fn is_unsafe_engine(&self, name: &str) -> bool {
        let mut rest = name;
        loop {
            if self.unsafe_engines.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> SearchTables {
        SearchTables::new(
            &DEFAULT_UNSAFE_ENGINES
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn pupils_get_every_engine_locked() {
        let pupils = SearchSettings::default_for(GroupKind::Pupil);
        let t = tables();
        for (name, target) in [
            ("www.google.co.uk", GOOGLE_SAFE),
            ("google.com", GOOGLE_SAFE),
            ("www.bing.com", BING_SAFE),
            ("duckduckgo.com", DUCKDUCKGO_SAFE),
            ("www.youtube.com", YOUTUBE_STRICT),
            ("youtubei.googleapis.com", YOUTUBE_STRICT),
        ] {
            assert!(
                matches!(t.rule(name, &pupils), Some(SearchRule::Rewrite { target: got, .. }) if got == target),
                "{name}"
            );
        }
        assert_eq!(
            t.rule("images.search.yahoo.com", &pupils),
            Some(SearchRule::UnsafeEngine)
        );
        assert_eq!(t.rule("yandex.ru", &pupils), Some(SearchRule::UnsafeEngine));
        assert_eq!(t.rule("notyandex.ru", &pupils), None, "label boundaries");
        assert_eq!(
            t.rule("mail.google.com", &pupils),
            None,
            "only search names are rewritten"
        );
        assert_eq!(t.rule("google.example", &pupils), None);
    }

    #[test]
    fn groups_differ() {
        let t = tables();
        let staff = SearchSettings::default_for(GroupKind::Staff);
        assert_eq!(t.rule("www.youtube.com", &staff), None);
        assert_eq!(t.rule("yandex.ru", &staff), None);
        assert!(matches!(
            t.rule("www.google.com", &staff),
            Some(SearchRule::Rewrite { .. })
        ));
        let visitors = SearchSettings::default_for(GroupKind::Visitor);
        assert!(matches!(
            t.rule("m.youtube.com", &visitors),
            Some(SearchRule::Rewrite {
                target: YOUTUBE_MODERATE,
                ..
            })
        ));
        let off = SearchSettings {
            safe_search: false,
            youtube: YoutubeRestrict::Off,
            block_unsafe_engines: false,
        };
        assert_eq!(t.rule("www.google.com", &off), None);
    }
}
