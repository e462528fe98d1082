//! The classifier: risk libraries and a school's tuning compiled into one word trie.
//!
//! Every phrase of every entry and context rule becomes a path in a trie keyed by normalised
//! words, with prefix edges (`suicid*`) and gap edges (`~2`). A text is tokenised once and the
//! trie is walked from each word, so the cost grows with the text, not with the library. Phrases
//! written without spaces (`killmyself.com`, `#endmylife`) are found by one Aho-Corasick
//! automaton over the run-together forms of the multi-word phrases.

use std::collections::{HashMap, HashSet};

use aho_corasick::AhoCorasick;

use crate::library::{Step, compile_context_phrase, compile_phrase, validate_entry};
use crate::normalise::{Token, tokenise};
use crate::{
    AgeBand, BandAdjustment, BandTarget, ContextEffect, ContextScope, RiskCategory, RiskEntry,
    RiskError, RiskLibrary, RiskMatch, Tuning,
};

/// Run-together phrases shorter than this are too likely to occur inside innocent words.
const MIN_SQUASHED_LEN: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Target {
    Entry(usize),
    Context(usize),
}

#[derive(Debug, Default)]
struct Node {
    words: HashMap<Box<str>, usize>,
    prefixes: Vec<(Box<str>, usize)>,
    gaps: Vec<(u8, usize)>,
    accepts: Vec<Target>,
}

#[derive(Debug)]
struct CompiledEntry {
    id: String,
    category: RiskCategory,
    language: String,
    /// Severity per [`AgeBand`] (by its index) after the age-band profile; `None`: no concern.
    severity_by_band: [Option<u8>; 5],
}

/// A phrase found in the text, by word positions (inclusive).
#[derive(Clone, Copy, Debug)]
struct Hit {
    target: Target,
    first: usize,
    last: usize,
}

/// Libraries and tuning compiled for matching. Build it once and share it; `classify` takes
/// `&self` and allocates only for the words of the text.
#[derive(Debug)]
pub struct Classifier {
    nodes: Vec<Node>,
    entries: Vec<CompiledEntry>,
    contexts: Vec<(ContextEffect, ContextScope)>,
    misspellings: HashMap<String, String>,
    squashed: Option<AhoCorasick>,
    squashed_targets: Vec<Target>,
}

impl Classifier {
    /// Compiles `library` with a school's `tuning` applied in order.
    pub fn new(library: &RiskLibrary, tuning: &[Tuning]) -> Result<Classifier, RiskError> {
        let mut entries: Vec<RiskEntry> = library.entries().cloned().collect();
        for change in tuning {
            match change {
                Tuning::Disable { entry } => {
                    let before = entries.len();
                    entries.retain(|e| &e.id != entry);
                    if entries.len() == before {
                        return Err(RiskError::UnknownEntry {
                            entry: entry.clone(),
                        });
                    }
                }
                Tuning::SetSeverity { entry, severity } => {
                    if !(1..=5).contains(severity) {
                        return Err(RiskError::BadSeverity {
                            entry: entry.clone(),
                            severity: *severity,
                        });
                    }
                    let found = entries.iter_mut().find(|e| &e.id == entry).ok_or_else(|| {
                        RiskError::UnknownEntry {
                            entry: entry.clone(),
                        }
                    })?;
                    found.severity = *severity;
                }
                Tuning::Add { entry } => {
                    validate_entry(entry)?;
                    if entries.iter().any(|e| e.id == entry.id) {
                        return Err(RiskError::DuplicateEntry {
                            entry: entry.id.clone(),
                        });
                    }
                    entries.push(entry.clone());
                }
            }
        }

        let mut classifier = Classifier {
            nodes: vec![Node::default()],
            entries: Vec::with_capacity(entries.len()),
            contexts: Vec::new(),
            misspellings: HashMap::new(),
            squashed: None,
            squashed_targets: Vec::new(),
        };
        let mut squashed_patterns = Vec::new();
        let mut squashed_seen = HashSet::new();
        for (index, entry) in entries.iter().enumerate() {
            classifier.entries.push(CompiledEntry {
                id: entry.id.clone(),
                category: entry.category,
                language: entry.language.clone(),
                severity_by_band: severity_by_band(library, entry),
            });
            for phrase in &entry.phrases {
                let steps = compile_phrase(phrase).map_err(|problem| RiskError::BadEntry {
                    entry: entry.id.clone(),
                    problem: format!("phrase {phrase:?}: {problem}"),
                })?;
                classifier.insert(&steps, Target::Entry(index));
                if let Some(squashed) = squash(&steps)
                    && squashed_seen.insert((squashed.clone(), Target::Entry(index)))
                {
                    squashed_patterns.push(squashed);
                    classifier.squashed_targets.push(Target::Entry(index));
                }
            }
        }
        for (index, context) in library.contexts().enumerate() {
            classifier.contexts.push((context.effect, context.scope));
            for phrase in &context.phrases {
                let steps =
                    compile_context_phrase(phrase).map_err(|problem| RiskError::BadEntry {
                        entry: context.id.clone(),
                        problem: format!("phrase {phrase:?}: {problem}"),
                    })?;
                classifier.insert(&steps, Target::Context(index));
                if let Some(squashed) = squash(&steps)
                    && squashed_seen.insert((squashed.clone(), Target::Context(index)))
                {
                    squashed_patterns.push(squashed);
                    classifier.squashed_targets.push(Target::Context(index));
                }
            }
        }
        for misspelling in library.misspellings() {
            for spelling in &misspelling.spellings {
                classifier
                    .misspellings
                    .insert(spelling.clone(), misspelling.word.clone());
            }
        }
        if !squashed_patterns.is_empty() {
            classifier.squashed = Some(AhoCorasick::new(&squashed_patterns).map_err(|error| {
                RiskError::BadEntry {
                    entry: "(run-together phrases)".to_string(),
                    problem: format!("the phrases could not be compiled: {error}"),
                }
            })?);
        }
        Ok(classifier)
    }

    /// The most severe risk in `text` for someone in `band`, after context rules; `None` if
    /// there is none. Ties go to the longer match, then the earlier one.
    pub fn classify(&self, text: &str, band: AgeBand) -> Option<RiskMatch> {
        let mut tokens = tokenise(text);
        if tokens.is_empty() {
            return None;
        }
        if !self.misspellings.is_empty() {
            for token in &mut tokens {
                let corrected: Vec<String> = token
                    .variants
                    .iter()
                    .filter_map(|v| self.misspellings.get(v))
                    .filter(|word| !token.variants.contains(word))
                    .cloned()
                    .collect();
                token.variants.extend(corrected);
            }
        }
        let hits = self.find(&tokens);
        let mut best: Option<(u8, usize, usize, Hit, usize)> = None;
        for hit in &hits {
            let Target::Entry(index) = hit.target else {
                continue;
            };
            let Some(entry) = self.entries.get(index) else {
                continue;
            };
            let Some(mut severity) = entry.severity_by_band[band.index()] else {
                continue;
            };
            let mut cancelled = false;
            let mut lower = 0u8;
            for context in &hits {
                let Target::Context(c) = context.target else {
                    continue;
                };
                let Some((effect, scope)) = self.contexts.get(c) else {
                    continue;
                };
                let applies = match scope {
                    ContextScope::Covering => {
                        context.first <= hit.first && context.last >= hit.last
                    }
                    ContextScope::Anywhere(category) => *category == entry.category,
                    ContextScope::AnywhereAll => true,
                };
                if applies {
                    match effect {
                        ContextEffect::Cancel => cancelled = true,
                        ContextEffect::Lower(by) => lower = lower.max(*by),
                    }
                }
            }
            severity = severity.saturating_sub(lower);
            if cancelled || severity == 0 {
                continue;
            }
            let length = hit.last - hit.first;
            let better = match &best {
                None => true,
                Some((s, l, first, _, _)) => {
                    (severity, length, std::cmp::Reverse(hit.first))
                        > (*s, *l, std::cmp::Reverse(*first))
                }
            };
            if better {
                best = Some((severity, length, hit.first, *hit, index));
            }
        }
        let (severity, _, _, hit, index) = best?;
        let entry = self.entries.get(index)?;
        let start = tokens.get(hit.first)?.start;
        let end = tokens.get(hit.last)?.end;
        Some(RiskMatch {
            category: entry.category,
            severity,
            entry: entry.id.clone(),
            matched: text.get(start..end)?.to_string(),
            language: entry.language.clone(),
        })
    }

    /// Classifies the words of a URL: host labels, path segments and query values (not query
    /// keys), percent-decoded. `matched` is then a span of that decoded text.
    pub fn classify_url(&self, url: &str, band: AgeBand) -> Option<RiskMatch> {
        self.classify(&url_words(url), band)
    }

    fn insert(&mut self, steps: &[Step], target: Target) {
        let mut node = 0;
        for step in steps {
            let existing = self.nodes.get(node).and_then(|n| match step {
                Step::Word(word) => n.words.get(word.as_str()).copied(),
                Step::Prefix(prefix) => n
                    .prefixes
                    .iter()
                    .find(|(p, _)| **p == **prefix)
                    .map(|(_, child)| *child),
                Step::Gap(gap) => n.gaps.iter().find(|(g, _)| g == gap).map(|(_, c)| *c),
            });
            node = match existing {
                Some(child) => child,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(Node::default());
                    if let Some(n) = self.nodes.get_mut(node) {
                        match step {
                            Step::Word(word) => {
                                n.words.insert(word.as_str().into(), child);
                            }
                            Step::Prefix(prefix) => {
                                n.prefixes.push((prefix.as_str().into(), child))
                            }
                            Step::Gap(gap) => n.gaps.push((*gap, child)),
                        }
                    }
                    child
                }
            };
        }
        if let Some(n) = self.nodes.get_mut(node) {
            n.accepts.push(target);
        }
    }

    fn find(&self, tokens: &[Token]) -> Vec<Hit> {
        let mut hits = Vec::new();
        for first in 0..tokens.len() {
            self.walk(0, first, first, tokens, &mut hits);
        }
        if let Some(automaton) = &self.squashed {
            for (position, token) in tokens.iter().enumerate() {
                for variant in token
                    .variants
                    .iter()
                    .filter(|v| v.len() >= MIN_SQUASHED_LEN)
                {
                    for found in automaton.find_overlapping_iter(variant.as_str()) {
                        if let Some(target) = self.squashed_targets.get(found.pattern().as_usize())
                        {
                            hits.push(Hit {
                                target: *target,
                                first: position,
                                last: position,
                            });
                        }
                    }
                }
            }
        }
        hits
    }

    fn walk(
        &self,
        node: usize,
        position: usize,
        first: usize,
        tokens: &[Token],
        hits: &mut Vec<Hit>,
    ) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        if position > first {
            for target in &n.accepts {
                hits.push(Hit {
                    target: *target,
                    first,
                    last: position - 1,
                });
            }
        }
        let Some(token) = tokens.get(position) else {
            return;
        };
        // Variants of a token are distinct, so each leads to a different child.
        for variant in &token.variants {
            if let Some(&child) = n.words.get(variant.as_str()) {
                self.walk(child, position + 1, first, tokens, hits);
            }
        }
        for (prefix, child) in &n.prefixes {
            if token.variants.iter().any(|v| v.starts_with(&**prefix)) {
                self.walk(*child, position + 1, first, tokens, hits);
            }
        }
        for &(gap, child) in &n.gaps {
            // `<=`: a context phrase may end in a gap that runs to the end of the text.
            for skip in 0..=usize::from(gap) {
                if position + skip <= tokens.len() {
                    self.walk(child, position + skip, first, tokens, hits);
                }
            }
        }
    }
}

/// A multi-word phrase of plain words, written without spaces, if long enough to look for
/// inside run-together text.
fn squash(steps: &[Step]) -> Option<String> {
    if steps.len() < 2 {
        return None;
    }
    let mut joined = String::new();
    for step in steps {
        match step {
            Step::Word(word) => joined.push_str(word),
            Step::Prefix(_) | Step::Gap(_) => return None,
        }
    }
    (joined.len() >= MIN_SQUASHED_LEN).then_some(joined)
}

fn severity_by_band(library: &RiskLibrary, entry: &RiskEntry) -> [Option<u8>; 5] {
    let mut result = [None; 5];
    for band in AgeBand::ALL {
        let mut shift: i16 = 0;
        let mut excluded = false;
        for rule in library.band_rules().filter(|r| r.band == band) {
            let applies = match &rule.target {
                BandTarget::Category(category) => {
                    *category == entry.category && rule.language == entry.language
                }
                BandTarget::Entry(id) => *id == entry.id,
            };
            if applies {
                match rule.adjustment {
                    BandAdjustment::Exclude => excluded = true,
                    BandAdjustment::Shift(by) => shift += i16::from(by),
                }
            }
        }
        let severity = i16::from(entry.severity) + shift;
        if !excluded && severity >= 1 {
            result[band.index()] = u8::try_from(severity.min(5)).ok();
        }
    }
    result
}

/// The words of a URL as text: host labels, path segments and query values.
fn url_words(url: &str) -> String {
    let without_fragment = url.split('#').next().unwrap_or("");
    let rest = match without_fragment.split_once("://") {
        Some((_, rest)) => rest,
        None => without_fragment,
    };
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path_and_query, ""),
    };
    let mut words = String::with_capacity(url.len());
    words.push_str(host);
    words.push(' ');
    words.push_str(&percent_decode(path));
    for pair in query.split(['&', ';']) {
        let value = pair.split_once('=').map_or(pair, |(_, value)| value);
        words.push(' ');
        words.push_str(&percent_decode(&value.replace('+', " ")));
    }
    words
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(index + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(index + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push((high * 16 + low) as u8);
            index += 3;
            continue;
        }
        out.push(byte);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
