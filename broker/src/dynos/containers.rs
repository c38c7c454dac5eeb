//! Reading the runtime's containers: the labels a dyno is started with, its exit, the order of
//! dyno names, and how runtime errors map onto broker errors.

use runtime::{ContainerStatus, State};

use crate::error::Error;

/// A label of a container (`""` when it has none).
pub(super) fn label<'a>(c: &'a ContainerStatus, key: &str) -> &'a str {
    c.labels.get(key).map_or("", String::as_str)
}

/// True for a build's or a release phase's container: a step of a deploy, not a dyno (not
/// listed, not in the app's log).
pub(super) fn is_step(c: &ContainerStatus) -> bool {
    matches!(label(c, "kind"), "release" | "build")
}

/// The release version a container runs (0 when unlabelled).
pub(super) fn release_of(c: &ContainerStatus) -> i32 {
    label(c, "release").parse().unwrap_or(0)
}

/// The `$PORT` of a web dyno.
pub(super) fn port_of(c: &ContainerStatus) -> Option<u16> {
    label(c, "port").parse().ok()
}

/// How a container ended, once it has.
pub(super) fn exit_of(c: &ContainerStatus) -> Option<&runtime::Exit> {
    match &c.state {
        State::Exited(e) => Some(e),
        State::Running => None,
    }
}

/// Process types in rollout order: `web` first, then by name.
pub(super) fn type_order(t: &str) -> (bool, String) {
    (t != "web", t.to_string())
}

/// Sort key of a dyno name: `web` first, then by type, then by number (`web.2` before `web.10`).
pub(super) fn dyno_order(name: &str) -> ((bool, String), u64) {
    let (t, n) = name.split_once('.').unwrap_or((name, "0"));
    (type_order(t), n.parse().unwrap_or(0))
}

/// A runtime error as a broker error (bad input 422, unknown container 404, the host 500).
pub(super) fn runtime_err(e: runtime::RuntimeError) -> Error {
    match e {
        runtime::RuntimeError::Invalid(m) => Error::Unprocessable(m),
        runtime::RuntimeError::NotFound(m) => Error::NotFound(format!("no dyno {m}")),
        runtime::RuntimeError::Conflict(m) => Error::Conflict(m),
        e @ runtime::RuntimeError::Host(_) => Error::internal("runtime", e),
    }
}
