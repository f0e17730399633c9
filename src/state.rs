//! The handles every request and worker shares: cheap to clone, no globals.

use std::sync::Arc;

use crate::alerts::links::LinkSigner;
use crate::config::Settings;
use crate::connections::Connections;
use crate::db::Db;
use crate::directory::accounts::MonitoredAccounts;
use crate::google::push_token::GoogleKeys;
use crate::inbox::writer::InboxWriter;
use crate::policy::calendar::BankHolidays;
use crate::secrets::SecretKeys;
use crate::supervision::Roles;
use crate::telemetry::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub inbox: InboxWriter,
    /// Monitored accounts by platform account id, for the shared endpoint.
    pub accounts: MonitoredAccounts,
    /// Connections by endpoint id, with their opened webhook secrets.
    pub connections: Connections,
    /// Seals and opens the platform secrets stored in the database.
    pub secrets: Arc<SecretKeys>,
    /// Signs and checks the acknowledge links in alerts.
    pub links: LinkSigner,
    /// The supervised roles' states and heartbeats, for readiness.
    pub roles: Roles,
    /// Google's push token keys, fetched once for every Google connection.
    pub google_keys: GoogleKeys,
    /// The bank holidays school calendars leave out, for pages that show school hours.
    pub bank_holidays: Arc<BankHolidays>,
    /// Signs the ledger's daily heads and evidence packs; knows this instance's keys.
    pub head_signer: Arc<crate::ledger::HeadSigner>,
}
