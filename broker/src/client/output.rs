//! How the client speaks: aligned tables and short sentences for people, JSON for scripts
//! (`--json`), colour only on a terminal and never with `NO_COLOR`, spinners while it waits.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use comfy_table::{presets, Cell, ContentArrangement, Table};
use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// `--json`: the API's own JSON on standard output, for scripts.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct JsonFlag {
    /// Print the API's JSON instead of a table or sentence.
    #[arg(long)]
    pub json: bool,
}

/// Decides colour once per process: on a terminal, unless `NO_COLOR` is set (to anything but
/// an empty string, as no-color.org says).
pub fn init_colour() {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let tty = std::io::stdout().is_terminal();
    console::set_colors_enabled(tty && !no_color);
    console::set_colors_enabled_stderr(std::io::stderr().is_terminal() && !no_color);
}

/// Prints a JSON value, pretty, with a final newline.
pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Prints a table with a header row; columns are aligned, nothing else decorates it.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| Cell::new(style(h).bold().to_string())));
    for row in rows {
        t.add_row(row);
    }
    // comfy-table pads every cell by one space on each side; a person's terminal wants the
    // first column flush left.
    for line in t.to_string().lines() {
        println!("{}", line.strip_prefix(' ').unwrap_or(line).trim_end());
    }
}

/// Prints a `=== title` heading, Heroku's way of naming what follows.
pub fn heading(title: &str) {
    println!("{}", style(format!("=== {title}")).bold());
}

/// Prints `key: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        println!("{:<width$}  {v}", style(format!("{k}:")).bold(), width = width + 1);
    }
}

/// A spinner on standard error while something waits; hidden when stderr is not a terminal.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_message(message.into());
    bar
}

/// Ends a spinner with a final line (`Creating app… done`), printed on standard error.
pub fn done(bar: ProgressBar, line: impl AsRef<str>) {
    bar.finish_and_clear();
    eprintln!("{}", line.as_ref());
}

/// A JSON field as text (`""` when absent; strings without quotes).
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Green on a terminal, plain otherwise.
pub fn good(text: &str) -> String {
    style(text).green().to_string()
}

/// Red on a terminal, plain otherwise.
pub fn bad(text: &str) -> String {
    style(text).red().to_string()
}
