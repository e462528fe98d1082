//! `hedgerow_import::read_import` on arbitrary bytes, as pupils, classes and staff, with a
//! year group mapping read from the input too. Must never panic, and whatever it accepts
//! puts people only into the school's groups of the right kind, with any date of birth on
//! or before the import day.
#![no_main]

use hedgerow_import::{
    Date, GroupKind, ImportOptions, Kind, Records, SchoolGroup, YearMapping, read_import,
};
use libfuzzer_sys::fuzz_target;

const TODAY: Date = Date::constant(2025, 9, 1);

fuzz_target!(|data: &[u8]| {
    let groups = [
        SchoolGroup::new("eyfs-ks1", GroupKind::Pupil),
        SchoolGroup::new("ks2", GroupKind::Pupil),
        SchoolGroup::new("staff", GroupKind::Staff),
        SchoolGroup::new("unknown", GroupKind::Other),
    ];
    // The first line (up to 200 bytes) is the mapping; the rest is the file.
    let split = data.iter().take(200).position(|b| *b == 0).unwrap_or(0);
    let (mapping, file) = data.split_at(split);
    let mapping = YearMapping::parse(&String::from_utf8_lossy(mapping), &groups)
        .unwrap_or_else(|_| YearMapping::suggested(&groups));
    let options = ImportOptions {
        groups: &groups,
        mapping: &mapping,
        today: TODAY,
    };
    for kind in Kind::ALL {
        if let Ok(import) = read_import(kind, file, &options) {
            assert!(!import.records.is_empty());
            match import.records {
                Records::Pupils(pupils) => {
                    for p in pupils {
                        assert!(p.group == "eyfs-ks1" || p.group == "ks2", "{p:?}");
                        assert!(p.date_of_birth.is_none_or(|d| d <= TODAY), "{p:?}");
                    }
                }
                Records::Staff(staff) => {
                    for s in staff {
                        assert_eq!(s.group, "staff");
                    }
                }
                Records::Classes(classes) => {
                    for c in classes {
                        assert!(
                            c.group
                                .as_deref()
                                .is_none_or(|g| g == "eyfs-ks1" || g == "ks2")
                        );
                    }
                }
            }
        }
    }
});
