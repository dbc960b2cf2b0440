//! Runs the quickstart's binary, as a reader would, against a reference server with the demo
//! data: the code docs/quickstart.md shows (`cargo xtask docs` keeps them equal) cannot drift.

use std::process::Command;

use syncline_server::testing::TestServer;

#[test]
fn the_quickstart_runs_against_the_demo_server() {
    let server = TestServer::with_demo();
    let out = Command::new(env!("CARGO_BIN_EXE_syncline-quickstart"))
        .env("SYNCLINE_SERVER_URL", server.url())
        .output()
        .expect("run the quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quickstart failed\n{stdout}\n{stderr}"
    );
    print!("{stdout}"); // shown with --nocapture
                        // Every step printed its line; the last one saw the merged title.
    for step in ["1. ", "2. ", "3. ", "4. ", "5. ", "6. ", "7. "] {
        assert!(
            stdout.lines().any(|l| l.starts_with(step)),
            "no step {step}\n{stdout}"
        );
    }
    assert!(
        stdout.contains("shows \"Inspect pump 4 (north)\""),
        "{stdout}"
    );
}
