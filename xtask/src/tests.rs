//! The cycle check on small crates written into temporary directories, read through
//! `cargo metadata` as the real workspace is.

use std::fs;
use std::path::PathBuf;

use crate::graph::{Evidence, Graph};
use crate::{cycles, workspace};

/// A temporary workspace.
struct Scratch(tempfile::TempDir);

impl Scratch {
    /// A one-crate workspace, the crate `demo`, with these source files.
    fn demo(files: &[(&str, &str)]) -> Self {
        let scratch = Scratch(tempfile::tempdir().expect("temporary directory"));
        scratch.write(
            "Cargo.toml",
            "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        );
        for (path, text) in files {
            scratch.write(path, text);
        }
        scratch
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.0.path().join(path);
        fs::create_dir_all(path.parent().expect("a parent")).expect("create the directory");
        fs::write(path, text).expect("write the file");
    }

    /// Runs the check; returns whether it passed, and its report.
    fn check(&self) -> (bool, String) {
        let manifest = self.0.path().join("Cargo.toml");
        let workspace = workspace::load(Some(&manifest)).expect("cargo metadata");
        let report = cycles::check(&workspace).expect("the check runs");
        let mut out = Vec::new();
        report.write(&mut out).expect("write the report");
        (report.clean(), String::from_utf8(out).expect("UTF-8"))
    }
}

/// Asserts that the report holds every line of `expected` (each trimmed of leading spaces).
fn assert_lines(report: &str, expected: &[&str]) {
    let lines: Vec<&str> = report.lines().map(str::trim_start).collect();
    for line in expected {
        assert!(
            lines.contains(line),
            "no line {line:?} in the report:\n{report}"
        );
    }
}

#[test]
fn a_cycle_through_use_crate_is_found() {
    let scratch = Scratch::demo(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        ("src/a.rs", "use crate::b::B;\n\npub struct A(pub B);\n"),
        (
            "src/b.rs",
            "pub struct B;\n\nuse crate::a::A;\n\npub fn make(a: A) -> A {\n    a\n}\n",
        ),
    ]);
    let (clean, report) = scratch.check();
    assert!(!clean, "{report}");
    assert_lines(
        &report,
        &[
            "demo: 3 modules, 1 cycle",
            "cycle 1 of 1, through 2 modules: a, b",
            "demo: a → b → a",
            "a → b  src/a.rs:1  use crate::b::B",
            "b → a  src/b.rs:3  use crate::a::A",
            "workspace: 1 crate, no crate cycle (dev- and build-dependencies included)",
            "FAILED: 1 cycle between modules, 0 cycles between crates; remove one reference on each cycle above",
        ],
    );
}

#[test]
fn a_cycle_through_paths_in_code_is_found() {
    let scratch = Scratch::demo(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        (
            "src/a.rs",
            "pub fn f() -> u32 {\n    crate::b::g() + 1\n}\n",
        ),
        (
            "src/b.rs",
            "pub fn g() -> u32 {\n    0\n}\n\npub fn h() -> u32 {\n    super::a::f()\n}\n",
        ),
    ]);
    let (clean, report) = scratch.check();
    assert!(!clean, "{report}");
    assert_lines(
        &report,
        &[
            "demo: a → b → a",
            "a → b  src/a.rs:2  crate::b::g",
            "b → a  src/b.rs:6  super::a::f",
        ],
    );
}

#[test]
fn a_cycle_through_a_macro_body_is_found() {
    let scratch = Scratch::demo(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        // Only inside `format!` and a `macro_rules!` body does `a` reach `b` and `c`.
        (
            "src/a.rs",
            "pub fn f() -> String {\n    format!(\"{}\", crate::b::NAME)\n}\n\n\
             macro_rules! call_c {\n    () => {\n        $crate::c::g()\n    };\n}\n\n\
             pub fn h() {\n    call_c!();\n}\n",
        ),
        (
            "src/b.rs",
            "pub const NAME: &str = \"b\";\n\npub fn g() -> usize {\n    crate::a::f().len()\n}\n",
        ),
        ("src/c.rs", "pub fn g() {\n    crate::a::h()\n}\n"),
    ]);
    let (clean, report) = scratch.check();
    assert!(!clean, "{report}");
    assert_lines(
        &report,
        &[
            "demo: 4 modules, 1 cycle",
            "demo: a → b → a",
            "a → b  src/a.rs:2  crate::b::NAME (in a macro)",
            "b → a  src/b.rs:4  crate::a::f",
            "demo: a → c → a",
            "a → c  src/a.rs:7  crate::c::g (in a macro)",
        ],
    );
}

#[test]
fn a_child_referring_to_its_parent_is_a_cycle() {
    let scratch = Scratch::demo(&[
        ("src/lib.rs", "mod db;\n"),
        (
            "src/db/mod.rs",
            "mod sqlite;\n\npub struct Tx;\n\npub fn open() -> Tx {\n    sqlite::open()\n}\n",
        ),
        (
            "src/db/sqlite.rs",
            "pub(super) fn open() -> super::Tx {\n    super::Tx\n}\n",
        ),
    ]);
    let (clean, report) = scratch.check();
    assert!(!clean, "{report}");
    assert_lines(
        &report,
        &[
            "demo: db → db::sqlite → db",
            "db → db::sqlite  src/db/mod.rs:6     sqlite::open",
            "db::sqlite → db  src/db/sqlite.rs:1  super::Tx",
        ],
    );
}

#[test]
fn test_only_code_makes_no_edge() {
    let scratch = Scratch::demo(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        (
            "src/a.rs",
            "pub struct A;\n\n\
             #[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::b::make;\n}\n\n\
             #[cfg(test)]\nmod more_tests;\n\n\
             #[cfg(all(test, feature = \"slow\"))]\nfn slow() {\n    crate::b::make();\n}\n\n\
             impl A {\n    #[cfg(test)]\n    fn check(&self) {\n        let _ = crate::b::make();\n    }\n}\n",
        ),
        ("src/a/more_tests.rs", "use crate::b::make;\n"),
        (
            "src/b.rs",
            "use crate::a::A;\n\npub fn make() -> A {\n    A\n}\n\n\
             #[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
    ]);
    let (clean, report) = scratch.check();
    assert!(clean, "{report}");
    assert_lines(
        &report,
        &["demo: 3 modules, no cycle", "ok: no import cycle"],
    );
}

#[test]
fn feature_gated_code_makes_edges() {
    let scratch = Scratch::demo(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("src/a.rs", "use crate::b::B;\nuse crate::c::C;\n\npub fn g() {}\n"),
        ("src/b.rs", "pub struct B;\n\n#[cfg(feature = \"extra\")]\npub fn f() {\n    crate::a::g();\n}\n"),
        (
            "src/c.rs",
            "pub struct C;\n\n#[cfg(any(test, feature = \"more\"))]\npub fn f() {\n    crate::a::g();\n}\n",
        ),
    ]);
    let (clean, report) = scratch.check();
    assert!(!clean, "{report}");
    assert_lines(
        &report,
        &[
            "cycle 1 of 1, through 3 modules: a, b, c",
            "demo: a → b → a",
            "b → a  src/b.rs:5  crate::a::g",
            "demo: a → c → a",
            "c → a  src/c.rs:5  crate::a::g",
        ],
    );
}

#[test]
fn a_root_re_export_resolves_to_its_source_module() {
    let scratch = Scratch::demo(&[
        ("src/lib.rs", "mod client;\nmod store;\n\npub use client::Client;\n"),
        (
            "src/client.rs",
            "pub struct Client;\n\nimpl Client {\n    pub fn save(&self) {\n        crate::store::save(self)\n    }\n}\n",
        ),
        // `crate::Client` is `client::Client`: store depends on client, not on the root.
        ("src/store.rs", "pub fn save(_: &crate::Client) {}\n"),
    ]);
    let (clean, report) = scratch.check();
    assert!(!clean, "{report}");
    assert_lines(
        &report,
        &[
            "demo: client → store → client",
            "client → store  src/client.rs:5  crate::store::save",
            "store → client  src/store.rs:1   crate::Client",
        ],
    );
}

#[test]
fn nested_use_groups_make_an_edge_per_leaf() {
    let scratch = Scratch::demo(&[
        ("src/lib.rs", "mod a;\nmod d;\n"),
        ("src/a/mod.rs", "pub mod b;\npub mod c;\n"),
        (
            "src/a/b.rs",
            "pub struct B;\n\npub fn back() {\n    crate::d::f();\n}\n",
        ),
        ("src/a/c.rs", "pub struct C;\n"),
        (
            "src/d.rs",
            "use crate::{a, a::{b::B, c::C}};\n\npub fn f() {}\n",
        ),
    ]);
    let (clean, report) = scratch.check();
    assert!(!clean, "{report}");
    assert_lines(
        &report,
        &[
            "cycle 1 of 1, through 2 modules: a::b, d",
            "demo: a::b → d → a::b",
            "d → a::b  src/d.rs:1    use crate::a::b::B",
        ],
    );
}

#[test]
fn a_clean_layered_crate_passes() {
    let scratch = Scratch::demo(&[
        (
            "src/lib.rs",
            "mod a;\nmod b;\n#[path = \"extra/c_impl.rs\"]\nmod c;\nmod d {\n    pub mod inner;\n}\n\n\
             pub use b::B;\npub use std::collections::HashMap as Map;\n",
        ),
        // `crate::Map` is another crate's type: no edge to the root.
        ("src/a.rs", "pub struct A;\n\npub fn map() -> crate::Map<u8, u8> {\n    crate::Map::new()\n}\n"),
        (
            "src/b/mod.rs",
            "mod leaf;\n\nuse crate::a::A;\n\npub struct B(pub A);\n\npub fn both() -> (A, leaf::L) {\n    (A, leaf::L)\n}\n",
        ),
        // A sibling through `super::` is an edge to the sibling, and `pub(in crate::b)` none at all.
        ("src/b/leaf.rs", "pub(in crate::b) struct L;\n\npub fn sibling() -> super::super::a::A {\n    crate::a::A\n}\n"),
        ("src/extra/c_impl.rs", "use crate::{a::A, b::B};\n\npub fn make() -> (A, B) {\n    (A, crate::B(A))\n}\n"),
        ("src/d/inner.rs", "pub fn f() {\n    let _ = super::super::c::make();\n}\n"),
    ]);
    let (clean, report) = scratch.check();
    assert!(clean, "{report}");
    assert_lines(
        &report,
        &["demo: 6 modules, no cycle", "ok: no import cycle"],
    );
}

#[test]
fn a_crate_cycle_through_a_dev_dependency_is_found() {
    let scratch = Scratch(tempfile::tempdir().expect("temporary directory"));
    scratch.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"one\", \"two\"]\nresolver = \"2\"\n",
    );
    scratch.write(
        "one/Cargo.toml",
        "[package]\nname = \"one\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\ntwo = { path = \"../two\" }\n",
    );
    scratch.write("one/src/lib.rs", "");
    scratch.write(
        "two/Cargo.toml",
        "[package]\nname = \"two\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\n\n[dev-dependencies]\n# The tests drive `one`.\none = { path = \"../one\" }\n",
    );
    scratch.write("two/src/lib.rs", "");
    let (clean, report) = scratch.check();
    assert!(!clean, "{report}");
    assert_lines(
        &report,
        &[
            "one: 1 module, no cycle",
            "workspace: 2 crates, 1 crate cycle (dev- and build-dependencies included)",
            "crate cycle 1 of 1, through 2 crates: one, two",
            "workspace: one → two → one",
            "one → two  one/Cargo.toml:7   [dependencies] two",
            "two → one  two/Cargo.toml:10  [dev-dependencies] one",
        ],
    );
}

#[test]
fn the_covering_cycles_use_every_edge_of_a_component() {
    let mut graph = Graph::default();
    let nodes: Vec<usize> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| graph.add_node(*n))
        .collect();
    let evidence = || Evidence {
        file: PathBuf::from("x.rs"),
        line: 1,
        text: String::new(),
    };
    // a → b → c → a, a chord c → b, and d hanging off outside the cycle.
    for (from, to) in [(0, 1), (1, 2), (2, 0), (2, 1), (2, 3)] {
        graph.add_edge(nodes[from], nodes[to], evidence());
    }
    graph.add_edge(nodes[3], nodes[3], evidence());
    let components = graph.components();
    assert_eq!(components.len(), 1);
    assert_eq!(components[0].nodes, vec![0, 1, 2]);
    assert_eq!(components[0].cycles, vec![vec![0, 1, 2, 0], vec![2, 1, 2]]);
}

/// The docs' file-backed code blocks: a block equal to its file passes, any difference is reported
/// with its line, and `reconcile` puts the file's text in.
mod included_blocks {
    use std::path::Path;

    use crate::included::reconcile;

    fn root_with(file: &str, text: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("temporary directory");
        let path = root.path().join(file);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create");
        std::fs::write(path, text).expect("write");
        root
    }

    const DOC_OK: &str = "# Quickstart\n\n<!-- file: ex/main.rs -->\n```rust\nfn main() {}\n```\n\nafter\n";

    #[test]
    fn a_block_equal_to_its_file_passes_and_is_left_as_it_is() {
        let root = root_with("ex/main.rs", "fn main() {}\n");
        let (out, drifts) = reconcile(root.path(), Path::new("q.md"), DOC_OK).expect("reconcile");
        assert!(drifts.is_empty(), "{drifts:?}");
        assert_eq!(out, DOC_OK);
    }

    #[test]
    fn a_changed_file_is_reported_at_the_marker_and_copied_in() {
        let root = root_with("ex/main.rs", "fn main() {\n    run();\n}\n");
        let (out, drifts) = reconcile(root.path(), Path::new("q.md"), DOC_OK).expect("reconcile");
        assert_eq!(drifts.len(), 1);
        assert_eq!(drifts[0].line, 3);
        assert_eq!(drifts[0].file, "ex/main.rs");
        assert!(drifts[0].problem.contains("line 1"), "{}", drifts[0].problem);
        assert_eq!(
            out,
            "# Quickstart\n\n<!-- file: ex/main.rs -->\n```rust\nfn main() {\n    run();\n}\n```\n\nafter\n"
        );
    }

    #[test]
    fn a_missing_file_or_block_is_reported() {
        let root = tempfile::tempdir().expect("temporary directory");
        let (_, drifts) = reconcile(root.path(), Path::new("q.md"), DOC_OK).expect("reconcile");
        assert_eq!(drifts[0].problem, "the file does not exist");
        let no_block = "<!-- file: ex/main.rs -->\ntext\n";
        let (_, drifts) = reconcile(root.path(), Path::new("q.md"), no_block).expect("reconcile");
        assert_eq!(drifts[0].problem, "no code block right after the marker");
    }
}
