//! Tests for the fourth tuning round of the built-in libraries: hate against a broader list of
//! groups with condemning adjectives and "why should X be ..." questions, grooming and criminal
//! exploitation from the child's side, gambling (under-18 accounts, casino codes, skins, borrowing
//! to bet), suicide and self-harm breadth, drug slang, weapons in formal words, the same
//! templates in Polish, and the look-alikes each must leave alone. The texts are invented for
//! these tests, not taken from the evaluation sets.

mod common;

use common::{assert_category, assert_not_flagged};
use hedgerow_risk::RiskCategory;

#[test]
fn broader_groups_and_condemning_words_are_hate() {
    assert_category(
        &[
            "why are hispanics so vile",
            "pensioners are just parasites",
            "kurds are a danger to our country",
            "why should kurds be denied citizenship",
            "deport every single muslim",
            "wszyscy romowie wynocha",
        ],
        RiskCategory::Hate,
    );
}

#[test]
fn praise_debate_and_history_about_groups_are_not_hate() {
    assert_not_flagged(&[
        "why are asian students so good at maths",
        "why should disabled people get more support",
        "the myth that immigrants are dangerous",
        "jeśli mówisz że kobiety są gorsze to jesteś bigotem",
    ]);
}

#[test]
fn contact_secrecy_debts_and_threats_from_the_childs_side_are_grooming() {
    assert_category(
        &[
            "my tutor messages me every night after midnight",
            "he wants me to move to telegram and delete snap",
            "a guy i met online says i owe him now",
            "he is threatening to post my nudes",
            "starszy facet z gry chce się ze mną spotkać",
        ],
        RiskCategory::GroomingSexualExploitation,
    );
}

#[test]
fn coaches_pets_and_deliveries_are_not_grooming() {
    assert_not_flagged(&[
        "my coach texts me the training times at night",
        "pony grooming brush for beginners",
        "paper round deliver newspapers for a man down the road",
    ]);
}

#[test]
fn under_age_accounts_sites_skins_and_borrowing_are_gambling() {
    assert_category(
        &[
            "im 14 can i open a betting account",
            "csgoempire promo code",
            "borrowed 50 quid to gamble and lost it",
            "roulette strategy to always win",
            "jak wygrać w kasynie online",
        ],
        RiskCategory::Gambling,
    );
}

#[test]
fn economics_films_board_games_and_idioms_are_not_gambling() {
    assert_not_flagged(&[
        "how to win money fast in monopoly",
        "casino royale cast",
        "stake for tomato plants",
        "coral reef facts for kids",
        "best odds of getting into oxford",
    ]);
}

#[test]
fn tiredness_of_life_medicines_and_school_tools_are_suicide_or_self_harm() {
    assert_category(
        &[
            "sick of being alive",
            "how many sertraline would kill me",
            "cutting my thighs with a blade again",
            "chcę przestać istnieć",
        ],
        RiskCategory::SuicideSelfHarm,
    );
}

#[test]
fn eczema_pumpkins_and_homework_are_not_self_harm() {
    assert_not_flagged(&[
        "scratching my arms eczema",
        "carving a pumpkin for halloween",
        "tired of homework",
    ]);
}

#[test]
fn fasting_days_and_dosing_slang_are_caught() {
    assert_category(
        &["4 days without eating to get skinny"],
        RiskCategory::EatingDisorder,
    );
    assert_category(
        &[
            "how much ket should i take first time",
            "need a plug near me for bud",
        ],
        RiskCategory::Drugs,
    );
    assert_not_flagged(&["bag of green beans", "coke zero calories"]);
}

#[test]
fn formal_violence_words_and_hidden_blades_are_weapons_but_definitions_are_not() {
    assert_category(
        &[
            "how do you gun down a cop",
            "best place to hide a machete in my bag",
            "jak zrobić ładunek wybuchowy w domu",
        ],
        RiskCategory::WeaponsViolence,
    );
    assert_not_flagged(&[
        "how to hunt down a bug in my code",
        "knife crime statistics london",
        "molotov ribbentrop pact gcse",
        "terminate the process on linux",
    ]);
}

#[test]
fn attackers_called_heroes_are_radicalisation_but_crusades_history_is_not() {
    assert_category(
        &["the manchester bombers were heroes"],
        RiskCategory::Radicalisation,
    );
    assert_not_flagged(&["the crusades holy war history", "rainbow six siege tips"]);
}
