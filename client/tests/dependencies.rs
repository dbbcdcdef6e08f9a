//! What an application that depends on `rill` builds: no server unless it asks for the
//! `testing` feature.

use std::process::Command;

/// The normal (non-dev) dependency tree of `rill` with the given features.
fn tree(features: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "tree",
        "-p",
        "rill",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--offline",
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_server_is_built_only_for_the_testing_feature() {
    let plain = tree(&[]);
    assert!(plain.contains("rill-engine"), "{plain}");
    assert!(
        !plain.lines().any(|l| l.starts_with("rill-server ")),
        "rill without features pulls in the server:\n{plain}"
    );
    let testing = tree(&["testing"]);
    assert!(
        testing.lines().any(|l| l.starts_with("rill-server ")),
        "the testing feature brings the server:\n{testing}"
    );
}
