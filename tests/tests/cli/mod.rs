//! The `broker` client driven as a person types it: the real binary against a broker the test
//! starts, one file per topic.

mod apps;
mod run;
