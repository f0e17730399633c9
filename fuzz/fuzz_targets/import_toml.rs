//! A school's import file (the TOML of config/example-school.toml), read and checked the way
//! `chaperone import` does before it writes anything: the timezone, the policy and calendar,
//! the connections, and every person.

#![no_main]

use chaperone::import::{check_people, check_settings, check_timezone, ImportFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = toml::from_str::<ImportFile>(text) else {
        return;
    };
    for school in &file.schools {
        let _ = check_timezone(school).map_err(|error| error.to_string());
        let _ = check_settings(school).map_err(|error| error.to_string());
        let (connections, _deprecated) = school.all_connections();
        assert!(connections.len() >= school.connections.len());
        let (checked, problems) = check_people(&school.people);
        assert!(checked.len() <= school.people.len());
        for problem in &problems {
            let _ = problem.to_string();
        }
    }
});
