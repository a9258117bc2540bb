//! The structural pass: walk the located tree against the plan's JSON Schema (generated from
//! `raw`), report every unknown field, wrong type and missing field with its place, and build the
//! JSON value that serde then turns into `raw::RawPlan`.
//!
//! A small walker of our own rather than a JSON-Schema crate: it only needs the keywords schemars
//! emits (`type`, `properties`, `required`, `additionalProperties`, `items`, `$ref`, `enum`,
//! `const`, `oneOf`/`anyOf`/`allOf`, `minimum`/`maximum`/`format`), and it must word messages for
//! YAML authors (`1.30 is a number; quote it: "1.30"`) and know positions, which generic
//! validators do not.
//!
//! Errors are *recoverable* when the value can still be built (an unknown field is skipped, a
//! number where text is expected keeps its text) so the semantic pass can run and report more;
//! *fatal* ones (missing fields, a list where a mapping belongs) stop before deserializing.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::path::{push_index, push_key};
use super::yaml::{Node, NodeKind, Pos, Scalar, ScalarValue};

/// One structural problem.
#[derive(Debug, Clone)]
pub struct Problem {
    pub pos: Pos,
    pub path: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub problems: Vec<Problem>,
    /// Set when the built value cannot be trusted to deserialize.
    pub fatal: bool,
}

/// The plan schema, generated once: draft-07 because yaml-language-server supports it fully.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let generator = schemars::generate::SchemaSettings::draft07().into_generator();
        generator
            .into_root_schema_for::<super::raw::RawPlan>()
            .to_value()
    })
}

/// Checks `node` against the plan schema; returns the JSON to deserialize and what was wrong.
pub fn check(node: &Node) -> (Value, Outcome) {
    let root = schema();
    let walker = Walker { root };
    let mut out = Outcome::default();
    let mut path = String::new();
    let value = walker.walk(root, node, &mut path, &mut out);
    (value, out)
}

struct Walker<'s> {
    root: &'s Value,
}

impl<'s> Walker<'s> {
    /// [`shape_matches`], looking through nested alternatives (an optional `anyOf` of `anyOf`s,
    /// such as `releases`: a list or `{lock: FILE}`).
    fn matches_shape(&self, schema: &'s Value, node: &Node) -> bool {
        match schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
            Some(alts) => alts.iter().any(|a| self.matches_shape(self.resolve(a), node)),
            None => shape_matches(schema, node),
        }
    }

    fn resolve(&self, schema: &'s Value) -> &'s Value {
        let mut s = schema;
        // Follow `$ref` chains and single-element `allOf` wrappers schemars uses for described refs.
        for _ in 0..16 {
            if let Some(r) = s.get("$ref").and_then(Value::as_str) {
                let pointer = r.trim_start_matches('#');
                match self.root.pointer(pointer) {
                    Some(target) => s = target,
                    None => return s,
                }
            } else if let Some([only]) = s.get("allOf").and_then(Value::as_array).map(Vec::as_slice)
            {
                s = only;
            } else {
                return s;
            }
        }
        s
    }

    fn walk(&self, schema: &'s Value, node: &Node, path: &mut String, out: &mut Outcome) -> Value {
        let schema = self.resolve(schema);
        match schema {
            Value::Bool(true) => return any_value(node, path, out),
            Value::Bool(false) => {
                fail(
                    out,
                    node.pos,
                    path,
                    "is not allowed here; remove it".into(),
                    true,
                );
                return Value::Null;
            }
            _ => {}
        }
        if let Some(alts) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            return self.alternatives(alts, node, path, out);
        }
        let types = types_of(schema);
        let value = match &node.kind {
            NodeKind::Null => {
                if types.is_empty() || types.contains(&"null") {
                    Value::Null
                } else {
                    fail(
                        out,
                        node.pos,
                        path,
                        format!("has no value; {}", expected_phrase(&types, schema)),
                        true,
                    );
                    Value::Null
                }
            }
            NodeKind::Map(_) if types.is_empty() || types.contains(&"object") => {
                self.object(schema, node, path, out)
            }
            NodeKind::Seq(items) if types.is_empty() || types.contains(&"array") => {
                let item_schema = schema.get("items").unwrap_or(&Value::Bool(true));
                let mut arr = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    push_index(path, i);
                    arr.push(self.walk(item_schema, item, path, out));
                    path.truncate(len);
                }
                Value::Array(arr)
            }
            NodeKind::Scalar(s)
                if !types
                    .iter()
                    .all(|t| matches!(*t, "object" | "array" | "null"))
                    || types.is_empty() =>
            {
                scalar_value(s, &types, node.pos, path, out)
            }
            _ => {
                let msg = mismatch(node, &types, schema);
                fail(out, node.pos, path, msg, true);
                Value::Null
            }
        };
        if !value.is_null() || matches!(node.kind, NodeKind::Scalar(_)) {
            check_enum(schema, &value, node, path, out);
            check_bounds(schema, &value, node, path, out);
        }
        value
    }

    fn object(
        &self,
        schema: &'s Value,
        node: &Node,
        path: &mut String,
        out: &mut Outcome,
    ) -> Value {
        let NodeKind::Map(entries) = &node.kind else {
            unreachable!("object() is only called on maps")
        };
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let mut map = Map::with_capacity(entries.len());
        // Fields a misspelt key was matched to: "did you mean `x`?" already says `x` is missing.
        let mut suggested: Vec<&str> = Vec::new();
        for entry in entries {
            let len = path.len();
            push_key(path, &entry.key);
            let field_schema = props.and_then(|p| p.get(&entry.key)).or(match additional {
                Some(Value::Bool(false)) => None,
                Some(s) => Some(s),
                // Without `additionalProperties`, JSON Schema allows anything.
                None => Some(&Value::Bool(true)),
            });
            match field_schema {
                Some(fs) => {
                    let v = self.walk(fs, &entry.value, path, out);
                    map.insert(entry.key.clone(), v);
                }
                None => {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    suggested.extend(closest(&entry.key, known.iter().copied()));
                    fail(
                        out,
                        entry.key_pos,
                        path,
                        unknown_field(&entry.key, &known),
                        false,
                    );
                }
            }
            path.truncate(len);
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !entries.iter().any(|e| e.key == name) {
                    if suggested.contains(&name) {
                        out.fatal = true;
                        continue;
                    }
                    let msg = format!("missing required field `{name}`");
                    fail(out, node.pos, path, msg, true);
                }
            }
        }
        Value::Object(map)
    }

    fn alternatives(
        &self,
        alts: &'s [Value],
        node: &Node,
        path: &mut String,
        out: &mut Outcome,
    ) -> Value {
        let mut attempts = Vec::with_capacity(alts.len());
        for alt in alts {
            let mut trial = Outcome::default();
            let v = self.walk(alt, node, path, &mut trial);
            if trial.problems.is_empty() {
                return v;
            }
            attempts.push((self.resolve(alt), v, trial));
        }
        // All alternatives are constants (an enum with documented variants): list them.
        let consts: Option<Vec<Vec<String>>> =
            attempts.iter().map(|(s, _, _)| const_values(s)).collect();
        if let Some(consts) = consts.map(|c| c.concat()) {
            let msg = format!("{} is not one of: {}", node.describe(), consts.join(", "));
            fail(out, node.pos, path, msg, true);
            return Value::Null;
        }
        // Otherwise report the alternative shaped like what was written (a string vs a mapping).
        let matching: Vec<_> = attempts
            .into_iter()
            .filter(|(s, _, _)| self.matches_shape(s, node))
            .collect();
        if let [_] = matching.as_slice() {
            let (_, v, trial) = matching.into_iter().next().expect("one element");
            out.fatal |= trial.fatal;
            out.problems.extend(trial.problems);
            return v;
        }
        let wanted: Vec<String> = alts
            .iter()
            .map(|a| describe_schema(self.resolve(a)))
            .collect();
        fail(
            out,
            node.pos,
            path,
            format!(
                "expected {}, found {}",
                wanted.join(" or "),
                node.describe()
            ),
            true,
        );
        Value::Null
    }
}

fn fail(out: &mut Outcome, pos: Pos, path: &str, message: String, fatal: bool) {
    out.fatal |= fatal;
    out.problems.push(Problem {
        pos,
        path: path.to_owned(),
        message,
    });
}

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn const_values(schema: &Value) -> Option<Vec<String>> {
    if let Some(c) = schema.get("const") {
        return Some(vec![show(c)]);
    }
    schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|e| e.iter().map(show).collect())
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn shape_matches(schema: &Value, node: &Node) -> bool {
    let types = types_of(schema);
    match &node.kind {
        NodeKind::Map(_) => types.contains(&"object"),
        NodeKind::Seq(_) => types.contains(&"array"),
        NodeKind::Null => types.contains(&"null"),
        NodeKind::Scalar(_) => types
            .iter()
            .any(|t| matches!(*t, "string" | "integer" | "number" | "boolean")),
    }
}

fn describe_schema(schema: &Value) -> String {
    if let Some(c) = const_values(schema) {
        return c
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    let types = types_of(schema);
    if types.contains(&"object") {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            let keys: Vec<&str> = props.keys().map(String::as_str).collect();
            return format!("a mapping with {}", keys.join(", "));
        }
        return "a mapping".into();
    }
    expected_phrase(&types, schema)
        .trim_start_matches("give ")
        .to_owned()
}

fn expected_phrase(types: &[&str], schema: &Value) -> String {
    let t = types.iter().find(|t| **t != "null").copied().unwrap_or("");
    match t {
        "object" => "give a mapping of fields".into(),
        "array" => "give a list (use [] for none)".into(),
        "string" => match const_values(schema) {
            Some(c) => format!("give one of: {}", c.join(", ")),
            None => "give a text value".into(),
        },
        "integer" => "give a whole number".into(),
        "number" => "give a number".into(),
        "boolean" => "give true or false".into(),
        _ => "give a value".into(),
    }
}

fn mismatch(node: &Node, types: &[&str], schema: &Value) -> String {
    let want = types.iter().find(|t| **t != "null").copied().unwrap_or("");
    match (want, &node.kind) {
        ("array", NodeKind::Scalar(s)) => {
            format!(
                "expected a list, found {}; write it as a list: [{}]",
                node.describe(),
                s.text
            )
        }
        ("array", NodeKind::Map(_)) => {
            "expected a list, found a mapping; start each item with `- `".into()
        }
        ("object", _) => format!("expected a mapping of fields, found {}", node.describe()),
        _ => format!(
            "expected {}, found {}",
            expected_phrase(types, schema).trim_start_matches("give "),
            node.describe()
        ),
    }
}

/// Builds the JSON for a scalar the schema expects to be one of `types`. Prefers the author's
/// text when text is acceptable, so `1.30` keeps its trailing zero even while it is reported.
fn scalar_value(s: &Scalar, types: &[&str], pos: Pos, path: &str, out: &mut Outcome) -> Value {
    let accepts = |t: &str| types.is_empty() || types.contains(&t);
    match s.value {
        ScalarValue::Str if accepts("string") => return Value::String(s.text.clone()),
        ScalarValue::Bool(b) if accepts("boolean") => return Value::Bool(b),
        ScalarValue::Int(i) if accepts("integer") || accepts("number") => {
            return match int_value(i) {
                Some(v) => v,
                None => {
                    fail(out, pos, path, format!("{} is too large", s.text), true);
                    Value::Null
                }
            };
        }
        ScalarValue::Float(f) if accepts("number") => {
            return match serde_json::Number::from_f64(f) {
                Some(n) => Value::Number(n),
                None => {
                    fail(
                        out,
                        pos,
                        path,
                        format!("{} is not a finite number", s.text),
                        true,
                    );
                    Value::Null
                }
            };
        }
        _ => {}
    }
    if accepts("string") {
        // A number or boolean where text belongs: keep the text, report it, carry on.
        let what = match s.value {
            ScalarValue::Bool(_) => "a boolean",
            _ => "a number",
        };
        fail(
            out,
            pos,
            path,
            format!("{} is {what}; quote it: \"{}\"", s.text, s.text),
            false,
        );
        return Value::String(s.text.clone());
    }
    let msg = if accepts("integer") || accepts("number") {
        match (&s.value, s.quoted) {
            (ScalarValue::Float(_), _) => format!("{} is not a whole number", s.text),
            (ScalarValue::Str, true) if s.text.trim().parse::<i64>().is_ok() => {
                format!(
                    "{:?} is quoted text; write the number without quotes: {}",
                    s.text,
                    s.text.trim()
                )
            }
            _ => format!("{} is not a whole number", node_text(s)),
        }
    } else if accepts("boolean") {
        format!("{} is not a boolean; write true or false", node_text(s))
    } else {
        format!("expected {}, found {}", types.join(" or "), node_text(s))
    };
    fail(out, pos, path, msg, true);
    Value::Null
}

fn node_text(s: &Scalar) -> String {
    if s.quoted || s.value == ScalarValue::Str {
        format!("{:?}", s.text)
    } else {
        s.text.clone()
    }
}

fn int_value(i: i128) -> Option<Value> {
    if let Ok(v) = i64::try_from(i) {
        return Some(Value::from(v));
    }
    u64::try_from(i).ok().map(Value::from)
}

fn check_enum(schema: &Value, value: &Value, node: &Node, path: &str, out: &mut Outcome) {
    let Some(allowed) = const_values(schema) else {
        return;
    };
    let ok = match (
        schema.get("const"),
        schema.get("enum").and_then(Value::as_array),
    ) {
        (Some(c), _) => c == value,
        (None, Some(e)) => e.contains(value),
        _ => true,
    };
    if !ok && !value.is_null() {
        let mut msg = format!("{} is not one of: {}", node.describe(), allowed.join(", "));
        if let Value::String(s) = value
            && let Some(near) = closest(s, allowed.iter().map(String::as_str))
        {
            msg = format!(
                "{} is not one of: {}; did you mean {near}?",
                node.describe(),
                allowed.join(", ")
            );
        }
        fail(out, node.pos, path, msg, true);
    }
}

fn check_bounds(schema: &Value, value: &Value, node: &Node, path: &str, out: &mut Outcome) {
    let Some(n) = value.as_f64() else { return };
    if !value.is_number() {
        return;
    }
    let (fmin, fmax) = match schema.get("format").and_then(Value::as_str) {
        Some("uint8") => (Some(0.0), Some(255.0)),
        Some("uint16") => (Some(0.0), Some(65_535.0)),
        Some("uint32") => (Some(0.0), Some(4_294_967_295.0)),
        Some("int32") => (Some(-2_147_483_648.0), Some(2_147_483_647.0)),
        Some("uint64" | "uint") => (Some(0.0), None),
        _ => (None, None),
    };
    let min = schema.get("minimum").and_then(Value::as_f64).or(fmin);
    let max = schema.get("maximum").and_then(Value::as_f64).or(fmax);
    if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
        let range = match (min, max) {
            (Some(a), Some(b)) => format!("use a whole number from {a} to {b}"),
            (Some(a), None) => format!("use a whole number of at least {a}"),
            (None, Some(b)) => format!("use a whole number of at most {b}"),
            (None, None) => unreachable!("checked above"),
        };
        let text = match &node.kind {
            NodeKind::Scalar(s) => s.text.clone(),
            _ => value.to_string(),
        };
        fail(
            out,
            node.pos,
            path,
            format!("{text} is out of range; {range}"),
            true,
        );
    }
}

/// Free-form values (helm values): any YAML that maps onto JSON.
fn any_value(node: &Node, path: &mut String, out: &mut Outcome) -> Value {
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Scalar(s) => scalar_value(s, &[], node.pos, path, out),
        NodeKind::Seq(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let len = path.len();
                    push_index(path, i);
                    let v = any_value(item, path, out);
                    path.truncate(len);
                    v
                })
                .collect(),
        ),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|e| {
                    let len = path.len();
                    push_key(path, &e.key);
                    let v = any_value(&e.value, path, out);
                    path.truncate(len);
                    (e.key.clone(), v)
                })
                .collect(),
        ),
    }
}

fn unknown_field(key: &str, known: &[&str]) -> String {
    if key == "<<" {
        return "merge keys (`<<`) are not supported; write the fields out (anchors and aliases of whole values work)"
            .into();
    }
    if let Some(near) = closest(key, known.iter().copied()) {
        return format!("unknown field `{key}`; did you mean `{near}`?");
    }
    if known.is_empty() {
        return format!("unknown field `{key}`; this mapping takes no fields");
    }
    format!(
        "unknown field `{key}`; expected one of: {}",
        known.join(", ")
    )
}

/// The candidate within a small edit distance (case-insensitive), for "did you mean" hints.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: edits plus adjacent transpositions (`smoek` → `smoke` is 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}
