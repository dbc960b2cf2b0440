//! The workspace as `cargo metadata --no-deps` describes it: its members, their lib and bin
//! targets, and the dependencies between members, dev- and build-dependencies included.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::error::Error;
use crate::graph::{Evidence, Graph};

/// The workspace's members.
#[derive(Debug)]
pub struct Workspace {
    /// The directory of the workspace's `Cargo.toml`; report paths are relative to it.
    pub root: PathBuf,
    /// The members, in `cargo metadata`'s order.
    pub members: Vec<Member>,
}

/// One member crate.
#[derive(Debug)]
pub struct Member {
    /// The package name.
    pub name: String,
    /// Its `Cargo.toml`.
    pub manifest: PathBuf,
    /// Its lib and bin targets (tests, benches, examples and build scripts are not checked).
    pub targets: Vec<Target>,
    /// Its dependencies on other local packages.
    pub dependencies: Vec<Dependency>,
}

/// A lib or bin target.
#[derive(Debug)]
pub struct Target {
    /// The target's name (`syncline_core`, `syncline-server`).
    pub name: String,
    /// A library (lib, cdylib, staticlib, …) rather than a binary.
    pub lib: bool,
    /// The root source file.
    pub root: PathBuf,
}

/// A dependency on a local (path) package.
#[derive(Debug)]
pub struct Dependency {
    /// The package depended on.
    pub name: String,
    /// Its key in the manifest (`rename` if it has one).
    pub key: String,
    /// Which table it is declared in.
    pub kind: DependencyKind,
}

/// The table a dependency is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyKind {
    /// `[dependencies]`.
    Normal,
    /// `[dev-dependencies]`.
    Dev,
    /// `[build-dependencies]`.
    Build,
}

impl DependencyKind {
    /// The manifest table's name.
    pub fn table(self) -> &'static str {
        match self {
            DependencyKind::Normal => "dependencies",
            DependencyKind::Dev => "dev-dependencies",
            DependencyKind::Build => "build-dependencies",
        }
    }
}

/// Runs `cargo metadata --no-deps` (on `manifest`, or the workspace around the current
/// directory) and reads its answer.
pub fn load(manifest: Option<&Path>) -> Result<Workspace, Error> {
    // `CARGO` is the cargo that runs this task (`cargo xtask`), so both use one toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["metadata", "--format-version", "1", "--no-deps"]);
    if let Some(manifest) = manifest {
        command.arg("--manifest-path").arg(manifest);
    }
    let output = command.output().map_err(Error::CargoSpawn)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::CargoMetadata(stderr.trim().to_string()));
    }
    parse(&output.stdout)
}

/// Reads `cargo metadata --format-version 1 --no-deps` output.
pub fn parse(json: &[u8]) -> Result<Workspace, Error> {
    let bad = |what: &str| Error::MetadataFormat(what.to_string());
    let value: Value =
        serde_json::from_slice(json).map_err(|e| Error::MetadataFormat(e.to_string()))?;
    let root = value["workspace_root"]
        .as_str()
        .ok_or_else(|| bad("no workspace_root"))?;
    let ids: Vec<&str> = value["workspace_members"]
        .as_array()
        .ok_or_else(|| bad("no workspace_members"))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = value["packages"]
        .as_array()
        .ok_or_else(|| bad("no packages"))?;
    let mut members = Vec::new();
    for id in ids {
        let package = packages
            .iter()
            .find(|p| p["id"].as_str() == Some(id))
            .ok_or_else(|| bad("a workspace member is not among the packages"))?;
        members
            .push(member(package).ok_or_else(|| bad("a package without name or manifest_path"))?);
    }
    Ok(Workspace {
        root: PathBuf::from(root),
        members,
    })
}

fn member(package: &Value) -> Option<Member> {
    let mut targets: Vec<Target> = Vec::new();
    for target in package["targets"].as_array()? {
        let kinds: Vec<&str> = target["kind"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let lib = kinds.iter().any(|k| {
            matches!(
                *k,
                "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
            )
        });
        if !lib && !kinds.contains(&"bin") {
            continue;
        }
        let root = PathBuf::from(target["src_path"].as_str()?);
        if targets.iter().any(|t| t.root == root) {
            continue;
        }
        targets.push(Target {
            name: target["name"].as_str()?.to_string(),
            lib,
            root,
        });
    }
    // Libraries first, as cargo builds them.
    targets.sort_by_key(|t| !t.lib);
    let dependencies = package["dependencies"]
        .as_array()?
        .iter()
        // Local packages only: a path dependency has no source.
        .filter(|d| d["source"].is_null())
        .filter_map(|d| {
            let name = d["name"].as_str()?.to_string();
            let kind = match d["kind"].as_str() {
                Some("dev") => DependencyKind::Dev,
                Some("build") => DependencyKind::Build,
                _ => DependencyKind::Normal,
            };
            let key = d["rename"]
                .as_str()
                .map_or_else(|| name.clone(), str::to_string);
            Some(Dependency { name, key, kind })
        })
        .collect();
    Some(Member {
        name: package["name"].as_str()?.to_string(),
        manifest: PathBuf::from(package["manifest_path"].as_str()?),
        targets,
        dependencies,
    })
}

/// The graph of members and their dependencies on each other, of every kind: cargo accepts a
/// cycle through a dev-dependency (two copies of a crate in one test build), the project does not.
pub fn crate_graph(workspace: &Workspace) -> Graph {
    let mut graph = Graph::default();
    for member in &workspace.members {
        graph.add_node(member.name.clone());
    }
    for (from, member) in workspace.members.iter().enumerate() {
        // A manifest that cannot be read still has its edges, only without a line.
        let text = fs::read_to_string(&member.manifest).unwrap_or_default();
        let shown = member
            .manifest
            .strip_prefix(&workspace.root)
            .unwrap_or(&member.manifest);
        for dependency in &member.dependencies {
            let Some(to) = graph.node(&dependency.name) else {
                continue;
            };
            let evidence = Evidence {
                file: shown.to_path_buf(),
                line: manifest_line(&text, dependency).unwrap_or(1),
                text: format!("[{}] {}", dependency.kind.table(), dependency.key),
            };
            graph.add_edge(from, to, evidence);
        }
    }
    graph
}

/// The line declaring `dependency` in a manifest: `key = …` or `key.workspace = true` under its
/// table (`[dev-dependencies]`, `[target.'cfg(…)'.dev-dependencies]`), or a `[table.key]` header.
fn manifest_line(text: &str, dependency: &Dependency) -> Option<usize> {
    let table = dependency.kind.table();
    let is_table = |name: &str| name == table || name.ends_with(&format!(".{table}"));
    let mut in_table = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']').trim();
            if let Some(inner) = header.strip_suffix(&format!(".{}", dependency.key)) {
                if is_table(inner) {
                    return Some(index + 1);
                }
            }
            in_table = is_table(header);
            continue;
        }
        if in_table {
            if let Some(rest) = line.strip_prefix(dependency.key.as_str()) {
                if rest.starts_with([' ', '=', '.', '\t']) {
                    return Some(index + 1);
                }
            }
        }
    }
    None
}
