//! The names of the supervised roles, as they appear in logs, `/metrics` and `/readyz`.

use std::fmt;

/// A long-running task of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Commits accepted webhook events to the inbox (see `inbox::writer`).
    InboxWriter,
    Processor,
    Evaluator,
    Dispatcher,
    Enricher,
    /// Chains the records the database noted into the ledger, and signs the daily heads.
    LedgerKeeper,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::InboxWriter,
        Role::Processor,
        Role::Evaluator,
        Role::Dispatcher,
        Role::Enricher,
        Role::LedgerKeeper,
    ];

    /// The stable label used in logs, metrics and readiness answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::InboxWriter => "inbox_writer",
            Role::Processor => "processor",
            Role::Evaluator => "evaluator",
            Role::Dispatcher => "dispatcher",
            Role::Enricher => "enricher",
            Role::LedgerKeeper => "ledger_keeper",
        }
    }

    /// The role's position in [`Role::ALL`], for per-role tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_sits_at_its_own_index() {
        for (position, role) in Role::ALL.iter().enumerate() {
            assert_eq!(role.index(), position, "{role}");
        }
    }
}
