//! Syncline's build tasks, in Rust rather than shell: `cargo xtask <task>` (the alias is in
//! `.cargo/config.toml`).
//!
//! `cycles` exits 0 when no crate target of the workspace has an import cycle between its modules
//! and no two members depend on each other (dev-dependencies included), 1 with a report of every
//! cycle, 2 when it cannot check (an unreadable file, `cargo metadata` failing).

mod cfg;
mod cycles;
mod error;
mod graph;
mod modules;
mod workspace;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::Error;

const USAGE: &str = "\
usage: cargo xtask cycles [--manifest-path <Cargo.toml>]

  cycles   fail on an import cycle between the modules of any crate target of the
           workspace, or between its crates (dev-dependencies included)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the task the arguments name; `Ok(false)` when it found a problem.
fn run(args: &[String]) -> Result<bool, Error> {
    match args.split_first() {
        Some((task, rest)) if task == "cycles" => {
            let manifest = manifest_path(rest)?;
            let workspace = workspace::load(manifest.as_deref())?;
            let report = cycles::check(&workspace)?;
            report.write(&mut std::io::stdout().lock())?;
            Ok(report.clean())
        }
        Some((task, _)) if task == "-h" || task == "--help" || task == "help" => {
            print!("{USAGE}");
            Ok(true)
        }
        _ => Err(Error::Usage(USAGE.trim_end().to_string())),
    }
}

fn manifest_path(args: &[String]) -> Result<Option<PathBuf>, Error> {
    match args {
        [] => Ok(None),
        [flag, path] if flag == "--manifest-path" => Ok(Some(PathBuf::from(path))),
        _ => Err(Error::Usage(USAGE.trim_end().to_string())),
    }
}
