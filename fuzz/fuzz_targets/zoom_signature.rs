//! Zoom's `x-zm-signature` check on whatever headers and body arrive (`delivery.rs` says how
//! the input is split). Besides not panicking: an empty token verifies nothing, and the same
//! body signed with the connection's token verifies while fresh and not after.

#![no_main]

#[path = "delivery.rs"]
mod delivery;

use chaperone::config::Secret;
use chaperone::zoom::signature::{
    self, SignatureError, TimestampWindow, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

/// The time of Zoom's published test vector (zoom.md §1.2).
const NOW: i64 = 1_720_705_455;
const WINDOW: TimestampWindow = TimestampWindow {
    max_clock_skew: Duration::from_secs(300),
    max_age: Duration::from_secs(7200),
};

fuzz_target!(|data: &[u8]| {
    let (headers, body) = delivery::split(data);
    let current = Secret::new("4fv1RkqGQUq5sWbEz6hA5A");
    let previous = Secret::new("");
    let secrets = [&current, &previous];

    // Whatever it says; a seed carries Zoom's published vector, which verifies at `NOW`.
    let _ = signature::verify(&headers, body, &secrets, WINDOW, NOW);

    // No token, no delivery: an empty secret never verifies anything.
    assert_ne!(
        signature::verify(&headers, body, &[&previous], WINDOW, NOW),
        Ok(())
    );

    let mut signed = HeaderMap::new();
    signed.insert(TIMESTAMP_HEADER, HeaderValue::from(NOW));
    let value = signature::sign(&current, NOW, body);
    signed.insert(SIGNATURE_HEADER, HeaderValue::from_str(&value).unwrap());
    assert_eq!(
        signature::verify(&signed, body, &secrets, WINDOW, NOW),
        Ok(())
    );
    assert_eq!(
        signature::verify(&signed, body, &secrets, WINDOW, NOW + 7201),
        Err(SignatureError::Stale)
    );
});
