//! Measures how many short texts per second the built-in classifier handles on one core.
//! Run with `cargo run --release -p hedgerow-risk --example throughput`.

use std::time::Instant;

use hedgerow_risk::{AgeBand, Classifier, RiskLibrary};

/// Invented searches of the kind pupils type, mostly harmless, a few risky.
const TEXTS: [&str; 16] = [
    "minecraft seeds 1.21",
    "how to draw a horse",
    "bbc bitesize photosynthesis",
    "year 9 maths algebra worksheet",
    "how to kill a python process",
    "i want to die",
    "k1ll mys3lf",
    "cheap trainers size 6",
    "the great fire of london facts",
    "how to make slime without glue",
    "suicide squad cast",
    "where to buy weed near me",
    "roblox free robux",
    "premier league table",
    "who invented the telephone",
    "s u i c i d e",
];

fn main() {
    let classifier = match Classifier::new(&RiskLibrary::builtin(), &[]) {
        Ok(classifier) => classifier,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let rounds = 50_000;
    let started = Instant::now();
    let mut flagged = 0usize;
    for _ in 0..rounds {
        for text in TEXTS {
            if classifier.classify(text, AgeBand::Secondary).is_some() {
                flagged += 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let texts = rounds * TEXTS.len();
    println!(
        "{texts} texts in {seconds:.2} s: {:.0} texts per second ({flagged} flagged)",
        texts as f64 / seconds
    );
}
