//! Supervision of the long-running roles (the inbox writer and the four workers): a role that
//! panics is logged once, counted in `/metrics` and restarted after a growing pause; a role
//! that keeps panicking stops the process with an error naming it, so that the process
//! supervisor (systemd, Kubernetes) restarts chaperone. Each role's loop stamps a heartbeat,
//! which `/readyz` reads together with the roles' states.

pub mod registry;
pub mod restart;
pub mod role;
pub mod supervisor;

pub use registry::{Heartbeat, NotReady, Problem, Roles};
pub use restart::RestartPolicy;
pub use role::Role;
pub use supervisor::{RoleFailed, Supervisor};
