//! Editing a plan file's scalars in place, so a generated plan (`cutover next`) keeps the author's
//! comments, layout, key order and quoting: each edit names a value by its YAML path
//! (`spec.green.cluster`, `spec.green.addons[0].version`) and replaces exactly the characters of
//! that scalar, in the style it was written (plain, `"double"` or `'single'` quoted).

use super::yaml::{self, Node, NodeKind};

/// Replace the scalar at `path` with `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Where the scalar is (`spec.green.addons[0].version`).
    pub path: String,
    /// What it becomes (written in the quoting style it had).
    pub value: String,
}

/// The text with every edit applied; an edit whose path is not a scalar in the file is an error
/// naming it (nothing is half-applied: the input is left as it was).
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, String> {
    let root = yaml::parse(text)
        .map_err(|e| format!("{}:{}: {}", e.pos.line, e.pos.column, e.message))?
        .ok_or("the file is empty")?;
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    // Edits on one line are applied right to left, so earlier columns stay valid.
    let mut spans = Vec::new();
    for edit in edits {
        let node = find(&root, &edit.path).ok_or_else(|| format!("{} is not in the file", edit.path))?;
        let NodeKind::Scalar(_) = &node.kind else {
            return Err(format!("{} is not a single value", edit.path));
        };
        let line = lines.get(node.pos.line - 1).ok_or_else(|| format!("{}: no line {}", edit.path, node.pos.line))?;
        let (start, end, quote) = scalar_span(line, node.pos.column - 1)
            .ok_or_else(|| format!("{} at line {} is not written on one line", edit.path, node.pos.line))?;
        spans.push((node.pos.line - 1, start, end, quote, edit));
    }
    spans.sort_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
    for (line, start, end, quote, edit) in spans {
        let chars: Vec<char> = lines[line].chars().collect();
        let replaced = match quote {
            Some(q) => format!("{q}{}{q}", edit.value),
            None => edit.value.clone(),
        };
        lines[line] = chars[..start].iter().collect::<String>() + &replaced + &chars[end..].iter().collect::<String>();
    }
    Ok(lines.join("\n"))
}

/// The node at a path of keys and `[index]`es.
fn find<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = root;
    for part in path.split('.') {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            node = &node.get(key)?.value;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            let NodeKind::Seq(items) = &node.kind else { return None };
            node = items.get(i)?;
        }
    }
    Some(node)
}

/// The character span of the scalar starting at `col`, and its quote character if quoted.
fn scalar_span(line: &str, col: usize) -> Option<(usize, usize, Option<char>)> {
    let chars: Vec<char> = line.chars().collect();
    let first = *chars.get(col)?;
    if first == '"' || first == '\'' {
        let close = (col + 1..chars.len()).find(|&i| chars[i] == first && (first == '\'' || chars[i - 1] != '\\'))?;
        return Some((col, close + 1, Some(first)));
    }
    // A plain scalar ends at a comment, or in flow context at `,` `}` `]`; trailing spaces are not part of it.
    let mut end = col;
    while end < chars.len() {
        let c = chars[end];
        if c == ',' || c == '}' || c == ']' || (c == '#' && end > 0 && chars[end - 1] == ' ') {
            break;
        }
        end += 1;
    }
    while end > col && chars[end - 1] == ' ' {
        end -= 1;
    }
    (end > col).then_some((col, end, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(path: &str, value: &str) -> Edit {
        Edit { path: path.into(), value: value.into() }
    }

    #[test]
    fn scalars_change_and_comments_quotes_and_layout_stay() {
        let text = "spec:\n  blue: {cluster: payments-1-31}   # live\n  green:\n    cluster: payments-1-32\n    version: \"1.32\"  # quoted\n    addons:\n      - {name: vpc-cni, version: v1.19.0-eksbuild.1}\n";
        let out = apply(
            text,
            &[
                edit("spec.blue.cluster", "payments-1-32"),
                edit("spec.green.cluster", "payments-1-33"),
                edit("spec.green.version", "1.33"),
                edit("spec.green.addons[0].version", "v1.20.1-eksbuild.2"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "spec:\n  blue: {cluster: payments-1-32}   # live\n  green:\n    cluster: payments-1-33\n    version: \"1.33\"  # quoted\n    addons:\n      - {name: vpc-cni, version: v1.20.1-eksbuild.2}\n"
        );
    }

    #[test]
    fn a_path_that_is_not_a_scalar_in_the_file_is_refused() {
        let text = "spec:\n  green:\n    cluster: a\n";
        assert!(apply(text, &[edit("spec.green.version", "1.33")]).unwrap_err().contains("spec.green.version"));
        assert!(apply(text, &[edit("spec.green", "x")]).unwrap_err().contains("not a single value"));
    }
}
