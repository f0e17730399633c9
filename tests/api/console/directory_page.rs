//! The console's directory page.
