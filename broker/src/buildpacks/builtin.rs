//! The built-in buildpacks (`heroku/python`, `heroku/nodejs`, `heroku/procfile`), compiled into
//! the broker and written out as ordinary buildpack directories at start, and the build driver
//! that runs buildpacks inside a build's sandbox.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// The shell script a build's sandbox runs: detection, each buildpack's compile with its time,
/// `bin/release` into `/output`.
pub const DRIVER: &str = include_str!("../../buildpacks/driver.sh");

/// A built-in buildpack: its name, its directory under the built-ins' root, and its scripts.
pub struct Builtin {
    /// What people call it (`heroku/python`).
    pub name: &'static str,
    /// Its directory name.
    pub dir: &'static str,
    /// `bin/detect`, `bin/compile`, `bin/release`.
    pub scripts: [(&'static str, &'static str); 3],
}

macro_rules! builtin {
    ($name:literal, $dir:literal) => {
        Builtin {
            name: $name,
            dir: $dir,
            scripts: [
                (
                    "detect",
                    include_str!(concat!("../../buildpacks/", $dir, "/bin/detect")),
                ),
                (
                    "compile",
                    include_str!(concat!("../../buildpacks/", $dir, "/bin/compile")),
                ),
                (
                    "release",
                    include_str!(concat!("../../buildpacks/", $dir, "/bin/release")),
                ),
            ],
        }
    };
}

/// The built-in buildpacks in detection order: an app with neither buildpacks set nor
/// `BUILDPACK_URL` runs the first whose `bin/detect` passes.
pub const BUILTINS: [Builtin; 3] = [
    builtin!("heroku/python", "python"),
    builtin!("heroku/nodejs", "nodejs"),
    builtin!("heroku/procfile", "procfile"),
];

/// Writes the built-in buildpacks under `root` (`root/<dir>/bin/*`, world-readable, since
/// builds run as an unprivileged user), replacing what an older broker wrote.
pub fn install_builtins(root: &Path) -> Result<()> {
    let io = |what: &str, p: &Path, e: std::io::Error| Error::internal(format!("{what} {}", p.display()), e);
    for b in &BUILTINS {
        let bin = root.join(b.dir).join("bin");
        fs::create_dir_all(&bin).map_err(|e| io("creating", &bin, e))?;
        for dir in [root, &root.join(b.dir), &bin] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .map_err(|e| io("setting the mode of", dir, e))?;
        }
        for (file, text) in b.scripts {
            let path = bin.join(file);
            if fs::read_to_string(&path).ok().as_deref() != Some(text) {
                // Written beside and renamed, so a build starting now never sees half a script.
                let tmp = bin.join(format!(".{file}.tmp"));
                fs::write(&tmp, text)
                    .and_then(|()| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)))
                    .and_then(|()| fs::rename(&tmp, &path))
                    .map_err(|e| io("writing", &path, e))?;
            }
        }
    }
    Ok(())
}
