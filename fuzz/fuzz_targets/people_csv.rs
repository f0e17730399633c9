//! A CSV of people, as uploaded in the console or given to `chaperone import`: read, then
//! checked the way the upload checks it before writing. One bad row must never hide the
//! others, and a problem names a row and a `ref`, never a person's name or email.

#![no_main]

use chaperone::import::{check_people, parse_people_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let csv = parse_people_csv(data);
    assert!(
        !csv.people.is_empty() || !csv.problems.is_empty(),
        "a file gave neither people nor a problem"
    );
    for person in &csv.people {
        assert!(person.row.is_some(), "a person from a CSV has no row");
    }
    let (checked, problems) = check_people(&csv.people);
    assert!(checked.len() <= csv.people.len());
    for problem in csv.problems.iter().chain(&problems) {
        let _ = problem.to_string();
    }
});
