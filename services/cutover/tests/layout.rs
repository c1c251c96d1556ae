//! The house (DESIGN.md): each library crate's `lib.rs` opens with a `# Layout` that names
//! every module it declares, no top-level module imports one that imports it back, and the
//! correlator builds (with its tests) without the service.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 5] = ["event-schemas", "services/correlator", "services/cutover", "tests/testkit", "tests"];

fn src(krate: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(krate).join("src")
}

/// The `pub mod` names of `lib.rs`, and the modules its `# Layout` section names.
fn declared_and_documented(lib: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let declared = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect();
    let layout = lib.split("//! # Layout").nth(1).unwrap_or("");
    let documented = layout
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| l.strip_prefix("//! - "))
        // The names before the description: `[`ecs`], [`codedeploy`]: …`.
        .flat_map(|l| {
            l.split(": ").next().unwrap_or("").split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    (declared, documented)
}

/// The code (comments and tests left out) of every file of top-level module `name`.
fn module_code(root: &Path, name: &str) -> String {
    let mut files = vec![root.join(format!("{name}.rs"))];
    let dir = root.join(name);
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    let mut code = String::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

/// The top-level modules `code` names through `crate::`.
fn imports(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
            None => vec![rest],
        };
        for n in names {
            let head: String = n.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if modules.contains(&head) {
                out.insert(head);
            }
        }
    }
    out
}

#[test]
fn each_lib_rs_names_every_module_in_its_layout() {
    for krate in CRATES {
        let lib = std::fs::read_to_string(src(krate).join("lib.rs")).unwrap();
        let (declared, documented) = declared_and_documented(&lib);
        assert!(!declared.is_empty(), "{krate}");
        let missing: Vec<&String> = declared.difference(&documented).collect();
        let stale: Vec<&String> = documented.difference(&declared).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "{krate}: not in # Layout {missing:?}, named but gone {stale:?}"
        );
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for krate in CRATES {
        let root = src(krate);
        let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
        let (modules, _) = declared_and_documented(&lib);
        let graph: BTreeMap<String, BTreeSet<String>> = modules
            .iter()
            .map(|m| {
                let mut deps = imports(&module_code(&root, m), &modules);
                deps.remove(m);
                (m.clone(), deps)
            })
            .collect();
        // Depth-first from each module: a path back to it is a cycle.
        for start in &modules {
            let mut stack = vec![vec![start.clone()]];
            let mut seen = BTreeSet::new();
            while let Some(path) = stack.pop() {
                let last = path.last().unwrap();
                for next in &graph[last] {
                    assert!(next != start, "{krate}: an import cycle {} -> {start}", path.join(" -> "));
                    if seen.insert(next.clone()) {
                        let mut longer = path.clone();
                        longer.push(next.clone());
                        stack.push(longer);
                    }
                }
            }
        }
    }
}

/// `cargo test -p cutover-correlator` must not build tokio, axum, rusqlite or the AWS SDK: the
/// correlator and its test kit depend, normally or for tests, on no crate that does.
#[test]
fn the_correlator_and_its_test_kit_depend_on_nothing_of_the_service() {
    let io = ["cutover", "cutover-e2e", "tokio", "axum", "rusqlite", "slack-morphism", "slack-standin"];
    for krate in ["services/correlator", "tests/testkit", "event-schemas"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(krate).join("Cargo.toml");
        let manifest: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(toml::Value::as_table) else { continue };
            for name in deps.keys() {
                assert!(
                    !io.contains(&name.as_str()) && !name.starts_with("aws-"),
                    "{krate} [{section}] depends on {name}, which builds the service's IO"
                );
            }
        }
    }
}
