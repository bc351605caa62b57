//! Reading the config repository from git objects at a revision, never from
//! the working tree: only committed content is deployed.

mod git;
mod init;

pub use git::ConfigRepo;
pub use init::create;
