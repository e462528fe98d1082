//! `hedgerow_agreements::fuzzing::exercise` on arbitrary bytes: an agreement text as a school
//! might type it (first line the title), each line as a visitor's day code and a parent's link
//! token, and the first bytes as a renewal rule and an acceptance date. Must never panic;
//! nothing typed may come out of `render_body` as markup, a normalised day code normalises to
//! itself, and an acceptance lets its holder in on the day it was made and expires after it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hedgerow_agreements::fuzzing::exercise(data));
