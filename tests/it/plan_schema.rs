//! The committed editor schema (schema/plan.schema.json) is exactly what `cutover schema` prints,
//! and the example plans pass the structural pass that schema drives.
//!
//! After changing `src/plan/raw.rs`, regenerate it with:
//! `CUTOVER_BLESS=1 cargo test -p cutover --test plan_schema`

use std::path::Path;

const SCHEMA_FILE: &str = "schema/plan.schema.json";

fn rendered() -> String {
    let mut text =
        serde_json::to_string_pretty(&cutover::plan::json_schema()).expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn committed_schema_matches_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_FILE);
    if std::env::var_os("CUTOVER_BLESS").is_some() {
        std::fs::write(&path, rendered()).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).expect("schema/plan.schema.json exists");
    assert!(
        committed == rendered(),
        "{SCHEMA_FILE} is stale: regenerate it with `CUTOVER_BLESS=1 cargo test -p cutover --test plan_schema`"
    );
}

#[test]
fn schema_is_draft_07_and_closed() {
    let schema = cutover::plan::json_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["properties"]["apiVersion"]["const"],
        "cutover.dev/v1"
    );
    for required in ["apiVersion", "kind", "metadata", "spec"] {
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == required),
            "{required}"
        );
    }
}

#[test]
fn example_plans_pass_the_schema_driven_structural_pass() {
    for name in [
        "quarterly-upgrade.yaml",
        "dev-cluster.yaml",
        "dr-drill.yaml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("plans")
            .join(name);
        let text = std::fs::read_to_string(&path).expect("example plan exists");
        let problems = cutover::plan::check_structure(&path, &text);
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{name}:\n{}", shown.join("\n"));
    }
}

#[test]
fn every_field_the_schema_has_is_in_the_readmes_plan_reference() {
    fn names(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if k == "properties"
                        && let Some(props) = v.as_object()
                    {
                        out.extend(props.keys().cloned());
                    }
                    names(v, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| names(v, out)),
            _ => {}
        }
    }
    let schema = cutover::plan::json_schema();
    let mut fields = std::collections::BTreeSet::new();
    names(&schema, &mut fields);
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## Plan reference").expect("the README has a plan reference");
    let end = start + readme[start..].find("\n## ").expect("a section after it");
    let reference = &readme[start..end];
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| !reference.split(|c: char| !c.is_alphanumeric()).any(|word| word == f.as_str()))
        .collect();
    assert!(missing.is_empty(), "fields of the schema missing from README's plan reference: {missing:?}");
}
