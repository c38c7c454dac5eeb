//! The `broker` client driven as a person types it: the real binary against a broker the test
//! starts, one file per topic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apps;
mod flow;
// <cli part>
mod access;
mod addons;
mod commands;
mod config;
mod dev;
mod domains;
mod kafka;
// </cli part>
// <deploy part>
mod deploy;
mod logs;
mod ps;
mod releases;
// </deploy part>
mod run;
