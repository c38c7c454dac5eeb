//! What the dyno manager shows and accepts: the wire types of builds, slugs, the formation,
//! dynos and their output, and log lines with the queries that select them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::{IdRef, NameRef};

/// A formation entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FormationView {
    /// UUID.
    pub id: String,
    /// Process type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// Dynos wanted.
    pub quantity: i32,
    /// Dyno size.
    pub size: String,
    /// The process type's command in the current release.
    pub command: String,
    /// The app.
    pub app: NameRef,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// One change of `PATCH /apps/{app}/formation`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormationUpdate {
    /// Process type (required in batch updates; the path's in `PATCH …/formation/{type}`).
    #[serde(rename = "type")]
    pub process_type: Option<String>,
    /// Dynos wanted, 0 to `runtime.max_quantity`.
    pub quantity: Option<i32>,
    /// Dyno size.
    pub size: Option<String>,
}

/// A release reference.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseRef {
    /// UUID, when the release still exists.
    pub id: Option<String>,
    /// Version.
    pub version: i32,
}

/// A dyno.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DynoView {
    /// The container's id.
    pub id: String,
    /// `web.1`, `run.3` …
    pub name: String,
    /// Process type (`run` for one-off dynos).
    #[serde(rename = "type")]
    pub process_type: String,
    /// `starting`, `up`, `crashed` or `down`.
    pub state: String,
    /// The release it runs.
    pub release: ReleaseRef,
    /// Its command.
    pub command: String,
    /// Dyno size.
    pub size: String,
    /// Port it must listen on (`$PORT`; web dynos only).
    pub port: Option<u16>,
    /// Exit code, once it ended by itself.
    pub exit_code: Option<i32>,
    /// Crashes since the current release, for formation dynos.
    pub restarts: u32,
    /// In the answer to an interactive run (`interactive: true`): the WebSocket URL
    /// (`ws://…/apps/{app}/dynos/{dyno}/attach`) to attach to it; null otherwise (output is
    /// read from `/output` or the logs).
    pub attach_url: Option<String>,
    /// The app.
    pub app: NameRef,
    /// When it started (ISO 8601 UTC).
    pub created_at: String,
    /// When its state last changed (ISO 8601 UTC).
    pub updated_at: String,
    /// Output, for `attach: true` runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Body of `POST /apps/{app}/dynos`: a one-off dyno.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Command line, run by `/bin/sh -c` in `/app`.
    pub command: String,
    /// Wait for the dyno to end and answer with its output and exit code.
    #[serde(default)]
    pub attach: bool,
    /// Answer at once with an `attach_url` to attach to the dyno over a WebSocket (a terminal
    /// sized from `env.LINES`/`env.COLUMNS`, 24×80 by default). The dyno is stopped when its
    /// client disconnects, or when nobody attaches within `runtime.attach_timeout_ms`.
    #[serde(default)]
    pub interactive: bool,
    /// With `interactive`: no terminal; stdin, stdout and stderr are plain streams.
    #[serde(default)]
    pub force_no_tty: bool,
    /// Seconds before it is stopped (default 3600, at most 86400).
    pub time_to_live: Option<u64>,
    /// Dyno size (default `standard-1x`).
    pub size: Option<String>,
    /// Extra environment variables for this dyno only.
    pub env: Option<BTreeMap<String, String>>,
}

/// A dyno's output.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutputView {
    /// Dyno name.
    pub name: String,
    /// `up`, `crashed`, `down` …
    pub state: String,
    /// Exit code, once it ended by itself.
    pub exit_code: Option<i32>,
    /// stdout and stderr as written (the first MiB).
    pub output: String,
}

/// A slug.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlugView {
    /// UUID.
    pub id: String,
    /// Process type → command, from the Procfile.
    pub process_types: BTreeMap<String, String>,
    /// Unpacked size in bytes.
    pub size: i64,
    /// `SHA256:<hex>` of the uploaded archive.
    pub checksum: String,
    /// ISO 8601 UTC.
    pub created_at: String,
}

/// A build.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuildView {
    /// UUID.
    pub id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// The slug it made.
    pub slug: Option<IdRef>,
    /// The release it made.
    pub release: Option<ReleaseRef>,
    /// What the build did: the archive unpacked, the process types found, the release
    /// phase's command and output, and the release made (`-----> Released vN`) or why it failed
    /// (`-----> Build failed: …`).
    pub output: String,
    /// Where the output streams as it is written (`GET /apps/{app}/builds/{build}/output`,
    /// text/plain), from its first byte until the build ends.
    pub output_stream_url: String,
    /// The app.
    pub app: NameRef,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// A log line.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// App id (shared: the router writes a line per request).
    pub app_id: std::sync::Arc<str>,
    /// When the broker read it (ms).
    pub at_ms: i64,
    /// `app` (the dyno's output) or `broker` (the dyno manager's messages).
    pub source: &'static str,
    /// Dyno name (`router` is not copied per line).
    pub dyno: std::borrow::Cow<'static, str>,
    /// The text, without its newline.
    pub text: String,
}

impl LogLine {
    /// `2026-11-26T09:00:00.123456+00:00 app[web.1]: text`, as Heroku prints.
    pub fn render(&self) -> String {
        let t = chrono::DateTime::from_timestamp_millis(self.at_ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
            .unwrap_or_default();
        format!("{t} {}[{}]: {}\n", self.source, self.dyno, self.text)
    }
}

/// Which logs to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only this dyno (`web.1`) or process type (`web`).
    pub dyno: Option<String>,
    /// Only this source (`app`, `broker` or `heroku`).
    pub source: Option<String>,
    /// Lines from the buffer (default 100, at most 1500).
    pub lines: Option<usize>,
}

impl LogQuery {
    /// True when `line` is wanted.
    pub fn matches(&self, line: &LogLine) -> bool {
        let dyno_ok = self
            .dyno
            .as_ref()
            .is_none_or(|d| line.dyno == *d || line.dyno.split('.').next() == Some(d.as_str()));
        dyno_ok && self.source.as_ref().is_none_or(|s| line.source == s)
    }
}

/// One of an app's buildpacks (Heroku's buildpack-installation).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BuildpackInstallationView {
    /// Its place in the order, from 0.
    pub ordinal: i32,
    /// The buildpack.
    pub buildpack: BuildpackRef,
}

/// A buildpack as set: a built-in name, a path on the broker's host or an archive URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BuildpackRef {
    /// What was set.
    pub url: String,
    /// Its name (the built-in's, else the same as `url`).
    pub name: String,
}

/// `PUT /apps/{app}/buildpack-installations`: the new list, in order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildpackInstallationsUpdate {
    /// The buildpacks in order (an empty list: detect among the built-ins).
    pub updates: Vec<BuildpackUpdate>,
}

/// One buildpack of a [`BuildpackInstallationsUpdate`].
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildpackUpdate {
    /// `heroku/python`, `heroku/nodejs`, `heroku/procfile`, an absolute path under
    /// `builds.buildpack_paths`, or an http(s) URL of a `.tar.gz`.
    pub buildpack: String,
}
