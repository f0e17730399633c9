//! The console's audit page.
