//! The bad-input corpus: one real git repository per case, run through the
//! real binary. Every case must exit 2 (bad input, nothing touched), must not
//! panic, and must say in which file (and, where it has one, on which line)
//! the problem is and what it is.
//!
//! The base repository is `examples/quickstart` with an inventory whose only
//! host is `127.0.0.1` port 1, where nobody listens: a case run through
//! `plan` or `apply` that tried to reach a host would exit 4, not 2.

mod cases;
mod runner;
