//! Code blocks in the docs that show a file of the repository whole, so that the code a reader
//! copies is the code `./scripts/test` compiles and runs (the quickstarts).
//!
//! A block is marked by the line `<!-- file: PATH -->` (PATH from the repository's root) right
//! before its opening fence. `check` compares every such block with its file; `write` puts the
//! file's text into the block.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The marker's opening, before the path.
const MARKER: &str = "<!-- file: ";

/// One marked block that differs from its file, or whose file is missing.
#[derive(Debug, PartialEq)]
pub struct Drift {
    /// The markdown file.
    pub doc: PathBuf,
    /// The marker's line (1-based).
    pub line: usize,
    /// The file the block shows.
    pub file: String,
    /// What is wrong.
    pub problem: String,
}

/// A markdown file's text with each marked block replaced by its file's text, and the blocks that
/// differed. Paths are read under `root`.
pub fn reconcile(root: &Path, doc: &Path, text: &str) -> Result<(String, Vec<Drift>), Error> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut drifts = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        out.push_str(line);
        i += 1;
        let Some(file) = marked_file(line) else {
            continue;
        };
        let drift = |problem: &str| Drift {
            doc: doc.to_path_buf(),
            line: i,
            file: file.to_string(),
            problem: problem.to_string(),
        };
        // The opening fence must follow the marker at once: a gap would make the pairing a guess.
        let Some(fence) = lines.get(i).and_then(|l| opening_fence(l)) else {
            drifts.push(drift("no code block right after the marker"));
            continue;
        };
        let Some(len) = lines[i + 1..].iter().position(|l| l.trim_end() == fence) else {
            drifts.push(drift("the code block is not closed"));
            continue;
        };
        let body: String = lines[i + 1..i + 1 + len].concat();
        let wanted = match fs::read_to_string(root.join(file)) {
            Ok(wanted) => wanted,
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
                drifts.push(drift("the file does not exist"));
                continue;
            }
            Err(source) => {
                return Err(Error::Read {
                    path: root.join(file),
                    source,
                })
            }
        };
        let mut wanted_body = wanted.clone();
        if !wanted_body.is_empty() && !wanted_body.ends_with('\n') {
            wanted_body.push('\n');
        }
        if body != wanted_body {
            drifts.push(drift(&first_difference(&body, &wanted_body)));
        }
        out.push_str(lines[i]);
        out.push_str(&wanted_body);
        out.push_str(lines[i + 1 + len]);
        i += len + 2;
    }
    Ok((out, drifts))
}

/// The path a marker line names, if it is one.
fn marked_file(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix(MARKER)?;
    let path = rest.strip_suffix("-->")?.trim();
    (!path.is_empty()).then_some(path)
}

/// The fence a block opens with (```` ``` ```` or longer), without its language tag.
fn opening_fence(line: &str) -> Option<&str> {
    let line = line.trim_end();
    let ticks = line.len() - line.trim_start_matches('`').len();
    (ticks >= 3).then(|| &line[..ticks])
}

/// Where the block first differs from the file, for the report.
fn first_difference(block: &str, file: &str) -> String {
    let mut block_lines = block.lines();
    let mut file_lines = file.lines();
    let mut n = 1;
    loop {
        match (block_lines.next(), file_lines.next()) {
            (Some(a), Some(b)) if a == b => n += 1,
            (Some(a), Some(b)) => {
                return format!("line {n} of the file differs: the block has {a:?}, the file {b:?}")
            }
            (Some(_), None) => return format!("the block has lines past the file's end (from {n})"),
            (None, Some(_)) => return format!("the block stops before the file's line {n}"),
            (None, None) => return "the block differs from the file".to_string(),
        }
    }
}

/// The markdown files to look through: `README.md` and everything under `docs/`.
pub fn docs(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut found = vec![root.join("README.md")];
    let mut folders = vec![root.join("docs")];
    while let Some(folder) = folders.pop() {
        let entries = fs::read_dir(&folder).map_err(|source| Error::Read {
            path: folder.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| Error::Read {
                    path: folder.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Checks (or, with `write`, rewrites) every marked block of the docs under `root`; the blocks
/// that differed (and were rewritten, with `write`).
pub fn run(root: &Path, write: bool) -> Result<Vec<Drift>, Error> {
    let mut all = Vec::new();
    for doc in docs(root)? {
        let text = fs::read_to_string(&doc).map_err(|source| Error::Read {
            path: doc.clone(),
            source,
        })?;
        let (fixed, drifts) = reconcile(root, &doc, &text)?;
        if write && fixed != text {
            fs::write(&doc, fixed)?;
        }
        all.extend(drifts);
    }
    Ok(all)
}
