//! The module graph of one crate target: its file modules, and an edge wherever one refers to
//! another.
//!
//! The tree is read from the target's root file by following `mod` declarations as rustc does
//! (`foo.rs`, `foo/mod.rs`, `#[path = "…"]`, inline `mod foo { … }`); inline modules are folded
//! into the file that holds them, so the nodes are files. Edges come from
//!
//! - `use` trees starting with `crate::`, `super::`, `self::` or a child module's name (nested
//!   groups included);
//! - paths anywhere in the code (`crate::ops::healthz`, `super::Param`, `sqlite::Db::open` where
//!   `sqlite` is a child module or a module brought in by `use`);
//! - paths of that shape in the tokens of macro invocations and `macro_rules!` bodies, which syn
//!   leaves unparsed.
//!
//! A path goes to the deepest module it names (`crate::store::rows::Row` → `store::rows`). A name
//! the crate root re-exports (`crate::Syncline`, with `pub use client::Syncline;` in lib.rs) goes
//! to the module it comes from; the root's own public `use` lines and every `mod` line are the
//! crate's surface, not edges. Code under a `cfg` that is false outside tests is skipped
//! (`src/cfg.rs`).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::visit::{self, Visit};
use syn::{Attribute, Item, ItemMod, ItemUse, UseTree, Visibility};

use crate::cfg;
use crate::error::Error;
use crate::graph::{Evidence, Graph};

/// The crate root's index in [`Tree::modules`].
const ROOT: usize = 0;

/// How deep re-exports and `use` aliases are followed (a guard against `use a as b; use b as a`).
const MAX_DEPTH: usize = 8;

/// Reads the target whose root file is `root` and returns its module graph; file names in the
/// evidence are relative to `base`.
pub fn module_graph(root: &Path, base: &Path) -> Result<Graph, Error> {
    let mut tree = Tree::default();
    let ast = parse(root)?;
    let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
    let dirs = Dirs {
        children: dir.clone(),
        path_attr: dir,
    };
    tree.load_file(root.to_path_buf(), ast, None, "crate", &dirs)?;
    Ok(tree.graph(base))
}

/// One module: a file module, or an inline one folded into its file.
#[derive(Default)]
struct Module {
    /// `crate`, `db`, `db::sqlite`.
    path: String,
    parent: Option<usize>,
    /// The file (graph node) that holds this module's code.
    file: usize,
    children: HashMap<String, usize>,
    /// The names of the items defined here (to follow a glob re-export at the root).
    items: HashSet<String>,
    /// `use` leaves, by the name each binds: the path it names.
    imports: HashMap<String, Vec<String>>,
    /// Glob `use` leaves: the paths before the `*`.
    globs: Vec<Vec<String>>,
}

/// A file module's source.
struct SourceFile {
    path: PathBuf,
    module: usize,
    ast: Option<syn::File>,
}

/// Where rustc looks for the files of a module's children: `mod x;` in `children`, and
/// `#[path = "…"] mod x;` relative to `path_attr`.
struct Dirs {
    children: PathBuf,
    path_attr: PathBuf,
}

#[derive(Default)]
struct Tree {
    modules: Vec<Module>,
    files: Vec<SourceFile>,
    /// Inline modules by (file, line, column) of their name, for the second pass.
    inline: HashMap<(usize, usize, usize), usize>,
    /// `#[macro_export]` macros, which live at the crate root, by name: the module defining each.
    exported_macros: HashMap<String, usize>,
}

impl Tree {
    fn new_module(&mut self, parent: Option<usize>, file: usize, name: &str) -> usize {
        let path = match parent {
            None => "crate".to_string(),
            Some(ROOT) => name.to_string(),
            Some(p) => format!("{}::{name}", self.modules[p].path),
        };
        self.modules.push(Module {
            path,
            parent,
            file,
            ..Module::default()
        });
        let id = self.modules.len() - 1;
        if let Some(p) = parent {
            // A second module of the same name (`#[cfg(a)] mod x; #[cfg(not(a))] mod x;`) keeps
            // its own node; paths resolve to the first.
            self.modules[p]
                .children
                .entry(name.to_string())
                .or_insert(id);
        }
        id
    }

    /// Adds a file module and everything below it.
    fn load_file(
        &mut self,
        path: PathBuf,
        ast: syn::File,
        parent: Option<usize>,
        name: &str,
        dirs: &Dirs,
    ) -> Result<(), Error> {
        let file = self.files.len();
        let module = self.new_module(parent, file, name);
        self.files.push(SourceFile {
            path,
            module,
            ast: None,
        });
        self.load_items(&ast.items, module, file, dirs)?;
        self.files[file].ast = Some(ast);
        Ok(())
    }

    /// Records a module's items, imports and children (first pass).
    fn load_items(
        &mut self,
        items: &[Item],
        module: usize,
        file: usize,
        dirs: &Dirs,
    ) -> Result<(), Error> {
        for item in items {
            if !cfg::enabled(item_attrs(item)) {
                continue;
            }
            match item {
                Item::Mod(decl) => self.load_mod(decl, module, file, dirs)?,
                Item::Use(decl) if decl.leading_colon.is_none() => {
                    for leaf in use_leaves(&decl.tree) {
                        let module = &mut self.modules[module];
                        match leaf.binds {
                            Binding::Glob => module.globs.push(leaf.segments),
                            Binding::Name(name) if name != "_" => {
                                module.imports.insert(name, leaf.segments);
                            }
                            Binding::Name(_) => {}
                        }
                    }
                }
                Item::Macro(mac) => {
                    if let Some(ident) = &mac.ident {
                        if mac.attrs.iter().any(|a| a.path().is_ident("macro_export")) {
                            self.exported_macros.insert(ident.to_string(), module);
                        }
                        self.modules[module].items.insert(ident.to_string());
                    }
                }
                other => {
                    if let Some(name) = item_name(other) {
                        self.modules[module].items.insert(name);
                    }
                }
            }
        }
        Ok(())
    }

    fn load_mod(
        &mut self,
        decl: &ItemMod,
        module: usize,
        file: usize,
        dirs: &Dirs,
    ) -> Result<(), Error> {
        let name = decl.ident.to_string();
        self.modules[module].items.insert(name.clone());
        let path_attr = path_attr(&decl.attrs);
        if let Some((_, content)) = &decl.content {
            let child = self.new_module(Some(module), file, &name);
            self.inline.insert(span_key(file, decl.ident.span()), child);
            // Inside an inline module, both kinds of lookup start from its directory.
            let dir = match &path_attr {
                Some(p) => dirs.path_attr.join(p),
                None => dirs.children.join(&name),
            };
            let inner = Dirs {
                children: dir.clone(),
                path_attr: dir,
            };
            return self.load_items(content, child, file, &inner);
        }
        // A `#[path]` file, like a `mod.rs`, looks for its children next to itself.
        let (path, mod_rs) = match path_attr {
            Some(p) => (dirs.path_attr.join(p), true),
            None => {
                let flat = dirs.children.join(format!("{name}.rs"));
                let folder = dirs.children.join(&name).join("mod.rs");
                if flat.is_file() {
                    (flat, false)
                } else if folder.is_file() {
                    (folder, true)
                } else {
                    return Err(Error::MissingModule {
                        path: self.files[file].path.clone(),
                        line: decl.ident.span().start().line,
                        name,
                        tried: format!("{} and {}", flat.display(), folder.display()),
                    });
                }
            }
        };
        let ast = parse(&path)?;
        // `#![cfg(test)]` at the top of the file.
        if !cfg::enabled(&ast.attrs) {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let child_dirs = if mod_rs {
            Dirs {
                children: dir.clone(),
                path_attr: dir,
            }
        } else {
            Dirs {
                children: dir.join(&name),
                path_attr: dir,
            }
        };
        self.load_file(path, ast, Some(module), &name, &child_dirs)
    }

    /// The module graph (second pass): one node per file, an edge per reference.
    fn graph(&self, base: &Path) -> Graph {
        let mut graph = Graph::default();
        for file in &self.files {
            graph.add_node(self.modules[file.module].path.clone());
        }
        for (index, file) in self.files.iter().enumerate() {
            let Some(ast) = &file.ast else { continue };
            let mut refs = References {
                tree: self,
                graph: &mut graph,
                module: file.module,
                file: index,
                shown_path: file
                    .path
                    .strip_prefix(base)
                    .unwrap_or(&file.path)
                    .to_path_buf(),
            };
            for item in &ast.items {
                refs.visit_item(item);
            }
        }
        graph
    }

    /// The module a path refers to, or `None` when it leaves the crate (or is no module path).
    /// In a `use` tree a lone child name is a path too (`use sqlite;`); in code a path needs two
    /// segments, so that a local variable is never taken for a module.
    fn resolve(
        &self,
        module: usize,
        segments: &[String],
        in_use: bool,
        depth: usize,
    ) -> Option<usize> {
        let (target, rest) = self.walk(module, segments, in_use, depth)?;
        match rest.first() {
            Some(name) if target == ROOT => self.through_root(name, depth),
            _ => Some(target),
        }
    }

    /// The deepest module a path names, and the segments after it.
    fn walk<'s>(
        &self,
        module: usize,
        segments: &'s [String],
        in_use: bool,
        depth: usize,
    ) -> Option<(usize, &'s [String])> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (first, tail) = segments.split_first()?;
        let (mut current, mut rest) = match first.as_str() {
            "crate" => (ROOT, tail),
            "self" => (module, tail),
            "super" => {
                let mut current = module;
                let mut rest = segments;
                while let Some((s, tail)) = rest.split_first() {
                    if s != "super" {
                        break;
                    }
                    current = self.modules[current].parent?;
                    rest = tail;
                }
                (current, rest)
            }
            name => {
                if !in_use && tail.is_empty() {
                    return None;
                }
                if let Some(&child) = self.modules[module].children.get(name) {
                    (child, tail)
                } else {
                    (self.module_alias(module, name, depth)?, tail)
                }
            }
        };
        while let Some((next, tail)) = rest.split_first() {
            let Some(&child) = self.modules[current].children.get(next) else {
                break;
            };
            current = child;
            rest = tail;
        }
        Some((current, rest))
    }

    /// The module a `use` in `module` binds to `name` (`use crate::db;`, `use super::x as y;`).
    fn module_alias(&self, module: usize, name: &str, depth: usize) -> Option<usize> {
        let path = self.modules[module].imports.get(name)?;
        if path.len() == 1 && path[0] == name {
            return None; // `use serde_json;`: an extern crate
        }
        match self.walk(module, path, true, depth + 1)? {
            (target, []) => Some(target),
            _ => None,
        }
    }

    /// The module behind `crate::name` when `name` is no child of the root: the source of a
    /// re-export, a `#[macro_export]` macro's module, or the root itself for its own items.
    fn through_root(&self, name: &str, depth: usize) -> Option<usize> {
        let root = &self.modules[ROOT];
        if root.items.contains(name) {
            return Some(ROOT);
        }
        if let Some(path) = root.imports.get(name) {
            // `None` for a re-export from another crate: no edge.
            return self.resolve(ROOT, path, true, depth + 1);
        }
        if let Some(&module) = self.exported_macros.get(name) {
            return Some(module);
        }
        for glob in &root.globs {
            if let Some((source, [])) = self.walk(ROOT, glob, true, depth + 1) {
                let source_module = &self.modules[source];
                if source != ROOT
                    && (source_module.items.contains(name)
                        || source_module.imports.contains_key(name))
                {
                    return Some(source);
                }
            }
        }
        Some(ROOT)
    }
}

/// The second pass over one file: each reference it makes becomes an edge.
struct References<'t, 'g> {
    tree: &'t Tree,
    graph: &'g mut Graph,
    /// The module whose code is being read (an inline module while inside one).
    module: usize,
    file: usize,
    shown_path: PathBuf,
}

impl References<'_, '_> {
    fn reference(&mut self, segments: &[String], in_use: bool, span: Span, text: String) {
        if let Some(target) = self.tree.resolve(self.module, segments, in_use, 0) {
            let evidence = Evidence {
                file: self.shown_path.clone(),
                line: span.start().line,
                text,
            };
            self.graph
                .add_edge(self.file, self.tree.modules[target].file, evidence);
        }
    }

    fn use_item(&mut self, decl: &ItemUse) {
        if decl.leading_colon.is_some() {
            return;
        }
        // The root's public `use` lines are what the crate offers, not what it depends on.
        if self.module == ROOT && !matches!(decl.vis, Visibility::Inherited) {
            return;
        }
        for leaf in use_leaves(&decl.tree) {
            let text = format!("use {}", leaf.shown());
            self.reference(&leaf.segments, true, leaf.span, text);
        }
    }

    /// Paths in a macro's tokens: `crate :: a :: b`, `$crate :: …`, `super :: …`, `self :: …`,
    /// `child :: …`, and `prefix :: { a, b :: c }` groups as in a `use` inside the macro.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            let ident = match &tokens[i] {
                TokenTree::Group(group) => {
                    self.scan_tokens(group.stream());
                    i += 1;
                    continue;
                }
                TokenTree::Ident(ident) => ident,
                _ => {
                    i += 1;
                    continue;
                }
            };
            // Not the start of a path when it follows `::` (`std::crate` cannot occur, but
            // `foo::sqlite::x` must not be read as the child `sqlite`).
            if i >= 2 && is_colon(&tokens[i - 1]) && is_colon(&tokens[i - 2]) {
                i += 1;
                continue;
            }
            let mut segments = vec![ident.to_string()];
            let mut j = i + 1;
            let mut group = None;
            while j + 1 < tokens.len() && is_colon(&tokens[j]) && is_colon(&tokens[j + 1]) {
                match tokens.get(j + 2) {
                    Some(TokenTree::Ident(next)) => {
                        segments.push(next.to_string());
                        j += 3;
                    }
                    Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                        group = Some(g.clone());
                        j += 3;
                        break;
                    }
                    _ => break,
                }
            }
            let span = ident.span();
            match group {
                Some(g) => {
                    if let Ok(tree) = syn::parse2::<UseTree>(TokenTree::Group(g).into()) {
                        for mut leaf in use_leaves(&tree) {
                            let mut full = segments.clone();
                            full.append(&mut leaf.segments);
                            let text = format!("{} (in a macro)", full.join("::"));
                            self.reference(&full, true, span, text);
                        }
                    }
                }
                None if segments.len() >= 2 => {
                    let text = format!("{} (in a macro)", segments.join("::"));
                    self.reference(&segments, false, span, text);
                }
                None => {}
            }
            i = j.max(i + 1);
        }
    }
}

impl<'ast> Visit<'ast> for References<'_, '_> {
    fn visit_item(&mut self, item: &'ast Item) {
        if !cfg::enabled(item_attrs(item)) {
            return;
        }
        match item {
            Item::Mod(decl) => {
                // A `mod x;` line is no edge, and `x`'s file is read as a node of its own.
                let Some((_, content)) = &decl.content else {
                    return;
                };
                let inline = self
                    .tree
                    .inline
                    .get(&span_key(self.file, decl.ident.span()));
                let outer = self.module;
                // A module inside a function body is not in the tree: read it as its parent.
                self.module = inline.copied().unwrap_or(outer);
                for item in content {
                    self.visit_item(item);
                }
                self.module = outer;
            }
            Item::Use(decl) => self.use_item(decl),
            _ => visit::visit_item(self, item),
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() >= 2 {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            let text = segments.join("::");
            self.reference(&segments, false, path.segments[0].ident.span(), text);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        self.scan_tokens(mac.tokens.clone());
    }

    // `pub(super)`, `pub(crate)`, `pub(in crate::db)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast Visibility) {}

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => return visit::visit_impl_item(self, item),
        };
        if cfg::enabled(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast syn::TraitItem) {
        let attrs = match item {
            syn::TraitItem::Const(i) => &i.attrs,
            syn::TraitItem::Fn(i) => &i.attrs,
            syn::TraitItem::Type(i) => &i.attrs,
            syn::TraitItem::Macro(i) => &i.attrs,
            _ => return visit::visit_trait_item(self, item),
        };
        if cfg::enabled(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        if cfg::enabled(&local.attrs) {
            visit::visit_local(self, local);
        }
    }

    fn visit_stmt_macro(&mut self, mac: &'ast syn::StmtMacro) {
        if cfg::enabled(&mac.attrs) {
            visit::visit_stmt_macro(self, mac);
        }
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        if cfg::enabled(&arm.attrs) {
            visit::visit_arm(self, arm);
        }
    }

    fn visit_field(&mut self, field: &'ast syn::Field) {
        if cfg::enabled(&field.attrs) {
            visit::visit_field(self, field);
        }
    }

    fn visit_variant(&mut self, variant: &'ast syn::Variant) {
        if cfg::enabled(&variant.attrs) {
            visit::visit_variant(self, variant);
        }
    }

    fn visit_field_value(&mut self, field: &'ast syn::FieldValue) {
        if cfg::enabled(&field.attrs) {
            visit::visit_field_value(self, field);
        }
    }
}

/// What a `use` leaf binds.
enum Binding {
    /// A name (`_` for `as _`).
    Name(String),
    /// Everything (`*`).
    Glob,
}

/// One leaf of a `use` tree, flattened: `use crate::{a::{b, c}, d};` has three.
struct UseLeaf {
    /// The whole path, `self` leaves folded (`use a::{self}` → `a`).
    segments: Vec<String>,
    binds: Binding,
    span: Span,
}

impl UseLeaf {
    fn shown(&self) -> String {
        match self.binds {
            Binding::Glob => format!("{}::*", self.segments.join("::")),
            Binding::Name(_) => self.segments.join("::"),
        }
    }
}

fn use_leaves(tree: &UseTree) -> Vec<UseLeaf> {
    let mut leaves = Vec::new();
    collect_leaves(tree, &mut Vec::new(), &mut leaves);
    leaves
}

fn collect_leaves(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    let leaf = |ident: &syn::Ident, binds: Option<&syn::Ident>, out: &mut Vec<UseLeaf>| {
        let mut segments = prefix.clone();
        if ident != "self" {
            segments.push(ident.to_string());
        }
        let Some(last) = segments.last() else { return };
        let name = binds.map_or_else(|| last.clone(), ToString::to_string);
        out.push(UseLeaf {
            segments,
            binds: Binding::Name(name),
            span: ident.span(),
        });
    };
    match tree {
        UseTree::Path(path) => {
            prefix.push(path.ident.to_string());
            collect_leaves(&path.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(name) => leaf(&name.ident, None, out),
        UseTree::Rename(rename) => leaf(&rename.ident, Some(&rename.rename), out),
        UseTree::Glob(glob) => {
            if !prefix.is_empty() {
                out.push(UseLeaf {
                    segments: prefix.clone(),
                    binds: Binding::Glob,
                    span: glob.star_token.spans[0],
                });
            }
        }
        UseTree::Group(group) => {
            for tree in &group.items {
                collect_leaves(tree, prefix, out);
            }
        }
    }
}

fn is_colon(token: &TokenTree) -> bool {
    matches!(token, TokenTree::Punct(p) if p.as_char() == ':')
}

fn span_key(file: usize, span: Span) -> (usize, usize, usize) {
    let start = span.start();
    (file, start.line, start.column)
}

fn parse(path: &Path) -> Result<syn::File, Error> {
    let text = fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    syn::parse_file(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.span().start().line,
        message: e.to_string(),
    })
}

/// The value of a `#[path = "…"]` attribute.
fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| {
        let syn::Meta::NameValue(nv) = &attr.meta else {
            return None;
        };
        if !nv.path.is_ident("path") {
            return None;
        }
        match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        }
    })
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn item_name(item: &Item) -> Option<String> {
    let ident = match item {
        Item::Const(i) => &i.ident,
        Item::Enum(i) => &i.ident,
        Item::Fn(i) => &i.sig.ident,
        Item::Static(i) => &i.ident,
        Item::Struct(i) => &i.ident,
        Item::Trait(i) => &i.ident,
        Item::TraitAlias(i) => &i.ident,
        Item::Type(i) => &i.ident,
        Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}
