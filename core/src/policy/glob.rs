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

    /// Checks `(pattern, text, matches)` cases, naming the one that fails.
    fn check(cases: &[(&str, &str, bool)]) {
        for &(pattern, text, matches) in cases {
            assert_eq!(
                glob_match(pattern, text),
                matches,
                "{pattern:?} on {text:?}"
            );
        }
    }

    #[test]
    fn matches_like_docker_auth_one_character_per_question_mark() {
        check(&[
            ("org/*", "org/app", true),
            ("org/*", "org/team/app", true), // * crosses '/'
            ("org/*", "other/app", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*app*", "my-app-1", true),
            ("alice", "alice", true),
            ("alice", "alice2", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            // `?` is one character, not one byte.
            ("caf?", "café", true),
            ("?", "é", true),
            ("??", "é", false),
            ("é*", "éa/b", true),
            ("é", "e", false),
        ]);
    }

    #[test]
    fn pathological_patterns_finish() {
        let text = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(100));
        assert!(!glob_match(&pattern, &text));
    }
}
