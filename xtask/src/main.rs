//! Syncline's build tasks, in Rust rather than shell: `cargo xtask <task>` (the alias is in
//! `.cargo/config.toml`).
//!
//! `cycles` exits 0 when no crate target of the workspace has an import cycle between its modules
//! and no two members depend on each other (dev-dependencies included), 1 with a report of every
//! cycle, 2 when it cannot check (an unreadable file, `cargo metadata` failing).
//!
//! `docs` exits 0 when every code block of the docs marked `<!-- file: PATH -->` shows that
//! file exactly (the quickstarts, which `./scripts/test` compiles and runs), 1 with a report of
//! each that drifted; `docs --write` copies the files into their blocks.

mod cfg;
mod cycles;
mod error;
mod graph;
mod included;
mod modules;
mod workspace;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::Error;

const USAGE: &str = "\
usage: cargo xtask cycles [--manifest-path <Cargo.toml>]
       cargo xtask docs [--write]

  cycles   fail on an import cycle between the modules of any crate target of the
           workspace, or between its crates (dev-dependencies included)
  docs     fail when a code block marked `<!-- file: PATH -->` in README.md or docs/
           differs from that file; `--write` copies the files into their blocks
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
        Some((task, rest)) if task == "docs" => {
            let write = match rest {
                [] => false,
                [flag] if flag == "--write" => true,
                _ => return Err(Error::Usage(USAGE.trim_end().to_string())),
            };
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let drifts = included::run(&root, write)?;
            for d in &drifts {
                let doc = d.doc.strip_prefix(&root).unwrap_or(&d.doc).display();
                let verb = if write { "rewritten" } else { "differs" };
                println!("{doc}:{}: the block of {} {verb}: {}", d.line, d.file, d.problem);
            }
            Ok(write || drifts.is_empty())
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
