//! Password rules for staff accounts, and argon2id hashing.
//!
//! The rules follow current guidance (NCSC, NIST SP 800-63B): a minimum length and a deny list
//! of passwords that attackers try first, rather than composition rules that make people
//! write passwords down. A password is refused when:
//!
//! - it has fewer than [`MIN_CHARS`] characters or more than [`MAX_CHARS`] (characters are
//!   Unicode scalar values, so "éééééééééé" is ten, not twenty);
//! - it contains the account's user name or a part of the person's name;
//! - it is a run of one repeated pattern or a plain sequence (`aaaaaaaaaa`, `abcdefghij`);
//! - it is a common password: compared without regard to case, with digits and punctuation
//!   trimmed from both ends and common letter substitutions undone, so `P@ssw0rd123` and
//!   `Dragon2024!` are refused as `password` and `dragon`.
//!
//! The common-password list is `lists/builtin/common-passwords.txt`, compiled into the crate;
//! its source and licence are in `lists/builtin/README.md`.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};

/// The fewest characters a password may have.
pub const MIN_CHARS: usize = 10;
/// The most characters a password may have: long passphrases are welcome, but a form field
/// is not a place to send megabytes to the hasher.
pub const MAX_CHARS: usize = 256;

/// Why a new password was refused. Each message tells the person what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error(
        "the password has {characters} characters but needs at least {minimum}; a few \
         unrelated words together make a long password that is easy to remember"
    )]
    TooShort {
        /// How many characters it has.
        characters: usize,
        /// The minimum, [`MIN_CHARS`].
        minimum: usize,
    },
    /// More than [`MAX_CHARS`] characters.
    #[error(
        "the password has {characters} characters but may have at most {maximum}; choose a \
         shorter one"
    )]
    TooLong {
        /// How many characters it has.
        characters: usize,
        /// The maximum, [`MAX_CHARS`].
        maximum: usize,
    },
    /// It contains the user name.
    #[error(
        "the password contains your user name, which is the first thing an attacker tries; \
         choose one without it"
    )]
    ContainsUsername,
    /// It contains part of the person's name.
    #[error(
        "the password contains part of your name, which is easy to guess; choose one without it"
    )]
    ContainsName,
    /// It repeats one short pattern or runs through a sequence.
    #[error(
        "the password is a repeated pattern or a simple sequence (like \"aaaaaaaaaa\" or \
         \"1234567890\"), which is guessed at once; choose something less regular"
    )]
    TooSimple,
    /// It is on the list of common passwords, perhaps with a few digits or symbols added or
    /// letters swapped for look-alikes.
    #[error(
        "the password is one of the most common passwords (even with capitals, digits or \
         symbols added, or letters swapped for look-alikes like @ and 0), so it is among the \
         first an attacker tries; choose something unrelated, such as three or four random words"
    )]
    Common,
}

/// Hashing a password failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the password could not be hashed ({detail}); try again, and if it keeps failing check \
     that the server's random number source works"
)]
pub struct HashError {
    /// What the hasher reported.
    pub detail: String,
}

/// Checks a new password against the rules in the module documentation. `username` and
/// `display_name` are the account's, so the password cannot be built from them.
pub fn check_new_password(
    password: &str,
    username: &str,
    display_name: &str,
) -> Result<(), PasswordProblem> {
    let characters = password.chars().count();
    if characters < MIN_CHARS {
        return Err(PasswordProblem::TooShort {
            characters,
            minimum: MIN_CHARS,
        });
    }
    if characters > MAX_CHARS {
        return Err(PasswordProblem::TooLong {
            characters,
            maximum: MAX_CHARS,
        });
    }
    let lower = password.to_lowercase();
    if contains_username(&lower, username) {
        return Err(PasswordProblem::ContainsUsername);
    }
    if contains_name(&lower, display_name) {
        return Err(PasswordProblem::ContainsName);
    }
    if is_too_simple(&lower) {
        return Err(PasswordProblem::TooSimple);
    }
    if is_common(password) {
        return Err(PasswordProblem::Common);
    }
    Ok(())
}

/// Whether the password is on the common-password list, in any of the spellings the module
/// documentation describes. Exposed so the app can warn while someone types.
pub fn is_common(password: &str) -> bool {
    let list = &*COMMON;
    lookup_keys(password)
        .iter()
        .any(|key| list.contains(key.as_str()))
}

/// User names shorter than this are not looked for inside passwords: "jo" would refuse half
/// the dictionary without making anything safer.
const MIN_NAME_PART: usize = 3;

fn contains_username(lower_password: &str, username: &str) -> bool {
    let user = username.trim().to_lowercase();
    // An e-mail address as user name: its local part is just as guessable.
    let local = user.split('@').next().unwrap_or("");
    [user.as_str(), local]
        .into_iter()
        .filter(|part| part.chars().count() >= MIN_NAME_PART)
        .any(|part| lower_password.contains(part))
}

fn contains_name(lower_password: &str, display_name: &str) -> bool {
    let name = display_name.to_lowercase();
    name.split(|c: char| !c.is_alphanumeric())
        // Four letters: long enough to be a name part rather than a syllable of a word.
        .filter(|part| part.chars().count() >= 4)
        .any(|part| lower_password.contains(part))
}

/// A password that is one pattern said at least twice over (`abcabcabc`, `Tiger!Tiger!`), or
/// whose characters step evenly (by -1, 0 or +1) from one to the next. Passwords are at most
/// [`MAX_CHARS`] long, so trying every period is cheap.
fn is_too_simple(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    let repeats = (1..=chars.len() / 2)
        .any(|period| chars.iter().skip(period).zip(&chars).all(|(a, b)| a == b));
    if repeats {
        return true;
    }
    let steps: Vec<i64> = chars
        .windows(2)
        .map(|pair| i64::from(u32::from(pair[1])) - i64::from(u32::from(pair[0])))
        .collect();
    // "0987654321" and "1234567890" both wrap at the end; allow one odd step for that.
    let odd = steps
        .first()
        .map(|&first| steps.iter().filter(|&&s| s != first).count())
        .unwrap_or(0);
    steps
        .first()
        .is_some_and(|&first| first.abs() <= 1 && odd <= 1)
}

/// The common passwords, each stored under every spelling [`lookup_keys`] gives it, so that a
/// lookup is a few hash probes.
static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let text = include_str!("../../../lists/builtin/common-passwords.txt");
    let mut set = HashSet::with_capacity(70_000);
    for line in text.lines() {
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        set.extend(lookup_keys(entry));
    }
    set
});

/// Stems shorter than this are not looked up on their own: almost anything trims or folds to
/// a two-letter stem, and such a password is long only because of what surrounds it.
const MIN_STEM: usize = 4;

/// The spellings under which a password (or a list entry) is compared: lower case as given,
/// and lower case with digits and punctuation trimmed from both ends and look-alike characters
/// folded to letters (both ways of reading `1`).
fn lookup_keys(password: &str) -> Vec<String> {
    let lower = password.to_lowercase();
    let trimmed = lower.trim_matches(|c: char| {
        c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace()
    });
    // An entry that is all digits ("123456") has no stem; it still folds as a whole.
    let stem = if trimmed.chars().count() >= MIN_STEM {
        trimmed
    } else {
        lower.as_str()
    };
    let mut keys = vec![lower.clone()];
    for one in ['i', 'l'] {
        let folded: String = stem.chars().map(|c| fold(c, one)).collect();
        if folded.chars().count() >= MIN_STEM && !keys.contains(&folded) {
            keys.push(folded);
        }
    }
    if stem.chars().count() >= MIN_STEM && !keys.iter().any(|k| k == stem) {
        keys.push(stem.to_owned());
    }
    keys
}

/// Undoes the usual "leetspeak" substitutions. `one` is the letter `1` stands for.
fn fold(c: char, one: char) -> char {
    match c {
        '0' => 'o',
        '1' => one,
        '!' => 'i',
        '|' => 'l',
        '2' => 'z',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '8' => 'b',
        '9' => 'g',
        '(' => 'c',
        other => other,
    }
}

/// Hashes a password with argon2id and the crate's default parameters (19 MiB, two passes,
/// one lane: OWASP's recommendation), giving a PHC string (`$argon2id$v=19$...`) that carries
/// its own salt and parameters.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError {
            detail: e.to_string(),
        })
}

/// The most memory, passes and lanes a stored hash may ask for before it is refused rather
/// than computed: a damaged or forged hash must not make one log-in allocate gigabytes.
const MAX_M_COST_KIB: u32 = 256 * 1024;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 16;

/// Whether `password` matches a PHC hash made by [`hash_password`]. A malformed hash, one of
/// another algorithm, or one whose parameters are beyond sane bounds is simply no match.
pub fn verify_password(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST_KIB
        || params.t_cost() > MAX_T_COST
        || params.p_cost() > MAX_P_COST
    {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether a stored hash was made with other parameters than [`hash_password`] uses now, so
/// the app can re-hash the password at the next successful log-in. A malformed hash needs it.
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(params) => {
            let now = Params::default();
            params.m_cost() != now.m_cost()
                || params.t_cost() != now.t_cost()
                || params.p_cost() != now.p_cost()
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(p: &str) -> Result<(), PasswordProblem> {
        check_new_password(p, "jsmith", "Jane Smith")
    }

    #[test]
    fn the_list_is_large_and_loaded() {
        assert!(COMMON.len() > 30_000, "{}", COMMON.len());
        assert!(is_common("password"));
        assert!(is_common("123456"));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(
            check("short"),
            Err(PasswordProblem::TooShort {
                characters: 5,
                minimum: 10
            })
        );
        // Nine two-byte characters are eighteen bytes but still too short.
        assert!(matches!(
            check("ébcdéfghé"),
            Err(PasswordProblem::TooShort { characters: 9, .. })
        ));
        assert_eq!(check("ébcdéfghéq"), Ok(()));
        assert_eq!(
            check(""),
            Err(PasswordProblem::TooShort {
                characters: 0,
                minimum: 10
            })
        );
        let long = "river-lamp-".repeat(30);
        assert!(matches!(check(&long), Err(PasswordProblem::TooLong { .. })));
        // Exactly the maximum is allowed.
        let longest: String = "umbrella quietly orbit river "
            .chars()
            .cycle()
            .take(250)
            .chain("xyz123".chars())
            .collect();
        assert_eq!(check(&longest), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused_in_disguise() {
        for p in [
            "P@ssw0rd123",
            "password123",
            "PASSWORD2024!",
            "Dragon2024!!",
            "qwertyuiop",
            "1qaz2wsx3edc",
            "!!Football99",
            "Liverpool1!",
            "iloveyou123",
            "Sunshine!!!",
            "Welcome2025",
        ] {
            assert_eq!(check(p), Err(PasswordProblem::Common), "{p}");
        }
    }

    #[test]
    fn good_passwords_pass() {
        for p in [
            "correct horse battery staple",
            "Tree-Frog-Lamp-92",
            "umbrella quietly orbit",
            "kx8#Lm2!vQz9",
        ] {
            assert_eq!(check(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn names_are_refused() {
        assert_eq!(
            check("myjsmithpassword"),
            Err(PasswordProblem::ContainsUsername)
        );
        assert_eq!(
            check("MyJSMITHpassword"),
            Err(PasswordProblem::ContainsUsername)
        );
        assert_eq!(
            check_new_password("tiger-jsmith-42", "jsmith@school.example", ""),
            Err(PasswordProblem::ContainsUsername)
        );
        assert_eq!(
            check("smith-family-rocks"),
            Err(PasswordProblem::ContainsName)
        );
        // Short user names are not looked for.
        assert_eq!(check_new_password("jo-lamp-river-9", "jo", ""), Ok(()));
    }

    #[test]
    fn simple_patterns_are_refused() {
        for p in [
            "Tiger!Tiger!",
            "aaaaaaaaaa",
            "abababababab",
            "abcabcabcabc",
            "abcdefghijk",
            "9876543210",
            "zyxwvutsrqp",
        ] {
            assert_eq!(check(p), Err(PasswordProblem::TooSimple), "{p}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let all = [
            PasswordProblem::TooShort {
                characters: 3,
                minimum: 10,
            },
            PasswordProblem::TooLong {
                characters: 300,
                maximum: 256,
            },
            PasswordProblem::ContainsUsername,
            PasswordProblem::ContainsName,
            PasswordProblem::TooSimple,
            PasswordProblem::Common,
        ];
        for problem in all {
            assert!(
                problem.to_string().contains("choose") || problem.to_string().contains("words"),
                "{problem}"
            );
        }
    }

    #[test]
    fn hashes_verify_and_refuse() {
        let hash = hash_password("umbrella quietly orbit").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "umbrella quietly orbit"));
        assert!(!verify_password(&hash, "umbrella quietly orbiT"));
        assert!(!needs_rehash(&hash));
        for bad in [
            "",
            "$",
            "$argon2id$",
            "not a hash",
            "$argon2id$v=19$m=1,t=1,p=1$",
            "$pbkdf2$x",
        ] {
            assert!(!verify_password(bad, "x"), "{bad}");
            assert!(needs_rehash(bad));
        }
        // Parameters far beyond what we make are refused, not computed.
        let greedy = hash.replace("m=19456", "m=4000000");
        assert!(!verify_password(&greedy, "umbrella quietly orbit"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn check_never_panics(p in ".{0,300}", u in ".{0,40}", d in ".{0,40}") {
            let _ = check_new_password(&p, &u, &d);
        }

        #[test]
        fn verify_never_panics_on_hashes(h in "\\PC{0,120}", p in ".{0,20}") {
            let _ = verify_password(&h, &p);
            let _ = needs_rehash(&h);
        }

        #[test]
        fn verify_never_panics_on_phc_like(h in "\\$argon2(id|i|d)\\$(v=[0-9]{1,3}\\$)?m=[0-9]{1,3},t=[0-9],p=[0-9]\\$[A-Za-z0-9+/]{0,30}(\\$[A-Za-z0-9+/]{0,50})?") {
            let _ = verify_password(&h, "x");
        }
    }
}
