//! Cut schedules (`cut_overview`, `cut_innercut`, `cut_ic_pow`, `cut_icgray_p`): 1000 values
//! indexed by diffusion time (dd-algorithm.md §5.2).
//!
//! Two spellings. DD's Python expression `"[12]*400+[4]*600"` is parsed by a small grammar
//! here — never evaluated — accepting sums of list literals, each optionally repeated
//! (`[a, b]*n` or `n*[a, b]`). The KDL-native form lists segments:
//! `cut-overview { - 12 count=400; - 4 count=600 }`.

use kdl::{KdlEntry, KdlNode};
use serde_json::Value;

use super::{FromDdError, SettingType, fmt_number, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};

/// Number of entries DD reads from a schedule (`idx = 1000 − s`, §5.2).
pub const SCHEDULE_LEN: usize = 1000;

/// Longest expansion accepted, so `"[1]*1000000000"` cannot exhaust memory.
const MAX_EXPANDED: usize = 100_000;

/// What a schedule's entries may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleKind {
    /// Cut counts: whole numbers ≥ 0.
    Count,
    /// Exponents: numbers > 0.
    Positive,
    /// Probabilities: numbers in [0, 1].
    Probability,
}

impl ScheduleKind {
    fn check(self, x: f64) -> Result<(), &'static str> {
        match self {
            ScheduleKind::Count if x < 0.0 || x.fract() != 0.0 => {
                Err("cut counts must be whole numbers ≥ 0")
            }
            ScheduleKind::Positive if x <= 0.0 => Err("exponents must be > 0"),
            ScheduleKind::Probability if !(0.0..=1.0).contains(&x) => {
                Err("probabilities must be in [0, 1]")
            }
            _ => Ok(()),
        }
    }
}

/// A cut schedule: the expanded values (at least 1000 after validation) and DD's text for it.
#[derive(Clone, Debug)]
pub struct CutSchedule {
    /// Every value as expanded; entries after the first 1000 are never read. Shared, so
    /// the thousands of sweep cells that copy a target's settings share one list.
    pub values: std::sync::Arc<[f64]>,
    /// DD's expression for the schedule, as written or as generated from segments.
    pub text: String,
}

impl PartialEq for CutSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}

impl CutSchedule {
    /// A schedule from a DD expression; panics on invalid text (for built-in defaults only).
    pub fn dd(text: &str) -> Self {
        let values = parse_dd(text)
            .unwrap_or_else(|e| panic!("bad built-in schedule {text}: {}", e.message));
        CutSchedule {
            values: values.into(),
            text: text.to_owned(),
        }
    }

    /// Value at schedule index `idx` (0..1000).
    pub fn at(&self, idx: usize) -> f64 {
        self.values[idx]
    }

    /// Checks every value against `kind`; returns the index and reason of the first bad one.
    pub fn check(&self, kind: ScheduleKind) -> Result<(), (usize, &'static str)> {
        self.values
            .iter()
            .enumerate()
            .try_for_each(|(i, &x)| kind.check(x).map_err(|e| (i, e)))
    }
}

/// A syntax error at a byte range of the expression.
#[derive(Debug)]
pub struct ExprError {
    /// Byte range in the expression text.
    pub at: (usize, usize),
    /// What is wrong.
    pub message: String,
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }
    fn err<T>(&self, len: usize, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError {
            at: (self.pos, self.pos + len.max(1)),
            message: message.into(),
        })
    }
    fn eat(&mut self, c: u8, what: &str) -> Result<(), ExprError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(1, format!("expected {what}"))
        }
    }
    fn number(&mut self) -> Result<(f64, (usize, usize)), ExprError> {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && matches!(
                self.s[self.pos],
                b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E' | b'_'
            )
        {
            // a '+' or '-' only belongs to the number at its start or after an exponent
            if matches!(self.s[self.pos], b'+' | b'-')
                && self.pos > start
                && !matches!(self.s[self.pos - 1], b'e' | b'E')
            {
                break;
            }
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        match text.replace('_', "").parse::<f64>() {
            Ok(x) if x.is_finite() => Ok((x, (start, self.pos))),
            _ => {
                self.pos = start;
                self.err(text.len(), "expected a number")
            }
        }
    }
    fn count(&mut self) -> Result<usize, ExprError> {
        let (x, (a, b)) = self.number()?;
        if x < 0.0 || x.fract() != 0.0 {
            return Err(ExprError {
                at: (a, b),
                message: "a repeat count must be a whole number ≥ 0".into(),
            });
        }
        Ok(x as usize)
    }
    fn list(&mut self) -> Result<Vec<f64>, ExprError> {
        self.eat(b'[', "`[` starting a list")?;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(b']') {
                self.pos += 1;
                break;
            }
            items.push(self.number()?.0);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {}
                _ => return self.err(1, "expected `,` or `]`"),
            }
        }
        Ok(items)
    }
}

/// Parses DD's schedule expression: `term ('+' term)*`, term = `list ('*' n)?` or `n '*' list`.
pub fn parse_dd(text: &str) -> Result<Vec<f64>, ExprError> {
    let mut lx = Lexer {
        s: text.as_bytes(),
        pos: 0,
    };
    let mut out: Vec<f64> = Vec::new();
    loop {
        let term_start = lx.pos;
        let (items, times) = if lx.peek() == Some(b'[') {
            let items = lx.list()?;
            let times = if lx.peek() == Some(b'*') {
                lx.pos += 1;
                lx.count()?
            } else {
                1
            };
            (items, times)
        } else if lx.peek().is_some_and(|c| c.is_ascii_digit()) {
            let times = lx.count()?;
            lx.eat(b'*', "`*` after a repeat count")?;
            (lx.list()?, times)
        } else {
            return lx.err(
                1,
                "expected a list such as `[12]` (the schedule is read as data, not run as code)",
            );
        };
        if out.len().saturating_add(items.len().saturating_mul(times)) > MAX_EXPANDED {
            return Err(ExprError {
                at: (term_start, lx.pos),
                message: format!("the schedule expands to more than {MAX_EXPANDED} entries"),
            });
        }
        for _ in 0..times {
            out.extend_from_slice(&items);
        }
        match lx.peek() {
            None => return Ok(out),
            Some(b'+') => lx.pos += 1,
            Some(_) => return lx.err(1, "expected `+` or the end of the schedule"),
        }
    }
}

fn segments_text(segments: &[(Vec<f64>, usize)]) -> String {
    segments
        .iter()
        .map(|(items, n)| {
            let list = items
                .iter()
                .map(|x| fmt_number(*x))
                .collect::<Vec<_>>()
                .join(", ");
            format!("[{list}]*{n}")
        })
        .collect::<Vec<_>>()
        .join("+")
}

impl SettingType for CutSchedule {
    const EXPECTS: &'static str =
        "a DD schedule such as \"[12]*400+[4]*600\", or a block of `- VALUE count=N` segments";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        if let Some(children) = node.children() {
            if let Some(e) = node.entries().first() {
                return Err(Diagnostic::error(
                    "a schedule is either a string or a block, not both",
                    &cx.entry(e),
                    "remove this value or the block",
                ));
            }
            let mut segments = Vec::new();
            for seg in children.nodes() {
                if seg.name().value() != "-" {
                    return Err(Diagnostic::error(
                        format!("unknown node `{}` in a schedule", seg.name().value()),
                        &cx.name(seg),
                        "expected `- VALUE count=N`",
                    ));
                }
                segments.push(segment(seg, cx)?);
            }
            let mut values = Vec::new();
            for (items, n) in &segments {
                if values.len() + items.len().saturating_mul(*n) > MAX_EXPANDED {
                    return Err(Diagnostic::error(
                        format!("the schedule expands to more than {MAX_EXPANDED} entries"),
                        &cx.node(node),
                        "too long",
                    ));
                }
                for _ in 0..*n {
                    values.extend_from_slice(items);
                }
            }
            return Ok(CutSchedule {
                values: values.into(),
                text: segments_text(&segments),
            });
        }
        let e = read::single(node, cx, Self::EXPECTS)?;
        let text = read::string(e, cx)?;
        parse_dd(text)
            .map(|values| CutSchedule {
                values: values.into(),
                text: text.to_owned(),
            })
            .map_err(|err| {
                Diagnostic::error(
                    format!("invalid schedule: {}", err.message),
                    &read::inner_origin(e, cx, err.at.0, err.at.1),
                    err.message,
                )
                .with_help("write sums of repeated lists, e.g. \"[12]*400+[4]*600\"")
            })
    }
    fn to_json(&self) -> Value {
        Value::String(self.text.clone())
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            Value::String(s) => parse_dd(s)
                .map(|_| kdl_string(s))
                .map_err(|e| e.message.into()),
            // A plain number (EM writes `cut_ic_pow: 1`) means that value everywhere.
            Value::Number(n) => Ok(kdl_string(&format!("[{n}]*{SCHEDULE_LEN}"))),
            Value::Array(items) => {
                let list = items
                    .iter()
                    .map(|x| match x {
                        Value::Number(n) => Ok(n.to_string()),
                        other => Err(format!(
                            "expected a list of numbers, found {} in it",
                            super::kind(other)
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(", ");
                let text = format!("[{list}]");
                parse_dd(&text).map_err(|e| e.message)?;
                Ok(kdl_string(&text))
            }
            other => Err(FromDdError::wrong_kind("a schedule string", other)),
        }
    }
}

fn segment(seg: &KdlNode, cx: Cx) -> Result<(Vec<f64>, usize), Diagnostic> {
    let mut items = Vec::new();
    let mut count = None;
    for e in seg.entries() {
        match e.name().map(|n| n.value()) {
            None => items.push(read::number(e, cx)?),
            Some("count") => count = Some(read::int(e, cx, 0, MAX_EXPANDED as i128)? as usize),
            Some(other) => return Err(unknown_prop(e, cx, other)),
        }
    }
    if items.is_empty() {
        return Err(Diagnostic::error(
            "a segment needs a value",
            &cx.node(seg),
            "expected `- VALUE count=N`",
        ));
    }
    Ok((items, count.unwrap_or(1)))
}

fn unknown_prop(e: &KdlEntry, cx: Cx, name: &str) -> Diagnostic {
    Diagnostic::error(
        format!("unknown property `{name}`"),
        &cx.entry(e),
        "expected `count=`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dd_default_overview_expands_to_1000() {
        let v = parse_dd("[12]*400+[4]*600").unwrap();
        assert_eq!(v.len(), 1000);
        assert_eq!((v[399], v[400]), (12.0, 4.0));
    }

    #[test]
    fn repeat_on_the_left_and_multi_item_lists() {
        assert_eq!(
            parse_dd("2*[1, 2.5]+[3]").unwrap(),
            vec![1.0, 2.5, 1.0, 2.5, 3.0]
        );
        assert_eq!(parse_dd(" [ 0.2 ] * 2 ").unwrap(), vec![0.2, 0.2]);
    }

    #[test]
    fn code_is_not_evaluated() {
        let err = parse_dd("__import__('os').system('x')").unwrap_err();
        assert_eq!(err.at.0, 0);
        let err = parse_dd("[12]*400-[4]").unwrap_err();
        assert_eq!(err.at, (8, 9));
    }

    #[test]
    fn huge_repeats_are_refused() {
        assert!(parse_dd("[1]*1000000000").is_err());
        // a count that saturates usize after an earlier term must not overflow the check
        assert!(parse_dd("[0]*500+[100]*99999999999999999999").is_err());
        assert!(parse_dd("[0]*500+99999999999999999999*[1, 2]").is_err());
    }
}
