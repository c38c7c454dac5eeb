//! Who may do what: the access matrix over every app-scoped route of the OpenAPI document,
//! the cross-tenant attack of issue 12 step by step, teams, collaborators and transfers, and
//! revocable tokens on two replicas of one PostgreSQL state store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod matrix;
mod people;
mod stranger;
mod tokens;
