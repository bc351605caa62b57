//! Reading the config repository from git objects at a revision, never from
//! the working tree: only committed content is deployed.

//! With a [`SigningPolicy`], the commit must carry a signature by an allowed
//! key (`signature`).

mod git;
mod init;
mod signature;

pub use git::ConfigRepo;
pub use init::create;
pub use signature::{GoodSignature, SigningPolicy};
