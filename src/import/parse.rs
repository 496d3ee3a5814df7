//! Settings text → a JSON mapping, in time linear in the text and bounded memory.
//!
//! Three bounds, each for a way a small file can cost a lot:
//! - nesting: libyaml's scanner is quadratic in the depth of nested flow mappings
//!   (`{"a": {"a": …`: 40,000 levels take 9 s), so the text is scanned for bracket depth
//!   before any parser sees it, and refused past [`MAX_DEPTH`] levels;
//! - YAML aliases can expand a small file into a huge value (`&a [*b, *b, …]`), so values
//!   and their text are counted while they are built, and the parse stops past
//!   [`MAX_VALUES`] values or [`MAX_TEXT_BYTES`] bytes of text;
//! - a YAML text with more than [`MAX_YAML_OPENINGS`] brackets is refused outright: the depth
//!   scan reads quotes the simple way, and this cap bounds libyaml's cost whatever it
//!   misreads.
//!
//! NaN and infinities, which JSON values cannot hold, are kept as text (`"NaN"`) and their
//! top-level keys listed, so the importer can report them instead of seeing `null`.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Deepest nesting of lists and mappings accepted (DD's deepest is 3: prompts by frame).
pub const MAX_DEPTH: usize = 32;
/// Most values (scalars, lists, mappings) a settings file may hold once aliases expand.
pub const MAX_VALUES: usize = 100_000;
/// Most `[` and `{` a YAML text may hold.
pub const MAX_YAML_OPENINGS: usize = 10_000;
/// Most bytes of text (strings and keys) a settings file may hold once aliases expand.
pub const MAX_TEXT_BYTES: usize = 8 << 20;

/// A parsed settings file.
#[derive(Debug)]
pub enum Parsed {
    /// A mapping of settings, as expected.
    Mapping {
        /// The settings, in file order.
        map: Map<String, Value>,
        /// Top-level keys whose value held NaN or an infinity.
        non_finite: Vec<String>,
        /// Top-level keys given more than once (the last counts, as in Python's `json.load`).
        repeated: Vec<String>,
    },
    /// Something else: "a list", "a single value", "nothing".
    Other(&'static str),
}

/// Why the text could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Lists or mappings nested too deeply.
    #[error("lists or mappings are nested more than {MAX_DEPTH} levels deep (line {line})")]
    TooDeep {
        /// 1-based line where the limit was passed.
        line: usize,
    },
    /// A YAML text with too many brackets.
    #[error("the YAML text holds more than {MAX_YAML_OPENINGS} `[` or `{{`")]
    TooManyBrackets,
    /// Not JSON or YAML, or over the value budget.
    #[error("{0}")]
    Syntax(String),
}

/// Parses `text` as YAML when `yaml`, else as JSON, then as relaxed JSON (comments, trailing
/// commas, Python words: `relaxed.rs`), with YAML as the fallback (Python's `json.dump`
/// writes `NaN` and `Infinity`, which only the YAML reader accepts).
pub fn parse(text: &str, yaml: bool) -> Result<Parsed, ParseError> {
    if let Some(line) = too_deep(text, MAX_DEPTH) {
        return Err(ParseError::TooDeep { line });
    }
    if yaml {
        return parse_yaml(text);
    }
    let json_err = match parse_json(text) {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    // Forks' hand-written JSON: comments, trailing commas, Python's None/True/False.
    if let Some(Ok(p)) = super::relaxed::relax(text).map(|t| parse_json(&t)) {
        return Ok(p);
    }
    match parse_yaml(text) {
        Ok(p) => Ok(p),
        // A file that looks like JSON gets JSON's message.
        Err(ParseError::Syntax(_)) if text.trim_start().starts_with(['{', '[']) => {
            Err(ParseError::Syntax(json_err))
        }
        Err(e) => Err(e),
    }
}

fn parse_json(text: &str) -> Result<Parsed, String> {
    let budget = Budget::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Root(&budget)
        .deserialize(&mut de)
        .and_then(|p| de.end().map(|()| p));
    parsed.map_err(|e| e.to_string())
}

fn parse_yaml(text: &str) -> Result<Parsed, ParseError> {
    if text.bytes().filter(|b| matches!(b, b'[' | b'{')).count() > MAX_YAML_OPENINGS {
        return Err(ParseError::TooManyBrackets);
    }
    let budget = Budget::default();
    Root(&budget)
        .deserialize(serde_norway::Deserializer::from_str(text))
        .map_err(|e| ParseError::Syntax(e.to_string()))
}

/// The 1-based line where bracket nesting first passes `limit`, if it does.
///
/// Brackets inside quoted strings do not count. A quote opens a string only where a JSON
/// or YAML value can start (after `[ { , :` or `- ? ` or at the start of a line), so an
/// apostrophe inside a YAML plain scalar (`it's`) is not taken for one.
fn too_deep(text: &str, limit: usize) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    // The last byte that was not a space or tab on this line (None at a line start).
    let mut prev: Option<u8> = None;
    let mut blank_before = true;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                prev = None;
                blank_before = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                blank_before = true;
                i += 1;
                continue;
            }
            b'"' | b'\'' if value_can_start(prev, blank_before) => {
                // Skip the string; a `\n` inside still counts as a line.
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' if c == b'"' => i += 1,
                        b'\n' => line += 1,
                        q if q == c => break,
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'#' if blank_before => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = Some(c);
        blank_before = false;
        i += 1;
    }
    None
}

fn value_can_start(prev: Option<u8>, blank_before: bool) -> bool {
    match prev {
        None => true,
        Some(b'[' | b'{' | b',') => true,
        // `:` then a value: YAML wants a blank (`a: 'x'`), JSON-style keys need none.
        Some(b':') => true,
        Some(b'-' | b'?') => blank_before,
        _ => false,
    }
}

/// Counts values as they are built, across the whole document.
#[derive(Default)]
struct Budget {
    values: Cell<usize>,
    text: Cell<usize>,
    non_finite: Cell<bool>,
}

impl Budget {
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > MAX_VALUES {
            return Err(E::custom(format_args!(
                "the file holds more than {MAX_VALUES} values (counting expanded YAML aliases)"
            )));
        }
        Ok(())
    }

    /// Spends a value holding `len` bytes of text.
    fn spend_text<E: de::Error>(&self, len: usize) -> Result<(), E> {
        self.spend()?;
        let n = self.text.get().saturating_add(len);
        self.text.set(n);
        if n > MAX_TEXT_BYTES {
            return Err(E::custom(format_args!(
                "the file holds more than {MAX_TEXT_BYTES} bytes of text (counting expanded YAML aliases)"
            )));
        }
        Ok(())
    }
}

/// The top level: a mapping is read entry by entry to note NaN and repeated keys.
struct Root<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Root<'_> {
    type Value = Parsed;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! not_a_mapping {
    ($($method:ident($($t:ty)?) => $found:literal),* $(,)?) => {$(
        fn $method<E: de::Error>(self $(, _: $t)?) -> Result<Parsed, E> {
            Ok(Parsed::Other($found))
        }
    )*};
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = Parsed;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of settings")
    }
    not_a_mapping! {
        visit_bool(bool) => "a single value",
        visit_i64(i64) => "a single value",
        visit_u64(u64) => "a single value",
        visit_i128(i128) => "a single value",
        visit_u128(u128) => "a single value",
        visit_f64(f64) => "a single value",
        visit_str(&str) => "a single value",
        visit_unit() => "nothing",
        visit_none() => "nothing",
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Parsed, A::Error> {
        Node::new(self.0, 0).visit_seq(seq)?;
        Ok(Parsed::Other("a list"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Parsed, A::Error> {
        self.0.spend()?;
        let (mut map, mut non_finite, mut repeated) = (Map::new(), Vec::new(), Vec::new());
        while let Some(key) = access.next_key_seed(Key(self.0))? {
            self.0.non_finite.set(false);
            let value = access.next_value_seed(Node::new(self.0, 1))?;
            if self.0.non_finite.get() && !non_finite.contains(&key) {
                non_finite.push(key.clone());
            }
            if map.insert(key.clone(), value).is_some() && !repeated.contains(&key) {
                repeated.push(key);
            }
        }
        Ok(Parsed::Mapping {
            map,
            non_finite,
            repeated,
        })
    }
}

/// Any value below the top, within the depth and value budgets.
struct Node<'b> {
    budget: &'b Budget,
    depth: usize,
}

impl<'b> Node<'b> {
    fn new(budget: &'b Budget, depth: usize) -> Self {
        Node { budget, depth }
    }

    fn deeper<E: de::Error>(&self) -> Result<Node<'b>, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "lists or mappings are nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(Node::new(self.budget, self.depth + 1))
    }

    fn float<E: de::Error>(&self, x: f64) -> Result<Value, E> {
        self.budget.spend()?;
        Ok(match Number::from_f64(x) {
            Some(n) => Value::Number(n),
            None => {
                self.budget.non_finite.set(true);
                Value::String(
                    match x {
                        x if x.is_nan() => "NaN",
                        x if x > 0.0 => "Infinity",
                        _ => "-Infinity",
                    }
                    .into(),
                )
            }
        })
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a settings value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.spend()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.spend()?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.spend()?;
        Ok(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => self.float(v as f64),
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => self.float(v as f64),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.float(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.spend_text(v.len())?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.spend()?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.spend()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self.deeper()?)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.budget.spend()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key_seed(Key(self.budget))? {
            let value = access.next_value_seed(self.deeper()?)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// A mapping key: YAML allows numbers, booleans and null (`0: [prompts]`), written as text.
struct Key<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a text, number or boolean key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.visit_string(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.0.spend_text(v.len())?;
        Ok(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.visit_string("null".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(p: Parsed) -> (Map<String, Value>, Vec<String>, Vec<String>) {
        match p {
            Parsed::Mapping {
                map,
                non_finite,
                repeated,
            } => (map, non_finite, repeated),
            Parsed::Other(found) => panic!("not a mapping: {found}"),
        }
    }

    #[test]
    fn depth_scan_skips_quoted_brackets_and_comments() {
        assert_eq!(too_deep("[[[", 2), Some(1));
        assert_eq!(too_deep("[[\n[", 2), Some(2));
        assert_eq!(too_deep(r#"{"a": "[[[[\"[[[", "b": ['[[[[']}"#, 2), None);
        assert_eq!(too_deep("a: 1 # [[[[\nb: it's [[[", 2), Some(2));
    }

    #[test]
    fn nan_and_infinity_are_kept_as_text_and_listed() {
        let (m, nf, _) = map(parse("a: .nan\nb: [1, -.inf]\nc: 1\n", true).unwrap());
        assert_eq!(m["a"], "NaN");
        assert_eq!(m["b"][1], "-Infinity");
        assert_eq!(nf, vec!["a", "b"]);
        // Python's json.dump writes bare NaN: JSON fails, the YAML reader keeps the text.
        let (m, _, _) = map(parse(r#"{"a": NaN}"#, false).unwrap());
        assert_eq!(m["a"], "NaN");
    }

    #[test]
    fn repeated_keys_keep_the_last_and_are_listed() {
        let (m, _, rep) = map(parse(r#"{"a": 1, "b": 2, "a": 3}"#, false).unwrap());
        assert_eq!(m["a"], 3);
        assert_eq!(rep, vec!["a"]);
    }

    #[test]
    fn yaml_keys_may_be_numbers() {
        let (m, _, _) = map(parse("text_prompts:\n  0: [a]\n", true).unwrap());
        assert_eq!(m["text_prompts"]["0"][0], "a");
    }

    #[test]
    fn alias_expansion_is_bounded() {
        // 1,000 values, then 200 aliases of them: 200,000 values from a 3 kB text.
        let y = format!(
            "a: &a [{}]\nb: [{}]\n",
            vec!["1"; 1000].join(","),
            vec!["*a"; 200].join(",")
        );
        let err = parse(&y, true).unwrap_err().to_string();
        assert!(err.contains("more than 100000 values"), "{err}");
    }

    #[test]
    fn aliased_text_is_bounded() {
        // 100 kB of text, then 200 aliases of it: 20 MB from a 100 kB file.
        let y = format!(
            "a: &a \"{}\"\nb: [{}]\n",
            "x".repeat(100_000),
            vec!["*a"; 200].join(",")
        );
        let err = parse(&y, true).unwrap_err().to_string();
        assert!(err.contains("bytes of text"), "{err}");
    }

    #[test]
    fn non_mappings_say_what_they_are() {
        assert!(matches!(parse("[1]", false), Ok(Parsed::Other("a list"))));
        assert!(matches!(
            parse("3", false),
            Ok(Parsed::Other("a single value"))
        ));
        assert!(matches!(parse("", true), Ok(Parsed::Other("nothing"))));
    }
}
