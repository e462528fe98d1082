//! Tests for the second tuning round of the built-in libraries: the general patterns (word
//! lists of verbs, targets, groups, drugs and platforms combined with templates) and the
//! benign look-alikes they must leave alone. The texts are invented for these tests, not taken
//! from the evaluation set.

mod common;

use common::{assert_category, assert_not_flagged, builtin};
use hedgerow_risk::{AgeBand, RiskCategory};

#[test]
fn method_verbs_before_myself_are_suicide_method_seeking() {
    assert_category(
        &[
            "how do i hang myself without it hurting",
            "best way to drown myself",
            "how can i electrocute myself",
            "nobody would even notice if i died",
            "how to take the blade out of a sharpener",
            "go out like kurt cobain",
        ],
        RiskCategory::SuicideSelfHarm,
    );
    let severity = builtin()
        .classify("how do i best poison myself", AgeBand::Secondary)
        .map(|m| m.severity);
    assert_eq!(severity, Some(5));
}

#[test]
fn purging_fasting_and_weight_targets_are_eating_disorder() {
    assert_category(
        &[
            "how to make myself sick after dinner",
            "ways to not feel hungry at school",
            "how to lose 5kg in a week",
            "how to hide not eating from my mum",
            "collarbone goals",
            "how to get a flat tummy without eating",
        ],
        RiskCategory::EatingDisorder,
    );
}

#[test]
fn terrorism_and_glorified_attackers_are_radicalisation() {
    assert_category(
        &[
            "how to become a jihadi",
            "join the taliban",
            "breivik did nothing wrong",
            "how to plan a terror attack",
            "the columbine shooting was justified",
            "mosque shooting livestream",
        ],
        RiskCategory::Radicalisation,
    );
}

#[test]
fn feelings_threats_and_denial_against_groups_are_hate() {
    assert_category(
        &[
            "i am disgusted by all these immigrants",
            "muslims have no place in britain",
            "we should eradicate all gay people",
            "the armenian genocide never happened",
            "going to stab the next gay person i see",
            "gypsies are thieves and liars",
            "if i woke up as a disabled person i would kill myself",
        ],
        RiskCategory::Hate,
    );
}

#[test]
fn rumours_doxxing_and_roasts_aimed_at_someone_are_bullying() {
    assert_category(
        &[
            "how to spread rumours about someone",
            "how to make someone hate themselves",
            "make a fake account to troll my classmate",
            "how to dox someone from instagram",
            "beat up the new kid",
        ],
        RiskCategory::Bullying,
    );
}

#[test]
fn platform_requests_money_for_pictures_and_older_people_are_grooming() {
    assert_category(
        &[
            "a man on roblox asked for my address",
            "someone on snapchat wants me to send pics",
            "selling pics for robux",
            "he told me not to tell my mum",
            "my coach wants to date me",
            "an older guy keeps messaging me",
        ],
        RiskCategory::GroomingSexualExploitation,
    );
}

#[test]
fn sites_and_body_words_with_pictures_are_pornography() {
    assert_category(
        &[
            "xnxx videos",
            "hot girls nude pics",
            "boobs pics",
            "strip video",
        ],
        RiskCategory::Pornography,
    );
}

#[test]
fn using_or_buying_a_named_drug_is_drugs() {
    assert_category(
        &[
            "how to snort ket",
            "mdma for sale",
            "weed delivery near me",
            "how to smoke weed first time",
            "nos balloons",
        ],
        RiskCategory::Drugs,
    );
}

#[test]
fn violence_against_a_person_is_weapons_violence() {
    assert_category(
        &[
            "how do i stab someone",
            "i want to shoot my teacher",
            "how to buy a knife under 18",
            "ways of killing people",
            "k1ll someone",
        ],
        RiskCategory::WeaponsViolence,
    );
}

#[test]
fn gambling_under_age_is_gambling() {
    assert_category(
        &["bet without id", "cant stop gambling lost my savings"],
        RiskCategory::Gambling,
    );
}

#[test]
fn the_same_verbs_in_sport_cookery_code_and_games_are_not_flagged() {
    assert_not_flagged(&[
        "how to shoot a basketball",
        "how to hit a golf ball further",
        "how to beat eggs",
        "how to execute a python script",
        "how to cut yourself a fringe",
        "how to purge cache",
        "how to stop eating junk food",
        "the witcher 3 how to poison enemies",
        "street fighter characters",
        "air rifle club",
        "how to sharpen a knife",
        "shoot her a text",
        "hit me up on snap",
        "how to roll a joint woodwork",
        "buy diet coke online",
        "weed my garden",
        "selling photos on etsy",
        "how to survive a terror attack",
        "christchurch earthquake video",
    ]);
}

#[test]
fn history_counter_speech_and_everyday_hyperbole_are_not_flagged() {
    assert_not_flagged(&[
        "why did hitler hate jews",
        "why did the nazis kill jews gcse history",
        "people who hate immigrants are wrong",
        "great replacement conspiracy theory debunked",
        "i want to die of laughter",
        "my period is heavy and i bleed a lot",
        "tallest bridge in the world",
        "ketamine depression treatment",
        "bullying poster ideas",
        "the bully book summary",
    ]);
}

#[test]
fn polish_round_two_patterns() {
    assert_category(
        &["ci imigranci mnie obrzydzają", "uchodźcy mnie obrzydzają"],
        RiskCategory::Hate,
    );
    assert_category(&["jak kogoś pobić"], RiskCategory::WeaponsViolence);
    assert_category(&["jak przeprowadzić zamach"], RiskCategory::Radicalisation);
    assert_not_flagged(&["broń w średniowieczu"]);
}
