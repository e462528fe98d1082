//! The classifier: risk libraries and a school's tuning compiled into one word trie.
//!
//! Every phrase of every entry and context rule becomes a path in a trie keyed by normalised
//! words, with prefix edges (`suicid*`), gap edges (`~2`) and word-list edges (`@groups`). A
//! word list is one edge into a small trie of its own, shared by every phrase that uses it, so
//! the built-in libraries' phrases (about 350,000 once every list is written out) stay a few
//! thousand paths: building takes tens of milliseconds and about 10 MB rather than a second and
//! 150 MB. A text is tokenised once, its words numbered against the trie's vocabulary, and the
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

/// The word and prefix edges of a node, in the phrase trie and in a word list's trie alike.
#[derive(Debug, Default)]
struct WordEdges {
    /// (word id, child), sorted by word id.
    words: Vec<(u32, usize)>,
    /// Sorted by `head` once the classifier is built.
    prefixes: Vec<(Box<str>, usize)>,
}

impl WordEdges {
    /// The child a word step (`word` is its id) or a prefix step already leads to.
    fn child(&self, step: &Step, word: u32) -> Option<usize> {
        match step {
            Step::Word(_) => edge(&self.words, word),
            Step::Prefix(prefix) => self
                .prefixes
                .iter()
                .find(|(p, _)| **p == **prefix)
                .map(|(_, child)| *child),
            Step::Gap(_) | Step::Choice(_) => None,
        }
    }

    /// Adds an edge for a word or prefix step; other steps are not word edges.
    fn add(&mut self, step: &Step, word: u32, child: usize) {
        match step {
            Step::Word(_) => add_edge(&mut self.words, word, child),
            Step::Prefix(prefix) => self.prefixes.push((prefix.as_str().into(), child)),
            Step::Gap(_) | Step::Choice(_) => {}
        }
    }

    /// Calls `next` with each child the token at `position` leads to: by one of its words,
    /// then by a prefix one of them starts with (each child once).
    fn follow(&self, text: &Text, position: usize, mut next: impl FnMut(usize)) {
        let Some(token) = text.tokens.get(position) else {
            return;
        };
        // Variants of a token are distinct, so each leads to a different child.
        for &word in text.words_at(position) {
            if let Some(child) = edge(&self.words, word) {
                next(child);
            }
        }
        for child in prefix_children(&self.prefixes, token) {
            next(child);
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    edges: WordEdges,
    gaps: Vec<(u8, usize)>,
    /// Word-list steps: (index into `Classifier::choices`, child).
    choices: Vec<(usize, usize)>,
    accepts: Vec<Target>,
}

/// One node of a word list's own small trie; `end`: an alternative ends here.
#[derive(Debug, Default)]
struct ChoiceNode {
    edges: WordEdges,
    end: bool,
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
    /// Every word the phrases use, numbered: a text's words are looked up here once, and the
    /// trie's edges compare numbers.
    vocabulary: HashMap<Box<str>, u32>,
    nodes: Vec<Node>,
    /// The tries of the word lists the phrases use, each list once however often it is used;
    /// `choices` holds each list's root in `choice_nodes`.
    choice_nodes: Vec<ChoiceNode>,
    choices: Vec<usize>,
    /// By word id, the word lists with an alternative starting with that word; and the word
    /// lists with an alternative starting with a prefix. A text's words are checked against
    /// these once, so that the walk tries a list only where one of its alternatives can start.
    choices_by_first_word: Vec<Vec<usize>>,
    /// Sorted by the prefix's first three bytes (a prefix has at least three letters), so a
    /// word is compared only with the prefixes that begin as it does.
    choices_by_first_prefix: Vec<([u8; 3], Box<str>, usize)>,
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
            vocabulary: HashMap::new(),
            nodes: vec![Node::default()],
            choice_nodes: Vec::new(),
            choices: Vec::new(),
            choices_by_first_word: Vec::new(),
            choices_by_first_prefix: Vec::new(),
            entries: Vec::with_capacity(entries.len()),
            contexts: Vec::new(),
            misspellings: HashMap::new(),
            squashed: None,
            squashed_targets: Vec::new(),
        };
        let mut squashed_patterns = Vec::new();
        let mut squashed_seen = HashSet::new();
        let mut choice_ids = HashMap::new();
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
                classifier.insert(&steps, Target::Entry(index), &mut choice_ids);
                for squashed in squash(&steps) {
                    if squashed_seen.insert((squashed.clone(), Target::Entry(index))) {
                        squashed_patterns.push(squashed);
                        classifier.squashed_targets.push(Target::Entry(index));
                    }
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
                classifier.insert(&steps, Target::Context(index), &mut choice_ids);
                for squashed in squash(&steps) {
                    if squashed_seen.insert((squashed.clone(), Target::Context(index))) {
                        squashed_patterns.push(squashed);
                        classifier.squashed_targets.push(Target::Context(index));
                    }
                }
            }
        }
        classifier.index_choice_starts();
        classifier.sort_edges();
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

    fn insert(
        &mut self,
        steps: &[Step],
        target: Target,
        choice_ids: &mut HashMap<Vec<Vec<Step>>, usize>,
    ) {
        let mut node = 0;
        for step in steps {
            let choice = match step {
                Step::Choice(alternatives) => Some(self.choice(alternatives, choice_ids)),
                _ => None,
            };
            let word = self.step_word(step);
            let existing = self.nodes.get(node).and_then(|n| match step {
                Step::Word(_) | Step::Prefix(_) => n.edges.child(step, word),
                Step::Gap(gap) => n.gaps.iter().find(|(g, _)| g == gap).map(|(_, c)| *c),
                Step::Choice(_) => n
                    .choices
                    .iter()
                    .find(|(c, _)| Some(*c) == choice)
                    .map(|(_, child)| *child),
            });
            node = match existing {
                Some(child) => child,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(Node::default());
                    if let Some(n) = self.nodes.get_mut(node) {
                        match step {
                            Step::Word(_) | Step::Prefix(_) => n.edges.add(step, word, child),
                            Step::Gap(gap) => n.gaps.push((*gap, child)),
                            Step::Choice(_) => {
                                if let Some(choice) = choice {
                                    n.choices.push((choice, child));
                                }
                            }
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

    /// The index of the trie for a word list, built the first time the list is seen.
    fn choice(
        &mut self,
        alternatives: &[Vec<Step>],
        choice_ids: &mut HashMap<Vec<Vec<Step>>, usize>,
    ) -> usize {
        if let Some(&id) = choice_ids.get(alternatives) {
            return id;
        }
        let root = self.choice_nodes.len();
        self.choice_nodes.push(ChoiceNode::default());
        for alternative in alternatives {
            let mut node = root;
            for step in alternative {
                let word = self.step_word(step);
                // Groups hold only words and prefixes (see `compile_group`).
                let existing = self
                    .choice_nodes
                    .get(node)
                    .and_then(|n| n.edges.child(step, word));
                node = match existing {
                    Some(child) => child,
                    None => {
                        let child = self.choice_nodes.len();
                        self.choice_nodes.push(ChoiceNode::default());
                        if let Some(n) = self.choice_nodes.get_mut(node) {
                            n.edges.add(step, word, child);
                        }
                        child
                    }
                };
            }
            if let Some(n) = self.choice_nodes.get_mut(node) {
                n.end = true;
            }
        }
        let id = self.choices.len();
        self.choices.push(root);
        choice_ids.insert(alternatives.to_vec(), id);
        id
    }

    /// Sorts prefix edges by their first bytes and word-list edges by list, for the walk's
    /// lookups.
    fn sort_edges(&mut self) {
        for node in &mut self.nodes {
            node.edges.prefixes.sort_by_key(|(prefix, _)| head(prefix));
            node.choices.sort_unstable();
        }
        for node in &mut self.choice_nodes {
            node.edges.prefixes.sort_by_key(|(prefix, _)| head(prefix));
        }
    }

    fn index_choice_starts(&mut self) {
        let mut by_word = vec![Vec::new(); self.vocabulary.len()];
        let mut by_prefix = Vec::new();
        for (choice, &root) in self.choices.iter().enumerate() {
            let Some(root) = self.choice_nodes.get(root) else {
                continue;
            };
            for &(word, _) in &root.edges.words {
                if let Some(list) = by_word.get_mut(word as usize) {
                    list.push(choice);
                }
            }
            for (prefix, _) in &root.edges.prefixes {
                by_prefix.push((head(prefix), prefix.clone(), choice));
            }
        }
        by_prefix.sort_unstable_by_key(|(head, _, _)| *head);
        self.choices_by_first_word = by_word;
        self.choices_by_first_prefix = by_prefix;
    }

    /// The vocabulary id of a word step, for `WordEdges`; other steps do not use it (0).
    fn step_word(&mut self, step: &Step) -> u32 {
        match step {
            Step::Word(word) => self.word_id(word),
            Step::Prefix(_) | Step::Gap(_) | Step::Choice(_) => 0,
        }
    }

    fn word_id(&mut self, word: &str) -> u32 {
        let next = u32::try_from(self.vocabulary.len()).unwrap_or(u32::MAX);
        *self.vocabulary.entry(word.into()).or_insert(next)
    }

    fn find(&self, tokens: &[Token]) -> Vec<Hit> {
        let mut hits = Vec::new();
        let words: Vec<Vec<u32>> = tokens
            .iter()
            .map(|token| {
                token
                    .variants
                    .iter()
                    .filter_map(|v| self.vocabulary.get(v.as_str()).copied())
                    .collect()
            })
            .collect();
        let blocks = self.choices.len().div_ceil(64);
        let mut choice_starts = vec![0u64; blocks * tokens.len()];
        for (position, token) in tokens.iter().enumerate() {
            let mut mark = |choice: usize| {
                if let Some(block) = choice_starts.get_mut(position * blocks + choice / 64) {
                    *block |= 1 << (choice % 64);
                }
            };
            for &word in words.get(position).map_or(&[][..], Vec::as_slice) {
                for &choice in self
                    .choices_by_first_word
                    .get(word as usize)
                    .into_iter()
                    .flatten()
                {
                    mark(choice);
                }
            }
            for variant in &token.variants {
                let head = head(variant);
                let from = self
                    .choices_by_first_prefix
                    .partition_point(|(h, _, _)| *h < head);
                for (_, prefix, choice) in self
                    .choices_by_first_prefix
                    .iter()
                    .skip(from)
                    .take_while(|(h, _, _)| *h == head)
                {
                    if variant.starts_with(&**prefix) {
                        mark(*choice);
                    }
                }
            }
        }
        let text = Text {
            tokens,
            words: &words,
            choice_starts: &choice_starts,
            blocks,
        };
        for first in 0..tokens.len() {
            self.walk(0, first, first, &text, &mut hits);
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

    fn walk(&self, node: usize, position: usize, first: usize, text: &Text, hits: &mut Vec<Hit>) {
        let tokens = text.tokens;
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
        if position >= tokens.len() {
            return;
        }
        n.edges.follow(text, position, |child| {
            self.walk(child, position + 1, first, text, hits)
        });
        for &(gap, child) in &n.gaps {
            // `<=`: a context phrase may end in a gap that runs to the end of the text.
            for skip in 0..=usize::from(gap) {
                if position + skip <= tokens.len() {
                    self.walk(child, position + skip, first, text, hits);
                }
            }
        }
        for (choice, child) in self.startable_choices(n, position, text) {
            let mut ends = Vec::new();
            if let Some(&root) = self.choices.get(choice) {
                self.choice_ends(root, position, text, &mut ends);
            }
            // Two alternatives may read the same words ("gay" and "gay*"): continue once.
            ends.sort_unstable();
            ends.dedup();
            for end in ends {
                self.walk(child, end, first, text, hits);
            }
        }
    }

    /// The word-list edges of `n` whose lists can start at `position`. The root has an edge for
    /// most lists, so there the few lists that can start are looked up among its edges; other
    /// nodes have one or two, which are checked directly.
    fn startable_choices(&self, n: &Node, position: usize, text: &Text) -> Vec<(usize, usize)> {
        if n.choices.len() <= 8 {
            return n
                .choices
                .iter()
                .filter(|(choice, _)| text.may_start(position, *choice))
                .copied()
                .collect();
        }
        text.startable(position)
            .filter_map(|choice| {
                n.choices
                    .binary_search_by_key(&choice, |&(c, _)| c)
                    .ok()
                    .and_then(|i| n.choices.get(i))
                    .copied()
            })
            .collect()
    }

    /// Where the alternatives of a word list that match from `position` end (the position
    /// after their last word).
    fn choice_ends(&self, node: usize, position: usize, text: &Text, ends: &mut Vec<usize>) {
        let Some(n) = self.choice_nodes.get(node) else {
            return;
        };
        if n.end {
            ends.push(position);
        }
        n.edges.follow(text, position, |child| {
            self.choice_ends(child, position + 1, text, ends)
        });
    }
}

/// A text being matched: its tokens, and for each token the ids of those of its variants
/// that are in the vocabulary.
struct Text<'a> {
    tokens: &'a [Token],
    words: &'a [Vec<u32>],
    /// Per token, a bit per word list: whether one of its alternatives can start there.
    choice_starts: &'a [u64],
    blocks: usize,
}

impl Text<'_> {
    fn may_start(&self, position: usize, choice: usize) -> bool {
        self.choice_starts
            .get(position * self.blocks + choice / 64)
            .is_some_and(|block| block & (1 << (choice % 64)) != 0)
    }

    /// The lists that can start at `position`, in increasing order.
    fn startable(&self, position: usize) -> impl Iterator<Item = usize> + '_ {
        let from = position * self.blocks;
        self.choice_starts
            .get(from..from + self.blocks)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .flat_map(|(index, &block)| {
                (0..64)
                    .filter(move |bit| block & (1 << bit) != 0)
                    .map(move |bit| index * 64 + bit)
            })
    }

    fn words_at(&self, position: usize) -> &[u32] {
        self.words.get(position).map_or(&[], Vec::as_slice)
    }
}

/// The children of the prefix edges (sorted by `head`) that one of the token's variants
/// starts with, each once.
fn prefix_children(prefixes: &[(Box<str>, usize)], token: &Token) -> Vec<usize> {
    let mut children = Vec::new();
    if prefixes.is_empty() {
        return children;
    }
    for variant in &token.variants {
        let wanted = head(variant);
        let from = prefixes.partition_point(|(prefix, _)| head(prefix) < wanted);
        for (prefix, child) in prefixes
            .iter()
            .skip(from)
            .take_while(|(prefix, _)| head(prefix) == wanted)
        {
            if variant.starts_with(&**prefix) && !children.contains(child) {
                children.push(*child);
            }
        }
    }
    children
}

/// The first three bytes of a word, zero-padded.
fn head(word: &str) -> [u8; 3] {
    let mut head = [0; 3];
    for (slot, byte) in head.iter_mut().zip(word.bytes()) {
        *slot = byte;
    }
    head
}

/// The child reached by `word` from a sorted edge list.
fn edge(edges: &[(u32, usize)], word: u32) -> Option<usize> {
    edges
        .binary_search_by_key(&word, |&(w, _)| w)
        .ok()
        .and_then(|i| edges.get(i))
        .map(|&(_, child)| child)
}

/// Adds an edge, keeping the list sorted; an edge for `word` already there is kept.
fn add_edge(edges: &mut Vec<(u32, usize)>, word: u32, child: usize) {
    if let Err(at) = edges.binary_search_by_key(&word, |&(w, _)| w) {
        edges.insert(at, (word, child));
    }
}

/// A multi-word phrase of plain words, written without spaces, if long enough to look for
/// inside run-together text.
fn squash(steps: &[Step]) -> Vec<String> {
    // Every reading of the phrase as plain words (a word list gives one reading per
    // alternative; compiling bounds their number); a prefix or a gap ends the attempt.
    let mut readings: Vec<Vec<&str>> = vec![Vec::new()];
    for step in steps {
        match step {
            Step::Word(word) => readings.iter_mut().for_each(|r| r.push(word)),
            Step::Prefix(_) | Step::Gap(_) => return Vec::new(),
            Step::Choice(alternatives) => {
                let plain: Vec<Vec<&str>> = alternatives
                    .iter()
                    .filter_map(|alternative| {
                        alternative
                            .iter()
                            .map(|step| match step {
                                Step::Word(word) => Some(word.as_str()),
                                _ => None,
                            })
                            .collect()
                    })
                    .collect();
                readings = readings
                    .iter()
                    .flat_map(|reading| {
                        plain.iter().map(move |words| {
                            let mut longer = reading.clone();
                            longer.extend(words);
                            longer
                        })
                    })
                    .collect();
            }
        }
    }
    readings
        .into_iter()
        .filter(|words| words.len() >= 2)
        .map(|words| words.concat())
        .filter(|joined| joined.len() >= MIN_SQUASHED_LEN)
        .collect()
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
