//! What the engine decided and why, with the explanation rendered only when someone asks.
//!
//! A decision holds references into the engine and the request, so making one costs nothing;
//! [`Decision::rule_id`] and [`Decision::reason`] build their text on demand for logs and for
//! the block page.

use std::fmt::Write as _;

use hedgerow_lists::{Match, MatchKind, Target, taxonomy};
use jiff::Timestamp;

use crate::engine::Engine;
use crate::spec::{Action, GroupSpec, Sanction, SanctionKind, Selector, SiteOverride, Verdict};

/// What decided a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule<'a> {
    /// The target is on an illegal-content list.
    IllegalList { list: &'a str },
    /// The user is barred from the internet for now.
    Sanction(&'a Sanction),
    /// A site allowed or blocked by hand.
    Override(&'a SiteOverride),
    /// A group's action for a category or list. `via_parent` when a named service took its
    /// parent category's action.
    CategoryAction {
        group: &'a str,
        selector: &'a Selector,
        via_parent: bool,
        action: &'a Action,
    },
    /// Allowed only during schedules, none of which is running. No selector: the group default.
    ScheduleClosed {
        group: &'a str,
        selector: Option<&'a Selector>,
        schedules: &'a [String],
    },
    /// Allowed only for nominated users, and this user is not one (or nobody signed in).
    NotNominated {
        group: &'a str,
        selector: Option<&'a Selector>,
    },
    /// The group's default for anything no action covers.
    GroupDefault { group: &'a str, action: &'a Action },
    /// The list index turned out to be malformed inside, so nothing can be vouched for: every
    /// request is blocked until the lists are compiled again (failing closed).
    IndexDamaged,
}

/// The answer to one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) target: &'a Target,
    pub(crate) user: Option<&'a str>,
    pub(crate) verdict: Verdict,
    pub(crate) rule: Rule<'a>,
    pub(crate) matched: Option<Match>,
    pub(crate) group: &'a GroupSpec,
    pub(crate) restricted_by: Option<&'a Sanction>,
}

impl<'a> Decision<'a> {
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    pub fn rule(&self) -> Rule<'a> {
        self.rule
    }

    /// The group the request was filtered as (after any restricting sanction).
    pub fn group(&self) -> &'a GroupSpec {
        self.group
    }

    /// The sanction that moved the user into a stricter group, if one did.
    pub fn restricted_by(&self) -> Option<&'a Sanction> {
        self.restricted_by
    }

    /// The list entry reported with the decision: the deciding one for list rules, otherwise
    /// the most specific entry the target met.
    pub fn matched(&self) -> Option<Match> {
        self.matched
    }

    /// The Hedgerow category key of the reported list entry.
    pub fn category(&self) -> Option<&'a str> {
        let found = self.matched?;
        Some(self.engine.index().list(found.list)?.category.as_str())
    }

    /// The name of the list holding the reported entry.
    pub fn list_name(&self) -> Option<&'a str> {
        let found = self.matched?;
        Some(self.engine.index().list(found.list)?.name.as_str())
    }

    /// The reported list entry as written in its list.
    pub fn entry_text(&self) -> Option<String> {
        self.matched.map(|m| m.entry_text(self.target))
    }

    /// A short, stable identifier of the deciding rule, e.g. `group:ks2/category:pornography`.
    pub fn rule_id(&self) -> String {
        match self.rule {
            Rule::IllegalList { list } => format!("illegal:{list}"),
            Rule::Sanction(sanction) => format!("sanction:{}", sanction.id),
            Rule::Override(entry) => format!("override:{}", entry.id),
            Rule::CategoryAction {
                group, selector, ..
            } => format!("group:{group}/{selector}"),
            Rule::ScheduleClosed {
                group, selector, ..
            } => {
                format!("group:{group}/{}/allow-during", selector_id(selector))
            }
            Rule::NotNominated { group, selector } => {
                format!("group:{group}/{}/allow-for", selector_id(selector))
            }
            Rule::GroupDefault { group, .. } => format!("group:{group}/default"),
            Rule::IndexDamaged => "index-damaged".to_string(),
        }
    }

    /// One plain-English sentence a teacher can read.
    pub fn reason(&self) -> String {
        let mut out = String::with_capacity(160);
        out.push_str(match self.verdict {
            Verdict::Allow => "Allowed: ",
            Verdict::Block => "Blocked: ",
        });
        let host = self.target.host.as_text();
        let group_name = &self.group.name;
        // `write!` to a String cannot fail.
        let _ = match self.rule {
            Rule::IllegalList { list } => write!(
                out,
                "{host} is on the illegal-content list {list} ({}), which is always blocked",
                self.category_name()
            ),
            Rule::Sanction(sanction) => write!(
                out,
                "{} has no internet access until {} ({}, set by {})",
                sanction.username,
                self.local_time(sanction.until),
                sanction.reason,
                sanction.by
            ),
            Rule::Override(entry) => {
                let mut site = entry.host.to_string();
                site.push_str(entry.path.as_deref().unwrap_or(""));
                let _ = write!(
                    out,
                    "{site} is {} for {} by {}",
                    past_tense(entry.verdict),
                    if entry.groups.is_some() {
                        group_name.as_str()
                    } else {
                        "everyone"
                    },
                    entry.by
                );
                if let Some(until) = entry.until {
                    let _ = write!(out, " until {}", self.local_time(until));
                }
                write!(out, " ({})", entry.reason)
            }
            Rule::CategoryAction {
                selector,
                via_parent,
                action,
                ..
            } => {
                self.write_listing(&mut out);
                // Say where the rule came from before what it says, so the sentence reads
                // "..., part of Social networking, which staff may use during lunch".
                match (selector, via_parent) {
                    (Selector::Category(parent), true) => {
                        let _ = write!(out, ", part of {},", category_name(parent));
                    }
                    _ => out.push(','),
                }
                let by_list_rule = matches!(selector, Selector::List(_));
                let written = match action {
                    Action::Allow | Action::Block => {
                        write!(
                            out,
                            " which is {} for {group_name}",
                            past_tense(self.verdict)
                        )
                    }
                    Action::AllowDuring(schedules) => write!(
                        out,
                        " which {group_name} may use during {}, as they can now",
                        schedules.join(" or ")
                    ),
                    Action::AllowFor(_) => write!(
                        out,
                        " which for {group_name} is allowed only for nominated users, including {}",
                        self.user.unwrap_or("this user")
                    ),
                };
                if by_list_rule {
                    write!(out, " by a rule for that list")
                } else {
                    written
                }
            }
            Rule::ScheduleClosed {
                selector,
                schedules,
                ..
            } => {
                self.write_opening(&mut out, selector);
                write!(
                    out,
                    "only during {}, which is not running now",
                    schedules.join(" or ")
                )
            }
            Rule::NotNominated { selector, .. } => {
                self.write_opening(&mut out, selector);
                match self.user {
                    Some(user) => write!(out, "only if nominated, and {user} is not"),
                    None => write!(out, "only if nominated, and nobody is signed in"),
                }
            }
            Rule::GroupDefault { .. } => {
                if self.matched.is_some() {
                    self.write_listing(&mut out);
                    write!(
                        out,
                        "; {group_name} have no rule for it, and anything without a rule is {} for them",
                        past_tense(self.verdict)
                    )
                } else {
                    write!(
                        out,
                        "{host} is not on any list, and unlisted sites are {} for {group_name}",
                        past_tense(self.verdict)
                    )
                }
            }
            Rule::IndexDamaged => write!(
                out,
                "{host} cannot be checked because the category lists are damaged, so everything is blocked until the network manager compiles them again"
            ),
        };
        if let Some(sanction) = self.restricted_by
            && let SanctionKind::Restricted { .. } = sanction.kind
        {
            let _ = write!(
                out,
                " ({} is filtered as {group_name} until {}: {})",
                sanction.username,
                self.local_time(sanction.until),
                sanction.reason
            );
        }
        out.push('.');
        out
    }

    /// "example.com is listed as Gambling (list gambling)"; URL entries show the listed URL,
    /// since the host alone is not what the list holds.
    fn write_listing(&self, out: &mut String) {
        let Some(found) = self.matched else {
            return;
        };
        let subject = match found.kind {
            MatchKind::UrlPrefix | MatchKind::ExactUrl => found.entry_text(self.target),
            MatchKind::Domain | MatchKind::Address => self.target.host.to_string(),
        };
        let _ = write!(
            out,
            "{subject} is listed as {} (list {})",
            self.category_name(),
            self.list_name().unwrap_or("?")
        );
    }

    /// Opens a sentence about access limited to a schedule or to nominated users, ready for
    /// "only during lunch" or "only if nominated".
    fn write_opening(&self, out: &mut String, selector: Option<&Selector>) {
        let group_name = &self.group.name;
        match (selector, self.matched) {
            (Some(_), Some(_)) => {
                self.write_listing(out);
                let _ = write!(out, ", which {group_name} may use ");
            }
            (None, Some(_)) => {
                self.write_listing(out);
                let _ = write!(
                    out,
                    "; {group_name} have no rule for it, and may visit such sites "
                );
            }
            (_, None) => {
                let _ = write!(
                    out,
                    "{} is not on any list, and {group_name} may visit unlisted sites ",
                    self.target.host
                );
            }
        }
    }

    fn category_name(&self) -> &'a str {
        self.category().map_or("uncategorised", category_name)
    }

    fn local_time(&self, at: Timestamp) -> String {
        self.engine
            .spec()
            .time_zone
            .to_datetime(at)
            .strftime("%H:%M on %-d %B %Y")
            .to_string()
    }
}

fn category_name(key: &str) -> &str {
    taxonomy::category(key).map_or(key, |c| c.name)
}

fn past_tense(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "allowed",
        Verdict::Block => "blocked",
    }
}

fn selector_id(selector: Option<&Selector>) -> String {
    selector.map_or_else(|| "default".to_string(), Selector::to_string)
}
