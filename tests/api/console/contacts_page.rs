//! The console's contacts page.
