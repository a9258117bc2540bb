//! YAML paths as diagnostics show them (`spec.releases[2].chart.version`) and how to find the
//! place in the file a path names.
//!
//! The semantic pass only writes paths; positions are looked up from the located tree when a
//! problem is reported, so validating a clean plan builds no path→position map at all.

use super::yaml::{Node, NodeKind, Pos};

/// Appends `.key` (or `["odd key"]` when the key is not a plain identifier, e.g. a label
/// `app.kubernetes.io/name`) to a path.
pub fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&format!("{key:?}"));
        path.push(']');
    }
}

pub fn push_index(path: &mut String, i: usize) {
    path.push('[');
    path.push_str(&i.to_string());
    path.push(']');
}

#[derive(Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("[\"") {
            // A quoted key: read up to the closing `"]`, honouring `\"` escapes.
            let mut key = String::new();
            let mut chars = r.char_indices();
            let mut end = r.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            key.push(n);
                        }
                    }
                    '"' => {
                        end = (i + 2).min(r.len());
                        break;
                    }
                    _ => key.push(c),
                }
            }
            segs.push(Seg::Key(key));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').unwrap_or(r.len());
            match r[..close].parse() {
                Ok(i) => segs.push(Seg::Index(i)),
                Err(_) => return segs,
            }
            rest = r.get(close + 1..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segs.push(Seg::Key(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    segs
}

/// Where `path` is in the file. A scalar points at its value; a mapping or list value points at
/// its key (`traffic:`), which is where an author looks. A path that does not exist (a missing
/// field) points at the key of the deepest part that does.
pub fn locate(root: &Node, path: &str) -> Pos {
    let mut node = root;
    let mut key_pos: Option<Pos> = None;
    for seg in segments(path) {
        let next = match (&node.kind, &seg) {
            (NodeKind::Map(entries), Seg::Key(k)) => entries
                .iter()
                .find(|e| &e.key == k)
                .map(|e| (e.key_pos, &e.value)),
            (NodeKind::Seq(items), Seg::Index(i)) => items.get(*i).map(|n| (n.pos, n)),
            _ => None,
        };
        match next {
            Some((kp, child)) => {
                key_pos = Some(kp);
                node = child;
            }
            None => return key_pos.unwrap_or(node.pos),
        }
    }
    match (&node.kind, key_pos) {
        (NodeKind::Map(_) | NodeKind::Seq(_), Some(kp)) => kp,
        _ => node.pos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::yaml;

    #[test]
    fn paths_round_trip_through_segments() {
        let mut p = String::new();
        push_key(&mut p, "spec");
        push_key(&mut p, "releases");
        push_index(&mut p, 2);
        push_key(&mut p, "labels");
        push_key(&mut p, "app.kubernetes.io/name");
        assert_eq!(p, r#"spec.releases[2].labels["app.kubernetes.io/name"]"#);
        assert_eq!(
            segments(&p),
            vec![
                Seg::Key("spec".into()),
                Seg::Key("releases".into()),
                Seg::Index(2),
                Seg::Key("labels".into()),
                Seg::Key("app.kubernetes.io/name".into())
            ]
        );
    }

    #[test]
    fn locates_values_keys_and_missing_fields() {
        let root = yaml::parse("spec:\n  releases:\n    - name: a\n      chart: {version: ^1}\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            locate(&root, "spec.releases[0].chart.version"),
            Pos {
                line: 4,
                column: 24
            }
        );
        assert_eq!(locate(&root, "spec.releases"), Pos { line: 2, column: 3 });
        assert_eq!(
            locate(&root, "spec.releases[0]"),
            Pos { line: 3, column: 7 }
        );
        // Missing: the deepest existing key.
        assert_eq!(locate(&root, "spec.ttl"), Pos { line: 1, column: 1 });
        assert_eq!(
            locate(&root, "spec.releases[0].needs[0]"),
            Pos { line: 3, column: 7 }
        );
    }
}
