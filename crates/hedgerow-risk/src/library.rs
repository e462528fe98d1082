//! Risk libraries: their data types and the text format they are written in.
//!
//! # Format
//!
//! A library file is UTF-8 text, one statement a line. Blank lines and lines starting with `#`
//! are ignored. Statements:
//!
//! ```text
//! language en
//! category suicide_self_harm
//! entry en.suicide.kill-myself 4 = kill ~2 myself | end my life
//! entry en.suicide.suicidal 3 = suicid*
//! context en.ctx.suicide-squad cancel = suicide squad
//! context en.ctx.gambling-help lower 2 = gambling addiction help
//! misspell suicide = sucide suicde suiside
//! band pornography secondary off
//! band en.porn.sex primary +1
//! ```
//!
//! - `language CODE` names the language of everything after it (`en`, `pl`, ...). It must come
//!   before the first entry, context rule or misspelling.
//! - `category NAME` sets the category (one of [`RiskCategory::as_str`]) of the entries after it.
//! - `entry ID SEVERITY = PHRASE | PHRASE ...`: the entry matches when any of its phrases
//!   occurs. SEVERITY is 1 (advisory) to 5 (imminent risk). IDs are lower-case letters, digits,
//!   `.`, `_` and `-`, unique across the library, by convention `LANGUAGE.TOPIC.NAME`.
//! - A phrase is words separated by spaces, matched as whole words after normalisation (case,
//!   accents, leetspeak, spacing tricks, stretched letters). `~N` between two words allows up to
//!   N (1 to 3) other words there: `kill ~2 myself` matches "kill my own self". A word ending in
//!   `*` matches any word that starts with it (at least three letters before the `*`):
//!   `suicid*` matches "suicidal".
//! - `context ID cancel = PHRASES` or `context ID lower N = PHRASES`: when a context phrase
//!   covers a whole match (its words include every word of the match), the match is cancelled
//!   or its severity lowered by N (to nothing at 0). `kill ~2 process` covers the `kill` of
//!   "how to kill a python process". With `anywhere CATEGORY` after the effect
//!   (`context en.ctx.history lower 2 anywhere radicalisation = ww2`) the rule applies to every
//!   match of that category in a text containing the phrase, wherever it is: topic words such as
//!   "ww2" or "history homework" say what the whole search is about.
//!   `anywhere all` applies the rule to matches of every category. A context phrase, unlike an
//!   entry phrase, may start or end with a gap: `what is ~2` covers "what is" and the next two
//!   words, so a definition search is covered without naming every risk word.
//! - `words NAME = ALTERNATIVE | ...` defines a word list; `@NAME` in a later phrase of the same
//!   file stands for each alternative in turn (`@groups are ~2 vermin`). The parsed entry keeps
//!   the list as a group written `{ALTERNATIVE|ALTERNATIVE}` in its phrase, which the
//!   classifier matches as one step; a school's own entries (tuning) may use such groups too.
//! - `misspell WORD = SPELLING SPELLING ...`: each spelling in a text is also read as WORD.
//! - `band TARGET BAND ADJUSTMENT`: the age-band profile. TARGET is a category name or an entry
//!   id of this library (a category rule applies to the entries of this library's language);
//!   BAND is one of [`AgeBand::as_str`]; ADJUSTMENT is `off` (not a concern
//!   for that band) or a signed shift such as `+1` or `-2`. Shifts for the category and the entry
//!   add up; a result below 1 means no concern, above 5 is 5.

use std::collections::{HashMap, HashSet};

use crate::normalise::canonical_words;
use crate::{AgeBand, RiskCategory, RiskError};

/// The most words a `~N` gap may skip.
pub const MAX_GAP: u8 = 3;
/// The most words (and gaps) in one phrase; longer phrases are almost certainly mistakes.
const MAX_PHRASE_STEPS: usize = 12;
const MAX_ID_LEN: usize = 100;
/// The most readings one phrase may have through `@NAME` word lists (the product of their
/// lengths): enough for a list of groups times a list of insults, small enough that a typo
/// cannot blow up the run-together matcher, which holds every plain-word reading.
const MAX_EXPANSIONS: usize = 5_000;

/// One library entry: phrases for one risk with one severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskEntry {
    pub id: String,
    pub category: RiskCategory,
    /// 1 (advisory) to 5 (imminent risk), before the age-band profile and context rules.
    pub severity: u8,
    pub language: String,
    /// Phrases in the library syntax (`kill ~2 myself`, `suicid*`).
    pub phrases: Vec<String>,
}

/// What a context rule does to a match it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextEffect {
    Cancel,
    Lower(u8),
}

/// Which matches a context rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextScope {
    /// Matches whose words all lie within the context phrase's words.
    Covering,
    /// Every match of the category, anywhere in a text that contains the phrase.
    Anywhere(RiskCategory),
    /// Every match of every category, anywhere in a text that contains the phrase: for words
    /// that say a search is schoolwork ("pshe", "gcse essay") whatever its topic.
    AnywhereAll,
}

/// Benign surroundings that cancel or lower a match (`suicide squad`, `kill the process`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextRule {
    pub id: String,
    pub language: String,
    pub effect: ContextEffect,
    pub scope: ContextScope,
    pub phrases: Vec<String>,
}

/// What an age-band rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BandTarget {
    Category(RiskCategory),
    Entry(String),
}

/// How an age-band rule changes severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandAdjustment {
    /// Not a concern for this band.
    Exclude,
    /// Added to the severity.
    Shift(i8),
}

/// Part of an age-band profile. A rule for a category applies to that category's entries in
/// the rule's own language, so that merging libraries does not apply each profile twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BandRule {
    pub language: String,
    pub target: BandTarget,
    pub band: AgeBand,
    pub adjustment: BandAdjustment,
}

/// Known misspellings of one word, read as that word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misspelling {
    pub word: String,
    pub language: String,
    pub spellings: Vec<String>,
}

/// Entries, context rules, misspellings and age-band profiles of one or more languages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskLibrary {
    entries: Vec<RiskEntry>,
    contexts: Vec<ContextRule>,
    misspellings: Vec<Misspelling>,
    bands: Vec<BandRule>,
}

const BUILTIN: [(&str, &str); 2] = [
    ("libraries/en.risk", include_str!("../libraries/en.risk")),
    ("libraries/pl.risk", include_str!("../libraries/pl.risk")),
];

impl RiskLibrary {
    /// The libraries shipped with Hedgerow: English and Polish.
    pub fn builtin() -> RiskLibrary {
        let mut library = RiskLibrary::default();
        for (name, text) in BUILTIN {
            match RiskLibrary::parse(name, text) {
                Ok(parsed) => library.merge(parsed),
                // Compiled-in data, checked by the test `builtin_libraries_parse`.
                Err(error) => panic!("the built-in risk library is broken: {error}"),
            }
        }
        library
    }

    /// Reads a library written in the format described in this module's documentation.
    /// `source_name` (a file name) is used in error messages.
    pub fn parse(source_name: &str, text: &str) -> Result<RiskLibrary, RiskError> {
        Parser {
            source_name,
            library: RiskLibrary::default(),
            language: None,
            category: None,
            ids: HashSet::new(),
            band_entries: Vec::new(),
            word_lists: HashMap::new(),
        }
        .run(text)
    }

    /// Adds `other` to this library. An entry or context rule with an id already here replaces
    /// the one here, so a later library can correct an earlier one.
    pub fn merge(&mut self, other: RiskLibrary) {
        for entry in other.entries {
            match self.entries.iter_mut().find(|e| e.id == entry.id) {
                Some(existing) => *existing = entry,
                None => self.entries.push(entry),
            }
        }
        for context in other.contexts {
            match self.contexts.iter_mut().find(|c| c.id == context.id) {
                Some(existing) => *existing = context,
                None => self.contexts.push(context),
            }
        }
        self.misspellings.extend(other.misspellings);
        self.bands.extend(other.bands);
    }

    pub fn entries(&self) -> impl Iterator<Item = &RiskEntry> {
        self.entries.iter()
    }

    pub fn contexts(&self) -> impl Iterator<Item = &ContextRule> {
        self.contexts.iter()
    }

    pub fn misspellings(&self) -> impl Iterator<Item = &Misspelling> {
        self.misspellings.iter()
    }

    pub fn band_rules(&self) -> impl Iterator<Item = &BandRule> {
        self.bands.iter()
    }
}

/// A compiled phrase step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    Word(String),
    Prefix(String),
    Gap(u8),
    /// Any one of several word sequences (of words and prefixes): a `@NAME` word list, kept as
    /// one step so that a phrase built from lists stays one path in the classifier instead of
    /// one path per combination of alternatives.
    Choice(Vec<Vec<Step>>),
}

/// Compiles a phrase in the library syntax; the error says what is wrong with it.
pub(crate) fn compile_phrase(phrase: &str) -> Result<Vec<Step>, String> {
    compile_steps(phrase, false)
}

/// A context phrase may also start or end with a gap: `what is ~2` is "what is" and up to two
/// words after it, so it covers the risk word of a definition search ("what is lsd") without
/// naming every risk word, yet not a risk further on ("what is the best way to ...").
pub(crate) fn compile_context_phrase(phrase: &str) -> Result<Vec<Step>, String> {
    compile_steps(phrase, true)
}

fn compile_steps(phrase: &str, edge_gaps: bool) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    // The longest reading of the phrase, in words, and how many readings it has.
    let mut longest = 0usize;
    let mut readings = 1usize;
    for piece in pieces(phrase)? {
        if let Some(group) = piece.strip_prefix('{') {
            let alternatives = compile_group(group)?;
            longest += alternatives.iter().map(Vec::len).max().unwrap_or(0);
            readings = readings.saturating_mul(alternatives.len());
            if readings > MAX_EXPANSIONS {
                return Err(format!(
                    "the phrase expands to more than {MAX_EXPANSIONS} phrases; split it"
                ));
            }
            steps.push(Step::Choice(alternatives));
        } else if let Some(count) = piece.strip_prefix('~') {
            let gap = count
                .parse::<u8>()
                .ok()
                .filter(|g| (1..=MAX_GAP).contains(g))
                .ok_or_else(|| {
                    format!("`{piece}` is not a gap; write ~1, ~2 or ~{MAX_GAP} between two words")
                })?;
            match steps.last() {
                None if !edge_gaps => {
                    return Err(format!(
                        "`{piece}` cannot start a phrase; put it between two words"
                    ));
                }
                Some(Step::Gap(_)) => {
                    return Err(format!("`{piece}` follows another gap; use a single ~N"));
                }
                None | Some(_) => steps.push(Step::Gap(gap)),
            }
            longest += 1;
        } else {
            let words = word_steps(piece)?;
            longest += words.len();
            steps.extend(words);
        }
    }
    if !steps.iter().any(|step| !matches!(step, Step::Gap(_))) {
        return Err("the phrase is empty; write at least one word".to_string());
    }
    if !edge_gaps && matches!(steps.last(), Some(Step::Gap(_))) {
        return Err("the phrase ends with a gap; put a word after ~N".to_string());
    }
    if longest > MAX_PHRASE_STEPS {
        return Err(format!(
            "the phrase is longer than {MAX_PHRASE_STEPS} words; split it or shorten it"
        ));
    }
    Ok(steps)
}

/// Splits a phrase at spaces, keeping a `{...}` group of alternatives (which may hold spaces)
/// as one piece.
fn pieces(phrase: &str) -> Result<Vec<&str>, String> {
    let mut pieces = Vec::new();
    let mut rest = phrase.trim_start();
    while !rest.is_empty() {
        let end = if rest.starts_with('{') {
            let close = rest.find('}').ok_or_else(|| {
                format!("the group of alternatives in {phrase:?} has no closing }}")
            })?;
            let after = close + 1;
            let next = rest.get(after..).unwrap_or_default();
            if !next.is_empty() && !next.starts_with(char::is_whitespace) {
                return Err(format!(
                    "put a space after the group of alternatives in {phrase:?}"
                ));
            }
            after
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail.trim_start();
    }
    Ok(pieces)
}

/// The alternatives of a `{a | b c}` group (without its opening brace), each as word steps.
fn compile_group(group: &str) -> Result<Vec<Vec<Step>>, String> {
    let body = group
        .strip_suffix('}')
        .ok_or("a group of alternatives ends with }")?;
    let mut alternatives: Vec<Vec<Step>> = Vec::new();
    for alternative in body.split('|') {
        let alternative = alternative.trim();
        if alternative.contains(['@', '~', '{', '}']) {
            return Err(format!(
                "{alternative:?} in a group of alternatives may not use @, ~, {{ or }}; list plain words"
            ));
        }
        let mut words = Vec::new();
        for piece in alternative.split_whitespace() {
            words.extend(word_steps(piece)?);
        }
        if words.is_empty() {
            return Err(
                "a group of alternatives has an empty alternative; remove the extra |".into(),
            );
        }
        if !alternatives.contains(&words) {
            alternatives.push(words);
        }
    }
    Ok(alternatives)
}

/// A piece that is not a gap or a group: a word ending in `*`, or words.
fn word_steps(piece: &str) -> Result<Vec<Step>, String> {
    if let Some(stem) = piece.strip_suffix('*') {
        let words = canonical_words(stem);
        return match words.as_slice() {
            [word] if word.chars().count() >= 3 => Ok(vec![Step::Prefix(word.clone())]),
            _ => Err(format!(
                "`{piece}`: a word ending in * needs at least three letters or digits before the * and nothing else"
            )),
        };
    }
    let words = canonical_words(piece);
    if words.is_empty() {
        return Err(format!("`{piece}` has no letters or digits to match"));
    }
    Ok(words.into_iter().map(Step::Word).collect())
}

/// Checks an entry that did not come through the parser (a school's own, from tuning).
pub(crate) fn validate_entry(entry: &RiskEntry) -> Result<(), RiskError> {
    let bad = |problem: String| RiskError::BadEntry {
        entry: entry.id.clone(),
        problem,
    };
    check_id(&entry.id).map_err(bad)?;
    if !(1..=5).contains(&entry.severity) {
        return Err(RiskError::BadSeverity {
            entry: entry.id.clone(),
            severity: entry.severity,
        });
    }
    check_language(&entry.language).map_err(bad)?;
    if entry.phrases.is_empty() {
        return Err(bad("it has no phrases; give at least one".to_string()));
    }
    for phrase in &entry.phrases {
        compile_phrase(phrase).map_err(|problem| bad(format!("phrase {phrase:?}: {problem}")))?;
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), String> {
    let well_formed = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !well_formed {
        return Err(format!(
            "the id {id:?} is not valid; use up to {MAX_ID_LEN} lower-case letters, digits, '.', '_' and '-', such as en.suicide.end-my-life"
        ));
    }
    if RiskCategory::parse(id).is_some() {
        return Err(format!(
            "the id {id:?} is a category name; give the entry a name of its own, such as en.{id}.something"
        ));
    }
    Ok(())
}

fn check_language(code: &str) -> Result<(), String> {
    let ok = (2..=12).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{code:?} is not a language code; use a lower-case code such as en or pl"
        ))
    }
}

struct Parser<'a> {
    source_name: &'a str,
    library: RiskLibrary,
    language: Option<String>,
    category: Option<RiskCategory>,
    ids: HashSet<String>,
    /// Band rules naming entries, checked once the whole file is read: (line, id).
    band_entries: Vec<(usize, String)>,
    /// `words NAME = ...` lists, by name, for `@NAME` in later phrases.
    word_lists: HashMap<String, Vec<String>>,
}

impl Parser<'_> {
    fn error(&self, line: usize, message: impl Into<String>) -> RiskError {
        RiskError::Syntax {
            source_name: self.source_name.to_string(),
            line,
            message: message.into(),
        }
    }

    fn run(mut self, text: &str) -> Result<RiskLibrary, RiskError> {
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            self.statement(number, line)
                .map_err(|message| self.error(number, message))?;
        }
        for (line, id) in &self.band_entries {
            if !self.library.entries.iter().any(|e| &e.id == id) {
                return Err(self.error(
                    *line,
                    format!(
                        "the band rule names {id:?}, which is neither a category nor an entry of this library; check the spelling"
                    ),
                ));
            }
        }
        Ok(self.library)
    }

    /// The phrases of a statement's body, each checked, with every `@NAME` word list written
    /// out as a `{a|b}` group of its alternatives.
    fn phrases(
        &self,
        body: &str,
        compile: fn(&str) -> Result<Vec<Step>, String>,
    ) -> Result<Vec<String>, String> {
        let mut phrases = Vec::new();
        for phrase in body.split('|') {
            let phrase = phrase.trim();
            let grouped = self.with_groups(phrase)?;
            compile(&grouped).map_err(|problem| format!("phrase {phrase:?}: {problem}"))?;
            phrases.push(grouped);
        }
        Ok(phrases)
    }

    /// `phrase` with each `@NAME` replaced by the group of that word list's alternatives.
    fn with_groups(&self, phrase: &str) -> Result<String, String> {
        let mut written = Vec::new();
        for piece in phrase.split_whitespace() {
            match piece.strip_prefix('@') {
                Some(name) => {
                    let alternatives = self.word_lists.get(name).ok_or_else(|| {
                        format!(
                            "phrase {phrase:?}: there is no word list {name}; define it first with `words {name} = ...`"
                        )
                    })?;
                    written.push(format!("{{{}}}", alternatives.join("|")));
                }
                None if piece.contains(['{', '}']) => {
                    return Err(format!(
                        "phrase {phrase:?}: {{ and }} are not part of the library syntax; use a word list (`words NAME = ...` and @NAME)"
                    ));
                }
                None => written.push(piece.to_string()),
            }
        }
        Ok(written.join(" "))
    }

    fn statement(&mut self, line: usize, text: &str) -> Result<(), String> {
        let (head, body) = match text.split_once('=') {
            Some((head, body)) => (head.trim(), Some(body.trim())),
            None => (text, None),
        };
        let words: Vec<&str> = head.split_whitespace().collect();
        let Some((&keyword, args)) = words.split_first() else {
            return Err("the line starts with `=`; start it with a keyword such as entry".into());
        };
        match (keyword, args, body) {
            ("words", [name], Some(body)) => {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(format!(
                        "words {name}: a word list's name is lower-case letters, digits and _"
                    ));
                }
                if self.word_lists.contains_key(*name) {
                    return Err(format!("the word list {name} is defined twice; merge the two"));
                }
                let mut alternatives = Vec::new();
                for alternative in body.split('|') {
                    let alternative = alternative.trim();
                    if alternative.contains(['@', '~', '{', '}']) {
                        return Err(format!(
                            "words {name}: {alternative:?} may not use @, ~, {{ or }}; list plain words"
                        ));
                    }
                    compile_phrase(alternative)
                        .map_err(|problem| format!("words {name}: {alternative:?}: {problem}"))?;
                    alternatives.push(alternative.to_string());
                }
                self.word_lists.insert((*name).to_string(), alternatives);
                Ok(())
            }
            ("language", [code], None) => {
                check_language(code)?;
                self.language = Some((*code).to_string());
                Ok(())
            }
            ("category", [name], None) => {
                let category = RiskCategory::parse(name).ok_or_else(|| {
                    format!("{name:?} is not a risk category; use one of {}", category_names())
                })?;
                self.category = Some(category);
                Ok(())
            }
            ("entry", [id, severity], Some(body)) => {
                let language = self.current_language()?;
                let category = self.category.ok_or(
                    "an entry needs a category; put a `category NAME` line above it",
                )?;
                let id = self.new_id(id)?;
                let severity = severity
                    .parse::<u8>()
                    .ok()
                    .filter(|s| (1..=5).contains(s))
                    .ok_or_else(|| {
                        format!(
                            "the severity {severity:?} of {id} is not 1 to 5; use 1 (advisory) to 5 (imminent risk)"
                        )
                    })?;
                let phrases = self.phrases(body, compile_phrase)?;
                self.library.entries.push(RiskEntry {
                    id,
                    category,
                    severity,
                    language,
                    phrases,
                });
                Ok(())
            }
            ("context", [id, effect @ ..], Some(body)) => {
                let language = self.current_language()?;
                let (effect, scope) = match effect {
                    [effect @ .., "anywhere", "all"] => (effect, ContextScope::AnywhereAll),
                    [effect @ .., "anywhere", category] => (
                        effect,
                        ContextScope::Anywhere(RiskCategory::parse(category).ok_or_else(|| {
                            format!(
                                "{category:?} after anywhere is not a risk category; use all or one of {}",
                                category_names()
                            )
                        })?),
                    ),
                    effect => (effect, ContextScope::Covering),
                };
                let effect = match effect {
                    ["cancel"] => ContextEffect::Cancel,
                    ["lower", by] => ContextEffect::Lower(
                        by.parse::<u8>()
                            .ok()
                            .filter(|n| (1..=4).contains(n))
                            .ok_or_else(|| {
                                format!("`lower {by}`: lower by 1 to 4, or write cancel")
                            })?,
                    ),
                    _ => {
                        return Err(format!(
                            "context {id}: say `cancel` or `lower N` (optionally followed by `anywhere CATEGORY`) before the =, as in `context {id} cancel = suicide squad`"
                        ));
                    }
                };
                let id = self.new_id(id)?;
                let phrases = self.phrases(body, compile_context_phrase)?;
                self.library.contexts.push(ContextRule {
                    id,
                    language,
                    effect,
                    scope,
                    phrases,
                });
                Ok(())
            }
            ("misspell", [word], Some(body)) => {
                let language = self.current_language()?;
                let word = single_word(word)?;
                let spellings = body
                    .split_whitespace()
                    .map(single_word)
                    .collect::<Result<Vec<_>, _>>()?;
                if spellings.is_empty() {
                    return Err(format!("misspell {word}: list the misspellings after the ="));
                }
                self.library.misspellings.push(Misspelling {
                    word,
                    language,
                    spellings,
                });
                Ok(())
            }
            ("band", [target, band, adjustment], None) => {
                let band = AgeBand::parse(band).ok_or_else(|| {
                    format!(
                        "{band:?} is not an age band; use one of early_years, primary, secondary, sixth_form, adult"
                    )
                })?;
                let adjustment = match *adjustment {
                    "off" => BandAdjustment::Exclude,
                    shift => BandAdjustment::Shift(
                        shift
                            .strip_prefix('+')
                            .unwrap_or(shift)
                            .parse::<i8>()
                            .ok()
                            .filter(|n| (-4..=4).contains(n) && shift.starts_with(['+', '-']))
                            .ok_or_else(|| {
                                format!(
                                    "{shift:?} is not an adjustment; write off, or a shift from -4 to +4 with its sign, such as +1"
                                )
                            })?,
                    ),
                };
                let target = match RiskCategory::parse(target) {
                    Some(category) => BandTarget::Category(category),
                    None => {
                        check_id(target)?;
                        self.band_entries.push((line, (*target).to_string()));
                        BandTarget::Entry((*target).to_string())
                    }
                };
                let language = self.current_language()?;
                self.library.bands.push(BandRule {
                    language,
                    target,
                    band,
                    adjustment,
                });
                Ok(())
            }
            ("language" | "category", _, _) => Err(format!(
                "write `{keyword} NAME` with one name and no `=`"
            )),
            ("entry", _, _) => Err(
                "write an entry as `entry ID SEVERITY = phrase | phrase`, e.g. `entry en.suicide.end-my-life 4 = end my life`".into(),
            ),
            ("context", _, _) => Err(
                "write a context rule as `context ID cancel = phrase` or `context ID lower N = phrase`".into(),
            ),
            ("misspell", _, _) => Err(
                "write misspellings as `misspell WORD = spelling spelling`, e.g. `misspell suicide = sucide suicde`".into(),
            ),
            ("band", _, _) => Err(
                "write a band rule as `band TARGET BAND off|+N|-N`, e.g. `band pornography adult off`".into(),
            ),
            _ => Err(format!(
                "unknown statement {keyword:?}; use language, category, entry, context, misspell or band"
            )),
        }
    }

    fn current_language(&self) -> Result<String, String> {
        self.language.clone().ok_or_else(|| {
            "no language yet; put a `language CODE` line (e.g. `language en`) at the top".into()
        })
    }

    fn new_id(&mut self, id: &str) -> Result<String, String> {
        check_id(id)?;
        if !self.ids.insert(id.to_string()) {
            return Err(format!(
                "the id {id:?} is used twice in this library; give each entry and context rule its own id"
            ));
        }
        Ok(id.to_string())
    }
}

fn single_word(text: &str) -> Result<String, String> {
    match canonical_words(text).as_slice() {
        [word] => Ok(word.clone()),
        _ => Err(format!(
            "{text:?} is not a single word; misspellings are one word each"
        )),
    }
}

fn category_names() -> String {
    RiskCategory::ALL
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax_error(text: &str) -> (usize, String) {
        match RiskLibrary::parse("test.risk", text) {
            Err(RiskError::Syntax { line, message, .. }) => (line, message),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn builtin_libraries_parse() {
        for (name, text) in BUILTIN {
            if let Err(error) = RiskLibrary::parse(name, text) {
                panic!("{error}");
            }
        }
        let library = RiskLibrary::builtin();
        for (language, at_least) in [("en", 20), ("pl", 8)] {
            for category in RiskCategory::ALL {
                let phrases: usize = library
                    .entries()
                    .filter(|e| e.language == language && e.category == category)
                    .map(|e| e.phrases.len())
                    .sum();
                assert!(
                    phrases >= at_least,
                    "{language} has only {phrases} phrases for {category}"
                );
            }
        }
    }

    #[test]
    fn a_small_library_reads_back() {
        let text = "# a comment\nlanguage en\ncategory drugs\n\nentry en.drugs.coke 3 = cocaine | coke ~1 line\ncontext en.ctx.trial cancel = drug trial*\ncontext en.ctx.song lower 2 = cocaine song\ncontext en.ctx.lesson lower 1 anywhere drugs = pshe lesson\nmisspell cocaine = cocain cocane\nband drugs adult -1\nband en.drugs.coke primary off\n";
        let library = RiskLibrary::parse("test.risk", text).unwrap();
        let entry = library.entries().next().unwrap();
        assert_eq!(entry.id, "en.drugs.coke");
        assert_eq!(entry.category, RiskCategory::Drugs);
        assert_eq!(entry.severity, 3);
        assert_eq!(entry.phrases, ["cocaine", "coke ~1 line"]);
        let contexts: Vec<_> = library.contexts().map(|c| (c.effect, c.scope)).collect();
        assert_eq!(
            contexts,
            [
                (ContextEffect::Cancel, ContextScope::Covering),
                (ContextEffect::Lower(2), ContextScope::Covering),
                (
                    ContextEffect::Lower(1),
                    ContextScope::Anywhere(RiskCategory::Drugs)
                ),
            ]
        );
        assert_eq!(
            library.misspellings().next().unwrap().spellings,
            ["cocain", "cocane"]
        );
        let bands: Vec<_> = library.band_rules().cloned().collect();
        assert_eq!(
            bands,
            [
                BandRule {
                    language: "en".into(),
                    target: BandTarget::Category(RiskCategory::Drugs),
                    band: AgeBand::Adult,
                    adjustment: BandAdjustment::Shift(-1)
                },
                BandRule {
                    language: "en".into(),
                    target: BandTarget::Entry("en.drugs.coke".into()),
                    band: AgeBand::Primary,
                    adjustment: BandAdjustment::Exclude
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let (line, message) = syntax_error("language en\ncategory drugs\nentry en.x 9 = weed\n");
        assert_eq!(line, 3);
        assert!(message.contains("1 (advisory) to 5"), "{message}");

        let (line, message) = syntax_error("language en\ncategory drug\n");
        assert_eq!(line, 2);
        assert!(message.contains("suicide_self_harm"), "{message}");

        let (line, message) = syntax_error("language en\nentry en.x 2 = weed\n");
        assert_eq!(line, 2);
        assert!(message.contains("category NAME"), "{message}");

        let (line, message) = syntax_error(
            "language en\ncategory drugs\nentry en.x 2 = weed\nentry en.x 2 = skunk\n",
        );
        assert_eq!(line, 4);
        assert!(message.contains("used twice"), "{message}");

        let (_, message) = syntax_error("language en\ncategory drugs\nentry en.x 2 = ~2 weed\n");
        assert!(message.contains("between two words"), "{message}");
        let (_, message) =
            syntax_error("language en\ncategory drugs\nentry en.x 2 = weed ~9 now\n");
        assert!(message.contains("~1, ~2 or ~3"), "{message}");
        let (_, message) = syntax_error("language en\ncategory drugs\nentry en.x 2 = we* now\n");
        assert!(message.contains("three letters"), "{message}");
        let (_, message) = syntax_error("language en\ncategory drugs\nentry en.x 2 = weed |\n");
        assert!(message.contains("empty"), "{message}");
        let (_, message) = syntax_error("language en\ncategory drugs\nentry Bad 2 = weed\n");
        assert!(message.contains("lower-case"), "{message}");
        let (_, message) = syntax_error("language en\ncategory drugs\nentry drugs 2 = weed\n");
        assert!(message.contains("category name"), "{message}");

        let (line, message) = syntax_error("language en\nband en.nothing adult off\n");
        assert_eq!(line, 2);
        assert!(
            message.contains("neither a category nor an entry"),
            "{message}"
        );
        let (_, message) = syntax_error("language en\nband drugs adult 2\n");
        assert!(message.contains("with its sign"), "{message}");
        let (_, message) = syntax_error("language en\nband drugs toddlers off\n");
        assert!(message.contains("early_years"), "{message}");
        let (_, message) = syntax_error("language en\nfrobnicate\n");
        assert!(message.contains("unknown statement"), "{message}");
        let (_, message) = syntax_error("language en\ncontext en.c maybe = x\n");
        assert!(message.contains("cancel"), "{message}");
        let (_, message) = syntax_error("language en\ncontext en.c cancel anywhere drug = x\n");
        assert!(message.contains("after anywhere"), "{message}");
        let (_, message) =
            syntax_error("language en\nmisspell suicide = two words\nmisspell x y = z\n");
        assert!(message.contains("misspell"), "{message}");
    }

    #[test]
    fn merge_replaces_entries_with_the_same_id() {
        let mut first = RiskLibrary::parse(
            "a",
            "language en\ncategory drugs\nentry en.a 2 = weed\nentry en.b 2 = skunk\n",
        )
        .unwrap();
        let second =
            RiskLibrary::parse("b", "language en\ncategory drugs\nentry en.a 4 = heroin\n")
                .unwrap();
        first.merge(second);
        let entries: Vec<_> = first
            .entries()
            .map(|e| (e.id.as_str(), e.severity))
            .collect();
        assert_eq!(entries, [("en.a", 4), ("en.b", 2)]);
    }

    #[test]
    fn phrases_compile_to_words_gaps_and_prefixes() {
        assert_eq!(
            compile_phrase("Kill ~2 MYSELF").unwrap(),
            [
                Step::Word("kill".into()),
                Step::Gap(2),
                Step::Word("myself".into())
            ]
        );
        assert_eq!(
            compile_phrase("self-harm suicid*").unwrap(),
            [
                Step::Word("self".into()),
                Step::Word("harm".into()),
                Step::Prefix("suicid".into())
            ]
        );
        assert_eq!(
            compile_phrase("samobójstwo").unwrap(),
            [Step::Word("samobojstwo".into())]
        );
        assert!(compile_phrase("a ~1 ~1 b").is_err());
        assert!(compile_phrase("a ~1").is_err());
        assert!(compile_phrase("").is_err());
    }

    #[test]
    fn context_phrases_alone_may_start_or_end_with_a_gap() {
        assert_eq!(
            compile_context_phrase("what is ~2").unwrap(),
            [
                Step::Word("what".into()),
                Step::Word("is".into()),
                Step::Gap(2)
            ]
        );
        assert_eq!(
            compile_context_phrase("~1 meaning").unwrap(),
            [Step::Gap(1), Step::Word("meaning".into())]
        );
        assert!(compile_phrase("what is ~2").is_err());
        assert!(compile_phrase("~1 meaning").is_err());
        assert!(compile_context_phrase("~2").is_err());
        assert!(compile_context_phrase("a ~1 ~1").is_err());
        let (line, message) = syntax_error("language en\ncategory drugs\nentry en.d 3 = ~1 lsd\n");
        assert_eq!(line, 3);
        assert!(message.contains("cannot start a phrase"), "{message}");
    }

    #[test]
    fn word_lists_become_groups_of_alternatives() {
        let library = RiskLibrary::parse(
            "test.risk",
            "language en\nwords group = muslims | jewish people\nwords bad = vermin | scum\ncategory hate\nentry en.h 4 = @group are ~1 @bad | hate @group\ncontext en.c cancel anywhere all = essay\n",
        )
        .unwrap();
        let entry = library.entries().next().unwrap();
        assert_eq!(
            entry.phrases,
            [
                "{muslims|jewish people} are ~1 {vermin|scum}",
                "hate {muslims|jewish people}",
            ]
        );
        assert_eq!(
            library.contexts().next().map(|c| c.scope),
            Some(ContextScope::AnywhereAll)
        );
    }

    #[test]
    fn word_list_mistakes_are_refused_with_the_fix() {
        let (line, message) =
            syntax_error("language en\ncategory hate\nentry en.h 4 = @group are bad\n");
        assert_eq!(line, 3);
        assert!(message.contains("define it first"), "{message}");
        let (line, message) = syntax_error("language en\nwords g = a\nwords g = b\n");
        assert_eq!(line, 3);
        assert!(message.contains("defined twice"), "{message}");
        let (_, message) = syntax_error("language en\nwords g = a ~1 b\n");
        assert!(message.contains("plain words"), "{message}");
        let (_, message) = syntax_error("language en\nwords Big = a\n");
        assert!(message.contains("lower-case"), "{message}");
        let many = (0..100)
            .map(|n| format!("w{n}"))
            .collect::<Vec<_>>()
            .join(" | ");
        let (_, message) = syntax_error(&format!(
            "language en\nwords many = {many}\ncategory hate\nentry en.h 4 = @many @many\n"
        ));
        assert!(message.contains("expands to more than"), "{message}");
    }
}
