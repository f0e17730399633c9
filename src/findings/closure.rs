//! Why a finding closed by itself, in words a DSL reads: the engine resolves a finding when a
//! later evaluation no longer finds it, usually because more became known (the participant
//! report showed the adult the webhooks missed, the DSL was added to the invitation). The
//! sentence is kept as the resolution note and told to whoever was alerted.

/// The reason a finding of `rule` no longer holds.
pub fn reason_closed(rule: &str) -> &'static str {
    match rule {
        "two_adults" => {
            "With what is now known of the call (for example the platform's participant report), \
             enough adults were present whenever a possible pupil was in it."
        }
        "dsl_invited" => "A DSL or senior leader is now invited to the meeting.",
        "school_hours" => "The call's times, as now known, lie within school hours.",
        "chat_disabled" => "In-meeting chat is now known to be off, and no message was seen.",
        "recording" => "The call's recording, as now known, follows the school's policy.",
        "parental_consent" => "Parental consent is now on file for every pupil in the call.",
        "approved_in_advance" => "The call now matches a session on the timetable.",
        "invite_via_parent" => "The invitations no longer go to a pupil's own address.",
        "unknown_participant" => "Everyone in the call is now identified.",
        "school_account" => "The host and staff are now known to use school accounts.",
        "outcome_logged" => "An outcome is now logged for the session.",
        "coverage" => "Monitoring of the account works again.",
        _ => "The condition no longer holds (the meeting or the directory changed).",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_its_own_reason_and_an_unknown_one_the_general_reason() {
        let rules = [
            "two_adults",
            "dsl_invited",
            "school_hours",
            "chat_disabled",
            "recording",
            "parental_consent",
            "approved_in_advance",
            "invite_via_parent",
            "unknown_participant",
            "school_account",
            "outcome_logged",
            "coverage",
        ];
        let general = reason_closed("no_such_rule");
        let mut reasons: Vec<&str> = rules.iter().map(|rule| reason_closed(rule)).collect();
        assert!(reasons.iter().all(|reason| *reason != general));
        reasons.sort();
        reasons.dedup();
        assert_eq!(reasons.len(), rules.len());
    }
}
