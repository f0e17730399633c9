//! Zoom: webhook signatures, payloads, and Zoom as a source of deliveries. Past this module a Zoom
//! meeting is a neutral [`crate::meeting::MeetingEvent`].

pub mod api;
pub mod enrich;
pub mod payload;
pub mod signature;
pub mod source;
