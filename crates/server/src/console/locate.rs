//! Where in a policy document an error is: the line a `MalformedPolicy`
//! message concerns, so the editor can show it there. Pure text in, a line
//! number (1-based) out.
//!
//! JSON syntax errors name their line themselves ("… at line 4 column 1").
//! The policy grammar's errors name a path (`Statement[2].Effect`) and often
//! the offending value (`"Permit"`): the line is the value's (or else the
//! element's) within that statement, or the statement's first line.

/// The line of `document` that `message` concerns, if it can be told.
pub fn error_line(document: &str, message: &str) -> Option<usize> {
    if let Some(n) = serde_line(message) {
        return Some(n);
    }
    let statements = statement_lines(document);
    let lines: Vec<&str> = document.lines().collect();
    // The region: statement k's lines, or the whole document.
    let (start, end) = match statement_index(message) {
        Some(k) => {
            let start = *statements.get(k)?;
            let end = statements.get(k + 1).map_or(lines.len(), |n| n - 1);
            (start, end)
        }
        None => (1, lines.len()),
    };
    let find = |needle: &str| {
        (start..=end).find(|&n| lines.get(n - 1).is_some_and(|l| l.contains(needle)))
    };
    if let Some(value) = quoted(message) {
        if let Some(n) = find(&format!("\"{value}\"")) {
            return Some(n);
        }
    }
    if let Some(element) = element(message) {
        if let Some(n) = find(&format!("\"{element}\"")) {
            return Some(n);
        }
    }
    statement_index(message).map(|_| start)
}

/// "… at line 4 column 1" (serde_json's wording).
fn serde_line(message: &str) -> Option<usize> {
    let at = message.rfind(" line ")?;
    let rest = &message[at + " line ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    rest[digits.len()..]
        .starts_with(" column ")
        .then(|| digits.parse().ok())
        .flatten()
}

/// `k` of the first `Statement[k]` in the message.
fn statement_index(message: &str) -> Option<usize> {
    let at = message.find("Statement[")?;
    let rest = &message[at + "Statement[".len()..];
    rest[..rest.find(']')?].parse().ok()
}

/// The element after `Statement[k].`, e.g. `Effect` or `Condition`.
fn element(message: &str) -> Option<&str> {
    let at = message.find("Statement[")?;
    let rest = &message[at..];
    let rest = &rest[rest.find("].")? + 2..];
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The first double-quoted value in the message (after the path).
fn quoted(message: &str) -> Option<&str> {
    let from = message.find(": ").map_or(0, |i| i + 2);
    let rest = &message[from..];
    let open = rest.find('"')?;
    let rest = &rest[open + 1..];
    let close = rest.find('"')?;
    Some(&rest[..close])
}

/// The first line of each statement: the elements of the top-level
/// `Statement` array (or the one object it holds), found by a scan that
/// knows strings and nesting, no more.
fn statement_lines(document: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string = String::new();
    let mut last_key_at_1: Option<String> = None;
    // Depth at which statements start (2 inside an array, 1 for an object).
    let mut statements_at: Option<usize> = None;
    let mut awaiting_value = false;
    for c in document.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                if depth == 1 {
                    last_key_at_1 = Some(std::mem::take(&mut string));
                }
            } else if depth == 1 {
                string.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                string.clear();
            }
            ':' if depth == 1 => {
                awaiting_value = last_key_at_1.as_deref() == Some("Statement");
            }
            '[' | '{' => {
                if awaiting_value && depth == 1 {
                    awaiting_value = false;
                    if c == '{' {
                        out.push(line);
                        statements_at = None;
                    } else {
                        statements_at = Some(2);
                    }
                } else if c == '{' && statements_at == Some(depth) {
                    out.push(line);
                }
                depth += 1;
            }
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 1 && c == ']' {
                    statements_at = None;
                }
            }
            c if !c.is_whitespace() && depth == 1 && awaiting_value => awaiting_value = false,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "iot:Connect",
      "Resource": "*"
    },
    {
      "Effect": "Permit",
      "Action": ["iot:Publish", "iot:Frob"],
      "Resource": "*",
      "Condition": {"NumericEquals": {"iot:Foo": "x"}}
    }
  ]
}"#;

    #[test]
    fn statements_are_found_by_their_first_line() {
        assert_eq!(statement_lines(DOC), vec![4, 9]);
        let single = "{\"Version\": \"2012-10-17\",\n\"Statement\":\n {\"Effect\": \"Allow\"}}";
        assert_eq!(statement_lines(single), vec![3]);
        // A "Statement" inside a string or deeper is not the statement list.
        let tricky =
            "{\"Id\": \"Statement: [\",\n\"Statement\": [\n{\"Condition\": {\"a\": {}}},\n{}]}";
        assert_eq!(statement_lines(tricky), vec![3, 4]);
    }

    #[test]
    fn policy_errors_point_at_the_value_or_element_or_statement() {
        let at = |m: &str| error_line(DOC, &format!("Policy document is Malformed: {m}"));
        assert_eq!(
            at(r#"Statement[1].Effect: "Permit" is not a valid effect; use "Allow" or "Deny""#),
            Some(10)
        );
        assert_eq!(
            at(r#"Statement[1].Action: "iot:Frob" is not a valid action"#),
            Some(11)
        );
        assert_eq!(
            at(r#"Statement[1].Condition.NumericEquals.iot:Foo: "x" is not a number"#),
            Some(13)
        );
        // "*" is in both statements: the one named wins.
        assert_eq!(at(r#"Statement[0].Resource: "*" is not valid"#), Some(7));
        assert_eq!(at("Statement[1]: missing Foo"), Some(9));
        assert_eq!(at(r#"Version: "2013" is not a supported version"#), None);
        assert_eq!(
            at(r#"Statement[0]: unknown element "Sid2""#),
            Some(4),
            "not in the text: the statement"
        );
    }

    #[test]
    fn json_errors_carry_their_line() {
        assert_eq!(
            error_line("{", "not valid JSON: EOF while parsing at line 4 column 1"),
            Some(4)
        );
    }
}
