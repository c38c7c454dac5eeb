//! The `broker` client driven as a person types it: the real binary against a broker the test
//! starts, one file per topic.

mod apps;
// <deploy part>
mod deploy;
mod logs;
mod ps;
mod releases;
// </deploy part>
