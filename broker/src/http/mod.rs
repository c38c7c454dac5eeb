//! The HTTP faces of the broker, one folder or file per API and one file per resource inside,
//! mirroring the domain. Handlers are plain `async fn`s: the caller comes from an extractor
//! ([`extract`]), the domain does the work, and its [`Error`](crate::error::Error) comes back as
//! the API's error format ([`errors`]).
//!
//! This module only declares its children: shared pieces live in their own files, so that no
//! child imports from a parent that imports from it.

pub mod access;
pub mod admin;
pub mod dynos;
pub mod errors;
pub mod extract;
pub mod forward;
pub mod git;
pub mod input;
pub mod middleware;
pub mod osb;
pub mod paging;
pub mod platform;
pub mod provider;
pub mod state;
pub mod topics;

#[cfg(test)]
mod tests;
