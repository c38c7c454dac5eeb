//! `git push` deploys: each app's bare repository (`repos.rs`: made on first use, named by the
//! app's id, collected once the app is gone) and git's own `git http-backend`, run as a CGI
//! per request (`backend.rs`) with a clean environment and a broker-owned pre-receive hook.
//!
//! The hook itself is the `broker` binary in a hidden mode (`client/git_hook.rs`): a client of
//! the public builds API, so that a push is checked and built exactly like `broker deploy`.

mod backend;
mod repos;

pub use backend::{CgiHead, CgiRequest, CgiRun};
pub use repos::Git;
