//! The README's tour, run as written: its shell block, by bash, in a directory whose `data`
//! is the server's data directory, with `localhost:8080` pointed at the test's server. Every
//! curl's status is collected (written to stderr by a wrapper that adds nothing else).

use crate::helpers::*;

/// The tour's shell block.
fn tour() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## A short tour")
        .expect("the README has a tour");
    let block = readme[start..].split("```").nth(1).expect("a code block");
    block.strip_prefix("sh\n").expect("a sh block").to_owned()
}

#[tokio::test]
async fn the_readme_tour_works_when_followed_literally() {
    let app = spawn_app().await;
    let cwd = tempfile::TempDir::new().unwrap();
    std::os::unix::fs::symlink(&app.dir, cwd.path().join("data")).unwrap();
    let host = app.address.trim_start_matches("http://");
    let script = format!(
        "set -euo pipefail\ncurl() {{ command curl -sS -w '%{{stderr}}%{{http_code}}\\n' \"$@\"; }}\n{}",
        tour().replace("localhost:8080", host)
    );
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(cwd.path())
        .output()
        .await
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the tour failed: {stderr}");
    let statuses: Vec<u16> = stderr
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("curl said: {l}")))
        .collect();
    assert_eq!(
        statuses,
        [
            201, 201, 402, 200, 200, 200, 200, 200, 403, 200, 201, 201, 202, 201, 200, 200, 200,
            204, 200, 200, 200, 200
        ],
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let alice = std::fs::read_to_string(cwd.path().join("alice.key")).unwrap();
    assert!(alice.trim().starts_with("ptk_"), "{alice}");
}
