//! Environment interpolation in scalar values: `${VAR}`, `${VAR:-default}`,
//! `${VAR:?message}` and `$$` for a literal `$`. It runs on parsed scalars, not on the
//! file's text, so a variable's value can never change the YAML's structure.

/// Replaces every reference in `text`, reading variables through `lookup`.
/// An unset `${VAR}` is an error: a silently empty value hides mistakes.
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
            out.push_str(&expand(&body[..end], lookup)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn expand(expr: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let (name, op, arg) = match expr.find(":-").or_else(|| expr.find(":?")) {
        Some(i) => (&expr[..i], &expr[i..i + 2], &expr[i + 2..]),
        None => (expr, "", ""),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("`{name}` is not a valid environment variable name"));
    }
    let value = lookup(name).filter(|v| !(op.is_empty() && v.is_empty()) || op.is_empty());
    match (op, value) {
        (":-", Some(v)) if !v.is_empty() => Ok(v),
        (":-", _) => Ok(arg.to_string()),
        (":?", Some(v)) if !v.is_empty() => Ok(v),
        (":?", _) => Err(format!("environment variable {name} is required: {arg}")),
        (_, Some(v)) => Ok(v),
        _ => Err(format!(
            "environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
        )),
    }
}
