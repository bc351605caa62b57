//! Planning: what each selected host runs (as its agent reports it) against
//! what the repository wants, and what `apply` would do about it. Planning
//! changes nothing on hosts: it pushes nothing and runs only the agent's
//! read-only commands, when an agent is there.

mod diff;
mod remote;

pub use diff::{decide, Action, Current};
pub use remote::{plan, FactsSource, HostDiff, PlanReport};
