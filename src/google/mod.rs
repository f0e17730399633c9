//! Google Meet. Meet events reach chaperone through the Workspace Events API
//! (<https://developers.google.com/workspace/events/guides/events-meet>), published to the
//! school's Pub/Sub topic and pushed with an OIDC token
//! (<https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions>): `source` verifies and
//! reads a push, `translate` makes neutral events of it, `fetcher` answers enrichment jobs from
//! the Meet REST API and the Directory (a Meet event names only a resource), `subscriptions`
//! keeps one subscription per monitored member of staff, and `schedules` reads their bookings
//! from Calendar. Past this module a Meet call is a call like any other.

pub mod api;
pub mod event;
pub mod fetcher;
pub mod push_message;
pub mod push_token;
pub mod schedules;
pub mod source;
pub mod store;
pub mod subscriptions;
pub mod translate;
