//! Turns text into normalised words for matching, remembering where each word came from.
//!
//! Each word keeps a few spellings ("variants") because some obfuscations are ambiguous: `k1ll`
//! may be `kill` or `klll`, `weeeed` may be `weed` or `wed`. Library phrases go through the same
//! steps (taking the first variant), so both sides always agree on what a word looks like.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// A word of the text: its byte range in the original text and its normalised spellings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub start: usize,
    pub end: usize,
    /// Never empty; the first is the most likely spelling.
    pub variants: Vec<String>,
}

/// Runs of at least this many one-character words are read as one spaced-out word
/// (`s u i c i d e`, `s.u.i.c.i.d.e`).
const MIN_SPACED_RUN: usize = 3;

/// Characters that are only letters in disguise, kept inside words so they can be mapped back.
fn is_leet_symbol(c: char) -> bool {
    matches!(c, '@' | '$' | '!' | '|')
}

/// Apostrophes join the halves of a word (`don't` is `dont`) instead of splitting it.
fn is_ignorable(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{AD}' | '\u{200B}' | '\u{200D}'
    )
}

/// Lower-cases `c` and strips accents, appending the result. Letters with strokes have no
/// decomposition (Polish `ł`, Danish `ø`), so they are mapped by hand.
pub(crate) fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    match c {
        'ł' | 'Ł' => out.push('l'),
        'ø' | 'Ø' => out.push('o'),
        'đ' | 'Đ' | 'ð' | 'Ð' => out.push('d'),
        'ß' | 'ẞ' => out.push_str("ss"),
        'æ' | 'Æ' => out.push_str("ae"),
        'œ' | 'Œ' => out.push_str("oe"),
        'þ' | 'Þ' => out.push_str("th"),
        'ı' => out.push('i'),
        _ => {
            for lower in c.to_lowercase() {
                decompose_canonical(lower, |d| {
                    if !is_combining_mark(d) {
                        out.push(d);
                    }
                });
            }
        }
    }
}

struct RawToken {
    start: usize,
    end: usize,
    folded: String,
}

/// Splits `text` into words and normalises each.
pub(crate) fn tokenise(text: &str) -> Vec<Token> {
    let raw = split_words(text);
    let mut tokens = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        let run_end = raw[index..]
            .iter()
            .position(|t| t.folded.chars().count() != 1)
            .map_or(raw.len(), |offset| index + offset);
        if run_end - index >= MIN_SPACED_RUN {
            let run = &raw[index..run_end];
            let joined: String = run.iter().map(|t| t.folded.as_str()).collect();
            let mut variants = spellings(&joined);
            // "i want a g u n": a leading "a" or "i" is more likely a word of its own.
            if let Some(rest) = joined.strip_prefix(['a', 'i'])
                && rest.chars().count() >= MIN_SPACED_RUN
            {
                for variant in spellings(rest) {
                    push_unique(&mut variants, variant);
                }
            }
            if let (Some(first), Some(last)) = (run.first(), run.last())
                && !variants.is_empty()
            {
                tokens.push(Token {
                    start: first.start,
                    end: last.end,
                    variants,
                });
            }
            index = run_end;
            continue;
        }
        let token = &raw[index];
        let variants = spellings(&token.folded);
        if !variants.is_empty() {
            tokens.push(Token {
                start: token.start,
                end: token.end,
                variants,
            });
        }
        index += 1;
    }
    tokens
}

/// The first normalised spelling of each word: how library phrases are read.
pub(crate) fn canonical_words(text: &str) -> Vec<String> {
    tokenise(text)
        .into_iter()
        .filter_map(|t| t.variants.into_iter().next())
        .collect()
}

fn split_words(text: &str) -> Vec<RawToken> {
    let mut words = Vec::new();
    let mut current: Option<RawToken> = None;
    let mut folded = String::new();
    for (offset, c) in text.char_indices() {
        let end = offset + c.len_utf8();
        if is_ignorable(c) {
            if let Some(word) = current.as_mut() {
                word.end = end;
            }
            continue;
        }
        folded.clear();
        fold_char(c, &mut folded);
        if folded.is_empty() {
            // A lone combining mark belongs to the word it follows.
            if let Some(word) = current.as_mut() {
                word.end = end;
            }
            continue;
        }
        let in_word = folded.chars().all(|f| f.is_alphanumeric()) || is_leet_symbol(c);
        if in_word {
            let word = current.get_or_insert_with(|| RawToken {
                start: offset,
                end: offset,
                folded: String::new(),
            });
            word.end = end;
            word.folded.push_str(&folded);
        } else if let Some(word) = current.take() {
            words.push(word);
        }
    }
    if let Some(word) = current.take() {
        words.push(word);
    }
    // "die!!!" and "!kill": exclamation marks at the edges are punctuation, not letters.
    let edge = |c: char| matches!(c, '!' | '|') || is_ignorable(c);
    for word in &mut words {
        let trimmed = word.folded.trim_matches(['!', '|']);
        if trimmed.len() != word.folded.len() {
            word.folded = trimmed.to_string();
            if let Some(original) = text.get(word.start..word.end) {
                let without_end = original.trim_end_matches(edge);
                let without_both = without_end.trim_start_matches(edge);
                word.start += without_end.len() - without_both.len();
                word.end = word.start + without_both.len();
            }
        }
    }
    words.retain(|w| !w.folded.is_empty());
    words
}

fn push_unique(variants: &mut Vec<String>, candidate: String) {
    if !candidate.is_empty() && !variants.contains(&candidate) {
        variants.push(candidate);
    }
}

/// The spellings a folded word may stand for: leetspeak decoded (both readings of `1`), then
/// long runs of a letter shortened to two (`killll`) and, as a second guess, to one (`diiiie`).
fn spellings(folded: &str) -> Vec<String> {
    let mut variants = Vec::with_capacity(2);
    if !folded.chars().any(char::is_alphabetic) {
        // Numbers stay numbers: `kill -9` must still read as `kill 9`.
        push_unique(&mut variants, folded.to_string());
        return variants;
    }
    let decoded_i = decode_leet(folded, 'i');
    let decoded_l = if folded.contains('1') {
        Some(decode_leet(folded, 'l'))
    } else {
        None
    };
    for decoded in std::iter::once(decoded_i).chain(decoded_l) {
        let (at_most_two, had_long_run) = squeeze_runs(&decoded, 2);
        push_unique(&mut variants, at_most_two);
        if had_long_run {
            // "kiiiill": the stretched letter was single, the double l was real.
            push_unique(&mut variants, shorten_long_runs(&decoded));
            push_unique(&mut variants, squeeze_runs(&decoded, 1).0);
        }
    }
    variants
}

fn decode_leet(folded: &str, one_as: char) -> String {
    folded
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => one_as,
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            '!' => 'i',
            '|' => 'l',
            other => other,
        })
        .collect()
}

/// Shortens runs of three or more of one letter to one, leaving ordinary doubles alone.
fn shorten_long_runs(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut index = 0;
    while let Some(&c) = chars.get(index) {
        let run = chars[index..].iter().take_while(|&&d| d == c).count();
        let keep = if run >= 3 { 1 } else { run };
        out.extend(std::iter::repeat_n(c, keep));
        index += run;
    }
    out
}

/// Shortens every run of one letter to at most `keep` letters; says whether any run was
/// longer than two (the sign of a stretched word rather than an ordinary double letter).
fn squeeze_runs(word: &str, keep: usize) -> (String, bool) {
    let mut out = String::with_capacity(word.len());
    let mut previous = None;
    let mut run = 0;
    let mut had_long_run = false;
    for c in word.chars() {
        if Some(c) == previous {
            run += 1;
        } else {
            previous = Some(c);
            run = 1;
        }
        if run > 2 {
            had_long_run = true;
        }
        if run <= keep {
            out.push(c);
        }
    }
    (out, had_long_run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn firsts(text: &str) -> Vec<String> {
        canonical_words(text)
    }

    fn all_variants(text: &str) -> Vec<Vec<String>> {
        tokenise(text).into_iter().map(|t| t.variants).collect()
    }

    #[test]
    fn case_and_accents_are_folded() {
        assert_eq!(firsts("SUICIDE Café"), ["suicide", "cafe"]);
        assert_eq!(
            firsts("Samobójstwo ŁÓDŹ żółć"),
            ["samobojstwo", "lodz", "zolc"]
        );
        // Decomposed input (e + combining acute) folds the same as precomposed.
        assert_eq!(firsts("cafe\u{301}"), ["cafe"]);
    }

    #[test]
    fn leetspeak_is_decoded_with_both_readings_of_one() {
        assert_eq!(all_variants("k1ll")[0][0], "kill");
        assert!(all_variants("ki11")[0].contains(&"kill".to_string()));
        assert_eq!(
            firsts("mys3lf $uicid3 @n0r3xi@ 5t4b"),
            ["myself", "suicide", "anorexia", "stab"]
        );
    }

    #[test]
    fn numbers_alone_stay_numbers() {
        assert_eq!(firsts("kill -9 1234"), ["kill", "9", "1234"]);
    }

    #[test]
    fn spaced_out_words_are_joined() {
        assert_eq!(firsts("s u i c i d e"), ["suicide"]);
        assert_eq!(firsts("s.u.i.c.i.d.e now"), ["suicide", "now"]);
        assert_eq!(all_variants("i want a g u n")[2], vec!["agun", "gun"]);
        // Two letters are not a spaced-out word.
        assert_eq!(firsts("a b"), ["a", "b"]);
    }

    #[test]
    fn stretched_letters_are_shortened() {
        assert_eq!(all_variants("diiiie"), [vec!["diie", "die"]]);
        assert_eq!(all_variants("weeeeed"), [vec!["weed", "wed"]]);
        assert_eq!(all_variants("kiiiill"), [vec!["kiill", "kill", "kil"]]);
        // An ordinary double letter is left alone and gives no second guess.
        assert_eq!(all_variants("kill"), [vec!["kill"]]);
    }

    #[test]
    fn punctuation_and_apostrophes() {
        assert_eq!(firsts("don't tell!!! mum"), ["dont", "tell", "mum"]);
        assert_eq!(firsts("I’m sad"), ["im", "sad"]);
        assert_eq!(firsts("k!ll"), ["kill"]);
    }

    #[test]
    fn spans_point_into_the_original_text() {
        let text = "Je veux MOURIR, s.u.i.c.i.d.e";
        let tokens = tokenise(text);
        let spans: Vec<&str> = tokens.iter().map(|t| &text[t.start..t.end]).collect();
        assert_eq!(spans, ["Je", "veux", "MOURIR", "s.u.i.c.i.d.e"]);
    }

    proptest! {
        #[test]
        fn never_panics_and_spans_are_char_boundaries(text in "\\PC{0,40}") {
            for token in tokenise(&text) {
                prop_assert!(text.is_char_boundary(token.start));
                prop_assert!(text.is_char_boundary(token.end));
                prop_assert!(token.start < token.end);
                prop_assert!(!token.variants.is_empty());
                for v in &token.variants {
                    prop_assert!(!v.is_empty());
                }
            }
        }

        #[test]
        fn upper_case_and_accents_do_not_change_words(word in "[a-z]{4,12}") {
            let shouted = word.to_uppercase();
            prop_assert_eq!(firsts(&shouted), firsts(&word));
            // An accent on every vowel is stripped again.
            let accented: String = word.chars().map(|c| match c {
                'a' => 'á', 'e' => 'é', 'i' => 'í', 'o' => 'ó', 'u' => 'ú', other => other,
            }).collect();
            prop_assert_eq!(firsts(&accented), firsts(&word));
        }

        #[test]
        fn spacing_out_a_word_gives_it_back(word in "[a-z]{4,12}") {
            let spaced: String = word.chars().map(|c| format!("{c} ")).collect();
            let dotted: String = word.chars().map(|c| format!("{c}.")).collect();
            let tokens = tokenise(&spaced);
            prop_assert_eq!(tokens.len(), 1);
            prop_assert!(tokens[0].variants.iter().any(|v| *v == squeeze_runs(&word, 2).0));
            let tokens = tokenise(&dotted);
            prop_assert!(tokens[0].variants.iter().any(|v| *v == squeeze_runs(&word, 2).0));
        }

        #[test]
        fn stretching_a_letter_keeps_a_reading_of_the_word(word in "[a-z]{3,10}", at in 0usize..10, times in 3usize..8) {
            let at = at % word.len();
            let (head, tail) = word.split_at(at);
            let letter = &tail[..1];
            let stretched = format!("{head}{}{}", letter.repeat(times), &tail[1..]);
            let tokens = tokenise(&stretched);
            prop_assert_eq!(tokens.len(), 1);
            let expected = squeeze_runs(&word, 2).0;
            let squeezed_once = squeeze_runs(&word, 1).0;
            prop_assert!(tokens[0].variants.iter().any(|v| *v == expected || *v == squeezed_once),
                "{:?} from {:?}", tokens[0].variants, stretched);
        }
    }
}
