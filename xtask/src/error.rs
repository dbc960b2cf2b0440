//! What can stop a task before it has an answer (a cycle is an answer, not an error).

use std::path::PathBuf;

/// Why a task could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asked for something the tool does not do.
    #[error("{0}")]
    Usage(String),
    /// `cargo metadata` could not be started.
    #[error("cannot run cargo metadata: {0}")]
    CargoSpawn(#[source] std::io::Error),
    /// `cargo metadata` ran and failed.
    #[error("cargo metadata failed: {0}")]
    CargoMetadata(String),
    /// `cargo metadata`'s answer is not what this tool expects.
    #[error("cannot read cargo metadata's answer: {0}")]
    MetadataFormat(String),
    /// A source or manifest file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A source file is not Rust that syn 2 can parse.
    #[error("cannot parse {path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line of the first error.
        line: usize,
        /// syn's message.
        message: String,
    },
    /// A `mod name;` declaration whose file is in none of the places rustc looks.
    #[error("{path}:{line}: no file for `mod {name};` (looked for {tried})")]
    MissingModule {
        /// The file holding the declaration.
        path: PathBuf,
        /// Its line.
        line: usize,
        /// The module's name.
        name: String,
        /// The paths looked at.
        tried: String,
    },
    /// The report could not be written.
    #[error("cannot write the report: {0}")]
    Write(#[from] std::io::Error),
}
