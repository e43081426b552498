//! `docs/configuration.md` must name exactly what the code reads: every env var (the `getenv`
//! call sites in `crates/*/src` and the enclave settings table), every `enclave.*` annotation,
//! every subcommand and flag of rune, verdictd and the shim (clap introspection; the shim's
//! go-style flags through containerd-shim's own parser), and every key of the two config files
//! (serde introspection of their structs). A failure names what is missing from the doc (with
//! the table row or heading to add) and what is stale in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use serde::de::{self, Deserializer, Visitor};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

fn doc() -> String {
    std::fs::read_to_string(workspace().join("docs/configuration.md"))
        .expect("reading docs/configuration.md")
}

/// The names documented under `## {section}`: the first backticked word of each table row's
/// first cell, prefixed by the current `###` heading (backticks stripped) when `with_heading`.
fn documented(doc: &str, section: &str, with_heading: bool) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut inside = false;
    let mut heading = String::new();
    for line in doc.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            inside = title.trim() == section;
            heading.clear();
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(title) = line.strip_prefix("### ") {
            heading = title.replace('`', "").trim().to_owned();
            if with_heading {
                names.insert(heading.clone());
            }
            continue;
        }
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let first = row.split('|').next().unwrap_or_default();
        let Some(name) = first.split('`').nth(1) else {
            continue;
        };
        if with_heading {
            names.insert(format!("{heading} {name}"));
        } else {
            names.insert(name.to_owned());
        }
    }
    names
}

/// Fails naming what the code has and the doc lacks (with `rows` for it), and the reverse.
fn compare(
    what: &str,
    code: &BTreeMap<String, String>,
    doc: &BTreeSet<String>,
) -> Result<(), String> {
    let missing: Vec<_> = code.keys().filter(|k| !doc.contains(*k)).collect();
    let stale: Vec<_> = doc.iter().filter(|k| !code.contains_key(*k)).collect();
    if missing.is_empty() && stale.is_empty() {
        return Ok(());
    }
    let mut message = format!("docs/configuration.md, {what}:\n");
    if !missing.is_empty() {
        message.push_str("  missing from the doc (add these):\n");
        for name in &missing {
            message.push_str(&format!("    {}\n", code[*name]));
        }
    }
    if !stale.is_empty() {
        message.push_str(&format!(
            "  in the doc but not in the code (remove or rename): {stale:?}\n"
        ));
    }
    Err(message)
}

// ---- env vars --------------------------------------------------------------------------------

/// Every env var name the sources read: `env::var("X")`, `env::var_os("X")`, `getenv("X")`,
/// `try_from_env("X")` and clap's `env = "X"`.
fn env_reads_in(dir: &Path, found: &mut BTreeMap<String, String>) {
    // The last: a constant naming an env var read elsewhere (`const SOCKET_ENV: &str = "…"`).
    const CALLS: [&str; 6] = [
        "env::var(\"",
        "env::var_os(\"",
        "getenv(\"",
        "try_from_env(\"",
        "env = \"",
        "_ENV: &str = \"",
    ];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            env_reads_in(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for call in CALLS {
            for (at, _) in text.match_indices(call) {
                let rest = &text[at + call.len()..];
                let name = rest.split('"').next().unwrap_or_default();
                if !name.is_empty() {
                    let file = path.strip_prefix(workspace()).unwrap_or(&path);
                    found
                        .entry(name.to_owned())
                        .or_insert_with(|| format!("| `{name}` | {} | ... |", file.display()));
                }
            }
        }
    }
}

fn env_vars_in_code() -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(workspace().join("crates"))
        .unwrap()
        .flatten()
    {
        env_reads_in(&entry.path().join("src"), &mut found);
    }
    for (env, annotation) in rune::enclave::settings() {
        found.insert(
            env.to_owned(),
            format!("| `{env}` | rune, from the container env | ... (annotation `{annotation}`) |"),
        );
    }
    // The shim reads it from the container's env in config.json, through a constant.
    let carrier = containerd_shim_rune_v2::carrier::RUNE_CARRIER;
    found.insert(
        carrier.to_owned(),
        format!("| `{carrier}` | containerd-shim-rune-v2, from the container env | ... |"),
    );
    found
}

#[test]
fn every_env_var_is_documented() {
    let code = env_vars_in_code();
    compare(
        "## Environment variables",
        &code,
        &documented(&doc(), "Environment variables", false),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_annotation_is_documented() {
    let code: BTreeMap<String, String> = rune::enclave::settings()
        .map(|(env, annotation)| {
            (
                annotation.to_owned(),
                format!("| `{annotation}` | `{env}` | ... |"),
            )
        })
        .collect();
    compare(
        "## Annotations",
        &code,
        &documented(&doc(), "Annotations", false),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

// ---- command lines ---------------------------------------------------------------------------

/// `prefix` itself, each subcommand path and each `path --flag` of `command`.
fn clap_names(command: &clap::Command, prefix: &str, out: &mut BTreeMap<String, String>) {
    let about = command
        .get_about()
        .map(|a| a.to_string())
        .unwrap_or_default();
    out.insert(
        prefix.to_owned(),
        format!("a heading `### {prefix}`: {about}"),
    );
    for arg in command.get_arguments() {
        if arg.is_positional() {
            continue;
        }
        let flag = match (arg.get_long(), arg.get_short()) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(short)) => format!("-{short}"),
            (None, None) => continue,
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        out.insert(
            format!("{prefix} {flag}"),
            format!("under `### {prefix}`: | `{flag}` | {help} |"),
        );
    }
    for sub in command.get_subcommands() {
        clap_names(sub, &format!("{prefix} {}", sub.get_name()), out);
    }
}

#[test]
fn every_rune_flag_is_documented() {
    let mut code = BTreeMap::new();
    clap_names(&rune::cli::Cli::command(), "rune", &mut code);
    compare(
        "## rune command line",
        &code,
        &documented(&doc(), "rune command line", true),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_verdictd_flag_is_documented() {
    let mut code = BTreeMap::new();
    clap_names(&verdictd::cli::Cli::command(), "verdictd", &mut code);
    compare(
        "## verdictd command line",
        &code,
        &documented(&doc(), "verdictd command line", true),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_epm_flag_is_documented() {
    let mut code = BTreeMap::new();
    clap_names(&epm::cli::Cli::command(), "epm", &mut code);
    compare(
        "## epm command line",
        &code,
        &documented(&doc(), "epm command line", true),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The shim's flags are containerd's shim protocol, parsed by the containerd-shim crate with
/// go-style single-dash flags: each documented flag must parse, and the parser must refuse a
/// flag that is not there (so this check would notice the parser going lenient).
#[test]
fn documented_shim_flags_are_the_ones_containerd_shim_parses() {
    let flags = documented(&doc(), "containerd-shim-rune-v2 command line", true);
    let flags: Vec<String> = flags
        .iter()
        .filter_map(|f| f.strip_prefix("containerd-shim-rune-v2 "))
        .map(str::to_owned)
        .collect();
    for expected in [
        "-namespace",
        "-id",
        "-address",
        "-publish-binary",
        "-bundle",
        "-v",
    ] {
        assert!(
            flags.iter().any(|f| f == expected),
            "{expected} is not documented"
        );
    }
    for flag in &flags {
        if !flag.starts_with('-') {
            continue; // the actions, start and delete
        }
        let boolean = ["-debug", "-v", "-version", "-info"].contains(&flag.as_str());
        let args: Vec<&str> = if boolean {
            vec![flag]
        } else {
            vec![flag, "value"]
        };
        containerd_shim::parse(&args)
            .unwrap_or_else(|e| panic!("documented shim flag {flag} does not parse: {e}"));
    }
    assert!(containerd_shim::parse(&["-no-such-flag"]).is_err());
}

// ---- config files ----------------------------------------------------------------------------

/// Collects the dotted key paths a `Deserialize` type accepts by driving it with a deserializer
/// that answers every struct with its field list and every map with one `<name>` key.
struct Keys<'a> {
    prefix: String,
    out: &'a mut BTreeSet<String>,
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("introspection done")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for Keys<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        // A leaf value: the key path itself is what we wanted.
        self.out.insert(self.prefix);
        Err(Stop)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        for field in fields {
            let prefix = if self.prefix.is_empty() {
                (*field).to_owned()
            } else {
                format!("{}.{field}", self.prefix)
            };
            self.out.insert(prefix);
        }
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// The top-level keys of `T` (one level: nested tables are listed by their own types).
fn keys<'de, T: serde::Deserialize<'de>>(prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let _ = T::deserialize(Keys {
        prefix: prefix.to_owned(),
        out: &mut out,
    });
    out
}

fn node_config_keys() -> BTreeMap<String, String> {
    let mut code = BTreeMap::new();
    let top = keys::<rune::config::NodeConfig>("");
    assert_eq!(
        top,
        BTreeSet::from(["enclave_runtime", "epm", "verdictd"].map(String::from)),
        "NodeConfig grew a table: teach this test its type"
    );
    let mut add = |keys: BTreeSet<String>| {
        for key in keys {
            let row =
                format!("under `### /etc/inclavare-containers/config.toml`: | `{key}` | ... |");
            code.insert(key, row);
        }
    };
    add(keys::<rune::config::EnclaveRuntimeEntry>(
        "enclave_runtime.<name>",
    ));
    add(keys::<rune::config::EpmConfig>("epm"));
    add(keys::<rune::config::VerdictdConfig>("verdictd"));
    code
}

#[test]
fn every_config_key_is_documented() {
    let doc = doc();
    let documented_keys = documented(&doc, "Configuration files", true);
    const NODE: &str = "/etc/inclavare-containers/config.toml";
    const VERDICTD: &str = "/etc/inclavare-containers/verdictd.toml";
    let mut code: BTreeMap<String, String> = node_config_keys()
        .into_iter()
        .map(|(k, v)| (format!("{NODE} {k}"), v))
        .collect();
    for file in [NODE, VERDICTD] {
        code.insert(file.to_owned(), format!("a heading `### `{file}``"));
    }
    for key in keys::<verdictd::config::FileConfig>("") {
        code.insert(
            format!("{VERDICTD} {key}"),
            format!("under `### {VERDICTD}`: | `{key}` | ... |"),
        );
    }
    compare("## Configuration files", &code, &documented_keys).unwrap_or_else(|e| panic!("{e}"));
}

/// The introspection itself: a struct with a nested table and an optional field.
#[test]
fn key_introspection_sees_every_field() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        a: u32,
        b: Option<String>,
    }
    assert_eq!(
        keys::<Inner>("t"),
        BTreeSet::from(["t.a".to_owned(), "t.b".to_owned()])
    );
    assert!(keys::<verdictd::config::FileConfig>("").contains("max_body_bytes"));
}

/// The packaged config files use only documented keys (they are parsed by the real loaders).
#[test]
fn packaged_config_files_parse() {
    let dir = workspace().join("packaging/etc/inclavare-containers");
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    rune::config::NodeConfig::parse(&text, &path).unwrap();
    verdictd::config::FileConfig::load(&dir.join("verdictd.toml")).unwrap();
}

/// Every binary in the workspace has its command line checked above: a new daemon (epm, say)
/// fails here until its flags are documented and a test like `every_verdictd_flag_is_documented`
/// covers it.
#[test]
fn every_binary_has_a_documented_command_line() {
    const COVERED: [&str; 4] = ["rune", "verdictd", "epm", "containerd-shim-rune-v2"];
    let mut binaries = Vec::new();
    for entry in std::fs::read_dir(workspace().join("crates"))
        .unwrap()
        .flatten()
    {
        let Ok(manifest) = std::fs::read_to_string(entry.path().join("Cargo.toml")) else {
            continue;
        };
        let mut section = "";
        let mut package = None;
        let mut bins = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
                continue;
            }
            let Some(value) = line
                .strip_prefix("name")
                .map(|rest| rest.trim_start())
                .and_then(|rest| rest.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_owned())
            else {
                continue;
            };
            match section {
                "[package]" => package = Some(value),
                "[[bin]]" => bins.push(value),
                _ => {}
            }
        }
        if bins.is_empty() && entry.path().join("src/main.rs").exists() {
            bins.extend(package);
        }
        binaries.extend(bins);
    }
    assert!(binaries.iter().any(|b| b == "rune"), "{binaries:?}");
    let uncovered: Vec<_> = binaries
        .iter()
        .filter(|b| !COVERED.contains(&b.as_str()))
        .collect();
    assert!(
        uncovered.is_empty(),
        "binaries without a documented, checked command line: {uncovered:?}: add a `## <binary> \
         command line` section to docs/configuration.md and a flag test to {}",
        file!()
    );
}
