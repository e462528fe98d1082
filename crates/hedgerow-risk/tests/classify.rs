//! The classifier against the built-in libraries and small hand-made ones: obfuscated
//! spellings, benign look-alikes, context rules, severity, age bands, tuning and URLs.
//! All texts are invented.

use std::sync::OnceLock;

use hedgerow_risk::{AgeBand, Classifier, RiskCategory, RiskEntry, RiskError, RiskLibrary, Tuning};
use proptest::prelude::*;

fn builtin() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| match Classifier::new(&RiskLibrary::builtin(), &[]) {
        Ok(classifier) => classifier,
        Err(error) => panic!("{error}"),
    })
}

fn category(text: &str) -> Option<RiskCategory> {
    builtin()
        .classify(text, AgeBand::Secondary)
        .map(|m| m.category)
}

fn severity(text: &str, band: AgeBand) -> u8 {
    builtin().classify(text, band).map_or(0, |m| m.severity)
}

fn small(text: &str) -> Classifier {
    let library = match RiskLibrary::parse("test.risk", text) {
        Ok(library) => library,
        Err(error) => panic!("{error}"),
    };
    match Classifier::new(&library, &[]) {
        Ok(classifier) => classifier,
        Err(error) => panic!("{error}"),
    }
}

#[track_caller]
fn assert_category(texts: &[&str], expected: RiskCategory) {
    for text in texts {
        assert_eq!(category(text), Some(expected), "{text:?}");
    }
}

#[track_caller]
fn assert_benign(texts: &[&str]) {
    for text in texts {
        assert_eq!(
            builtin().classify(text, AgeBand::Secondary),
            None,
            "{text:?}"
        );
    }
}

#[test]
fn obfuscated_spellings_are_caught() {
    assert_category(
        &[
            "k1ll mys3lf",
            "KILL MYSELF",
            "s u i c i d e",
            "s.u.i.c.i.d.e",
            "$uicide",
            "i want to diiiie",
            "i want to dieeee",
            "sucide",
            "suicde",
            "i want to kill my own self",
            "want to kill literally myself",
            "k i l l m y s e l f",
            "#killmyself",
            "wanttokillmyself",
            "selfharm",
            "self-harm",
        ],
        RiskCategory::SuicideSelfHarm,
    );
    assert_category(
        &["anerexia tips", "an0r3xia", "thinspo", "pro-ana"],
        RiskCategory::EatingDisorder,
    );
    assert_category(&["cocain", "c0caine", "buy w33d"], RiskCategory::Drugs);
    assert_category(
        &[
            "samobójstwo",
            "samobojstwo",
            "samobujstwo",
            "chcę się zabić",
            "chce sie zabic",
        ],
        RiskCategory::SuicideSelfHarm,
    );
}

#[test]
fn words_inside_other_words_do_not_match() {
    assert_benign(&[
        "skill tree",
        "skillful players",
        "my therapist said",
        "killer whale facts",
        "analysis of poems",
        "hazard perception test",
        "bike pedal",
        "cocktail recipes",
        "essex county council",
        "scunthorpe united",
        "sussex weather",
    ]);
}

#[test]
fn context_rules_cancel_benign_look_alikes() {
    assert_benign(&[
        "suicide squad cast",
        "suicide squad 2 trailer",
        "how to kill a python process",
        "kill the process",
        "kill python process",
        "kill -9 1234",
        "linux kill all processes",
        "you killed it on stage",
        "killing it today",
        "drug trials for cancer",
        "clinical trial drug results",
        "breast cancer awareness",
        "sex education lesson",
        "chicken breast recipe",
        "blue tit nest box",
        "moby dick summary",
        "diet coke",
        "bread knife",
        "water pistol",
        "nerf gun",
        "how to kill the ender dragon",
        "dog grooming near me",
        "secret santa ideas",
        "our secret santa list",
        "i bet you cant",
        "bullet points in word",
        "acid rain effects",
        "gol samobójczy",
        "pistolet na wodę",
        "edukacja seksualna",
    ]);
}

#[test]
fn context_rules_lower_severity() {
    let plain = severity("gambling", AgeBand::Secondary);
    let help = severity("gambling addiction help", AgeBand::Secondary);
    assert!(plain >= 2, "{plain}");
    assert!(help < plain && help >= 1, "help {help}, plain {plain}");
    let attack = severity("isis", AgeBand::Secondary);
    let homework = severity("isis news bbc news", AgeBand::Secondary);
    assert!(homework < attack, "{homework} {attack}");
}

#[test]
fn severity_follows_the_scale() {
    let band = AgeBand::Secondary;
    assert_eq!(severity("how to kill myself tonight", band), 5);
    assert_eq!(severity("how do i kill myself", band), 5);
    assert_eq!(severity("painless way to die", band), 5);
    assert_eq!(severity("i want to die", band), 4);
    assert_eq!(severity("self harm", band), 3);
    assert_eq!(severity("sad poems", band), 0);
    assert_eq!(severity("jak się zabić", band), 5);
    assert_eq!(severity("how to tie a noose", band), 5);
    assert_eq!(severity("i hate my life", band), 2);
}

#[test]
fn age_bands_change_what_is_a_concern() {
    for word in ["sex", "boobs", "seks"] {
        assert_eq!(severity(word, AgeBand::Primary), 3, "{word}");
        assert_eq!(severity(word, AgeBand::EarlyYears), 3, "{word}");
        for band in [AgeBand::Secondary, AgeBand::SixthForm, AgeBand::Adult] {
            assert_eq!(severity(word, band), 0, "{word} at {band}");
        }
    }
    for word in ["vape", "vodka", "wódka"] {
        assert!(severity(word, AgeBand::Primary) >= 2, "{word}");
        assert_eq!(severity(word, AgeBand::Adult), 0, "{word}");
    }
    let young = severity("our little secret dont tell your parents", AgeBand::Primary);
    let older = severity(
        "our little secret dont tell your parents",
        AgeBand::Secondary,
    );
    let adult = severity("our little secret dont tell your parents", AgeBand::Adult);
    assert!(young > older && older > adult, "{young} {older} {adult}");
}

#[test]
fn the_match_reports_the_original_span_entry_and_language() {
    let found = builtin()
        .classify("Please, I want to KILL my own self!!", AgeBand::Secondary)
        .unwrap();
    assert_eq!(found.category, RiskCategory::SuicideSelfHarm);
    assert_eq!(found.matched, "KILL my own self");
    assert_eq!(found.entry, "en.suicide.kill-myself");
    assert_eq!(found.language, "en");

    let found = builtin()
        .classify("Nie chcę już żyć", AgeBand::Secondary)
        .unwrap();
    assert_eq!(found.matched, "Nie chcę już żyć");
    assert_eq!(found.language, "pl");
}

#[test]
fn the_most_severe_match_wins() {
    let found = builtin()
        .classify(
            "vape shop near me and how to kill myself",
            AgeBand::Secondary,
        )
        .unwrap();
    assert_eq!(found.category, RiskCategory::SuicideSelfHarm);
    assert_eq!(found.severity, 5);
}

#[test]
fn every_category_is_found_in_english_and_polish() {
    let examples = [
        (
            RiskCategory::SuicideSelfHarm,
            "how to commit suicide",
            "jak popełnić samobójstwo",
        ),
        (
            RiskCategory::EatingDisorder,
            "how to make myself sick after eating",
            "jak wywołać wymioty",
        ),
        (
            RiskCategory::Radicalisation,
            "how to join isis",
            "dołączyć do isis",
        ),
        (RiskCategory::Hate, "gas the jews", "śmierć żydom"),
        (
            RiskCategory::Bullying,
            "everyone hates you",
            "wszyscy cię nienawidzą",
        ),
        (
            RiskCategory::GroomingSexualExploitation,
            "dont tell your parents",
            "nie mów rodzicom",
        ),
        (
            RiskCategory::Pornography,
            "free porn videos",
            "darmowe porno",
        ),
        (
            RiskCategory::Drugs,
            "where to buy weed",
            "gdzie kupić zioło",
        ),
        (
            RiskCategory::WeaponsViolence,
            "buy a zombie knife",
            "maczeta",
        ),
        (
            RiskCategory::WeaponsViolence,
            "how to make a bomb",
            "jak zrobić bombę",
        ),
        (RiskCategory::Gambling, "online casino", "kasyno online"),
    ];
    for (expected, english, polish) in examples {
        assert_eq!(category(english), Some(expected), "{english:?}");
        assert_eq!(category(polish), Some(expected), "{polish:?}");
    }
}

#[test]
fn urls_are_read_by_their_words() {
    let band = AgeBand::Secondary;
    let found = builtin()
        .classify_url(
            "https://www.google.co.uk/search?q=how+to+kill+myself&hl=en",
            band,
        )
        .unwrap();
    assert_eq!(found.severity, 5);
    assert_eq!(found.matched, "how to kill myself");
    let found = builtin()
        .classify_url("https://www.bing.com/search?q=pro%20ana%20tips", band)
        .unwrap();
    assert_eq!(found.category, RiskCategory::EatingDisorder);
    let found = builtin()
        .classify_url("http://example.invalid/blog/how-to-buy_weed.html", band)
        .unwrap();
    assert_eq!(found.category, RiskCategory::Drugs);
    let found = builtin()
        .classify_url("https://howtokillmyself.example.invalid/", band)
        .unwrap();
    assert_eq!(found.category, RiskCategory::SuicideSelfHarm);
    // Query keys are not words of the search.
    assert_eq!(
        builtin().classify_url("https://example.invalid/?porn=1", band),
        None
    );
    assert_eq!(
        builtin().classify_url(
            "https://stackoverflow.com/questions/1/how-to-kill-a-python-process",
            band
        ),
        None
    );
    assert_eq!(
        builtin().classify_url("https://www.skillsyouneed.com/", band),
        None
    );
    assert_eq!(builtin().classify_url("%%%", band), None);
    assert_eq!(builtin().classify_url("", band), None);
}

#[test]
fn gaps_allow_only_the_stated_number_of_words() {
    let classifier = small("language en\ncategory bullying\nentry en.t 3 = hit ~2 you\n");
    let band = AgeBand::Adult;
    assert!(classifier.classify("hit you", band).is_some());
    assert!(classifier.classify("hit at you", band).is_some());
    assert!(classifier.classify("hit right at you", band).is_some());
    assert!(classifier.classify("hit it right at you", band).is_none());
}

#[test]
fn matches_are_whole_words() {
    let classifier = small("language en\ncategory hate\nentry en.r 3 = rapist | kill\n");
    let band = AgeBand::Adult;
    assert!(classifier.classify("a rapist", band).is_some());
    assert!(classifier.classify("my therapist", band).is_none());
    assert!(classifier.classify("kill", band).is_some());
    assert!(classifier.classify("skill", band).is_none());
    assert!(classifier.classify("killer", band).is_none());
}

#[test]
fn sex_education_is_not_a_concern_even_for_young_children() {
    assert_eq!(severity("sex", AgeBand::Primary), 3);
    assert_eq!(severity("sex education", AgeBand::Primary), 0);
    assert_eq!(
        severity("relationships and sex education", AgeBand::EarlyYears),
        0
    );
    assert_eq!(severity("breast cancer", AgeBand::Primary), 0);
}

#[test]
fn context_rules_need_to_cover_the_match_unless_anywhere() {
    let classifier = small(
        "language en\ncategory drugs\nentry en.d 3 = dying\ncontext en.c cancel = dying ~1 hair\n\
         context en.h lower 2 anywhere drugs = chemistry\n",
    );
    let band = AgeBand::Adult;
    assert_eq!(classifier.classify("dying my hair", band), None);
    assert_eq!(
        classifier.classify("dying", band).map(|m| m.severity),
        Some(3)
    );
    assert_eq!(classifier.classify("dying inside hair", band), None);
    // The rule's phrase is elsewhere in the text, so it does not cover this match.
    assert_eq!(
        classifier
            .classify("hair and dying", band)
            .map(|m| m.severity),
        Some(3)
    );
    assert_eq!(
        classifier
            .classify("hair chemistry and dying", band)
            .map(|m| m.severity),
        Some(1)
    );
}

#[test]
fn tuning_disables_sets_severity_and_adds() {
    let library = RiskLibrary::builtin();
    let disabled = Classifier::new(
        &library,
        &[Tuning::Disable {
            entry: "en.gambling.advisory".into(),
        }],
    )
    .unwrap();
    assert_eq!(disabled.classify("roulette", AgeBand::Secondary), None);
    assert!(builtin().classify("roulette", AgeBand::Secondary).is_some());

    let raised = Classifier::new(
        &library,
        &[Tuning::SetSeverity {
            entry: "en.gambling.advisory".into(),
            severity: 4,
        }],
    )
    .unwrap();
    assert_eq!(
        raised
            .classify("roulette", AgeBand::Secondary)
            .unwrap()
            .severity,
        4
    );

    let school_word = RiskEntry {
        id: "school.bullying.nickname".into(),
        category: RiskCategory::Bullying,
        severity: 3,
        language: "en".into(),
        phrases: vec!["smelly ~1 sam".into()],
    };
    let added = Classifier::new(
        &library,
        &[Tuning::Add {
            entry: school_word.clone(),
        }],
    )
    .unwrap();
    let found = added
        .classify("smelly old Sam again", AgeBand::Secondary)
        .unwrap();
    assert_eq!(found.entry, "school.bullying.nickname");
    assert_eq!(found.matched, "smelly old Sam");

    assert!(matches!(
        Classifier::new(
            &library,
            &[Tuning::Disable {
                entry: "no.such.entry".into()
            }]
        ),
        Err(RiskError::UnknownEntry { .. })
    ));
    assert!(matches!(
        Classifier::new(
            &library,
            &[Tuning::SetSeverity {
                entry: "en.gambling.advisory".into(),
                severity: 6
            }]
        ),
        Err(RiskError::BadSeverity { .. })
    ));
    let mut duplicate = school_word.clone();
    duplicate.id = "en.gambling.advisory".into();
    assert!(matches!(
        Classifier::new(&library, &[Tuning::Add { entry: duplicate }]),
        Err(RiskError::DuplicateEntry { .. })
    ));
    let mut broken = school_word;
    broken.phrases = vec!["~2 sam".into()];
    let error = Classifier::new(&library, &[Tuning::Add { entry: broken }]).unwrap_err();
    assert!(error.to_string().contains("between two words"), "{error}");
}

#[test]
fn categories_and_bands_read_back() {
    for category in RiskCategory::ALL {
        assert_eq!(RiskCategory::parse(category.as_str()), Some(category));
        assert!(!category.label().is_empty());
    }
    assert_eq!(RiskCategory::parse("none"), None);
    for band in AgeBand::ALL {
        assert_eq!(AgeBand::parse(band.as_str()), Some(band));
    }
    assert_eq!(AgeBand::parse("Secondary"), None);
}

/// Benign look-alikes that share vocabulary with the risks: a small, fixed hard-negative set
/// (the evaluation set in the repository is larger); all must pass.
#[test]
fn hard_negatives() {
    assert_benign(&[
        "how to kill weeds in my lawn",
        "kill bill soundtrack",
        "to kill a mockingbird quotes",
        "dressed to kill",
        "cocaine song lyrics",
        "drug interactions with ibuprofen",
        "war on drugs history",
        "how to cut a mango",
        "cutting board",
        "dying my hair purple",
        "i'm dying of laughter",
        "shooting stars",
        "photo shoot ideas",
        "bomb calorimeter",
        "you're the bomb",
        "high school musical",
        "high score minecraft",
        "stoned fruit",
        "stone age",
        "gunpowder plot",
        "what is a python",
        "hanging baskets",
        "essex",
        "middlesex university",
        "sextant navigation",
        "knife and fork etiquette",
        "cross country running",
        "bet you cant solve this",
        "poker face lady gaga",
        "casino royale cast",
        "the great british bake off",
        "grooming a horse",
        "hopeless romantic films",
        "ana de armas films",
        "starving artist",
        "diet coke ingredients",
        "anne boleyn beheading history",
        "koks na siłowni",
        "skręt w lewo",
        "zakłady pracy",
        "fire hazard",
        "pedały rowerowe",
        "heroine of the story",
        "analiza wiersza",
        "how to get high score in tetris",
        "how to make a bomb in minecraft",
        "roulette wheel probability",
    ]);
}

proptest! {
    #[test]
    fn classify_never_panics(text in "\\PC{0,60}", band in 0usize..5) {
        let band = AgeBand::ALL[band];
        if let Some(found) = builtin().classify(&text, band) {
            prop_assert!((1..=5).contains(&found.severity));
            prop_assert!(text.contains(&found.matched));
        }
        let _ = builtin().classify_url(&text, band);
    }

    #[test]
    fn padding_with_benign_words_keeps_a_match(
        before in proptest::collection::vec("(the|a|today|please|lol|ok|so)", 0..4),
        after in proptest::collection::vec("(now|lol|pls|today|ok)", 0..4),
    ) {
        let text = format!("{} i want to die {}", before.join(" "), after.join(" "));
        let found = builtin().classify(&text, AgeBand::Secondary);
        prop_assert_eq!(found.map(|m| (m.category, m.severity)), Some((RiskCategory::SuicideSelfHarm, 4)));
    }

    #[test]
    fn obfuscation_keeps_a_match(
        phrase in prop::sample::select(vec!["kill myself", "suicide", "self harm", "thinspo", "cocaine", "zombie knife"]),
        leet in any::<bool>(),
        stretch in 0usize..3,
        upper in any::<bool>(),
    ) {
        let expected = category(phrase);
        prop_assert!(expected.is_some());
        let mut text: String = phrase
            .chars()
            .map(|c| if leet { match c { 'e' => '3', 'a' => '4', 'o' => '0', 's' => '5', other => other } } else { c })
            .collect();
        if stretch > 0 {
            // Stretch the first vowel.
            if let Some(at) = text.find(['i', 'u', 'e', 'a', 'o', '3', '4', '0']) {
                let vowel = &text[at..at + 1];
                text = format!("{}{}{}", &text[..at], vowel.repeat(3 + stretch), &text[at + 1..]);
            }
        }
        if upper {
            text = text.to_uppercase();
        }
        prop_assert_eq!(category(&text), expected, "{}", text);
    }

    #[test]
    fn spacing_out_a_risk_word_keeps_a_match(
        word in prop::sample::select(vec!["suicide", "thinspo", "cocaine", "pornhub", "jihad"]),
        separator in prop::sample::select(vec![" ", ".", "-", "_", " . "]),
    ) {
        let spaced = word.chars().map(String::from).collect::<Vec<_>>().join(separator);
        prop_assert_eq!(category(&spaced), category(word), "{}", spaced);
    }
}

proptest! {
    #[test]
    fn context_rules_hold_wherever_the_look_alike_sits(
        look_alike in prop::sample::select(vec![
            "suicide squad", "how to kill a python process", "kill -9", "drug trials",
            "breast cancer", "dog grooming", "bread knife", "gol samobójczy", "cocaine song",
        ]),
        before in proptest::collection::vec("(the|new|best|today|2024|review|uk)", 0..3),
        after in proptest::collection::vec("(trailer|cast|now|help|pdf|uk)", 0..3),
        band in 0usize..5,
    ) {
        let text = format!("{} {look_alike} {}", before.join(" "), after.join(" "));
        prop_assert_eq!(builtin().classify(&text, AgeBand::ALL[band]), None, "{}", text);
    }

    #[test]
    fn a_look_alike_does_not_hide_a_real_risk_beside_it(
        look_alike in prop::sample::select(vec!["suicide squad", "kill the process", "drug trials"]),
        risk_first in any::<bool>(),
    ) {
        let text = if risk_first {
            format!("i want to die {look_alike}")
        } else {
            format!("{look_alike} i want to die")
        };
        let found = builtin().classify(&text, AgeBand::Secondary);
        prop_assert_eq!(found.map(|m| m.severity), Some(4), "{}", text);
    }
}

#[test]
fn context_phrases_may_start_or_end_with_a_gap() {
    let classifier = small(
        "language en\ncategory drugs\nentry en.d.lsd 3 = lsd\nentry en.d.buy 5 = buy ~1 lsd\ncontext en.c.what lower 3 = what is ~2\ncontext en.c.mean lower 3 = ~2 meaning\n",
    );
    let found = |text: &str| classifier.classify(text, AgeBand::Secondary);
    // The gap runs to the end of the text: the looked-up word is covered.
    assert_eq!(found("what is lsd"), None);
    assert_eq!(found("what is an lsd"), None);
    assert_eq!(found("lsd meaning"), None);
    assert_eq!(found("the lsd meaning"), None);
    // Beyond the gap, or without the frame, the match stands.
    assert!(found("what is the best lsd").is_some());
    assert!(found("lsd").is_some());
    assert!(found("lsd the film has a meaning").is_some());
    // A severe match inside the frame is lowered, not dropped.
    assert_eq!(found("what is buy lsd").map(|m| m.severity), Some(2));
}

#[test]
fn anywhere_all_applies_to_every_category() {
    let classifier = small(
        "language en\ncategory drugs\nentry en.d.lsd 3 = lsd\ncategory gambling\nentry en.g.slots 3 = slots\ncontext en.c.essay lower 3 anywhere all = essay\ncontext en.c.maths cancel anywhere gambling = maths\n",
    );
    let found = |text: &str| classifier.classify(text, AgeBand::Secondary);
    assert_eq!(found("lsd essay"), None);
    assert_eq!(found("essay on slots"), None);
    assert!(found("lsd maths").is_some());
    assert_eq!(found("slots maths"), None);
    assert!(found("lsd and slots").is_some());
}

#[test]
fn word_lists_expand_in_entries_and_contexts() {
    let classifier = small(
        "language en\nwords group = muslims | jewish people | gay*\nwords bad = vermin | a plague\ncategory hate\nentry en.h.c 4 = @group are ~1 @bad\ncontext en.c.q cancel = if you say ~3 @group\n",
    );
    let found = |text: &str| {
        classifier
            .classify(text, AgeBand::Secondary)
            .map(|m| m.category)
    };
    assert_eq!(found("muslims are vermin"), Some(RiskCategory::Hate));
    assert_eq!(
        found("jewish people are just a plague"),
        Some(RiskCategory::Hate)
    );
    assert_eq!(found("gays are vermin"), Some(RiskCategory::Hate));
    assert_eq!(found("muslims are welcome"), None);
    assert_eq!(found("rats are vermin"), None);
}

#[test]
fn hate_is_found_by_group_and_contempt_not_by_group_alone() {
    assert_category(
        &[
            "jews are vermin",
            "immigrants are a plague to society",
            "i really hate trans people",
            "kill all the immigrants",
            "going to murder that gay person",
            "muslims should be deported",
            "refugees out of britain",
            "typical muslim behaviour",
            "nienawidzę żydów",
            "geje są absolutnie najgorsi",
            "gardzę niepełnosprawnymi",
        ],
        RiskCategory::Hate,
    );
    assert_benign(&[
        "immigrants are welcome here",
        "gay people should be able to marry",
        "black people are amazing",
        "why do people hate muslims",
        "if you say i hate muslims then you are a bigot",
        "we ate faggots for dinner",
        "they are building a new dyke near the sea",
        "imigranci są świetni",
        "black history month facts",
    ]);
}

#[test]
fn bullying_insults_perpetrators_and_victims() {
    assert_category(
        &[
            "youre so ugly",
            "you are such a loser",
            "ur so fat",
            "how to make someone feel worthless",
            "how to get someone expelled",
            "they keep calling me names",
            "i get bullied every day",
            "jak kogoś upokorzyć",
        ],
        RiskCategory::Bullying,
    );
    assert_benign(&[
        "you are so beautiful",
        "how to lose your belly fat",
        "how to make someone feel better",
        "nobody likes mondays",
        "burn book mean girls quote",
        "kill yourself in minecraft command",
        "make fun of me lyrics",
    ]);
}

#[test]
fn grooming_ages_requests_and_threats() {
    assert_category(
        &[
            "how to ask a 12 year old for pics",
            "dating app for 14 year olds",
            "age gap relationship 13 and 25",
            "stranger asked for my snapchat",
            "someone is threatening to leak my nudes",
            "s3nd pics",
            "sponsor dla 14 latki",
        ],
        RiskCategory::GroomingSexualExploitation,
    );
    assert_benign(&[
        "13 year old birthday party ideas",
        "my 14 year old son wants a phone",
        "grooming tips for teen boys",
        "online safety grooming pshe lesson",
    ]);
}

#[test]
fn suicide_methods_and_help_services() {
    assert_category(
        &[
            "can you die from hanging",
            "is drowning painless",
            "how to sever my artery",
            "am i a burden should i just die",
            "jak się ciąć",
        ],
        RiskCategory::SuicideSelfHarm,
    );
    assert_benign(&[
        "samaritans phone number",
        "telefon zaufania dla dzieci",
        "suicide hotline uk",
        "can you die from eating too much sugar",
        "does paracetamol hurt your liver",
        "what is suicide",
        "suicide rates for geography project",
    ]);
}

#[test]
fn violence_against_a_person_but_not_in_games() {
    assert_category(
        &[
            "how can i kill my brother",
            "how do i poison someone",
            "how do i blow up my school",
            "how to make a molotov",
            "homemade explosives",
            "brass knuckles buy",
        ],
        RiskCategory::WeaponsViolence,
    );
    assert_benign(&[
        "how to kill the boss in elden ring",
        "how to hurt someone in minecraft",
        "how do i blow up a balloon",
        "how to make a bomb in minecraft",
        "how to kill a spider",
    ]);
}

#[test]
fn definitions_and_schoolwork_are_not_concerns() {
    assert_benign(&[
        "what is lsd",
        "what is marihuana",
        "jihad meaning in islam",
        "hentai meaning japanese word",
        "what is anorexia nervosa for pshe",
        "pornography law uk essay",
        "calorie counting for gcse pe project",
        "co to jest anoreksja",
    ]);
    // Method seeking and coded extremist symbols stay flagged inside the same frames.
    assert_category(
        &["what is the easiest way to kill myself"],
        RiskCategory::SuicideSelfHarm,
    );
    assert_category(&["1488 meaning"], RiskCategory::Radicalisation);
    assert_category(&["i want to die essay"], RiskCategory::SuicideSelfHarm);
}

#[test]
fn drugs_gambling_and_eating_phrasings() {
    assert_category(
        &["getting some crack", "how to get a plug on snapchat"],
        RiskCategory::Drugs,
    );
    assert_category(&["bloxflip", "plinko real money"], RiskCategory::Gambling);
    assert_category(
        &["how to eat less than 200 calories", "ed twt"],
        RiskCategory::EatingDisorder,
    );
    assert_benign(&[
        "weed eater",
        "roulette wheel physics",
        "under 500 calories dinner recipes",
        "buy diet coke online",
    ]);
}

/// Word lists are matched as one step rather than written out once per combination; these
/// check that a library using them finds exactly what the same library written out in full
/// finds.
mod word_lists {
    use super::*;

    const WORDS: [&str; 10] = [
        "kill", "hurt", "them", "all", "now", "bad", "away", "very", "sad", "people",
    ];
    /// Alternatives of a list: one or two words, or a prefix.
    const ALTERNATIVES: [&str; 11] = [
        "kill",
        "hurt*",
        "them",
        "all people",
        "bad",
        "very sad",
        "away",
        "sad*",
        "people",
        "very",
        "all",
    ];
    /// Phrases using the lists `a` and `b`.
    const PHRASES: [&str; 6] = ["@a ~1 @b", "@a now", "hurt @b", "@a @b", "sad ~2 @a", "@b"];

    fn written_out(phrase: &str, a: &[&str], b: &[&str]) -> Vec<String> {
        let mut readings = vec![String::new()];
        for piece in phrase.split_whitespace() {
            let choices: Vec<&str> = match piece {
                "@a" => a.to_vec(),
                "@b" => b.to_vec(),
                other => vec![other],
            };
            readings = readings
                .iter()
                .flat_map(|r| {
                    choices
                        .iter()
                        .map(move |c| format!("{r} {c}").trim().to_string())
                })
                .collect();
        }
        readings
    }

    fn classifier(source: &str) -> Classifier {
        match RiskLibrary::parse("lists.risk", source).and_then(|l| Classifier::new(&l, &[])) {
            Ok(classifier) => classifier,
            Err(error) => panic!("{error}\n{source}"),
        }
    }

    proptest! {
        #[test]
        fn a_library_with_word_lists_finds_what_it_finds_written_out(
            a in proptest::sample::subsequence(ALTERNATIVES.to_vec(), 1..5),
            b in proptest::sample::subsequence(ALTERNATIVES.to_vec(), 1..5),
            phrases in proptest::sample::subsequence(PHRASES.to_vec(), 1..4),
            context in proptest::sample::select(PHRASES.to_vec()),
            texts in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(WORDS.to_vec()), 1..8),
                1..6,
            ),
            readings in proptest::collection::vec(
                (any::<proptest::sample::Index>(), proptest::sample::select(WORDS.to_vec())),
                1..6,
            ),
        ) {
            let lists = format!("words a = {}\nwords b = {}\n", a.join(" | "), b.join(" | "));
            let grouped = format!(
                "language en\n{lists}category weapons_violence\nentry t.one 3 = {}\nentry t.two 4 = {}\ncontext t.ctx lower 2 = {context}\n",
                phrases.join(" | "),
                phrases.iter().rev().take(1).cloned().collect::<Vec<_>>().join(" | "),
            );
            let out = |list: &[&str]| {
                list.iter().flat_map(|p| written_out(p, &a, &b)).collect::<Vec<_>>().join(" | ")
            };
            let last: Vec<&str> = phrases.iter().rev().take(1).cloned().collect();
            let full = format!(
                "language en\ncategory weapons_violence\nentry t.one 3 = {}\nentry t.two 4 = {}\ncontext t.ctx lower 2 = {}\n",
                out(&phrases),
                out(&last),
                out(&[context]),
            );
            let with_lists = classifier(&grouped);
            let without = classifier(&full);
            // Texts that are readings of the phrases (a prefix read as a longer word), each
            // with one more word after it, besides texts of random words.
            let all: Vec<String> = phrases
                .iter()
                .chain([&context])
                .flat_map(|p| written_out(p, &a, &b))
                .map(|reading| reading.replace("* ", "ing ").replace('*', "ness").replace("~1 ", "").replace("~2 ", "very "))
                .collect();
            let mut samples: Vec<String> = texts.iter().map(|words| words.join(" ")).collect();
            for (pick, extra) in &readings {
                samples.push(format!("{} {extra}", pick.get(&all)));
            }
            for text in &samples {
                for band in AgeBand::ALL {
                    prop_assert_eq!(
                        with_lists.classify(text, band),
                        without.classify(text, band),
                        "text {:?}\n{}\n{}", text, grouped, full
                    );
                }
            }
        }
    }
}
