//! Who is asking and what they may do. A request is made by a **principal**: a signed-in user
//! (through a session opened by a local password or the school's identity provider, or through
//! a personal API token) holding roles at schools, or the deployment's bootstrap admin token. What each role may do is one table
//! ([`Role::allows`]), written out in the README; every route asks for a [`Capability`] at a
//! school and is refused (403) without it.

pub mod command;
pub mod oidc;
pub mod passwords;
pub mod sessions;
pub mod store;
pub mod tokens;

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A role a user holds at one school, or at every school of the installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Configures every school of the trust.
    TrustAdmin,
    /// Configures one school: connections, directory, policy, contacts, users.
    SchoolAdmin,
    /// The Designated Safeguarding Lead: findings, the register, the timetable. Held at every
    /// school, the trust's safeguarding lead.
    Dsl,
    DeputyDsl,
    /// Registers planned sessions and writes their outcomes.
    Staff,
    /// Aggregate reports only, never personal data.
    Governor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::TrustAdmin,
        Role::SchoolAdmin,
        Role::Dsl,
        Role::DeputyDsl,
        Role::Staff,
        Role::Governor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::TrustAdmin => "trust_admin",
            Role::SchoolAdmin => "school_admin",
            Role::Dsl => "dsl",
            Role::DeputyDsl => "deputy_dsl",
            Role::Staff => "staff",
            Role::Governor => "governor",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// What the role may do: the README's table.
    pub fn allows(self, capability: Capability) -> bool {
        use Capability::*;
        match self {
            Role::TrustAdmin | Role::SchoolAdmin => matches!(capability, SeeSchools | Configure),
            Role::Dsl | Role::DeputyDsl => matches!(
                capability,
                SeeSchools | SeeSafeguarding | ActOnSafeguarding | RecordSessions | SeeReports
            ),
            Role::Staff => matches!(capability, SeeSchools | RecordSessions),
            Role::Governor => matches!(capability, SeeSchools | SeeReports),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Which schools there are (names and timezones).
    SeeSchools,
    /// Findings, the register and meetings: safeguarding records with personal data.
    SeeSafeguarding,
    /// Acknowledge and resolve findings, approve and cancel planned sessions, record and
    /// withdraw consent.
    ActOnSafeguarding,
    /// Register planned sessions and write outcomes.
    RecordSessions,
    /// Connections, subscriptions, events set aside, the directory, the policy, users.
    Configure,
    /// The aggregate reports (counts per month, never a name): the DSLs and the governors.
    /// A head teacher reads them through the governor role, or the DSL role where they hold it.
    SeeReports,
}

impl Capability {
    /// Who has it, in the words a refusal uses.
    pub fn held_by(self) -> &'static str {
        match self {
            Capability::SeeSchools => "a role at the school",
            Capability::SeeSafeguarding | Capability::ActOnSafeguarding => {
                "the DSL or deputy DSL role at the school"
            }
            Capability::RecordSessions => "a staff, DSL or deputy DSL role at the school",
            Capability::Configure => "the school or trust admin role",
            Capability::SeeReports => "the DSL, deputy DSL or governor role at the school",
        }
    }
}

/// A role held at a school (`None`: at every school).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub role: Role,
    pub school_id: Option<i64>,
}

impl Grant {
    /// Whether this grant covers `other` (the same role, here or everywhere).
    pub fn covers(&self, other: &Grant) -> bool {
        self.role == other.role && (self.school_id.is_none() || self.school_id == other.school_id)
    }
}

/// A signed-in user, as far as a request needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: i64,
    pub name: String,
    /// The directory person this user is, when linked: findings about them are not theirs
    /// to see.
    pub person_id: Option<i64>,
    /// What the request may use: the user's roles, or the one role its token carries.
    pub grants: Vec<Grant>,
    /// The personal API token the request came with, by id and name.
    pub token: Option<(i64, String)>,
}

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The deployment's bootstrap admin token: everything, everywhere. Kept for setting up
    /// an installation and for programs until they have tokens of their own.
    Bootstrap,
    User(SignedIn),
}

/// The schools at which a principal may use a capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Everywhere,
    /// These schools only (none: the capability is not held at all).
    Schools(BTreeSet<i64>),
}

impl Reach {
    pub fn includes(&self, school_id: i64) -> bool {
        match self {
            Reach::Everywhere => true,
            Reach::Schools(schools) => schools.contains(&school_id),
        }
    }

    pub fn is_nowhere(&self) -> bool {
        matches!(self, Reach::Schools(schools) if schools.is_empty())
    }

    /// The schools as a list for a query (`None`: every school).
    pub fn school_ids(&self) -> Option<Vec<i64>> {
        match self {
            Reach::Everywhere => None,
            Reach::Schools(schools) => Some(schools.iter().copied().collect()),
        }
    }
}

impl Principal {
    /// Where this principal may use `capability`.
    pub fn reach(&self, capability: Capability) -> Reach {
        let user = match self {
            Principal::Bootstrap => return Reach::Everywhere,
            Principal::User(user) => user,
        };
        let mut schools = BTreeSet::new();
        for grant in user
            .grants
            .iter()
            .filter(|grant| grant.role.allows(capability))
        {
            match grant.school_id {
                None => return Reach::Everywhere,
                Some(school_id) => {
                    schools.insert(school_id);
                }
            }
        }
        Reach::Schools(schools)
    }

    /// Whether this principal may use `capability` at school `school_id`.
    pub fn may(&self, capability: Capability, school_id: i64) -> bool {
        self.reach(capability).includes(school_id)
    }

    /// The directory person this principal is, if any.
    pub fn person_id(&self) -> Option<i64> {
        match self {
            Principal::Bootstrap => None,
            Principal::User(user) => user.person_id,
        }
    }

    /// The principal as the audit log records it.
    pub fn audit_actor(&self) -> crate::audit::Actor {
        match self {
            Principal::Bootstrap => crate::audit::Actor::Bootstrap,
            Principal::User(SignedIn {
                token: Some((id, _)),
                ..
            }) => crate::audit::Actor::Token {
                id: *id,
                name: self.label(),
            },
            Principal::User(user) => crate::audit::Actor::Person {
                id: user.user_id,
                name: user.name.clone(),
            },
        }
    }

    /// How the principal is named where a person's act is recorded (who acknowledged a
    /// finding): the user's name, with the token it came through.
    pub fn label(&self) -> String {
        match self {
            Principal::Bootstrap => "the bootstrap admin token".to_string(),
            Principal::User(SignedIn {
                name,
                token: Some((_, token)),
                ..
            }) => format!("{name} (token \u{201c}{token}\u{201d})"),
            Principal::User(user) => user.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(grants: &[(Role, Option<i64>)]) -> Principal {
        Principal::User(SignedIn {
            user_id: 1,
            name: "Dana Lee".into(),
            person_id: None,
            grants: grants
                .iter()
                .map(|(role, school_id)| Grant {
                    role: *role,
                    school_id: *school_id,
                })
                .collect(),
            token: None,
        })
    }

    #[test]
    fn a_dsl_sees_safeguarding_records_of_their_school_only() {
        let dsl = user(&[(Role::Dsl, Some(1))]);
        assert!(dsl.may(Capability::SeeSafeguarding, 1));
        assert!(!dsl.may(Capability::SeeSafeguarding, 2));
        assert!(!dsl.may(Capability::Configure, 1));
    }

    #[test]
    fn a_dsl_of_every_school_is_the_trust_s_safeguarding_lead() {
        let lead = user(&[(Role::Dsl, None)]);
        assert_eq!(lead.reach(Capability::SeeSafeguarding), Reach::Everywhere);
    }

    #[test]
    fn admins_configure_and_never_see_safeguarding_records() {
        for role in [Role::TrustAdmin, Role::SchoolAdmin] {
            let admin = user(&[(role, None)]);
            assert!(admin.may(Capability::Configure, 7));
            assert!(admin.reach(Capability::SeeSafeguarding).is_nowhere());
        }
    }

    #[test]
    fn a_governor_sees_no_personal_data() {
        let governor = user(&[(Role::Governor, Some(1))]);
        for capability in [
            Capability::SeeSafeguarding,
            Capability::ActOnSafeguarding,
            Capability::RecordSessions,
            Capability::Configure,
        ] {
            assert!(governor.reach(capability).is_nowhere(), "{capability:?}");
        }
        assert!(governor.may(Capability::SeeSchools, 1));
    }

    #[test]
    fn the_dsls_and_governors_see_the_reports_and_admins_and_staff_do_not() {
        for role in [Role::Dsl, Role::DeputyDsl, Role::Governor] {
            assert!(
                user(&[(role, Some(1))]).may(Capability::SeeReports, 1),
                "{role}"
            );
        }
        for role in [Role::TrustAdmin, Role::SchoolAdmin, Role::Staff] {
            assert!(
                user(&[(role, None)])
                    .reach(Capability::SeeReports)
                    .is_nowhere(),
                "{role}"
            );
        }
    }

    #[test]
    fn roles_read_back_from_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn a_grant_everywhere_covers_the_same_role_at_a_school() {
        let everywhere = Grant {
            role: Role::Dsl,
            school_id: None,
        };
        let here = Grant {
            role: Role::Dsl,
            school_id: Some(3),
        };
        assert!(everywhere.covers(&here));
        assert!(!here.covers(&everywhere));
        assert!(!here.covers(&Grant {
            role: Role::Staff,
            school_id: Some(3)
        }));
    }
}
