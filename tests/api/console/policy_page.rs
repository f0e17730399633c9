//! The console's policy page.
