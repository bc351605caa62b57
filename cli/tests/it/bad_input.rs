//! The bad-input corpus (being written).
