//! Validation of the shipped examples (being written).
