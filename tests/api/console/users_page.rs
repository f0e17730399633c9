//! The console's users page.
