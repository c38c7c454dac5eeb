//! What a person types for the Heroku 101 flow: the `broker` lines of the README's block (the
//! very lines `tests/tests/cli/flow.rs` runs), against the same steps with Heroku's CLI.

use std::path::Path;

/// The same steps as the README's block, with Heroku's CLI and Heroku's add-on plan names
/// (`git push heroku main` is Heroku's deploy).
const HEROKU: &[&str] = &[
    "heroku apps:create hello",
    "git push heroku main",
    "heroku ps:scale web=2 worker=1",
    "heroku ps",
    "heroku run python3 migrate.py",
    "heroku run bash",
    "heroku config:set GREETING=hi",
    "heroku addons:create heroku-postgresql",
    "heroku addons:create heroku-redis",
    "heroku addons:create heroku-kafka",
    "heroku releases",
    "heroku rollback",
    "heroku logs --tail",
    "heroku apps:destroy --confirm hello",
];

/// The README's `broker` lines, without comments or alignment padding.
fn broker_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let block = &readme[readme.find("<!-- heroku101").unwrap()..];
    let body = block.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    body.lines()
        .map(|l| l.split(" #").next().unwrap().trim().to_string())
        .filter(|l| l.starts_with("broker "))
        .collect()
}

/// Prints both counts (each line plus its Enter) and their ratio.
pub fn run() {
    let ours = broker_lines();
    let count = |lines: &[String]| lines.iter().map(|l| l.chars().count() + 1).sum::<usize>();
    let theirs: Vec<String> = HEROKU.iter().map(|s| s.to_string()).collect();
    assert_eq!(ours.len(), theirs.len(), "the two flows have the same steps");
    let (a, b) = (count(&ours), count(&theirs));
    println!("typing: Heroku 101 flow, {} commands", ours.len());
    println!("  broker CLI: {a} characters");
    println!("  heroku CLI: {b} characters (same steps)");
    println!("  ratio broker/heroku: {:.2}", a as f64 / b as f64);
}
