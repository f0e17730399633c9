//! The console driven by a real browser: the `chaperone` binary serving, headless Chromium
//! driven through ChromeDriver (W3C WebDriver), a local OpenID Connect provider. Screenshots
//! at phone and desktop width go to `target/browser-screenshots/` for review.
//!
//! A flow starts a [`harness::Scene`] (chaperone with the example school and its first admin,
//! and a browser; `Scene::signed_in_admin` has the admin signed in), acts through
//! [`harness::Browser`] (`visit`, `fill_labelled`, `choose`, `attach`, `click_named`, then
//! `wait_for`, `wait_for_text`, `notice`, `table_rows`) and `capture`s the pages it wants
//! reviewed; each captured page is also checked with axe-core at both widths
//! ([`accessibility`]). Without Chromium and ChromeDriver, or without the pinned axe-core,
//! every test fails, saying how to install them.

mod accessibility;
mod alerting;
mod call;
mod connections;
mod directory;
mod dsl_tour;
mod findings;
mod harness;
mod keyboard;
mod policy;
mod provider;
mod server;
mod sign_in;
mod smtp_sink;
mod tour;
mod webdriver;
