//! The relay's modules import each other without cycles.
//!
//! Every module (a file under `src/`, or an inline `mod` in one) is a node; an edge runs
//! from a module to each module whose items it names through `crate::`, `super::` or
//! `self::` paths, in `use` declarations and anywhere in code. A path names the deepest
//! module it passes through, so `crate::index::ShareRow` names `index` (which re-exports
//! it) and `crate::index::shares::ShareRow` names `index::shares`. Declaring a child
//! module (`mod x;`) is not an edge. Set `DATAMGMT_PRINT_MODULE_GRAPH=1` to print the
//! graph of the top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

type Module = Vec<String>;

/// Every module of the crate rooted at `src/lib.rs`, with the paths each one names.
struct Crate {
    modules: BTreeSet<Module>,
    named: BTreeMap<Module, Vec<Module>>,
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn load(crate_: &mut Crate, module: Module, file: &Path) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let dir = if module.is_empty() || file.ends_with("mod.rs") {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    load_items(crate_, module, &parsed.items, &dir);
}

fn load_items(crate_: &mut Crate, module: Module, items: &[syn::Item], dir: &Path) {
    crate_.modules.insert(module.clone());
    let mut paths = PathCollector { module: module.clone(), named: Vec::new() };
    for item in items {
        match item {
            syn::Item::Mod(child) => {
                let mut child_module = module.clone();
                child_module.push(child.ident.to_string());
                match &child.content {
                    Some((_, inline)) => {
                        load_items(crate_, child_module, inline, &dir.join(child.ident.to_string()))
                    }
                    None => {
                        let name = child.ident.to_string();
                        let file = [dir.join(format!("{name}.rs")), dir.join(&name).join("mod.rs")]
                            .into_iter()
                            .find(|candidate| candidate.exists())
                            .unwrap_or_else(|| {
                                panic!("no file for module {name} in {}", dir.display())
                            });
                        load(crate_, child_module, &file);
                    }
                }
            }
            other => paths.visit_item(other),
        }
    }
    crate_.named.entry(module).or_default().extend(paths.named);
}

/// Collects the paths a module names, made absolute.
struct PathCollector {
    module: Module,
    named: Vec<Module>,
}

impl PathCollector {
    /// `segments` made absolute from this module, or `None` for a path that does not
    /// start in this crate.
    fn absolute(&self, segments: &[String]) -> Option<Module> {
        let (mut base, mut rest) = match segments.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &segments[1..]),
            Some("super") | Some("self") => (self.module.clone(), segments),
            _ => return None,
        };
        while let Some(first) = rest.first() {
            match first.as_str() {
                "super" => {
                    base.pop();
                }
                "self" => {}
                _ => break,
            }
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => self.name(prefix, &name.ident),
            syn::UseTree::Rename(rename) => self.name(prefix, &rename.ident),
            syn::UseTree::Glob(_) => self.add(prefix.clone()),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    fn name(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut path = prefix.to_vec();
        if ident != "self" {
            path.push(ident.to_string());
        }
        self.add(path);
    }

    fn add(&mut self, segments: Vec<String>) {
        if let Some(path) = self.absolute(&segments) {
            self.named.push(path);
        }
    }
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.add(segments);
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Nested inline modules are loaded as modules of their own.
    }
}

impl Crate {
    fn load() -> Self {
        let mut crate_ = Crate { modules: BTreeSet::new(), named: BTreeMap::new() };
        load(&mut crate_, Vec::new(), &source_dir().join("lib.rs"));
        crate_
    }

    /// The deepest module `path` passes through.
    fn module_of(&self, path: &[String]) -> Module {
        (0..=path.len())
            .rev()
            .map(|len| path[..len].to_vec())
            .find(|prefix| self.modules.contains(prefix))
            .unwrap_or_default()
    }

    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (from, paths) in &self.named {
            for path in paths {
                let to = self.module_of(path);
                if &to != from {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        edges
    }
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

/// A cycle through the graph, if there is one.
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        marks: &mut BTreeMap<Module, Mark>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = stack.iter().position(|m| m == node).unwrap();
                let mut cycle = stack[start..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    edges.keys().find_map(|node| visit(node, edges, &mut marks, &mut Vec::new()))
}

#[test]
fn modules_import_each_other_without_cycles() {
    let crate_ = Crate::load();
    assert!(crate_.modules.len() > 30, "found {} modules", crate_.modules.len());
    let edges = crate_.edges();
    if std::env::var_os("DATAMGMT_PRINT_MODULE_GRAPH").is_some() {
        let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, tos) in &edges {
            for to in tos {
                let (from, to) = (from.first(), to.first());
                if let (Some(from), Some(to)) = (from, to) {
                    if from != to {
                        top.entry(from.clone()).or_default().insert(to.clone());
                    }
                }
            }
        }
        for (from, tos) in top {
            println!("{from} -> {}", tos.into_iter().collect::<Vec<_>>().join(", "));
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let cycle: Vec<String> = cycle.iter().map(name).collect();
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_check_finds_a_cycle() {
    let module = |path: &str| path.split("::").map(str::to_owned).collect::<Module>();
    let mut edges = BTreeMap::new();
    edges.insert(module("a"), BTreeSet::from([module("b")]));
    edges.insert(module("b"), BTreeSet::from([module("c::d")]));
    edges.insert(module("c::d"), BTreeSet::from([module("a")]));
    let cycle = find_cycle(&edges).expect("a -> b -> c::d -> a");
    assert_eq!(cycle.len(), 4);
    edges.insert(module("c::d"), BTreeSet::new());
    assert_eq!(find_cycle(&edges), None);
}
