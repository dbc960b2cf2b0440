//! A directed graph of named nodes with one piece of evidence per edge, its strongly connected
//! components (Tarjan's algorithm), and for each component a few short cycles that together use
//! every edge inside it, so a report shows each reference that would have to go.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

/// One reference behind an edge, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The file holding the reference, relative to the workspace root.
    pub file: PathBuf,
    /// Its line (1-based).
    pub line: usize,
    /// The reference as written, e.g. `use crate::store::StoreError`.
    pub text: String,
}

/// A strongly connected component of more than one node, with cycles covering its edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Its nodes, sorted by name.
    pub nodes: Vec<usize>,
    /// Closed walks `a, b, …, a`; every edge between two of `nodes` is on at least one.
    pub cycles: Vec<Vec<usize>>,
}

/// A directed graph; self-edges are dropped, and each edge keeps its earliest evidence.
#[derive(Debug, Default)]
pub struct Graph {
    names: Vec<String>,
    edges: BTreeMap<(usize, usize), Evidence>,
}

impl Graph {
    /// Adds a node and returns its index.
    pub fn add_node(&mut self, name: impl Into<String>) -> usize {
        self.names.push(name.into());
        self.names.len() - 1
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// A node's name.
    pub fn name(&self, node: usize) -> &str {
        self.names.get(node).map_or("?", String::as_str)
    }

    /// The index of the node with this name.
    pub fn node(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Adds an edge. A module referring to itself is no cycle, so self-edges are dropped; of
    /// several references behind one edge, the first in the file is kept.
    pub fn add_edge(&mut self, from: usize, to: usize, evidence: Evidence) {
        if from == to {
            return;
        }
        let slot = self
            .edges
            .entry((from, to))
            .or_insert_with(|| evidence.clone());
        if (&evidence.file, evidence.line) < (&slot.file, slot.line) {
            *slot = evidence;
        }
    }

    /// The evidence of an edge, if there is one.
    pub fn evidence(&self, from: usize, to: usize) -> Option<&Evidence> {
        self.edges.get(&(from, to))
    }

    /// A node's successors, in index order.
    fn successors(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        self.edges
            .range((node, 0)..(node + 1, 0))
            .map(|(&(_, to), _)| to)
    }

    /// The strongly connected components of more than one node, each with a set of cycles that
    /// covers its edges; sorted by their first node's name.
    pub fn components(&self) -> Vec<Component> {
        let mut tarjan = Tarjan {
            graph: self,
            index: vec![None; self.len()],
            low: vec![0; self.len()],
            on_stack: vec![false; self.len()],
            stack: Vec::new(),
            next: 0,
            found: Vec::new(),
        };
        for node in 0..self.len() {
            if tarjan.index[node].is_none() {
                tarjan.visit(node);
            }
        }
        let mut components: Vec<Component> = tarjan
            .found
            .into_iter()
            .filter(|nodes| nodes.len() > 1)
            .map(|mut nodes| {
                nodes.sort_by(|a, b| self.name(*a).cmp(self.name(*b)));
                let cycles = self.covering_cycles(&nodes);
                Component { nodes, cycles }
            })
            .collect();
        components.sort_by(|a, b| self.name(a.nodes[0]).cmp(self.name(b.nodes[0])));
        components
    }

    /// Short cycles inside one component that together use each of its edges: for every edge
    /// `u → v` not yet on a listed cycle, `u` followed by a shortest path from `v` back to `u`.
    fn covering_cycles(&self, nodes: &[usize]) -> Vec<Vec<usize>> {
        let inside: BTreeSet<usize> = nodes.iter().copied().collect();
        let mut edges: Vec<(usize, usize)> = self
            .edges
            .keys()
            .copied()
            .filter(|(u, v)| inside.contains(u) && inside.contains(v))
            .collect();
        edges.sort_by(|a, b| {
            (self.name(a.0), self.name(a.1)).cmp(&(self.name(b.0), self.name(b.1)))
        });
        let mut covered = BTreeSet::new();
        let mut cycles = Vec::new();
        for (u, v) in edges {
            if covered.contains(&(u, v)) {
                continue;
            }
            let Some(back) = self.shortest_path(v, u, &inside) else {
                continue;
            };
            let mut cycle = vec![u];
            cycle.extend(back);
            for step in cycle.windows(2) {
                covered.insert((step[0], step[1]));
            }
            cycles.push(cycle);
        }
        cycles
    }

    /// A shortest path `from, …, to` through `inside` only (breadth-first).
    fn shortest_path(
        &self,
        from: usize,
        to: usize,
        inside: &BTreeSet<usize>,
    ) -> Option<Vec<usize>> {
        let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = BTreeSet::from([from]);
        while let Some(node) = queue.pop_front() {
            if node == to {
                let mut path = vec![to];
                let mut at = to;
                while let Some(&prev) = came_from.get(&at) {
                    path.push(prev);
                    at = prev;
                }
                path.reverse();
                return Some(path);
            }
            for next in self.successors(node) {
                if inside.contains(&next) && seen.insert(next) {
                    came_from.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

/// Tarjan's strongly connected components, recursive (module graphs are a few dozen nodes).
struct Tarjan<'g> {
    graph: &'g Graph,
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    found: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        let graph = self.graph;
        for w in graph.successors(v) {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(i) if self.on_stack[w] => self.low[v] = self.low[v].min(i),
                Some(_) => {}
            }
        }
        if self.index[v] == Some(self.low[v]) {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.found.push(component);
        }
    }
}
