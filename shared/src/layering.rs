//! The tests that hold the crate to the map in `lib.rs`.
//!
//! - **Imports point one way.** A top-level module may use only the modules listed before
//!   it in [`ORDER`]; inside a folder, the files' `super::` and `crate::folder::` paths
//!   form no cycle. Paths are read from the sources (grouped imports and the root
//!   re-exports of `lib.rs` included), so the tests cost nothing to run and name the file.
//! - **Each table has one owner.** [`OWNERS`] names the module that does every write to a
//!   table; another module may read it only where [`READS`] allows, each with its reason.
//!   The SQL of every non-test source file (`INSERT INTO`, `UPDATE`, `DELETE FROM`,
//!   `FROM`, `JOIN`) is checked against them. [`COLUMN_OWNERS`] lists the one table whose
//!   columns are split between two owners.

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
    "notifications",
    "ledger",
    "marketplace",
    "payments",
    "staffops",
    "auth",
    "payouts",
    "accounts",
    // Application: turns configuration into a running service.
    "config",
    "startup",
    "cli",
    "testing",
];

/// A source file of the crate: where it is, and its module path (`auth/otp/mod.rs` is
/// `["auth", "otp"]`, `auth/refresh.rs` is `["auth", "refresh"]`).
struct Source {
    file: String,
    module: Vec<String>,
    /// The text without comment lines (a doc link is no dependency).
    code: String,
}

fn crate_sources() -> Vec<Source> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).expect("read src").map(|e| e.expect("entry").path()));
            continue;
        }
        let file = path.strip_prefix(&src).expect("under src").to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".rs") else { continue };
        let mut module: Vec<String> = stem.split('/').map(str::to_owned).collect();
        if module.last().is_some_and(|m| m == "mod" || m == "lib") {
            module.pop();
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        let code = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        found.push(Source { file, module, code });
    }
    found
}

/// The paths a `use` or an expression names after `prefix::`, expanded: `{a, b::{c, d}}`
/// gives `[a]`, `[b, c]`, `[b, d]` (`self` inside a group names the group's own path).
fn paths_after(rest: &str) -> Vec<Vec<String>> {
    fn parse(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, base: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut path = base.clone();
        loop {
            match chars.peek() {
                Some('{') => {
                    chars.next();
                    loop {
                        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                            chars.next();
                        }
                        if chars.peek().is_none_or(|c| *c == '}') {
                            chars.next();
                            return;
                        }
                        parse(chars, path.clone(), out);
                    }
                }
                Some(c) if c.is_alphanumeric() || *c == '_' => {
                    let mut segment = String::new();
                    while let Some(c) = chars.peek().copied().filter(|c| c.is_alphanumeric() || *c == '_') {
                        segment.push(c);
                        chars.next();
                    }
                    if segment != "self" {
                        path.push(segment);
                    }
                    if chars.clone().take(2).collect::<String>() == "::" {
                        chars.next();
                        chars.next();
                        continue;
                    }
                    out.push(path);
                    return;
                }
                _ => {
                    out.push(path);
                    return;
                }
            }
        }
    }
    let mut out = Vec::new();
    parse(&mut rest.chars().peekable(), Vec::new(), &mut out);
    out
}

/// Every path a source names, made absolute from the crate root: `crate::…`, and
/// `super::…` / `self::…` relative to the file's module.
fn named_paths(source: &Source) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let code = &source.code;
    for prefix in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(prefix) {
            if code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `super::super::x` is read from its first `super::`; `a::self::` is not a prefix
            }
            let mut base: Vec<String> = match prefix {
                "crate::" => Vec::new(),
                "super::" => source.module[..source.module.len().saturating_sub(1)].to_vec(),
                _ => source.module.clone(),
            };
            let mut rest = &code[at + prefix.len()..];
            while let Some(more) = rest.strip_prefix("super::") {
                base.pop();
                rest = more;
            }
            for path in paths_after(rest) {
                found.push(base.iter().cloned().chain(path).collect());
            }
        }
    }
    found
}

/// `Name → path` for the items a module re-exports (`pub use a::b::Name;`, grouped too),
/// keyed by the module's path.
fn re_exports(sources: &[Source]) -> std::collections::HashMap<Vec<String>, Vec<(String, Vec<String>)>> {
    let mut map = std::collections::HashMap::new();
    for source in sources {
        let mut items = Vec::new();
        for line in source.code.lines().map(str::trim).filter(|l| l.starts_with("pub use ")) {
            let rest = &line["pub use ".len()..];
            let (base, rest) = match rest {
                r if r.starts_with("crate::") => (Vec::new(), &r["crate::".len()..]),
                r if r.starts_with("super::") => {
                    (source.module[..source.module.len().saturating_sub(1)].to_vec(), &r["super::".len()..])
                }
                r => (source.module.clone(), r.strip_prefix("self::").unwrap_or(r)),
            };
            for path in paths_after(rest) {
                let absolute: Vec<String> = base.iter().cloned().chain(path).collect();
                if let Some(name) = absolute.last() {
                    items.push((name.clone(), absolute.clone()));
                }
            }
        }
        map.insert(source.module.clone(), items);
    }
    map
}

/// `path` with a re-exported item replaced by where it is defined, as far as the
/// re-exports go.
fn resolve(
    path: &[String],
    exports: &std::collections::HashMap<Vec<String>, Vec<(String, Vec<String>)>>,
) -> Vec<String> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let Some((name, parent)) = path.split_last() else { break };
        let target = exports.get(parent).and_then(|items| items.iter().find(|(n, _)| n == name)).map(|(_, p)| p);
        match target {
            Some(target) if target != &path => path = target.clone(),
            _ => break,
        }
    }
    path
}

/// `(file, module it is in, top-level module it uses)` for every path in `src/`.
fn uses(sources: &[Source]) -> Vec<(String, String, String)> {
    let exports = re_exports(sources);
    let mut found = Vec::new();
    for source in sources {
        let Some(module) = source.module.first() else { continue };
        if module == "layering" {
            continue;
        }
        for path in named_paths(source) {
            let path = resolve(&path, &exports);
            if let Some(used) =
                path.first().filter(|u| *u != module && u.chars().next().is_some_and(char::is_lowercase))
            {
                found.push((source.file.clone(), module.clone(), used.clone()));
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_modules_listed_before_it() {
    let rank = |m: &str| ORDER.iter().position(|o| *o == m);
    let mut problems = Vec::new();
    for (file, module, used) in uses(&crate_sources()) {
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

/// The edges between the children of each folder: `(folder, child, child it uses)`.
fn sibling_uses(sources: &[Source]) -> Vec<(Vec<String>, String, String)> {
    let exports = re_exports(sources);
    let modules: std::collections::HashSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut edges = Vec::new();
    for source in sources {
        for path in named_paths(source) {
            let path = resolve(&path, &exports);
            let common = source.module.iter().zip(&path).take_while(|(a, b)| a == b).count();
            if common == 0 || common >= source.module.len() || common >= path.len() {
                continue; // across top-level modules (the ORDER test), or a parent's own item
            }
            let folder = path[..common].to_vec();
            let (from, to) = (&source.module[common], &path[common]);
            let is_child =
                |name: &String| modules.contains(&folder.iter().cloned().chain([name.clone()]).collect::<Vec<_>>());
            if from != to && is_child(to) {
                edges.push((folder, from.clone(), to.clone()));
            }
        }
    }
    edges.sort();
    edges.dedup();
    edges
}

/// The first cycle among `edges`, as the path around it.
fn a_cycle(edges: &[(String, String)]) -> Option<Vec<String>> {
    fn walk(node: &str, edges: &[(String, String)], path: &mut Vec<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        path.push(node.to_owned());
        for (_, to) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(cycle) = walk(to, edges, path) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    edges.iter().find_map(|(from, _)| walk(from, edges, &mut Vec::new()))
}

#[test]
fn no_folder_has_an_import_cycle_among_its_files() {
    let edges = sibling_uses(&crate_sources());
    let mut folders: Vec<&Vec<String>> = edges.iter().map(|(folder, _, _)| folder).collect();
    folders.dedup();
    let cycles: Vec<String> = folders
        .into_iter()
        .filter_map(|folder| {
            let here: Vec<(String, String)> =
                edges.iter().filter(|(f, _, _)| f == folder).map(|(_, a, b)| (a.clone(), b.clone())).collect();
            a_cycle(&here).map(|cycle| format!("{}: {}", folder.join("::"), cycle.join(" → ")))
        })
        .collect();
    assert!(cycles.is_empty(), "import cycles inside a folder:\n  {}", cycles.join("\n  "));
}

#[test]
fn paths_are_read_through_groups_super_and_re_exports() {
    let source = |file: &str, module: &[&str], code: &str| Source {
        file: file.to_owned(),
        module: module.iter().map(|m| m.to_string()).collect(),
        code: code.to_owned(),
    };
    let sources = [
        source("lib.rs", &[], "pub use state::{AppState, Settings};"),
        source("auth/issue.rs", &["auth", "issue"], "pub use super::refresh::refresh;\nuse crate::AppState;"),
        source("auth/refresh.rs", &["auth", "refresh"], "use super::{issue::{self, Issued}, AuthError};"),
        source("auth/mod.rs", &["auth"], "pub mod issue;\npub mod refresh;"),
        source("state.rs", &["state"], ""),
    ];
    let used: Vec<String> = uses(&sources).into_iter().map(|(_, m, u)| format!("{m}→{u}")).collect();
    assert_eq!(used, ["auth→state"], "crate::AppState is the state module");
    let edges: Vec<(String, String)> = sibling_uses(&sources).into_iter().map(|(_, a, b)| (a, b)).collect();
    assert_eq!(a_cycle(&edges), Some(vec!["issue".into(), "refresh".into(), "issue".into()]));
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

/// Every table and the module that owns it: the one module that writes it, and that
/// exports what others need to read of it (functions, or named SQL fragments).
pub const OWNERS: &[(&str, &str)] = &[
    ("rate_limits", "ratelimit"),
    ("user_events", "realtime"),
    ("apple_revocations", "providers"),
    ("audit_log", "audit"),
    ("auth_sessions", "sessions"),
    ("customers", "users"),
    ("customer_identities", "users"),
    ("mitras", "users"),
    ("cc_users", "users"),
    ("notifications", "notifications"),
    ("push_outbox", "notifications"),
    ("devices", "notifications"),
    ("mitra_services", "marketplace"),
    ("mitra_service_changes", "marketplace"),
    ("mitra_schedules", "marketplace"),
    ("mitra_service_areas", "marketplace"),
    ("orders", "marketplace"),
    ("order_events", "marketplace"),
    ("messages", "marketplace"),
    ("message_reads", "marketplace"),
    ("message_reports", "marketplace"),
    ("reviews", "marketplace"),
    ("payment_callbacks", "payments"),
    ("refunds", "payments"),
    ("disputes", "payments"),
    ("ledger_transactions", "ledger"),
    ("ledger_postings", "ledger"),
    ("otp_challenges", "auth"),
    ("otp_phone_sends", "auth"),
    ("id_token_uses", "auth"),
    ("ws_tickets", "auth"),
    ("payouts", "payouts"),
    ("payout_accounts", "payouts"),
    ("payout_account_changes", "payouts"),
    ("payout_callbacks", "payouts"),
    ("payout_holds", "payouts"),
];

/// The reads of another module's table that are allowed, each with why a function of the
/// owner would not do.
pub const READS: &[(&str, &str, &str)] = &[
    ("cc_users", "audit", "an entry copies the actor's email as it was when they acted, in the same INSERT"),
    (
        "mitras",
        "marketplace",
        "browse and ordering join a mitra's public columns and standing (users::mitras::SERVING) to its \
         services in one statement, one round trip per page",
    ),
    (
        "orders",
        "ledger",
        "ledger-check joins each order's escrow to the order's status in one aggregate: a completed order \
         must hold no escrow, checked over a million postings in one pass",
    ),
    (
        "mitras",
        "payouts",
        "who may be paid (not suspended or deleted, users::mitras::SERVING's standing columns) is one condition \
         of the keyset stream over payout accounts, so run-payouts reads each page in one statement",
    ),
    (
        "auth_sessions",
        "realtime",
        "the listener (infrastructure, below the sessions module) replays revocations from the table its \
         trigger watches",
    ),
];

/// A table whose columns two modules own: `(table, module, columns, why)`. The module may
/// read the table and UPDATE only these columns; the table's owner writes the rest.
pub const COLUMN_OWNERS: &[(&str, &str, &[&str], &str)] = &[(
    "orders",
    "payments",
    &[
        "refund_id",
        "payment_issue",
        "earnings_base",
        "commission_total",
        "release_at",
        "release_due",
        "refunded_amount",
    ],
    "what needs staff about an order's payment and what its money did (what completion split, when \
     earnings release, what was refunded) are the payments service's; the order's status and lifecycle, \
     and the invoice it opens with (one write: creating -> pending_payment), are the marketplace's",
)];

/// Columns any writer of a row keeps current, whoever owns the rest.
const BOOKKEEPING: &[&str] = &["updated_at"];

/// Whether SQL touches a table to write it or only to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Write,
    Read,
}

/// The tables the migrations create.
fn tables() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read migrations") {
        let sql = std::fs::read_to_string(entry.expect("entry").path()).expect("read migration");
        let words = words(&sql);
        for (i, pair) in words.windows(2).enumerate() {
            if pair[0].eq_ignore_ascii_case("CREATE") && pair[1].eq_ignore_ascii_case("TABLE") {
                let mut at = i + 2;
                if words.get(at).is_some_and(|w| w.eq_ignore_ascii_case("IF")) {
                    at += 3; // IF NOT EXISTS
                }
                names.extend(words.get(at).map(|w| w.to_lowercase()));
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect()
}

/// Every table a source text's SQL touches, and how. Keywords are matched in upper case,
/// as the crate writes SQL; a word after them counts only if it names a table.
fn touches(text: &str, tables: &[String]) -> Vec<(Access, String)> {
    let words = words(text);
    let table = |i: usize| words.get(i).filter(|w| tables.iter().any(|t| t == *w)).map(|w| w.to_string());
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).copied();
        let touched = match *word {
            "INSERT" if next == Some("INTO") => table(i + 2).map(|t| (Access::Write, t)),
            "DELETE" if next == Some("FROM") => table(i + 2).map(|t| (Access::Write, t)),
            "UPDATE" => table(i + 1).map(|t| (Access::Write, t)),
            "FROM" if i == 0 || words[i - 1] != "DELETE" => table(i + 1).map(|t| (Access::Read, t)),
            "JOIN" => table(i + 1).map(|t| (Access::Read, t)),
            _ => None,
        };
        found.extend(touched);
    }
    found
}

/// The columns each `UPDATE table SET …` of `text` assigns.
fn updated_columns(text: &str, table: &str) -> Vec<String> {
    let mut columns = Vec::new();
    let pattern = format!("UPDATE {table} SET ");
    for (at, _) in text.match_indices(&pattern) {
        let rest = &text[at + pattern.len()..];
        let end = ["WHERE", "FROM", "RETURNING"].iter().filter_map(|k| rest.find(k)).min().unwrap_or(rest.len());
        let mut depth = 0;
        let mut start = true;
        let mut current = String::new();
        for c in rest[..end].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    start = true;
                    continue;
                }
                _ => {}
            }
            if start {
                if c.is_ascii_alphanumeric() || c == '_' {
                    current.push(c);
                } else if !current.is_empty() {
                    columns.push(std::mem::take(&mut current));
                    start = false;
                }
            }
        }
        if !current.is_empty() {
            columns.push(current);
        }
    }
    columns
}

/// `(file, module)` for every non-test source file whose SQL is checked: the library's
/// (but this file and the test support) and the services' (which own nothing).
fn sources() -> Vec<(std::path::PathBuf, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut stack = vec![
        (root.join("src"), None),
        (root.join("../services/public-gateway/src"), Some("public-gateway")),
        (root.join("../services/internal-cc/src"), Some("internal-cc")),
    ];
    while let Some((path, service)) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                stack.push((entry.expect("entry").path(), service));
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let module = match service {
            Some(service) => service.to_owned(),
            None => {
                let relative = path.strip_prefix(root.join("src")).expect("under src").to_string_lossy().into_owned();
                relative.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_owned()
            }
        };
        if !matches!(module.as_str(), "layering" | "testing") {
            files.push((path, module));
        }
    }
    files
}

/// A source file without its `#[cfg(test)]` module (tests may set up any state).
fn non_test_text(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    match text.find("\n#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[test]
fn every_table_is_written_only_by_its_owner_and_read_elsewhere_only_where_allowed() {
    let tables = tables();
    let owner = |table: &str| OWNERS.iter().find(|(t, _)| *t == table).map(|(_, m)| *m);
    let mut problems: Vec<String> = tables
        .iter()
        .filter(|t| owner(t).is_none())
        .map(|t| format!("table {t} has no owner in layering::OWNERS"))
        .collect();
    for (path, module) in sources() {
        let text = non_test_text(&path);
        let file = path.display().to_string();
        let file = file.split("/src/").last().unwrap_or(&file).to_owned();
        for (split_table, split_module, columns, _) in COLUMN_OWNERS {
            if owner(split_table) == Some(module.as_str()) {
                let theirs: Vec<String> =
                    updated_columns(&text, split_table).into_iter().filter(|c| columns.contains(&c.as_str())).collect();
                if !theirs.is_empty() {
                    problems
                        .push(format!("{file}: {module} updates {split_table}.{theirs:?}, owned by {split_module}"));
                }
            }
        }
        for (access, table) in touches(&text, &tables) {
            if owner(&table) == Some(module.as_str()) {
                continue;
            }
            let split = COLUMN_OWNERS.iter().find(|(t, m, _, _)| *t == table && *m == module);
            let allowed = match (access, split) {
                (_, Some((_, _, columns, _))) => {
                    let owned = |c: &String| columns.contains(&c.as_str()) || BOOKKEEPING.contains(&c.as_str());
                    let stray: Vec<String> = updated_columns(&text, &table).into_iter().filter(|c| !owned(c)).collect();
                    if !stray.is_empty() {
                        problems.push(format!("{file}: {module} updates {table}.{stray:?}, columns it does not own"));
                    }
                    !text.contains(&format!("INSERT INTO {table}")) && !text.contains(&format!("DELETE FROM {table}"))
                }
                (Access::Read, None) => READS.iter().any(|(t, m, _)| *t == table && *m == module),
                (Access::Write, None) => false,
            };
            if !allowed {
                let verb = if access == Access::Write { "writes" } else { "reads" };
                problems
                    .push(format!("{file}: {module} {verb} {table}, owned by {}", owner(&table).unwrap_or("nobody")));
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "table access against layering::OWNERS:\n  {}", problems.join("\n  "));
}

#[test]
fn the_owners_table_names_real_tables_and_modules() {
    let tables = tables();
    for (table, module) in OWNERS.iter().copied().chain(READS.iter().map(|(t, m, _)| (*t, *m))) {
        assert!(tables.iter().any(|t| t == table), "{table} is not a table the migrations create");
        assert!(ORDER.contains(&module), "{module} is not a module in layering::ORDER");
    }
    let sql = "SELECT a FROM orders o JOIN mitras m ON true WHERE x IN (SELECT 1 FROM devices) FOR UPDATE OF o;
               UPDATE orders SET status = $2, paid_at = CASE WHEN $2 = 'paid' THEN now() END WHERE id = $1;
               INSERT INTO notifications (id) VALUES ($1) ON CONFLICT DO UPDATE SET id = 1;
               DELETE FROM devices WHERE true";
    let found = touches(sql, &tables);
    let expect = [
        (Access::Read, "orders"),
        (Access::Read, "mitras"),
        (Access::Read, "devices"),
        (Access::Write, "orders"),
        (Access::Write, "notifications"),
        (Access::Write, "devices"),
    ];
    assert_eq!(found, expect.map(|(a, t)| (a, t.to_owned())).to_vec());
    assert_eq!(updated_columns(sql, "orders"), ["status", "paid_at"]);
}
