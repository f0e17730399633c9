//! The console's schools page.
