//! The service driven through its real entry points: HTTP, the binary and the database.

mod alerted_while_true;
mod alerts;
mod breakout_rooms;
mod commands;
mod connections;
mod crash;
mod fake_zoom;
mod guests;
mod helpers;
mod import;
mod ops;
mod platform_neutral;
mod processing;
mod register;
mod request_tracing;
mod retranslation;
mod schema_agreement;
mod smtp_sink;
mod supervision;
mod upgrade;
mod zoom_api;
mod zoom_api_answers;
mod zoom_events;
mod zoom_rate_limits;
mod zoom_registrants;
mod zoom_webhooks;
