//! Buildpacks, Heroku's classic API (`bin/detect BUILD_DIR`, `bin/compile BUILD_DIR CACHE_DIR
//! ENV_DIR`, `bin/release BUILD_DIR`): the built-in ones (`builtin.rs`, shipped as buildpacks
//! of that same API so that every build takes one code path), what a person may name as a
//! buildpack and where it is found on the host (`source.rs`), and what `bin/release` says
//! (`release.rs`). Builds run them in a sandbox (`dynos/compile.rs`).

mod builtin;
mod release;
mod source;

pub use builtin::{install_builtins, BUILTINS, DRIVER};
pub use release::default_process_types;
pub use source::{check_reference, fetch, Buildpack, Sources};
