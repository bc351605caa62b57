//! What travels with the `schedfleet` binary, whatever built it: the static
//! agent it pushes (embedded, named with its digest by `--version`; an
//! explicit dynamic one refused), the files a package ships beside it
//! (completions, man pages), and the JSON Schemas of its outputs, committed
//! in `docs/schema/output/` and documented field by field in
//! `docs/output.md`.

use std::collections::BTreeSet;

use crate::support::repo::ConfigRepo;
use crate::support::{agent_binary, property_names, run, schedfleet, sha256_hex, stderr, stdout, workspace_root};

const OUTPUTS: [&str; 7] = ["plan", "apply", "apply-dry-run", "rollback", "status", "drift", "lab-status"];

const REGENERATE: &str = "for o in plan apply apply-dry-run rollback status drift lab-status; do \
     schedfleet schema $o > docs/schema/output/$o.schema.json; done";

#[test]
fn version_names_the_embedded_agent_which_is_static() {
    let out = run(schedfleet().arg("--version"));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let digest = text.split_once("sha256:").map(|(_, d)| d.trim()).expect("--version names the agent's sha256");
    let bytes = std::fs::read(agent_binary()).unwrap();
    assert_eq!(digest, sha256_hex(&bytes), "--version names the bytes `generate agent` writes");
    assert!(
        text.starts_with(&format!(
            "schedfleet {}\nagent: schedfleet-agent {}",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    let file = run(std::process::Command::new("file").arg("-L").arg(agent_binary()));
    assert!(
        stdout(&file).contains("statically linked") || stdout(&file).contains("static-pie linked"),
        "{}",
        stdout(&file)
    );
}

#[test]
fn an_explicit_dynamic_agent_is_refused_with_exit_2() {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", "hosts:\n  lab-1: { address: 127.0.0.1, port: 1 }\n");
    repo.commit("an unreachable host");
    // Any test binary is dynamically linked; so is this debug `schedfleet`.
    let dynamic = env!("CARGO_BIN_EXE_schedfleet");
    let by_flag = run(schedfleet().arg("apply").arg("--repo").arg(repo.path()).args(["--yes", "--agent", dynamic]));
    let by_env =
        run(schedfleet().arg("apply").arg("--repo").arg(repo.path()).arg("--yes").env("SCHEDFLEET_AGENT", dynamic));
    for out in [by_flag, by_env] {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("is dynamically linked") && err.contains(dynamic), "{err}");
        assert!(!err.contains("127.0.0.1"), "refused before any host was contacted: {err}");
    }
}

#[test]
fn outputs_about_an_unreachable_host_conform_to_their_schemas() {
    // Real outputs without a lab: every command reports the host it could
    // not reach (127.0.0.1 port 1) in its documented shape, and exits 4.
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", "hosts:\n  lab-1: { address: 127.0.0.1, port: 1 }\n");
    repo.commit("an unreachable host");
    for (name, args) in [
        ("plan", &["plan", "--json"][..]),
        ("apply-dry-run", &["apply", "--dry-run", "--json"][..]),
        ("apply", &["apply", "--yes", "--json"][..]),
        ("status", &["status", "--json", "--latency-window", "0s"][..]),
        ("drift", &["drift", "--format", "json"][..]),
        ("rollback", &["rollback", "--previous", "--yes", "--json"][..]),
    ] {
        let out = run(schedfleet().args(&args[..1]).arg("--repo").arg(repo.path()).args(&args[1..]));
        assert_eq!(out.status.code(), Some(4), "{name}: {}", stderr(&out));
        let value = crate::support::json(&out);
        crate::support::output::assert_conforms(name, &value);
        assert!(value.to_string().contains("lab-1"), "{name}: {value}");
    }
}

#[test]
fn completions_and_man_pages_are_generated_from_the_clap_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(schedfleet().args(["generate", "completions"]).arg(dir.path().join("completions")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(schedfleet().args(["generate", "man"]).arg(dir.path().join("man")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for (file, needle) in [
        ("completions/schedfleet.bash", "--dry-run"),
        ("completions/_schedfleet", "--dry-run"),
        ("completions/schedfleet.fish", "dry-run"),
        ("man/schedfleet.1", ".TH schedfleet"),
        ("man/schedfleet-apply.1", "\\-\\-dry\\-run"),
        ("man/schedfleet-lab-up.1", "\\-\\-hosts"),
    ] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(needle), "{file} lacks `{needle}`");
    }
    assert!(!dir.path().join("man/schedfleet-generate.1").exists(), "the hidden packaging command has no page");
}

#[test]
fn committed_output_schemas_match_the_binary() {
    for name in OUTPUTS {
        let path = workspace_root().join(format!("docs/schema/output/{name}.schema.json"));
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}; regenerate the schemas:\n  {REGENERATE}", path.display()));
        let out = run(schedfleet().args(["schema", name]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            committed == stdout(&out),
            "docs/schema/output/{name}.schema.json differs from `schedfleet schema {name}`; regenerate the schemas \
             from the workspace root:\n  {REGENERATE}"
        );
        // Each is a schema an independent validator accepts.
        let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn output_reference_names_every_field_of_every_output() {
    let reference = std::fs::read_to_string(workspace_root().join("docs/output.md")).unwrap();
    let mut missing = Vec::new();
    for name in OUTPUTS {
        // Each output has its own section, which names each of its fields.
        let heading = format!("## `{name}`");
        let section = reference
            .split_once(&heading)
            .unwrap_or_else(|| panic!("docs/output.md lacks a `{heading}` section"))
            .1
            .split("\n## ")
            .next()
            .unwrap();
        let out = run(schedfleet().args(["schema", name]));
        let mut names = BTreeSet::new();
        property_names(&serde_json::from_slice(&out.stdout).unwrap(), &mut names);
        assert!(!names.is_empty(), "{name}");
        // As `name`, or as a step of a path (`hosts[].action`, `current.ops`).
        let documented = |n: &str| {
            [format!("`{n}`"), format!(".{n}`"), format!("`{n}."), format!("`{n}[")].iter().any(|f| section.contains(f))
        };
        missing.extend(names.into_iter().filter(|n| !documented(n)).map(|n| format!("{name}: {n}")));
    }
    assert!(missing.is_empty(), "docs/output.md does not document these fields: {missing:#?}");
}
