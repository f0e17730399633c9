//! The console's stylesheet and its one small script (the findings inbox's check for new
//! findings), embedded in the binary: no CDN, nothing fetched elsewhere.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

pub const STYLESHEET_PATH: &str = "/assets/console.css";
const STYLESHEET: &str = include_str!("assets/console.css");

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

pub const FINDINGS_SCRIPT_PATH: &str = "/assets/findings.js";
const FINDINGS_SCRIPT: &str = include_str!("assets/findings.js");

pub async fn findings_script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        FINDINGS_SCRIPT,
    )
}
