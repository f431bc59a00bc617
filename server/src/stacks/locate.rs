//! Where a key is in a YAML text, for errors that come from a value already read
//! (a wrong type deep in a Compose service): the line and column of `a.b.c` in
//! block-style YAML, found by indentation. Best effort: flow style (`{a: 1}`) is
//! found only down to the key that opens it.

/// The 1-based line and column of the key at `path`, or of the deepest part of it
/// that was found.
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for key in path {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let body = line.trim_start();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let indent = line.len() - body.len();
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            let body = body.strip_prefix("- ").unwrap_or(body);
            let name = body
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            if name == *key && body.contains(':') {
                hit = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = hit else {
            return found;
        };
        found = Some((i + 1, indent + 1));
        from = i + 1;
        parent_indent = Some(indent);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = "services:\n  web:\n    image: a\n    deploy:\n      replicas: x\n  db:\n    deploy:\n      replicas: 2\n";

    #[test]
    fn keys_are_found_under_their_parents() {
        type Case<'a> = (&'a [&'a str], Option<(usize, usize)>);
        let cases: &[Case] = &[
            (&["services"], Some((1, 1))),
            (&["services", "web", "deploy", "replicas"], Some((5, 7))),
            (&["services", "db", "deploy", "replicas"], Some((8, 7))),
            (&["services", "web", "ports"], Some((2, 3))),
            (&["volumes"], None),
        ];
        for (path, want) in cases {
            assert_eq!(locate(TEXT, path), *want, "{path:?}");
        }
    }
}
