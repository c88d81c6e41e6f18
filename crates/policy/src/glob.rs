//! IAM wildcard matching: `*` is any run of characters (including none, and
//! including `/`), `?` is exactly one character. Everything else, MQTT's `+`
//! and `#` included, is literal, and matching is case sensitive.
//!
//! A [`Glob`] is compiled once and matched many times. The common shapes get
//! their own representation, so that most matches are a string comparison:
//! `*` alone, an exact string, and a literal prefix followed by one trailing
//! `*`. Everything else runs the classic greedy-star-with-backtrack matcher:
//! on a mismatch it returns to the last `*` and lets it swallow one more
//! character. Only the last `*` is ever revisited (an earlier star can never
//! help once a later one has matched), so a match costs at most
//! O(pattern × text) and usually O(text), with no recursion and no allocation.
//!
//! Why not a regex crate: the language is two metacharacters; a regex engine
//! would be a dependency, a compile step per pattern per connection and
//! escaping rules to get wrong.

/// One step of a general pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// This byte, literally.
    Byte(u8),
    /// `?`: exactly one character (one UTF-8 scalar, 1 to 4 bytes).
    One,
    /// `*`: any run of characters.
    Star,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `*`: matches everything.
    Any,
    /// No wildcard at all.
    Exact(Box<str>),
    /// `literal*`.
    Prefix(Box<str>),
    /// Anything else.
    General(Box<[Tok]>),
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    kind: Kind,
}

impl Glob {
    /// Compile `pattern`, where `*` and `?` are wildcards.
    pub fn new(pattern: &str) -> Glob {
        Glob::from_pieces([(pattern, true)])
    }

    /// A pattern that matches exactly `text`: `*` and `?` in it are literal.
    pub fn literal(text: &str) -> Glob {
        Glob::from_pieces([(text, false)])
    }

    /// Compile a pattern assembled from pieces: in a piece whose flag is
    /// `true`, `*` and `?` are wildcards; in the others (substituted policy
    /// variables, `${*}` escapes) every character is literal.
    pub(crate) fn from_pieces<'a>(pieces: impl IntoIterator<Item = (&'a str, bool)>) -> Glob {
        let mut toks: Vec<Tok> = Vec::new();
        for (text, wild) in pieces {
            for &b in text.as_bytes() {
                let tok = match b {
                    b'*' if wild => Tok::Star,
                    b'?' if wild => Tok::One,
                    _ => Tok::Byte(b),
                };
                // `**` is the same as `*`.
                if tok == Tok::Star && toks.last() == Some(&Tok::Star) {
                    continue;
                }
                toks.push(tok);
            }
        }
        Glob {
            kind: classify(toks),
        }
    }

    /// Does `text` match this pattern?
    #[inline]
    pub fn is_match(&self, text: &str) -> bool {
        match &self.kind {
            Kind::Any => true,
            Kind::Exact(s) => text == &**s,
            Kind::Prefix(p) => text.starts_with(&**p),
            Kind::General(toks) => match_general(toks, text.as_bytes()),
        }
    }

    /// True for the pattern `*` (or `**`...), which matches everything.
    pub fn matches_everything(&self) -> bool {
        self.kind == Kind::Any
    }
}

fn literal_string(toks: &[Tok]) -> Option<Box<str>> {
    let mut bytes = Vec::with_capacity(toks.len());
    for t in toks {
        match t {
            Tok::Byte(b) => bytes.push(*b),
            _ => return None,
        }
    }
    // The bytes came from whole `&str` pieces with only ASCII `*`/`?`
    // removed, and none were removed here, so they are valid UTF-8.
    String::from_utf8(bytes).ok().map(String::into_boxed_str)
}

fn classify(toks: Vec<Tok>) -> Kind {
    if toks == [Tok::Star] {
        return Kind::Any;
    }
    if let Some(s) = literal_string(&toks) {
        return Kind::Exact(s);
    }
    if let Some((Tok::Star, head)) = toks.split_last() {
        if let Some(p) = literal_string(head) {
            return Kind::Prefix(p);
        }
    }
    Kind::General(toks.into_boxed_slice())
}

/// Length in bytes of the UTF-8 character that starts with `lead`.
#[inline]
fn char_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// The classic linear matcher. `text` is valid UTF-8; `?` and the star's
/// backtracking step by whole characters so positions stay on boundaries.
fn match_general(pat: &[Tok], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, text
    // index the star's match currently ends at).
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() {
            match pat[p] {
                Tok::Star => {
                    resume = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                Tok::One => {
                    p += 1;
                    t += char_len(text[t]);
                    continue;
                }
                Tok::Byte(b) if b == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                Tok::Byte(_) => {}
            }
        }
        // Mismatch (or pattern exhausted with text left): let the last star
        // swallow one more character and retry from just after it.
        match resume {
            Some((sp, st)) => {
                let st = st + char_len(text[st]);
                resume = Some((sp, st));
                p = sp;
                t = st;
            }
            None => return false,
        }
    }
    // Text consumed: only stars may remain in the pattern.
    pat[p.min(pat.len())..].iter().all(|&t| t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything/at/all", true),
            ("a/b", "a/b", true),
            ("a/b", "a/B", false),
            ("a/b", "a/b/", false),
            ("a/*", "a/", true),
            ("a/*", "a/b/c/d", true),
            ("a/*", "a", false),
            ("*/c", "a/b/c", true),
            ("*/c", "a/b/cc", false),
            ("a/*/c", "a/b/c", true),
            ("a/*/c", "a/b/x/c", true),
            ("a/*/c", "a//c", true),
            ("a/*/c", "a/c", false),
            ("a/?/c", "a/b/c", true),
            ("a/?/c", "a/bb/c", false),
            ("a/?/c", "a//c", false),
            ("a/???", "a/abc", true),
            ("a/???", "a/ab", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxcxxbxxaxx", false),
            ("*ab", "aab", true),
            ("*aab", "aaab", true),
            ("a*b?d", "axxbcd", true),
            ("a*b?d", "axxbd", false),
            ("a+b/#", "a+b/#", true),
            ("a+b/#", "aab/x", false),
            ("room*", "room1", true),
            ("é?ü", "éxü", true),
            ("?", "é", true),
            ("??", "é", false),
            ("*é", "aé", true),
            ("a**b", "ab", true),
            ("a**b", "axyzb", true),
        ];
        for &(pat, text, want) in cases {
            assert_eq!(Glob::new(pat).is_match(text), want, "{pat:?} vs {text:?}");
        }
    }

    #[test]
    fn shapes() {
        assert!(Glob::new("*").matches_everything());
        assert!(Glob::new("**").matches_everything());
        assert_eq!(Glob::new("abc").kind, Kind::Exact("abc".into()));
        assert_eq!(Glob::new("abc*").kind, Kind::Prefix("abc".into()));
        assert!(matches!(Glob::new("a*c").kind, Kind::General(_)));
    }

    #[test]
    fn literal_pieces_do_not_glob() {
        let g = Glob::from_pieces([("topic/", true), ("a*b?", false), ("/*", true)]);
        assert!(g.is_match("topic/a*b?/x"));
        assert!(!g.is_match("topic/aXbY/x"));
        assert!(Glob::literal("*").is_match("*"));
        assert!(!Glob::literal("*").is_match("x"));
    }

    /// The definition, by recursion over characters.
    fn reference(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
        }
    }

    /// Every string of length 0..=max over `alphabet`.
    fn all_strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..max {
            layer = layer
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            out.extend(layer.iter().cloned());
        }
        out
    }

    #[test]
    fn agrees_with_the_definition_exhaustively() {
        let patterns = all_strings(&['a', 'é', '*', '?'], 5);
        let texts = all_strings(&['a', 'é', 'b'], 5);
        for p in &patterns {
            let g = Glob::new(p);
            let pc: Vec<char> = p.chars().collect();
            for t in &texts {
                let tc: Vec<char> = t.chars().collect();
                assert_eq!(g.is_match(t), reference(&pc, &tc), "{p:?} vs {t:?}");
            }
        }
    }

    #[test]
    fn long_texts_stay_linear_enough() {
        let text = "a".repeat(10_000);
        assert!(!Glob::new("*a*a*a*a*b").is_match(&text));
        assert!(Glob::new("*a*a*a*a*").is_match(&text));
    }
}
