//! The located YAML tree: saphyr-parser events → [`Node`]s that remember where they came from.
//!
//! serde-based YAML crates lose positions once a value is deserialized; plan diagnostics need a
//! line and column for every problem, so we build our own small tree and resolve scalars ourselves
//! with the YAML 1.2 core schema (`true`, `42`, `1.5`, `null`/`~` when plain; quoted = string).
//!
//! Decisions a plan author may notice:
//! - Duplicate keys are errors (the first one is kept so later passes still see a value).
//! - Anchors and aliases are supported (plans reuse value blocks), bounded by a node budget so
//!   an alias bomb is refused with a message instead of exhausting memory. Merge keys (`<<`) are
//!   not YAML 1.2 and are reported by the structural pass like any unknown field.
//! - Only the core tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq` are
//!   accepted; any other tag is an error, because nothing downstream would honour it.
//! - A stream with more than one document is an error at the second document.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// A 1-based line and column (columns count characters, as editors do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A problem found while reading YAML, before anything about plans is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Map(Vec<Entry>),
    Seq(Vec<Node>),
    Scalar(Scalar),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// A scalar as written, plus what the core schema resolves it to.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The text as written (after YAML unescaping), kept for messages such as `1.30 is a number`.
    pub text: String,
    pub value: ScalarValue,
    /// Whether the author quoted it (or used a block scalar); quoted scalars are always strings.
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    Str,
    Bool(bool),
    Int(i128),
    Float(f64),
}

impl Node {
    /// The entry for `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// A short description of what was found, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Map(_) => "a mapping".into(),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Null => "nothing".into(),
            NodeKind::Scalar(s) => match s.value {
                ScalarValue::Str => format!("{:?}", s.text),
                _ => s.text.clone(),
            },
        }
    }
}

/// Total nodes an alias may expand to before the document is refused (an alias bomb otherwise
/// grows exponentially). A 500-release plan is a few tens of thousands of nodes.
const NODE_BUDGET: usize = 2_000_000;

/// Parses one YAML document. `Ok(None)` means the stream holds no document at all (empty file or
/// only comments); the caller words that message because it knows what a plan should start with.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder {
        anchors: HashMap::new(),
        nodes: 0,
    };
    let mut events = Parser::new_from_str(text).peekable();
    let mut root = None;
    while let Some(item) = events.next() {
        let (event, span) = item.map_err(scan_error)?;
        match event {
            Event::DocumentStart(_) => {
                if root.is_some() {
                    return Err(YamlError {
                        pos: Pos::from_span(&span),
                        message: "a plan file holds one YAML document; remove this second one (or the `---` separator)".into(),
                    });
                }
                let first = next_event(&mut events)?;
                root = Some(builder.node(first, &mut events)?);
            }
            Event::StreamEnd => break,
            _ => {}
        }
    }
    Ok(root)
}

type Events<'a> = std::iter::Peekable<Parser<'a, saphyr_parser::StrInput<'a>>>;

fn scan_error(e: saphyr_parser::ScanError) -> YamlError {
    let info = e.info();
    YamlError {
        pos: Pos {
            line: e.marker().line(),
            column: e.marker().col() + 1,
        },
        message: format!("invalid YAML: {info}"),
    }
}

fn next_event<'a>(events: &mut Events<'a>) -> Result<(Event<'a>, Span), YamlError> {
    match events.next() {
        Some(item) => item.map_err(scan_error),
        // saphyr always ends with StreamEnd or an error; running dry means a truncated stream.
        None => Err(YamlError {
            pos: Pos::default(),
            message: "invalid YAML: unexpected end of input".into(),
        }),
    }
}

struct Builder {
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

impl Builder {
    fn count(&mut self, n: usize, pos: Pos) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > NODE_BUDGET {
            return Err(YamlError {
                pos,
                message: format!(
                    "the document expands to more than {NODE_BUDGET} nodes (aliases nested too deeply?)"
                ),
            });
        }
        Ok(())
    }

    fn node<'a>(
        &mut self,
        first: (Event<'a>, Span),
        events: &mut Events<'a>,
    ) -> Result<Node, YamlError> {
        let (event, span) = first;
        let pos = Pos::from_span(&span);
        self.count(1, pos)?;
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                (scalar(&text, style, tag.as_deref(), pos)?, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq", pos)?;
                let mut items = Vec::new();
                loop {
                    let ev = next_event(events)?;
                    if matches!(ev.0, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, events)?);
                }
                (
                    Node {
                        kind: NodeKind::Seq(items),
                        pos,
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map", pos)?;
                (self.mapping(pos, events)?, anchor)
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(YamlError {
                        pos,
                        message: "alias refers to an unknown anchor".into(),
                    });
                };
                let mut node = target.clone();
                self.count(size(&node), pos)?;
                // Point at the alias: that is where the author used the value.
                node.pos = pos;
                return Ok(node);
            }
            other => {
                return Err(YamlError {
                    pos,
                    message: format!("invalid YAML: unexpected {other:?}"),
                });
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping<'a>(&mut self, pos: Pos, events: &mut Events<'a>) -> Result<Node, YamlError> {
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            let (event, span) = next_event(events)?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let key_pos = Pos::from_span(&span);
            let key_node = self.node((event, span), events)?;
            let key = match key_node.kind {
                NodeKind::Scalar(s) => s.text,
                NodeKind::Null => String::new(),
                _ => {
                    return Err(YamlError {
                        pos: key_pos,
                        message: "a mapping key must be a plain value, not a list or mapping"
                            .into(),
                    });
                }
            };
            let first = next_event(events)?;
            let value = self.node(first, events)?;
            if let Some(prev) = entries.iter().find(|e| e.key == key) {
                return Err(YamlError {
                    pos: key_pos,
                    message: format!(
                        "duplicate key {key:?} (first at line {}); remove one of them",
                        prev.key_pos.line
                    ),
                });
            }
            entries.push(Entry {
                key,
                key_pos,
                value,
            });
        }
        Ok(Node {
            kind: NodeKind::Map(entries),
            pos,
        })
    }
}

fn size(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Map(entries) => 1 + entries.iter().map(|e| 1 + size(&e.value)).sum::<usize>(),
        NodeKind::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        _ => 1,
    }
}

const CORE: &str = "tag:yaml.org,2002:";

fn check_collection_tag(tag: Option<&Tag>, want: &str, pos: Pos) -> Result<(), YamlError> {
    match tag {
        None => Ok(()),
        Some(t) if t.handle == CORE && t.suffix == want => Ok(()),
        Some(t) => Err(unsupported_tag(t, pos)),
    }
}

fn unsupported_tag(t: &Tag, pos: Pos) -> YamlError {
    let shown = if t.handle == CORE {
        format!("!!{}", t.suffix)
    } else {
        format!("{}{}", t.handle, t.suffix)
    };
    YamlError {
        pos,
        message: format!("the YAML tag {shown} is not supported here; remove it"),
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>, pos: Pos) -> Result<Node, YamlError> {
    let quoted = !matches!(style, ScalarStyle::Plain);
    let resolved = match tag {
        None if quoted => Some(ScalarValue::Str),
        None => resolve_plain(text),
        Some(t) if t.handle == CORE => match t.suffix.as_str() {
            "str" => Some(ScalarValue::Str),
            "null" => None,
            "bool" | "int" | "float" => {
                let r = resolve_plain(text);
                let ok = matches!(
                    (t.suffix.as_str(), &r),
                    ("bool", Some(ScalarValue::Bool(_)))
                        | ("int", Some(ScalarValue::Int(_)))
                        | ("float", Some(ScalarValue::Float(_) | ScalarValue::Int(_)))
                );
                if !ok {
                    return Err(YamlError {
                        pos,
                        message: format!("{text:?} is not a valid !!{}", t.suffix),
                    });
                }
                match r {
                    Some(ScalarValue::Int(i)) if t.suffix == "float" => {
                        Some(ScalarValue::Float(i as f64))
                    }
                    other => other,
                }
            }
            _ => return Err(unsupported_tag(t, pos)),
        },
        Some(t) => return Err(unsupported_tag(t, pos)),
    };
    let kind = match resolved {
        None => NodeKind::Null,
        Some(value) => NodeKind::Scalar(Scalar {
            text: text.to_owned(),
            value,
            quoted,
        }),
    };
    Ok(Node { kind, pos })
}

/// YAML 1.2 core schema resolution of a plain scalar; `None` is null.
pub fn resolve_plain(text: &str) -> Option<ScalarValue> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return None,
        "true" | "True" | "TRUE" => return Some(ScalarValue::Bool(true)),
        "false" | "False" | "FALSE" => return Some(ScalarValue::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Some(ScalarValue::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Some(ScalarValue::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(ScalarValue::Float(f64::NAN)),
        _ => {}
    }
    if let Some(i) = resolve_int(text) {
        return Some(ScalarValue::Int(i));
    }
    if is_core_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Some(ScalarValue::Float(f));
    }
    Some(ScalarValue::Str)
}

fn resolve_int(text: &str) -> Option<i128> {
    if let Some(oct) = text.strip_prefix("0o") {
        return (!oct.is_empty())
            .then(|| i128::from_str_radix(oct, 8).ok())
            .flatten();
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return (!hex.is_empty())
            .then(|| i128::from_str_radix(hex, 16).ok())
            .flatten();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Absurdly long integers still resolve as numbers (out of range later), not as strings.
    Some(text.parse::<i128>().unwrap_or(if text.starts_with('-') {
        i128::MIN
    } else {
        i128::MAX
    }))
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(text: &str) -> bool {
    let b = text.strip_prefix(['-', '+']).unwrap_or(text).as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = count_digits(&b[i..]);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).unwrap().unwrap()
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve_plain("true"), Some(ScalarValue::Bool(true)));
        assert_eq!(resolve_plain("42"), Some(ScalarValue::Int(42)));
        assert_eq!(resolve_plain("0x1F"), Some(ScalarValue::Int(31)));
        assert_eq!(resolve_plain("1.30"), Some(ScalarValue::Float(1.3)));
        assert_eq!(resolve_plain("~"), None);
        // YAML 1.1 booleans are plain strings in 1.2.
        assert_eq!(resolve_plain("yes"), Some(ScalarValue::Str));
        assert_eq!(resolve_plain("4.11.3"), Some(ScalarValue::Str));
        assert_eq!(resolve_plain("1e3"), Some(ScalarValue::Float(1000.0)));
        assert_eq!(resolve_plain("."), Some(ScalarValue::Str));
    }

    #[test]
    fn quoted_scalars_are_strings_and_positions_are_one_based() {
        let n = root("a: \"1.30\"\nb:\n  - 7\n");
        let a = n.get("a").unwrap();
        assert_eq!(a.key_pos, Pos { line: 1, column: 1 });
        assert_eq!(a.value.pos, Pos { line: 1, column: 4 });
        assert!(
            matches!(&a.value.kind, NodeKind::Scalar(s) if s.value == ScalarValue::Str && s.quoted)
        );
        let b = n.get("b").unwrap();
        let NodeKind::Seq(items) = &b.value.kind else {
            panic!("not a seq")
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
    }

    #[test]
    fn duplicate_keys_are_located_errors() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, column: 1 });
        assert!(
            err.message
                .contains("duplicate key \"a\" (first at line 1)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn aliases_expand_and_bombs_are_refused() {
        let n = root("a: &x {k: v}\nb: *x\n");
        assert_eq!(
            n.get("b").unwrap().value.get("k").unwrap().value.describe(),
            "\"v\""
        );
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        assert!(
            parse(&bomb)
                .unwrap_err()
                .message
                .contains("expands to more than")
        );
    }

    #[test]
    fn documents_tags_and_emptiness() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# just a comment\n").unwrap(), None);
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(
            parse("a: !custom x\n")
                .unwrap_err()
                .message
                .contains("!custom")
        );
        let n = root("a: !!str 1.5\n");
        assert!(
            matches!(&n.get("a").unwrap().value.kind, NodeKind::Scalar(s) if s.value == ScalarValue::Str)
        );
        let err = parse("a: [1, 2\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert_eq!(err.pos.line, 2);
    }
}
