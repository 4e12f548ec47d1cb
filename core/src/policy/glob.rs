//! Glob matching for ACL fields: `*` matches any run of characters (including '/', as in
//! docker_auth), `?` exactly one character. Iterative with single-star backtracking, so the worst
//! case is O(pattern × text) and no input can blow the stack.

/// Whether `text` matches `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // ACL evaluation runs this for several fields of every rule on every token request; names
    // and accounts are ASCII in practice, so match bytes without collecting characters. '?' is
    // one character, so non-ASCII input takes the char path.
    if pattern.is_ascii() && text.is_ascii() {
        matches(pattern.as_bytes(), text.as_bytes(), b'*', b'?')
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        matches(&p, &t, '*', '?')
    }
}

fn matches<T: Copy + PartialEq>(p: &[T], t: &[T], many: T, one: T) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || (p[pi] != many && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == many {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == many {
        pi += 1;
    }
    pi == p.len()
}

/// Whether a value would act as a pattern if substituted into one.
pub fn has_glob_meta(s: &str) -> bool {
    s.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_docker_auth() {
        assert!(glob_match("org/*", "org/app"));
        assert!(glob_match("org/*", "org/team/app"), "* crosses '/'");
        assert!(!glob_match("org/*", "other/app"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*app*", "my-app-1"));
        assert!(glob_match("alice", "alice"));
        assert!(!glob_match("alice", "alice2"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn question_mark_is_one_character_not_one_byte() {
        assert!(glob_match("caf?", "café"));
        assert!(glob_match("?", "é"));
        assert!(!glob_match("??", "é"));
        assert!(glob_match("é*", "éa/b"));
        assert!(!glob_match("é", "e"));
    }

    #[test]
    fn pathological_patterns_finish() {
        let text = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(100));
        assert!(!glob_match(&pattern, &text));
    }
}
