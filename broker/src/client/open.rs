//! `open [PATH]`: the app's `web_url` (and PATH) in a browser: `$BROWSER URL` when BROWSER is
//! set, else `xdg-open URL` when it is on PATH, else the URL printed for the person to open.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Args;

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::target::AppFlag;

/// `broker open`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker open -a myapp\n  broker open /admin -a myapp\n\nRuns $BROWSER with the URL when BROWSER is set, else xdg-open; without either it prints the URL."
)]
pub struct OpenArgs {
    /// A path to open under the app's web URL (`/admin`).
    path: Option<String>,
    #[command(flatten)]
    app: AppFlag,
}

/// Opens the app's web URL (the broker's router serves it) in a browser.
pub async fn open(args: OpenArgs) -> CliResult {
    let app = args.app.resolve()?;
    let view = Api::from_login()?.get(&format!("/apps/{}", seg(&app))).await?;
    let Some(web_url) = view["web_url"].as_str() else {
        return Err(CliError::new(format!(
            "{app} has no web URL: this broker runs no router"
        )));
    };
    let url = join(web_url, args.path.as_deref().unwrap_or(""));
    println!("Opening {url}...");
    match browser(std::env::var_os("BROWSER"), std::env::var_os("PATH")) {
        Some(program) => launch(&program, &url),
        None => {
            println!("No browser found (set BROWSER, or install xdg-open); open {url} yourself");
            Ok(())
        }
    }
}

/// `web_url` (which ends with `/`) with `path` under it.
fn join(web_url: &str, path: &str) -> String {
    format!("{}/{}", web_url.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// The program that opens URLs: `$BROWSER` when set and not empty, else `xdg-open` from PATH.
fn browser(browser: Option<OsString>, path: Option<OsString>) -> Option<PathBuf> {
    if let Some(b) = browser.filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(b));
    }
    std::env::split_paths(&path?)
        .map(|dir| dir.join("xdg-open"))
        .find(|p| p.is_file())
}

/// Runs `program URL` and waits for it (a terminal browser holds the terminal until it ends).
fn launch(program: &Path, url: &str) -> CliResult {
    let status = std::process::Command::new(program)
        .arg(url)
        .status()
        .map_err(|e| CliError::new(format!("cannot run {}: {e}; open {url} yourself", program.display())))?;
    if !status.success() {
        return Err(CliError::new(format!(
            "{} failed ({status}); open {url} yourself",
            program.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_under_the_web_url() {
        assert_eq!(join("http://a.localhost:5000/", ""), "http://a.localhost:5000/");
        assert_eq!(
            join("http://a.localhost:5000/", "/admin"),
            "http://a.localhost:5000/admin"
        );
        assert_eq!(join("http://a.localhost/", "x/y?z=1"), "http://a.localhost/x/y?z=1");
    }

    #[test]
    fn browser_wins_over_xdg_open_which_is_looked_up_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().join("xdg-open");
        std::fs::write(&xdg, "#!/bin/sh\n").unwrap();
        let path = Some(OsString::from(format!("/nonexistent:{}", dir.path().display())));
        assert_eq!(
            browser(Some("firefox".into()), path.clone()),
            Some(PathBuf::from("firefox"))
        );
        assert_eq!(browser(Some("".into()), path.clone()), Some(xdg.clone()));
        assert_eq!(browser(None, path), Some(xdg));
        assert_eq!(browser(None, Some("/nonexistent".into())), None);
        assert_eq!(browser(None, None), None);
    }

    #[test]
    fn the_browser_gets_the_url_as_its_argument() {
        let dir = tempfile::tempdir().unwrap();
        let (script, seen) = (dir.path().join("browser"), dir.path().join("seen"));
        std::fs::write(&script, format!("#!/bin/sh\nprintf %s \"$1\" > {}\n", seen.display())).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        launch(&script, "http://a.localhost/x").unwrap();
        assert_eq!(std::fs::read_to_string(&seen).unwrap(), "http://a.localhost/x");
        let failing = dir.path().join("failing");
        std::fs::write(&failing, "#!/bin/sh\nexit 3\n").unwrap();
        std::fs::set_permissions(&failing, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert!(launch(&failing, "http://x/")
            .unwrap_err()
            .message
            .contains("open http://x/ yourself"));
    }
}
