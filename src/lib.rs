//! chaperone keeps online one-to-one calls between school staff and pupils safe: it takes in
//! the platforms' webhooks, keeps the attendance register, and checks every call against the
//! school's safeguarding policy.
//!
//! The modules follow the data flow:
//! platform delivery (`zoom`, `google`) → `http::webhooks` → `inbox` → `processor` → meeting
//! state → `evaluation` (`policy`) → `findings` → `alerts`; `enrichment` reads what deliveries
//! do not carry from the platforms' APIs; `register`, `http::api` and the console
//! (`http::ui`) serve people, who are known through `identity`.

/// Alerts to the DSL: messages and channels.
pub mod alerts;
/// The append-only, hash-chained audit log of changes and views, and its verification.
pub mod audit;
/// Consistent copies of the SQLite database, taken while the service runs.
pub mod backup;
/// A person's upcoming calls as an iCalendar feed at a secret, revocable address.
pub mod calendar_feed;
/// Layered, typed settings.
pub mod config;
/// Platform accounts connected to schools, with endpoints and sealed secrets of their own.
pub mod connections;
/// The database pool, backends and migrations.
pub mod db;
/// Schools, monitored accounts and people.
pub mod directory;
/// Reading what webhooks do not carry from the platforms' APIs, and reconciliation.
pub mod enrichment;
/// HTTP errors.
pub mod error;
/// The policy evaluation worker and its queue.
pub mod evaluation;
/// Evidence packs of a call or a finding for people outside the school, and their offline
/// verification.
pub mod evidence;
/// Findings as stored, with their history.
pub mod findings;
/// Google Meet: Pub/Sub pushes, their translation, Google's APIs, subscriptions and bookings.
pub mod google;
/// The container health check: the running service asked over loopback.
pub mod healthcheck;
/// Every HTTP surface: webhooks, the API, the console, acknowledgement and operations.
pub mod http;
/// Who is asking and what they may do: users, roles, API tokens.
pub mod identity;
/// Loading schools and people from files.
pub mod import;
/// Durable, de-duplicated storage of accepted events.
pub mod inbox;
/// Platform JSON made readable and storable alike on both backends (lone surrogates, NULs).
pub mod json_text;
/// The per-school, hash-chained ledger of every fact kept about a call, its signed daily
/// heads and its verification.
pub mod ledger;
/// The platform-neutral meeting model.
pub mod meeting;
/// The school's policy, calendar and the pure policy engine.
pub mod policy;
/// Applies inbox events to the meeting state.
pub mod processor;
/// The attendance register.
pub mod register;
/// The aggregate safeguarding reports: counts per school and month, never a name.
pub mod reports;
/// How long each school keeps each class of record, and the purge that leaves tombstones
/// in the ledger.
pub mod retention;
/// Retry schedules with backoff and jitter.
pub mod retry;
/// Participants' stays in breakout rooms, as stored.
pub mod room_stays;
/// Platform secrets sealed at rest, and the key that seals them.
pub mod secrets;
/// Start-up, the router and shutdown.
pub mod startup;
/// Shared handles for handlers and workers.
pub mod state;
/// SQL for the aggregates several stages touch, with typed rows.
pub mod store;
/// Restarts of roles that panic, and their heartbeats.
pub mod supervision;
/// Logs and metrics.
pub mod telemetry;
/// Every job that runs on a clock, and which worker runs it.
pub mod timers;
/// Planned sessions, parental consent and outcomes.
pub mod timetable;
/// One runner for the background workers, and the wake-ups that pass work between them.
pub mod worker;
/// Zoom's signatures, payloads and webhook endpoint.
pub mod zoom;
