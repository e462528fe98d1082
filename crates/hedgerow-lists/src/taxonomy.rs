//! Hedgerow's categories, and the taxonomy file that maps source lists onto them.
//!
//! Source lists come with their own names and languages (UT1's `drogue`, `agressif`), overlap,
//! and change. Policies are written against a stable set of categories instead: the UK Safer
//! Internet Centre's inappropriate-content set, the kinds of site schools choose to manage, and
//! named services. A named service has a parent category, so blocking "social networking"
//! also blocks TikTok unless a group says otherwise for TikTok itself.

use std::collections::BTreeMap;

use crate::index::ListClass;
use crate::source::ListFormat;

/// Why a category exists, which decides how it is presented and defaulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CategoryKind {
    /// In the UK Safer Internet Centre's definition of inappropriate online content.
    Inappropriate,
    /// Legal content a school may choose to restrict for some groups.
    Managed,
    /// Ways around the filter: VPNs, proxies, DNS-over-HTTPS, remote control.
    Circumvention,
    /// Security threats: malware, phishing, scams.
    Security,
    /// A single named service (YouTube, TikTok, ...), under a parent category.
    Service,
    /// Neutral classifications (banking, news, ...), used to exempt sites from inspection.
    Neutral,
    /// Illegal content (IWF, CTIRU): always blocked, whatever any policy says.
    Illegal,
}

/// One Hedgerow category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Category {
    pub key: &'static str,
    pub name: &'static str,
    pub kind: CategoryKind,
    /// For a named service, the category it belongs to.
    pub parent: Option<&'static str>,
}

const fn cat(key: &'static str, name: &'static str, kind: CategoryKind) -> Category {
    Category {
        key,
        name,
        kind,
        parent: None,
    }
}

const fn service(key: &'static str, name: &'static str, parent: &'static str) -> Category {
    Category {
        key,
        name,
        kind: CategoryKind::Service,
        parent: Some(parent),
    }
}

use CategoryKind::*;

/// Every category Hedgerow knows. Keys are stable: policies and stored events refer to them.
pub const CATEGORIES: &[Category] = &[
    // UK Safer Internet Centre: inappropriate online content.
    cat("pornography", "Pornography", Inappropriate),
    cat("adult-themes", "Adult themes and nudity", Inappropriate),
    cat("discrimination", "Discrimination", Inappropriate),
    cat("hate-speech", "Hate speech", Inappropriate),
    cat("drugs", "Drugs and substance abuse", Inappropriate),
    cat("extremism", "Extremism", Inappropriate),
    cat("gambling", "Gambling", Inappropriate),
    cat("malware-hacking", "Malware and hacking", Inappropriate),
    cat("misinformation", "Mis- and disinformation", Inappropriate),
    cat("piracy", "Piracy and copyright theft", Inappropriate),
    cat("self-harm", "Self-harm and eating disorders", Inappropriate),
    cat("violence", "Violence", Inappropriate),
    cat("vawg", "Violence against women and girls", Inappropriate),
    cat("weapons", "Weapons and dangerous material", Inappropriate),
    cat("cults", "Cults and sects", Inappropriate),
    // What schools manage.
    cat("social-networking", "Social networking", Managed),
    cat("chat", "Chat and messaging", Managed),
    cat("online-games", "Online games", Managed),
    cat("streaming", "Video and audio streaming", Managed),
    cat("shopping", "Shopping", Managed),
    cat("dating", "Dating", Managed),
    cat("webmail", "Webmail", Managed),
    cat("file-sharing", "File sharing and torrents", Managed),
    cat("advertising", "Advertising and tracking", Managed),
    cat("ai-chatbots", "AI chatbots", Managed),
    cat("cheating", "Homework cheating", Managed),
    cat("cryptocurrency", "Cryptocurrency", Managed),
    cat("url-shorteners", "Link shorteners", Managed),
    cat("forums", "Forums", Managed),
    cat("blogs", "Blogs", Managed),
    cat("celebrity", "Celebrity gossip", Managed),
    cat("manga", "Manga", Managed),
    cat("astrology", "Astrology", Managed),
    cat("job-search", "Job search", Managed),
    cat("downloads", "Software downloads", Managed),
    cat("web-hosting", "Free web hosting", Managed),
    cat(
        "search-engines-unfiltered",
        "Search engines without safe search",
        Managed,
    ),
    // Getting around the filter.
    cat(
        "circumvention",
        "VPNs, proxies and DNS-over-HTTPS",
        Circumvention,
    ),
    cat("remote-access", "Remote-control tools", Circumvention),
    cat("dynamic-dns", "Dynamic DNS", Circumvention),
    // Security.
    cat("phishing-scams", "Phishing, scams and fraud", Security),
    cat("cryptojacking", "Cryptojacking", Security),
    cat("stalkerware", "Stalkerware", Security),
    // Neutral classifications.
    cat("banking", "Banking and finance", Neutral),
    cat("news", "News and press", Neutral),
    cat("sport", "Sport", Neutral),
    cat("education", "Education", Neutral),
    cat("children", "Sites for children", Neutral),
    cat("sex-education", "Sex and relationships education", Neutral),
    cat("religion", "Religion", Neutral),
    cat("translation", "Translation", Neutral),
    cat("software-updates", "Software updates", Neutral),
    cat("mobile-phones", "Mobile phones", Neutral),
    cat("housekeeping", "Home and cleaning", Neutral),
    cat("cooking", "Cooking", Neutral),
    cat("uncategorised", "Other", Neutral),
    // Named services.
    service("youtube", "YouTube", "streaming"),
    service("tiktok", "TikTok", "social-networking"),
    service("facebook", "Facebook and Instagram", "social-networking"),
    service("twitter", "X (Twitter)", "social-networking"),
    service("whatsapp", "WhatsApp", "chat"),
    service("fortnite", "Fortnite", "online-games"),
    // Illegal content, from the lists of the bodies that maintain them.
    cat(
        "illegal-child-abuse",
        "Child sexual abuse material (IWF list)",
        Illegal,
    ),
    cat(
        "illegal-terrorism",
        "Unlawful terrorist content (CTIRU list)",
        Illegal,
    ),
];

/// Looks up a category by key.
pub fn category(key: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.key == key)
}

/// How one source list is read and classified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRule {
    pub category: String,
    #[serde(default = "default_class")]
    pub class: ListClass,
    /// Overrides the format implied by the file name.
    #[serde(default)]
    pub format: Option<ListFormat>,
}

fn default_class() -> ListClass {
    ListClass::Category
}

/// A taxonomy file: which Hedgerow category each source list feeds.
///
/// ```toml
/// [sources]
/// adult = "pornography"               # short form
/// iwf = { category = "illegal-child-abuse", class = "illegal", format = "exact-urls" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taxonomy {
    pub sources: BTreeMap<String, SourceRule>,
}

/// Why a taxonomy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("the taxonomy file is not valid TOML: {0}")]
    Syntax(String),
    #[error(
        "line {line}: source list {source_name:?} maps to {category:?}, which is not a Hedgerow category (see `hedgerow lists categories`)"
    )]
    UnknownCategory {
        line: usize,
        source_name: String,
        category: String,
    },
    #[error(
        "line {line}: source list {source_name:?} is marked illegal but maps to {category:?}; illegal lists must map to an illegal-content category"
    )]
    IllegalMismatch {
        line: usize,
        source_name: String,
        category: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaxonomy {
    #[serde(default)]
    sources: BTreeMap<String, toml::Spanned<RawRule>>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum RawRule {
    Short(String),
    Full(SourceRule),
}

impl Taxonomy {
    pub fn parse(text: &str) -> Result<Self, TaxonomyError> {
        let raw: RawTaxonomy =
            toml::from_str(text).map_err(|e| TaxonomyError::Syntax(e.to_string()))?;
        let mut sources = BTreeMap::new();
        for (name, spanned) in raw.sources {
            let line = line_of(text, spanned.span().start);
            let rule = match spanned.into_inner() {
                RawRule::Short(category) => SourceRule {
                    category,
                    class: ListClass::Category,
                    format: None,
                },
                RawRule::Full(rule) => rule,
            };
            let Some(known) = category(&rule.category) else {
                return Err(TaxonomyError::UnknownCategory {
                    line,
                    source_name: name,
                    category: rule.category,
                });
            };
            // An illegal list filed under an ordinary category could then be allowed by a policy;
            // an ordinary list under an illegal category would be unblockable by mistake.
            if (known.kind == CategoryKind::Illegal) != (rule.class == ListClass::Illegal) {
                return Err(TaxonomyError::IllegalMismatch {
                    line,
                    source_name: name,
                    category: rule.category,
                });
            }
            sources.insert(name, rule);
        }
        Ok(Taxonomy { sources })
    }

    /// The rule for a source list; unknown lists are "uncategorised" so they still load.
    pub fn rule_for(&self, source: &str) -> SourceRule {
        self.sources.get(source).cloned().unwrap_or(SourceRule {
            category: "uncategorised".into(),
            class: ListClass::Category,
            format: None,
        })
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_keys_are_unique_and_parents_exist() {
        for (i, c) in CATEGORIES.iter().enumerate() {
            assert!(
                CATEGORIES[i + 1..].iter().all(|o| o.key != c.key),
                "duplicate {}",
                c.key
            );
            if let Some(parent) = c.parent {
                assert!(
                    category(parent).is_some_and(|p| p.parent.is_none()),
                    "{}",
                    c.key
                );
            }
        }
    }

    #[test]
    fn short_and_full_forms() {
        let t = Taxonomy::parse(
            "[sources]\nadult = \"pornography\"\niwf = { category = \"illegal-child-abuse\", class = \"illegal\", format = \"exact-urls\" }\n",
        )
        .unwrap();
        assert_eq!(t.rule_for("adult").category, "pornography");
        assert_eq!(t.rule_for("iwf").class, ListClass::Illegal);
        assert_eq!(t.rule_for("iwf").format, Some(ListFormat::ExactUrls));
        assert_eq!(t.rule_for("unknown").category, "uncategorised");
    }

    #[test]
    fn errors_name_the_line() {
        let err = Taxonomy::parse("[sources]\nadult = \"pornography\"\ngames = \"gaming\"\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("line 3:"), "{err}");
        let err = Taxonomy::parse("[sources]\niwf = \"illegal-child-abuse\"\n").unwrap_err();
        assert!(
            matches!(err, TaxonomyError::IllegalMismatch { line: 2, .. }),
            "{err}"
        );
        let err =
            Taxonomy::parse("[sources]\nx = { category = \"pornography\", class = \"illegal\" }\n")
                .unwrap_err();
        assert!(
            matches!(err, TaxonomyError::IllegalMismatch { .. }),
            "{err}"
        );
    }
}
