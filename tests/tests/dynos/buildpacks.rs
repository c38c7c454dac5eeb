//! Buildpacks: a Python app's requirements installed by pip from a loopback index (a C
//! extension built on the way) and used by its release phase, web, worker and one-off dynos;
//! the build cache; a Node.js app through npm from a loopback registry; custom buildpacks from
//! a directory; and the bad inputs (broken requirements, unknown Python, a buildpack whose
//! detect fails, no process types, refused buildpack names).

use std::os::unix::fs::PermissionsExt;

use addon_broker_tests::packages::{node_app, node_app_locked, npm_registry, pack, py_index, python_app};

use super::*;

/// A broker whose builds install from the loopback package servers.
async fn broker_with_indexes(buildpack_paths: Vec<String>) -> TestApp {
    TestApp::spawn_with(Options {
        pip_index_url: Some(py_index().url()),
        npm_registry: Some(npm_registry().url()),
        buildpack_paths,
        ..Options::default()
    })
    .await
}

/// Runs `command` in a one-off dyno and returns its output (it must exit 0).
async fn run(api: &addon_broker_tests::Api, app: &str, command: &str) -> String {
    let r = api
        .post(
            &format!("/apps/{app}/dynos"),
            json!({"command": command, "attach": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let out = r.body["output"].as_str().unwrap_or_default().to_string();
    assert_eq!(r.body["exit_code"], 0, "{command}: {out}");
    out
}

fn output(build: &Value) -> &str {
    build["output"].as_str().unwrap_or_default()
}

/// The web dyno of release `version`, once up: its answer.
async fn web_answer(api: &addon_broker_tests::Api, app: &str, version: i64) -> Value {
    let list = wait_dynos(api, app, "web.1 of the release up", |l| {
        up(l, "web").iter().any(|d| d["release"]["version"] == version)
    })
    .await;
    let web = up(&list, "web")
        .into_iter()
        .find(|d| d["release"]["version"] == version)
        .unwrap();
    let port = web["port"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = ask(port, "/").await {
            return v;
        }
        assert!(Instant::now() < deadline, "the web dyno never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn with_file(mut files: Vec<(String, Vec<u8>, u32)>, path: &str, text: &str) -> Vec<(String, Vec<u8>, u32)> {
    files.retain(|f| f.0 != path);
    files.push((path.into(), text.as_bytes().to_vec(), 0o644));
    files
}

#[tokio::test]
async fn a_python_app_gets_its_requirements_in_every_dyno_and_a_warm_rebuild_uses_the_cache() {
    let app = broker_with_indexes(Vec::new()).await;
    let api = app.platform();
    let name = api.create_app().await;
    let cold = push(&api, &name, pack(&python_app("v1"))).await;
    let out = output(&cold);
    assert_eq!(cold["status"], "succeeded", "{out}");
    for expected in [
        "Python app detected (heroku/python)",
        "Creating a virtual environment",
        "Installing requirements with pip",
        "heroku/python compiled in",
        "Migrations applied",
        "Process types: release, web, worker",
        "Released v2",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    // The web dyno imports the installed packages, the C extension among them, from the
    // virtual environment inside the slug.
    let me = web_answer(&api, &name, 2).await;
    assert_eq!(me["fastsum"], 5, "{me}");
    assert_eq!(me["six"], "1.16.0", "{me}");
    assert_eq!(me["version"], "v1", "{me}");
    assert!(me["python"].as_str().unwrap().starts_with("/app/.venv/"), "{me}");
    // Console scripts and `python` resolve in one-off dynos too.
    assert!(run(&api, &name, "hello-cli").await.contains("hello from hellopkg"));
    let which = run(&api, &name, "command -v python; command -v pip").await;
    assert!(
        which.contains("/app/.venv/bin/python") && which.contains("/app/.venv/bin/pip"),
        "{which}"
    );
    scale(&api, &name, json!([{"type": "worker", "quantity": 1}])).await;
    wait_log(&api, &name, "dyno=worker.1", "app[worker.1]").await;

    // Same requirements: the environment comes from the build cache; new code still deploys.
    let warm = push(&api, &name, pack(&python_app("v2"))).await;
    assert_eq!(warm["status"], "succeeded", "{}", output(&warm));
    assert!(
        output(&warm).contains("Restoring the virtual environment from the build cache"),
        "{}",
        output(&warm)
    );
    assert_eq!(web_answer(&api, &name, 3).await["version"], "v2");
}

#[tokio::test]
async fn broken_requirements_fail_the_build_with_pips_message_and_the_old_release_keeps_running() {
    let app = broker_with_indexes(Vec::new()).await;
    let api = app.platform();
    let name = api.create_app().await;
    assert_eq!(
        push(&api, &name, pack(&python_app("good"))).await["status"],
        "succeeded"
    );
    let before = web_answer(&api, &name, 2).await;

    let broken = with_file(python_app("broken"), "requirements.txt", "no-such-package-here==9.9\n");
    let b = push(&api, &name, pack(&broken)).await;
    assert_eq!(b["status"], "failed", "{}", output(&b));
    assert!(
        output(&b).contains("No matching distribution found for no-such-package-here"),
        "{}",
        output(&b)
    );
    let last = output(&b).lines().last().unwrap_or_default();
    assert!(
        last.starts_with("-----> Build failed: heroku/python: pip install -r requirements.txt failed"),
        "{last}"
    );
    assert!(b["release"].is_null() && b["slug"].is_null(), "{b}");

    let old_python = with_file(python_app("old"), ".python-version", "3.9\n");
    let b = push(&api, &name, pack(&old_python)).await;
    assert_eq!(b["status"], "failed", "{}", output(&b));
    let host = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&host.stdout).trim().to_string();
    let msg = format!("Python 3.9 (.python-version) is not available; available: {host}");
    assert!(output(&b).contains(&msg), "{msg:?} missing from:\n{}", output(&b));

    assert_eq!(release_count(&api, &name).await, 2, "no release came of either");
    assert_eq!(web_answer(&api, &name, 2).await, before);
    let slugs = std::fs::read_dir(app.dir().join("slugs")).unwrap().count();
    assert_eq!(slugs, 1, "failed builds leave no slug behind");
}

#[tokio::test]
async fn a_node_app_installs_with_npm_ci_runs_its_build_script_and_gets_node_modules_bin_on_path() {
    let app = broker_with_indexes(Vec::new()).await;
    let api = app.platform();
    let name = api.create_app().await;
    let b = push(&api, &name, pack(&node_app_locked("n1"))).await;
    let out = output(&b);
    assert_eq!(b["status"], "succeeded", "{out}");
    for expected in [
        "Node.js app detected (heroku/nodejs)",
        "npm ci",
        "Running the build script",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    let me = web_answer(&api, &name, 2).await;
    assert_eq!(me["padded"], "  7", "{me}");
    assert!(run(&api, &name, "greet-cli").await.contains("hello from greet-cli"));
    assert!(run(&api, &name, "cat build-output.txt").await.len() > 1);

    // No lock file: npm install; no Procfile: the buildpack's `web: npm start`.
    let mut files = node_app("n2");
    files.retain(|f| f.0 != "Procfile");
    let b = push(&api, &name, pack(&files)).await;
    assert_eq!(b["status"], "succeeded", "{}", output(&b));
    assert!(
        output(&b).contains("Installing dependencies with npm install"),
        "{}",
        output(&b)
    );
    let slug = api
        .get(&format!("/apps/{name}/slugs/{}", b["slug"]["id"].as_str().unwrap()))
        .await;
    assert_eq!(slug.body["process_types"]["web"], "npm start", "{:?}", slug.body);
    assert_eq!(web_answer(&api, &name, 3).await["version"], "n2");
}

/// A custom buildpack in `dir`: detects `marker`, compiles (recording what a build sees),
/// and sets a default `web` process type.
fn custom_buildpack(dir: &std::path::Path, marker: &str) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let scripts = [
        ("detect", format!("#!/bin/sh\n[ -f \"$1/{marker}\" ] && echo Custom\n")),
        (
            "compile",
            "#!/bin/sh\necho \"       compiling as uid $(id -u)\"\necho \"greeting=$(cat \"$3/GREETING\")\" > \"$1/compiled.txt\"\nenv | sort > \"$1/build-env.txt\"\n".into(),
        ),
        ("release", "#!/bin/sh\nprintf -- '---\\ndefault_process_types:\\n  web: ./sample-dyno web\\n'\n".into()),
    ];
    for (name, text) in scripts {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut d = Some(dir);
    while let Some(x) = d {
        let mode = std::fs::metadata(x).unwrap().permissions().mode();
        std::fs::set_permissions(x, std::fs::Permissions::from_mode(mode | 0o005)).unwrap();
        d = x.parent();
    }
}

#[tokio::test]
async fn a_custom_buildpack_from_a_directory_compiles_in_the_sandbox_and_sets_a_default_process_type() {
    let root = tempfile::tempdir().unwrap();
    let pack_dir = root.path().join("custom");
    custom_buildpack(&pack_dir, "custom.marker");
    let app = broker_with_indexes(vec![root.path().display().to_string()]).await;
    let api = app.platform();
    let name = api.create_app().await;
    let r = api
        .patch(&format!("/apps/{name}/config-vars"), json!({"GREETING": "hi there"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let path = pack_dir.display().to_string();
    let r = api
        .put(
            &format!("/apps/{name}/buildpack-installations"),
            json!({"updates": [{"buildpack": path}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!([{"ordinal": 0, "buildpack": {"url": path, "name": path}}])
    );
    let listed = api.get(&format!("/apps/{name}/buildpack-installations")).await;
    assert_eq!(listed.body, r.body);

    let binary = std::fs::read(addon_broker_tests::dynos::sample_binary()).unwrap();
    let files = vec![
        ("custom.marker".to_string(), b"x".to_vec(), 0o644),
        ("sample-dyno".to_string(), binary.clone(), 0o755),
    ];
    let b = push(&api, &name, pack(&files)).await;
    let out = output(&b);
    assert_eq!(b["status"], "succeeded", "{out}");
    assert!(out.contains(&format!("Custom app detected ({path})")), "{out}");
    assert!(!out.contains("compiling as uid 0\n"), "builds never run as root: {out}");
    let me = web_answer(&api, &name, 3).await;
    assert_eq!(me["env"]["DYNO"], "web.1", "{me}");
    assert_eq!(run(&api, &name, "cat compiled.txt").await.trim(), "greeting=hi there");
    // The build's environment is its own: none of the broker's variables or secrets.
    let env = run(&api, &name, "cat build-env.txt").await;
    assert!(env.contains("HOME=/app") && env.contains("STACK="), "{env}");
    for leaked in ["BROKER", "GREETING=", "RUST", "CARGO", "jwt"] {
        assert!(!env.contains(leaked), "{leaked} leaked into the build: {env}");
    }

    // A buildpack that does not detect the app fails the build, naming it.
    let b = push(&api, &name, pack(&[("sample-dyno".to_string(), binary, 0o755)])).await;
    assert_eq!(b["status"], "failed", "{}", output(&b));
    assert!(
        output(&b).contains(&format!("not compatible with buildpack {path}")),
        "{}",
        output(&b)
    );
    assert_eq!(release_count(&api, &name).await, 3);
}

#[tokio::test]
async fn refused_buildpacks_and_apps_without_process_types_get_clear_errors() {
    let outside = tempfile::tempdir().unwrap();
    custom_buildpack(outside.path(), "m");
    let allowed = tempfile::tempdir().unwrap();
    let app = broker_with_indexes(vec![allowed.path().display().to_string()]).await;
    let api = app.platform();
    let name = api.create_app().await;
    let escape = format!("{}/../{}", allowed.path().display(), outside.path().display());
    for (bp, msg) in [
        ("heroku/ruby", "unknown buildpack"),
        ("../etc", "unknown buildpack"),
        ("/etc", "not under a directory of builds.buildpack_paths"),
        (escape.as_str(), "buildpack path"),
        (
            &outside.path().display().to_string(),
            "not under a directory of builds.buildpack_paths",
        ),
        ("ftp://example.com/x.tgz", "unknown buildpack"),
        ("", "a buildpack is"),
    ] {
        let r = api
            .put(
                &format!("/apps/{name}/buildpack-installations"),
                json!({"updates": [{"buildpack": bp}]}),
            )
            .await;
        assert_eq!(r.status, 422, "{bp}: {:?}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains(msg), "{bp}: {:?}", r.body);
    }
    let r = api
        .put(
            &format!("/apps/{name}/buildpack-installations"),
            json!({"updates": "x"}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let listed = api.get(&format!("/apps/{name}/buildpack-installations")).await;
    assert_eq!(listed.body, json!([]), "nothing was set");

    // An app no buildpack detects, and one whose buildpack sets no process type.
    let b = push(&api, &name, pack(&[("app.sh".to_string(), b"echo".to_vec(), 0o755)])).await;
    assert_eq!(b["status"], "failed", "{}", output(&b));
    assert!(output(&b).contains("no buildpack detected the app"), "{}", output(&b));
    let r = api
        .put(
            &format!("/apps/{name}/buildpack-installations"),
            json!({"updates": [{"buildpack": "heroku/python"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let files = with_file(Vec::new(), "requirements.txt", "six==1.16.0\n");
    let b = push(&api, &name, pack(&files)).await;
    assert_eq!(b["status"], "failed", "{}", output(&b));
    assert!(
        output(&b).contains("the app has no process types: add a Procfile"),
        "{}",
        output(&b)
    );
    assert_eq!(release_count(&api, &name).await, 1);
}

#[tokio::test]
async fn the_python_app_deploys_by_git_push_and_by_the_cli_and_its_dynos_import_the_packages() {
    use addon_broker_tests::cli::CliUser;
    use addon_broker_tests::git::{remote_url, Repo};
    use addon_broker_tests::packages::write_files;
    let app = broker_with_indexes(Vec::new()).await;
    let mut person = CliUser::new(&app, "pythonista");
    let created = person.run(&["apps:create", "--no-remote", "--json"]).await;
    let name = created.json()["name"].as_str().unwrap().to_string();
    let api = app.api("pythonista", broker::auth::Scope::Platform);

    let repo = Repo::new();
    write_files(&repo.path(), &python_app("pushed"));
    repo.commit("first", &[]);
    let url = remote_url(&app.url, &name, &app.token("pythonista", broker::auth::Scope::Platform));
    let pushed = repo.git(&["push", &url, "main"]).await;
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    for expected in [
        "remote: -----> Python app detected",
        "remote: Migrations applied",
        "Released v2",
    ] {
        assert!(
            pushed.stderr.contains(expected),
            "{expected:?} missing from:\n{}",
            pushed.stderr
        );
    }
    let me = web_answer(&api, &name, 2).await;
    assert_eq!(
        (me["fastsum"].clone(), me["version"].clone()),
        (json!(5), json!("pushed")),
        "{me}"
    );

    // The same directory, changed, deployed with the CLI (the build cache makes it quick).
    write_files(&repo.path(), &python_app("deployed"));
    person.cd(repo.path());
    let deployed = person.run(&["deploy", "-a", &name]).await;
    assert_eq!(deployed.code, 0, "{}\n{}", deployed.stdout, deployed.stderr);
    let both = format!("{}{}", deployed.stdout, deployed.stderr);
    assert!(
        both.contains("Restoring the virtual environment from the build cache"),
        "{both}"
    );
    assert_eq!(web_answer(&api, &name, 3).await["version"], "deployed");
}
