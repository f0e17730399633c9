//! Who a participant is, as far as the platform allows, and how sure that is. Most pupils join
//! from a link sent to a parent, as guests with no account: only a display name, which anyone
//! can type. So identity is never a yes/no: each participant carries the basis of what is
//! thought of them, the rules act on the safe side, and findings say how sure they are.

use serde::Serialize;

use super::view::PersonView;
use crate::directory::PersonKind;

/// How a participant was identified, strongest first (the order compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityBasis {
    /// Signed in with an account, or an email, the directory knows.
    Verified,
    /// Joined through the meeting's registration, whose address the directory knows.
    Registrant,
    /// An unidentified guest in a call whose planned session names this pupil.
    Expected,
    /// The display name matches one directory pupil or parent; anyone can type a name.
    DisplayName,
    /// Nothing says who this is.
    None,
}

impl IdentityBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityBasis::Verified => "verified",
            IdentityBasis::Registrant => "registrant",
            IdentityBasis::Expected => "expected",
            IdentityBasis::DisplayName => "display_name",
            IdentityBasis::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<IdentityBasis> {
        match text {
            "verified" => Some(IdentityBasis::Verified),
            "registrant" => Some(IdentityBasis::Registrant),
            "expected" => Some(IdentityBasis::Expected),
            "display_name" => Some(IdentityBasis::DisplayName),
            "none" => Some(IdentityBasis::None),
            _ => None,
        }
    }

    /// Verified and registrant identities are proof enough to name the person plainly.
    pub fn is_proof(self) -> bool {
        matches!(self, IdentityBasis::Verified | IdentityBasis::Registrant)
    }
}

/// Who a participant is thought to be, and on what basis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub basis: IdentityBasis,
    /// The person meant, for every basis but `None`.
    pub person: Option<PersonView>,
}

impl Identity {
    pub fn unidentified() -> Identity {
        Identity {
            basis: IdentityBasis::None,
            person: None,
        }
    }

    pub fn of(basis: IdentityBasis, person: PersonView) -> Identity {
        Identity {
            basis,
            person: Some(person),
        }
    }

    /// The person, where the basis is proof.
    pub fn identified(&self) -> Option<&PersonView> {
        self.person.as_ref().filter(|_| self.basis.is_proof())
    }

    /// The person, on any basis.
    pub fn probable(&self) -> Option<&PersonView> {
        self.person.as_ref()
    }

    /// Anyone not identified as staff, a parent or an adult the school lists may be a child:
    /// an unidentified guest is never assumed to be an adult.
    pub fn is_possible_pupil(&self) -> bool {
        !self.identified().is_some_and(|person| {
            matches!(
                person.kind,
                PersonKind::Staff | PersonKind::Parent | PersonKind::ExternalAdult
            )
        })
    }
}

/// What is known of one participant session before identification.
#[derive(Debug, Clone, Default)]
pub struct Clues {
    /// The directory person of the signed-in account or email.
    pub verified: Option<PersonView>,
    /// The directory person of the address the participant registered with.
    pub registrant: Option<PersonView>,
    /// The display name, folded (`directory::name_key`), to tell one guest's sessions apart.
    pub name_key: Option<String>,
    /// Directory pupils and parents whose folded name is the display name's.
    pub by_display_name: Vec<PersonView>,
}

/// Identifies every session of one call. `planned_pupils` are the pupils the call's planned
/// session names (none for an adults-only session). A guest is *expected* to be a planned
/// pupil not otherwise present when their display name says so, or when they are the only
/// unidentified guest and one planned pupil is missing; otherwise a single display-name match
/// makes them *probably* that person.
pub fn identify(sessions: &[Clues], planned_pupils: &[PersonView]) -> Vec<Identity> {
    let mut identities: Vec<Option<Identity>> = sessions
        .iter()
        .map(|clues| {
            if let Some(person) = &clues.verified {
                Some(Identity::of(IdentityBasis::Verified, person.clone()))
            } else {
                clues
                    .registrant
                    .as_ref()
                    .map(|person| Identity::of(IdentityBasis::Registrant, person.clone()))
            }
        })
        .collect();
    let present: Vec<i64> = identities
        .iter()
        .flatten()
        .filter_map(|identity| identity.person.as_ref().map(|person| person.id))
        .collect();
    let mut missing: Vec<&PersonView> = planned_pupils
        .iter()
        .filter(|pupil| !present.contains(&pupil.id))
        .collect();

    for (identity, clues) in identities.iter_mut().zip(sessions) {
        if identity.is_some() {
            continue;
        }
        let [only] = clues.by_display_name.as_slice() else {
            continue;
        };
        let basis = if missing.iter().any(|pupil| pupil.id == only.id) {
            IdentityBasis::Expected
        } else {
            IdentityBasis::DisplayName
        };
        *identity = Some(Identity::of(basis, only.clone()));
    }
    missing.retain(|pupil| {
        !identities
            .iter()
            .flatten()
            .any(|identity| identity.person.as_ref().is_some_and(|p| p.id == pupil.id))
    });

    // The guests still unidentified, one per folded name (a rejoin is the same guest).
    let mut guests: Vec<Option<&str>> = Vec::new();
    for (identity, clues) in identities.iter().zip(sessions) {
        let guest = clues.name_key.as_deref();
        if identity.is_none() && (guest.is_none() || !guests.contains(&guest)) {
            guests.push(guest);
        }
    }
    let only_missing = match (missing.as_slice(), guests.as_slice()) {
        ([pupil], [_]) => Some(*pupil),
        _ => None,
    };
    identities
        .into_iter()
        .map(|identity| {
            identity.unwrap_or_else(|| match only_missing {
                Some(pupil) => Identity::of(IdentityBasis::Expected, pupil.clone()),
                None => Identity::unidentified(),
            })
        })
        .collect()
}

/// A participant as a finding names them: plainly where identity is proven, otherwise what is
/// shown and how sure the guess is ("a participant who is not identified as staff, shown as
/// “Dara Finch” (probably the pupil Dara Finch, by display name — not verified)").
pub fn describe(identity: &Identity, display_name: Option<&str>) -> String {
    if let Some(person) = identity.identified() {
        return format!("{} ({})", person.name, person.role_label());
    }
    let shown = match display_name {
        Some(name) => {
            format!("a participant who is not identified as staff, shown as \u{201c}{name}\u{201d}")
        }
        None => "a participant with no name shown who is not identified as staff".to_string(),
    };
    let how = match (identity.basis, identity.probable()) {
        (IdentityBasis::Expected, Some(person)) => format!(
            "expected to be the {} {} from the planned session \u{2014} not verified",
            person.role_label(),
            person.name
        ),
        (IdentityBasis::DisplayName, Some(person)) => format!(
            "probably the {} {}, by display name \u{2014} not verified",
            person.role_label(),
            person.name
        ),
        _ => "not identified".to_string(),
    };
    format!("{shown} ({how})")
}
