//! `login`, `logout`, `auth:whoami`, `auth:token`.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use serde_json::json;

use super::api::Api;
use super::error::{CliError, CliResult};
use super::login::{self, Login};
use super::output::{self, JsonFlag};

/// `broker login`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example (the token on standard input, not in the process list):\n  echo \"$BROKER_PLATFORM_TOKEN\" | broker login --url http://127.0.0.1:8080"
)]
pub struct LoginArgs {
    /// The broker's URL (default: BROKER_URL, else the stored login's, else http://127.0.0.1:8080).
    #[arg(long)]
    url: Option<String>,
    /// A platform token (default: asked for on the terminal, or read from standard input;
    /// prefer those: a flag's value shows in the process list).
    #[arg(long)]
    token: Option<String>,
    #[command(flatten)]
    json: JsonFlag,
}

/// Checks the token against the broker, then stores URL and token (mode 0600).
pub async fn login(args: LoginArgs) -> CliResult {
    let stored = login::stored().ok().flatten();
    let url = args
        .url
        .or_else(|| std::env::var("BROKER_URL").ok().filter(|u| !u.is_empty()))
        .or_else(|| stored.map(|l| l.url))
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let token = match args.token {
        Some(t) => t,
        None => read_token()?,
    };
    let login = Login {
        url: url.trim_end_matches('/').to_string(),
        token: token.trim().to_string(),
    };
    let account = Api::new(login.clone())?.get("/account").await?;
    let path = login::store(&login)?;
    if args.json.json {
        output::print_json(&json!({ "id": account["id"], "url": login.url, "login_file": path }));
        return Ok(());
    }
    eprintln!(
        "Logged in as {} at {} (saved in {})",
        output::text(&account["id"]),
        login.url,
        path.display()
    );
    Ok(())
}

fn read_token() -> CliResult<String> {
    let mut line = String::new();
    if std::io::stdin().is_terminal() {
        eprint!("Platform token: ");
        let _ = std::io::stderr().flush();
    }
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(format!("reading the token: {e}")))?;
    let token = line.trim().to_string();
    if token.is_empty() {
        return Err(CliError::new("no token given: pass --token or type it when asked"));
    }
    Ok(token)
}

/// `broker logout`: forgets the stored login.
pub fn logout() -> CliResult {
    if login::forget()? {
        eprintln!("Logged out (the token itself stays valid until it expires or is revoked)");
    } else {
        eprintln!("Not logged in");
    }
    Ok(())
}

/// `broker auth:whoami`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker auth:whoami")]
pub struct WhoamiArgs {
    #[command(flatten)]
    json: JsonFlag,
}

/// Prints who the token speaks for.
pub async fn whoami(args: WhoamiArgs) -> CliResult {
    let account = Api::from_login()?.get("/account").await?;
    if args.json.json {
        output::print_json(&account);
    } else {
        println!("{}", output::text(&account["id"]));
    }
    Ok(())
}

/// `broker auth:token`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  curl -H \"Authorization: Bearer $(broker auth:token)\" $BROKER_URL/apps")]
pub struct TokenArgs {
    #[command(flatten)]
    json: JsonFlag,
}

/// Prints the token in use.
pub fn token(args: TokenArgs) -> CliResult {
    let login = login::current()?;
    if args.json.json {
        output::print_json(&json!({ "url": login.url, "token": login.token }));
    } else {
        println!("{}", login.token);
    }
    Ok(())
}
