//! The console's connections page.
