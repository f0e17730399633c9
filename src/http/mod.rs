//! What people reach with a browser: the console (`ui`), server-rendered from templates that
//! escape by default, and the one-click acknowledgement an alert links to.

pub mod acknowledge;
pub mod ui;
