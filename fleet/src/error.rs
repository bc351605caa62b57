//! The marker of bad input. An error whose chain holds a [`BadInput`] means
//! the run stopped before any host was touched; the CLI maps it to exit 2.

/// Input the user must fix: a malformed file, an unknown name, a bad flag.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BadInput {
    pub message: String,
}

impl BadInput {
    pub fn new(message: impl Into<String>) -> Self {
        BadInput { message: message.into() }
    }
}
