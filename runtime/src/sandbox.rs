//! The host-side command line of a container after the wrapper: privileges dropped
//! (`setpriv`, when the broker is root), the network namespace (`pasta`, when isolated), then
//! bubblewrap and the command.

use std::path::{Path, PathBuf};

use crate::attach::SETSID;
use crate::host::system_mounts;
use crate::network::pasta_args;
use crate::ContainerSpec;

/// Runs its arguments with stdin a copy of stdout (the terminal or socket of an attachment).
const STDIN_FROM_STDOUT: &str = r#"exec "$@" 0<&1"#;

/// Run by `/bin/sh -c` inside the sandbox with the command as `$0`: sources the app's
/// `.profile.d` scripts (Heroku's contract), then becomes `/bin/sh -c command`.
const PROFILE: &str =
    r#"for f in /app/.profile.d/*.sh; do if [ -r "$f" ]; then . "$f"; fi; done; unset f; exec /bin/sh -c "$0""#;

/// The programs and the user a container's processes start with.
#[derive(Debug, Clone)]
pub(crate) struct Launcher {
    /// The bubblewrap binary (absolute).
    pub bwrap: PathBuf,
    /// The pasta binary (absolute), when containers get a network of their own.
    pub pasta: Option<PathBuf>,
    /// Options this pasta needs beyond the policy's (`network::probe`).
    pub pasta_options: Vec<String>,
    /// Host uid and gid to become (a root broker); `None` keeps the broker's.
    pub run_as: Option<(u32, u32)>,
}

impl Launcher {
    /// `setpriv` to the dyno user (nothing when the broker is not root).
    pub fn privileges(&self) -> Vec<String> {
        let Some((uid, gid)) = self.run_as else {
            return Vec::new();
        };
        vec![
            "/usr/bin/setpriv".into(),
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            "--clear-groups".into(),
            "--inh-caps=-all".into(),
            "--bounding-set=-all".into(),
            "--".into(),
        ]
    }

    /// Everything after the wrapper: run as the dyno user, pasta (if isolated), bubblewrap and
    /// its arguments, the command.
    pub fn command_line(&self, spec: &ContainerSpec, app: &Path, tty: bool) -> Vec<String> {
        let mut out = self.privileges();
        if let Some(pasta) = &self.pasta {
            out.push(pasta.display().to_string());
            out.extend(pasta_args(&spec.network, &self.pasta_options));
            out.push("--".into());
        }
        out.push(self.bwrap.display().to_string());
        out.extend(self.bwrap_args(spec, app, tty));
        out
    }

    /// Inside pasta's user namespace the dyno user is root; bubblewrap maps it back, so the
    /// command runs as the same uid either way (and owns `/app`).
    fn ids_inside(&self) -> Option<(u32, u32)> {
        self.pasta.as_ref()?;
        Some(
            self.run_as
                .unwrap_or_else(|| (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw())),
        )
    }

    fn bwrap_args(&self, spec: &ContainerSpec, app: &Path, tty: bool) -> Vec<String> {
        // `--new-session` stays even with a terminal: the sandbox's command starts a session of
        // its own in which the PTY is the controlling terminal (`setsid --ctty` below), so the
        // PTY's foreground process group never holds bubblewrap or the wrapper (a Ctrl-C must
        // not kill the sandbox's launcher), and no process of the sandbox shares a terminal
        // with the broker (TIOCSTI can reach only the dyno's own PTY).
        let mut args: Vec<String> = [
            "--die-with-parent",
            "--new-session",
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
        .map(String::from)
        .into();
        if let Some((uid, gid)) = self.ids_inside() {
            args.extend(["--uid".into(), uid.to_string(), "--gid".into(), gid.to_string()]);
        }
        args.extend(["--hostname".into(), spec.hostname.clone()]);
        system_mounts(&mut args);
        args.extend(
            [
                "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp", "--bind",
            ]
            .map(String::from),
        );
        args.extend([
            app.display().to_string(),
            "/app".into(),
            "--chdir".into(),
            "/app".into(),
        ]);
        for m in &spec.mounts {
            let bind = if m.writable { "--bind" } else { "--ro-bind" };
            args.extend([bind.into(), m.source.display().to_string(), m.target.clone()]);
        }
        // The tenant's environment arrives on stdin (`--setenv` pairs, NUL-separated): never
        // on a command line that `ps` shows, never in the environment of the host-side
        // wrapper, setpriv, pasta or bwrap, and applied only to the sandboxed command.
        args.extend(["--clearenv".into(), "--args".into(), "0".into(), "--".into()]);
        // An interactive command's stdin is its terminal (or socket), on fd 1 as well. The
        // swap happens in here: pasta closes every descriptor above 2 that it inherits.
        if spec.io.is_interactive() {
            args.extend(["/bin/sh".into(), "-c".into(), STDIN_FROM_STDOUT.into(), "stdin".into()]);
        }
        if tty {
            args.extend([SETSID.into(), "--ctty".into(), "--wait".into()]);
        }
        args.extend(["/bin/sh".into(), "-c".into(), PROFILE.into(), spec.command.clone()]);
        args
    }
}
