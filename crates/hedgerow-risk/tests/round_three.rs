//! Tests for the third tuning round of the built-in libraries: breadth for recall (first-person
//! feelings, search questions, slang, what others do to a child, grooming from the child's side,
//! hate predicates over protected groups, harm to a named person or body part) and the benign
//! look-alikes each new template must leave alone. The texts are invented for these tests, not
//! taken from the evaluation sets.

mod common;

use common::{assert_category, assert_not_flagged};
use hedgerow_risk::RiskCategory;

#[test]
fn feelings_slang_heights_and_pills_are_suicide_or_self_harm() {
    assert_category(
        &[
            "i dont want to exist anymore",
            "thinking of ending my own life",
            "whats the point in living tbh",
            "gonna self delete tonight",
            "would jumping off the tower block kill me",
            "how many sleeping tablets to never wake up",
            "i keep burning myself when im stressed",
            "how do i hide the scars on my thigh from my mum",
            "is it selfish to end my own life",
        ],
        RiskCategory::SuicideSelfHarm,
    );
}

#[test]
fn suicide_templates_leave_look_alikes_alone() {
    assert_not_flagged(&[
        "how do i end it with my boyfriend nicely",
        "how to not wake up so tired in the morning",
        "i want to cut my fringe myself",
        "cliff jumping into the sea in cornwall",
        "how many paracetamol can i take for a headache",
        "how to catch the bus to school on time",
    ]);
}

#[test]
fn hiding_not_eating_and_body_goals_are_eating_disorder() {
    assert_category(
        &[
            "how do i pretend i had breakfast",
            "throw up quietly after tea",
            "i want to be skinny so bad",
            "how to make my hip bones stick out",
            "im 14 and 45kg still too fat",
            "how to starve myself for a week",
        ],
        RiskCategory::EatingDisorder,
    );
    assert_not_flagged(&[
        "i want ribs for dinner",
        "my dog threw up after eating grass",
        "safe foods for a nut allergy",
    ]);
}

#[test]
fn what_others_do_to_a_child_and_bully_searches_are_bullying() {
    assert_category(
        &[
            "the girls in my form keep laughing at me",
            "they call me a freak every day",
            "someone made a fake profile of me",
            "keep getting pushed around at break",
            "how to get her kicked out of our friend group",
            "best roasts for the ginger kid",
            "ur a waste of oxygen",
        ],
        RiskCategory::Bullying,
    );
    assert_not_flagged(&[
        "my crush ignores me what do i do",
        "call me maybe lyrics",
        "things to say to make my mum laugh",
        "how to top up lunch money on parentpay",
    ]);
}

#[test]
fn grooming_from_the_childs_side_is_grooming() {
    assert_category(
        &[
            "a man on discord wants to meet me",
            "my 30 year old boyfriend says its our secret",
            "my tutor messages me on snapchat at night",
            "he says hell post my pics if i dont pay",
            "he asked me to turn on my camera in bed",
            "im 14 can i make an onlyfans",
        ],
        RiskCategory::GroomingSexualExploitation,
    );
    assert_not_flagged(&[
        "he asked me to be his girlfriend",
        "my coach sent the team photos",
        "amazon delivery driver jobs",
    ]);
}

#[test]
fn hostile_predicates_over_groups_are_hate() {
    assert_category(
        &[
            "refugees are human trash",
            "why should muslims not be allowed to vote",
            "the trail of tears was a fabrication",
            "what were the benefits of apartheid",
            "bring back segregation",
        ],
        RiskCategory::Hate,
    );
    assert_not_flagged(&[
        "black rats and the plague history",
        "you cant seriously believe that all immigrants are criminals",
        "why do muslims fast during ramadan",
        "nail polish remover",
    ]);
}

#[test]
fn harm_to_a_person_or_body_part_is_violence() {
    assert_category(
        &[
            "how can i snap someones neck",
            "how do i punch a pensioner",
            "best way to set a school on fire",
            "make a shiv out of a toothbrush",
            "going to jump him after school",
        ],
        RiskCategory::WeaponsViolence,
    );
    assert_not_flagged(&[
        "how to make a bath bomb",
        "how to tackle someone in rugby",
        "how to break a leg meaning",
        "how do i crush garlic",
        "how to use a chefs knife safely",
        "why did the villain kill his brother in the film",
    ]);
}
