//! `cargo xtask cycles`: import cycles between the modules of each crate target (`modules.rs`
//! says what counts as a reference) and between the workspace's crates, dev-dependencies
//! included. Each strongly connected group is reported with short cycles that together show
//! every reference inside it, each with a `file:line`, so a reader sees what to cut.

use std::io::{self, Write};

use crate::error::Error;
use crate::graph::{Component, Graph};
use crate::modules::module_graph;
use crate::workspace::{crate_graph, Workspace};

/// What the check found.
#[derive(Debug)]
pub struct Report {
    crates: Vec<CrateReport>,
    workspace: Checked,
}

#[derive(Debug)]
struct CrateReport {
    name: String,
    targets: Vec<TargetReport>,
}

#[derive(Debug)]
struct TargetReport {
    /// `lib`, `bin syncline-server`.
    kind: String,
    /// The name cycles are printed under: the crate's, with the bin's for a bin.
    label: String,
    checked: Checked,
}

/// A graph and its strongly connected groups.
#[derive(Debug)]
struct Checked {
    graph: Graph,
    components: Vec<Component>,
}

impl Checked {
    fn new(graph: Graph) -> Self {
        let components = graph.components();
        Checked { graph, components }
    }
}

/// Checks every lib and bin target of every member, and the members' dependencies.
pub fn check(workspace: &Workspace) -> Result<Report, Error> {
    let mut crates = Vec::new();
    for member in &workspace.members {
        let mut targets = Vec::new();
        for target in &member.targets {
            let (kind, label) = if target.lib {
                ("lib".to_string(), member.name.clone())
            } else {
                (
                    format!("bin {}", target.name),
                    format!("{} (bin {})", member.name, target.name),
                )
            };
            let graph = module_graph(&target.root, &workspace.root)?;
            targets.push(TargetReport {
                kind,
                label,
                checked: Checked::new(graph),
            });
        }
        crates.push(CrateReport {
            name: member.name.clone(),
            targets,
        });
    }
    Ok(Report {
        crates,
        workspace: Checked::new(crate_graph(workspace)),
    })
}

impl Report {
    /// No cycle anywhere.
    pub fn clean(&self) -> bool {
        self.module_cycles() == 0 && self.workspace.components.is_empty()
    }

    fn module_cycles(&self) -> usize {
        self.crates
            .iter()
            .flat_map(|c| &c.targets)
            .map(|t| t.checked.components.len())
            .sum()
    }

    /// Writes the report: a line per crate, then each cycle with its references.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        for krate in &self.crates {
            let modules: usize = krate.targets.iter().map(|t| t.checked.graph.len()).sum();
            let found: usize = krate
                .targets
                .iter()
                .map(|t| t.checked.components.len())
                .sum();
            let mut line = format!("{}: {}", krate.name, count(modules, "module"));
            if krate.targets.len() > 1 {
                let parts: Vec<String> = krate
                    .targets
                    .iter()
                    .map(|t| format!("{} {}", t.kind, t.checked.graph.len()))
                    .collect();
                line.push_str(&format!(" ({})", parts.join(", ")));
            }
            match found {
                0 => line.push_str(", no cycle"),
                n => line.push_str(&format!(", {}", count(n, "cycle"))),
            }
            writeln!(out, "{line}")?;
            let mut number = 0;
            for target in &krate.targets {
                for component in &target.checked.components {
                    number += 1;
                    let header = format!("cycle {number} of {found}");
                    write_component(
                        out,
                        &header,
                        &target.label,
                        "module",
                        &target.checked.graph,
                        component,
                    )?;
                }
            }
        }
        let crates = &self.workspace;
        let found = crates.components.len();
        let verdict = match found {
            0 => "no crate cycle".to_string(),
            n => count(n, "crate cycle"),
        };
        writeln!(
            out,
            "workspace: {}, {verdict} (dev- and build-dependencies included)",
            count(crates.graph.len(), "crate")
        )?;
        for (i, component) in crates.components.iter().enumerate() {
            let header = format!("crate cycle {} of {found}", i + 1);
            write_component(out, &header, "workspace", "crate", &crates.graph, component)?;
        }
        if self.clean() {
            writeln!(out, "ok: no import cycle")
        } else {
            writeln!(
                out,
                "FAILED: {} between modules, {} between crates; remove one reference on each cycle above",
                count(self.module_cycles(), "cycle"),
                count(found, "cycle")
            )
        }
    }
}

/// One strongly connected group: its members, then each covering cycle with the reference
/// behind every step.
fn write_component(
    out: &mut impl Write,
    header: &str,
    label: &str,
    noun: &str,
    graph: &Graph,
    component: &Component,
) -> io::Result<()> {
    let names: Vec<&str> = component.nodes.iter().map(|&n| graph.name(n)).collect();
    writeln!(
        out,
        "  {header}, through {}: {}",
        count(names.len(), noun),
        names.join(", ")
    )?;
    for cycle in &component.cycles {
        let walk: Vec<&str> = cycle.iter().map(|&n| graph.name(n)).collect();
        writeln!(out, "    {label}: {}", walk.join(" → "))?;
        let steps: Vec<(String, String, String)> = cycle
            .windows(2)
            .map(|step| {
                let arrow = format!("{} → {}", graph.name(step[0]), graph.name(step[1]));
                match graph.evidence(step[0], step[1]) {
                    Some(e) => (
                        arrow,
                        format!("{}:{}", e.file.display(), e.line),
                        e.text.clone(),
                    ),
                    None => (arrow, String::new(), String::new()),
                }
            })
            .collect();
        let arrow_width = steps.iter().map(|s| s.0.chars().count()).max().unwrap_or(0);
        let place_width = steps.iter().map(|s| s.1.chars().count()).max().unwrap_or(0);
        for (arrow, place, text) in steps {
            let arrow_pad = arrow_width - arrow.chars().count();
            let place_pad = place_width - place.chars().count();
            writeln!(
                out,
                "        {arrow}{}  {place}{}  {text}",
                " ".repeat(arrow_pad),
                " ".repeat(place_pad)
            )?;
        }
    }
    Ok(())
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
