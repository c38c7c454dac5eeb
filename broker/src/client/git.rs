//! `git:remote`, `git:credentials`, and the git setup that `apps:create` does in a git work
//! tree: the remote `broker` → `{url}/apps/{app}.git`, and git told to get its credentials
//! from this binary (`credential.<remote url>.helper`), which answers with the login's token.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use clap::Args;

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::login;
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// The remote `apps:create` and `git:remote` add unless told otherwise.
pub const REMOTE: &str = "broker";

/// `broker git:remote`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker git:remote -a myapp\n  broker git:remote -a myapp --remote staging\n\nThen `git push broker main` builds and releases main."
)]
pub struct RemoteArgs {
    #[command(flatten)]
    app: AppFlag,
    /// The remote's name.
    #[arg(short = 'r', long, value_name = "NAME", default_value = REMOTE)]
    remote: String,
    #[command(flatten)]
    json: JsonFlag,
}

/// Adds (or points again) a git remote at an existing app.
pub async fn remote(args: RemoteArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let cwd = std::env::current_dir().map_err(|e| CliError::new(format!("the current directory: {e}")))?;
    if !in_work_tree(&cwd) {
        return Err(CliError::new(
            "this is not a git work tree: run `git init` first (or cd into your app's repository)",
        ));
    }
    let found = api.get(&format!("/apps/{}", seg(&app))).await?;
    let name = output::text(&found["name"]);
    let url = add_remote(&cwd, api.url(), &name, &args.remote)?;
    if args.json.json {
        output::print_json(&serde_json::json!({ "remote": args.remote, "url": url }));
    } else {
        println!("Git remote {} → {url}", args.remote);
    }
    Ok(())
}

/// `broker git:credentials`.
#[derive(Debug, Args)]
#[command(
    after_help = "Git runs it as a credential helper (`apps:create` and `git:remote` configure that):\n\nExamples:\n  git config credential.https://broker.example.com/apps/myapp.git.helper '!broker git:credentials'\n  printf 'protocol=https\\nhost=broker.example.com\\n\\n' | broker git:credentials get"
)]
pub struct CredentialsArgs {
    /// git's operation: `get` prints the login's token; `store` and `erase` do nothing.
    operation: String,
}

/// git's credential-helper protocol: `get` answers `username=broker` and the token as the
/// password, for the login's broker only.
pub fn credentials(args: CredentialsArgs) -> CliResult {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| CliError::new(format!("reading git's request: {e}")))?;
    if args.operation != "get" {
        return Ok(());
    }
    let login = login::current()?;
    if !same_origin(&input, &login.url) {
        // Another server asks: it gets nothing of ours, and git tries its next helper.
        return Ok(());
    }
    println!("username=broker\npassword={}", login.token);
    Ok(())
}

/// Whether git's request (`protocol=…`, `host=…` lines) is for the broker at `url`.
fn same_origin(input: &str, url: &str) -> bool {
    let field = |key: &str| {
        input
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(str::trim)
    };
    let (Some(protocol), Some(host)) = (field("protocol"), field("host")) else {
        return false;
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    scheme.eq_ignore_ascii_case(protocol) && authority.eq_ignore_ascii_case(host)
}

/// Whether `dir` is inside a git work tree.
pub fn in_work_tree(dir: &Path) -> bool {
    Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"true"))
}

/// Points `remote` at the app's repository on the broker at `base`, and tells git to ask this
/// binary for that URL's credentials; returns the URL.
pub fn add_remote(dir: &Path, base: &str, app: &str, remote: &str) -> CliResult<String> {
    let url = format!("{}/apps/{}.git", base.trim_end_matches('/'), seg(app));
    let exists = Command::new("git")
        .args(["remote", "get-url", remote])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let verb = if exists { "set-url" } else { "add" };
    git(dir, &["remote", verb, remote, &url])?;
    let exe = std::env::current_exe().map_err(|e| CliError::new(format!("finding this program: {e}")))?;
    let helper = format!("!{} git:credentials", shell_quote(&exe.to_string_lossy()));
    git(
        dir,
        &["config", "--replace-all", &format!("credential.{url}.helper"), &helper],
    )?;
    Ok(url)
}

/// Runs `git ARGS` in `dir`; its error output as the error.
fn git(dir: &Path, args: &[&str]) -> CliResult {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| CliError::new(format!("running git (is it installed?): {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(CliError::new(format!(
        "git {}: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// `text` in single quotes for `sh` (git runs a `!` helper with the shell).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_to_the_logins_broker_only() {
        let ask = "protocol=http\nhost=127.0.0.1:8080\npath=apps/x.git\n";
        assert!(same_origin(ask, "http://127.0.0.1:8080"));
        assert!(same_origin(ask, "http://127.0.0.1:8080/"));
        assert!(!same_origin(ask, "https://127.0.0.1:8080"));
        assert!(!same_origin(ask, "http://127.0.0.1:9090"));
        assert!(!same_origin("protocol=http\n", "http://127.0.0.1:8080"));
        assert!(same_origin(
            "protocol=https\nhost=broker.example.com\n",
            "https://broker.example.com"
        ));
    }
}
