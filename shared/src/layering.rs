//! The test that holds the crate to the map in `lib.rs`: a top-level module may use only
//! the modules listed before it in [`ORDER`], so dependencies point one way and there
//! are no cycles. It reads the sources (`crate::…` paths, including grouped imports), so
//! it costs nothing to run and fails naming the offending file.

/// Every top-level module, lowest first: infrastructure, then the state, then the
/// domain, then the application layer that composes them. Keep in step with `lib.rs`.
pub const ORDER: &[&str] = &[
    // Infrastructure: knows nothing of the business.
    "error",
    "telemetry",
    "pagination",
    "phone",
    "tokens",
    "db",
    "ratelimit",
    "push",
    "realtime",
    "http",
    "providers",
    // The state every handler shares.
    "state",
    // Domain, each using only those above it.
    "audit",
    "sessions",
    "users",
    "auth",
    "devices",
    "notifications",
    "marketplace",
    "payments",
    "staffops",
    // Application: turns configuration into a running service.
    "config",
    "startup",
    "cli",
    "testing",
];

/// `(file, module it is in, module it uses)` for every `crate::` path in `src/`.
fn uses(src: &std::path::Path) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).expect("read src").map(|e| e.expect("entry").path()));
            continue;
        }
        let relative = path.strip_prefix(src).expect("under src").to_string_lossy().into_owned();
        let Some(module) = relative.split('/').next().map(|m| m.trim_end_matches(".rs").to_owned()) else { continue };
        if module == "lib" || module == "layering" || !relative.ends_with(".rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let names: Vec<String> = match rest.strip_prefix('{') {
                // `crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
                Some(group) => {
                    let mut depth = 0;
                    let mut items = vec![String::new()];
                    for c in group.chars() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            ',' if depth == 0 => items.push(String::new()),
                            c => items.last_mut().expect("an item").push(c),
                        }
                    }
                    items.iter().filter_map(|item| item.trim().split("::").next().map(str::to_owned)).collect()
                }
                None => vec![rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()],
            };
            for name in names {
                if !name.is_empty() && name != module && name.chars().next().is_some_and(|c| c.is_lowercase()) {
                    found.push((relative.clone(), module.clone(), name));
                }
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_modules_listed_before_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank = |m: &str| ORDER.iter().position(|o| *o == m);
    let mut problems = Vec::new();
    for (file, module, used) in uses(&src) {
        match (rank(&module), rank(&used)) {
            (None, _) => problems.push(format!("{file}: module {module} is not in layering::ORDER")),
            (_, None) => problems.push(format!("{file}: uses crate::{used}, which is not in layering::ORDER")),
            (Some(m), Some(u)) if u > m => problems.push(format!("{file}: {module} uses {used}, which comes after it")),
            _ => {}
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "dependencies against the map in lib.rs:\n  {}", problems.join("\n  "));
}

#[test]
fn the_order_lists_exactly_the_crates_modules() {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).expect("lib.rs");
    let mut declared: Vec<&str> = lib
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod ").and_then(|rest| rest.strip_suffix(';')))
        .collect();
    let mut ordered: Vec<&str> = ORDER.to_vec();
    declared.sort_unstable();
    ordered.sort_unstable();
    assert_eq!(declared, ordered, "lib.rs's modules and layering::ORDER differ");
}
