//! chaperone keeps online one-to-one calls between school staff and pupils safe: it takes in
//! the platforms' webhooks, keeps the attendance register, and checks every call against the
//! school's safeguarding policy.
//!
//! The modules follow the data flow:
//! platform webhook (`zoom`) → `webhooks` → `inbox` → `processor` → meeting state → `register` → `api`.

/// The JSON admin/DSL API.
pub mod api;
/// Layered, typed settings.
pub mod config;
/// The database pool, backends and migrations.
pub mod db;
/// Schools, monitored accounts and people.
pub mod directory;
/// HTTP errors.
pub mod error;
/// Loading schools and people from files.
pub mod import;
/// Durable, de-duplicated storage of accepted events.
pub mod inbox;
/// The platform-neutral meeting model.
pub mod meeting;
/// Health, readiness and metrics endpoints.
pub mod ops;
/// Applies inbox events to the meeting state.
pub mod processor;
/// The attendance register.
pub mod register;
/// Start-up, the router and shutdown.
pub mod startup;
/// Shared handles for handlers and workers.
pub mod state;
/// Logs and metrics.
pub mod telemetry;
/// The map of platform webhook endpoints.
pub mod webhooks;
/// Zoom's signatures, payloads and webhook endpoint.
pub mod zoom;
