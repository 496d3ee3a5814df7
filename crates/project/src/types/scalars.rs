//! Small composite settings: seed, size, paths, intermediate saves, fractions, percentages.

use std::path::PathBuf;

use kdl::{KdlNode, KdlValue};
use serde_json::Value;

use super::{FromDdError, SettingType, fmt_number, kdl_string, kind};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};

/// DD's `randint(0, 2**32)` is inclusive, so 2³² itself is a valid DD seed.
pub const MAX_SEED: u64 = 1 << 32;

/// The run seed (DD's `set_seed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seed {
    /// DD's `'random_seed'`: a seed is drawn once per target and recorded, so rebuilds
    /// stay up to date (planning decides how; see docs/project-format.md).
    Random,
    /// A fixed seed in `0..=2³²`.
    Fixed(u64),
}

impl SettingType for Seed {
    const EXPECTS: &'static str = "an integer 0..=4294967296 or \"random\"";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let e = read::single(node, cx, Self::EXPECTS)?;
        match e.value() {
            KdlValue::String(s) if s == "random" || s == "random_seed" => Ok(Seed::Random),
            KdlValue::String(s) => match s.trim().parse::<u64>() {
                Ok(n) if n <= MAX_SEED => Ok(Seed::Fixed(n)),
                _ => Err(read::expected(e, cx, Self::EXPECTS)),
            },
            _ => Ok(Seed::Fixed(read::int(e, cx, 0, MAX_SEED as i128)? as u64)),
        }
    }
    fn to_json(&self) -> Value {
        match self {
            Seed::Random => Value::String("random_seed".into()),
            Seed::Fixed(n) => Value::from(*n),
        }
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            Value::String(s) if s == "random_seed" || s == "random" => Ok("\"random\"".into()),
            Value::String(s) => match s.trim().parse::<u64>() {
                Ok(n) if n <= MAX_SEED => Ok(n.to_string()),
                _ => Err(format!("seed \"{s}\" is neither an integer nor \"random_seed\"").into()),
            },
            Value::Number(n) if n.as_u64().is_some_and(|n| n <= MAX_SEED) => Ok(n.to_string()),
            Value::Number(n) => Err(format!("seed {n} is not an integer in 0..=2^32").into()),
            other => Err(format!(
                "expected an integer seed or \"random_seed\", found {}",
                kind(other)
            )
            .into()),
        }
    }
}

/// Output size as written (`width-height 1280 768`); rendering floors each side to a
/// multiple of 64 (§1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WidthHeight {
    /// Width in pixels as written.
    pub width: u32,
    /// Height in pixels as written.
    pub height: u32,
}

impl WidthHeight {
    /// The size rendering uses: each side floored to a multiple of 64 (DD `DD:2127-2130`).
    pub fn floored(self) -> (u32, u32) {
        (self.width / 64 * 64, self.height / 64 * 64)
    }
}

impl SettingType for WidthHeight {
    const EXPECTS: &'static str = "two whole numbers: width and height in pixels";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let args = read::args(node, cx, Self::EXPECTS)?;
        match args.as_slice() {
            [w, h] => Ok(WidthHeight {
                width: read::int(w, cx, 1, 65536)? as u32,
                height: read::int(h, cx, 1, 65536)? as u32,
            }),
            [_, _, extra, ..] => Err(Diagnostic::error(
                "`width-height` takes two values",
                &cx.entry(extra),
                "extra value",
            )),
            _ => Err(Diagnostic::error(
                "`width-height` needs a width and a height",
                &cx.node(node),
                "expected two whole numbers",
            )
            .with_help("write e.g. `width-height 1280 768`")),
        }
    }
    fn to_json(&self) -> Value {
        Value::from(vec![self.width, self.height])
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v.as_array().map(Vec::as_slice) {
            Some([w, h]) => Ok(format!(
                "{} {}",
                u32::kdl_from_json(w)?,
                u32::kdl_from_json(h)?
            )),
            _ => Err(FromDdError::wrong_kind("[width, height]", v)),
        }
    }
}

/// An optional file path (`init-image "init_images/a.png"` or `#null`), resolved against
/// the directory of the file that names it, so includes keep their own relative paths.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct OptPath {
    /// The path as written (`None` = no file).
    pub written: Option<String>,
    /// The path resolved against the declaring file's directory.
    pub resolved: Option<PathBuf>,
}

impl SettingType for OptPath {
    const EXPECTS: &'static str = "a file path or #null";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let e = read::single(node, cx, Self::EXPECTS)?;
        match e.value() {
            KdlValue::Null => Ok(OptPath::default()),
            // DD treats these strings as "no init image" (DD:1140).
            KdlValue::String(s) if matches!(s.as_str(), "" | "none" | "None" | "NONE") => {
                Ok(OptPath::default())
            }
            KdlValue::String(s) => Ok(OptPath {
                written: Some(s.clone()),
                resolved: Some(cx.file.dir().join(s)),
            }),
            _ => Err(read::expected(e, cx, Self::EXPECTS)),
        }
    }
    fn to_json(&self) -> Value {
        self.written.clone().map_or(Value::Null, Value::String)
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            Value::Null => Ok("#null".into()),
            Value::String(s) if matches!(s.as_str(), "" | "none" | "None" | "NONE") => {
                Ok("#null".into())
            }
            Value::String(s) => Ok(kdl_string(s)),
            other => Err(FromDdError::wrong_kind("a path or null", other)),
        }
    }
}

pub use disco_kernels::saves::IntermediateSaves;

impl SettingType for IntermediateSaves {
    const EXPECTS: &'static str = "a count, or a block `{ at STEP… }`";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        if let Some(children) = node.children() {
            let mut at = Vec::new();
            for child in children.nodes() {
                if child.name().value() != "at" {
                    return Err(Diagnostic::error(
                        format!(
                            "unknown node `{}` in `intermediate-saves`",
                            child.name().value()
                        ),
                        &cx.name(child),
                        "expected `at`",
                    ));
                }
                for e in read::args(child, cx, "step indices")? {
                    at.push(read::int(e, cx, 0, u32::MAX as i128)? as usize);
                }
            }
            at.sort_unstable();
            at.dedup();
            return Ok(IntermediateSaves::At(at));
        }
        let e = read::single(node, cx, Self::EXPECTS)?;
        Ok(IntermediateSaves::Count(
            read::int(e, cx, 0, u32::MAX as i128)? as usize,
        ))
    }
    fn to_json(&self) -> Value {
        match self {
            IntermediateSaves::Count(k) => Value::from(*k),
            IntermediateSaves::At(v) => Value::from(v.clone()),
        }
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            // DD saves at no step for an empty list, as for a count of 0.
            Value::Array(items) if items.is_empty() => Ok("0".into()),
            Value::Array(items) => {
                let steps = items
                    .iter()
                    .map(u32::kdl_from_json)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(format!("{{\n    at {}\n}}", steps.join(" ")))
            }
            other => u32::kdl_from_json(other),
        }
    }
}

/// A non-empty list of fractions in (0, 1] (`transformation-percent 0.09 0.5`).
#[derive(Clone, Debug, PartialEq)]
pub struct Fractions(pub Vec<f64>);

impl SettingType for Fractions {
    const EXPECTS: &'static str = "one or more fractions in (0, 1]";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let args = read::args(node, cx, Self::EXPECTS)?;
        if args.is_empty() {
            return Err(Diagnostic::error(
                format!("`{}` needs at least one fraction", node.name().value()),
                &cx.node(node),
                "expected fractions in (0, 1]",
            ));
        }
        let mut out = Vec::new();
        for e in args {
            let x = read::number(e, cx)?;
            if !(x > 0.0 && x <= 1.0) {
                return Err(Diagnostic::error(
                    format!("{x} is not a fraction in (0, 1]"),
                    &cx.entry(e),
                    "out of range",
                ));
            }
            out.push(x);
        }
        Ok(Fractions(out))
    }
    fn to_json(&self) -> Value {
        Value::from(self.0.clone())
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        let items = match v {
            Value::Array(items) => items.clone(),
            Value::String(s) => serde_json::from_str::<Vec<Value>>(s)
                .map_err(|_| "expected a list of fractions such as [0.09]".to_owned())?,
            other => vec![other.clone()],
        };
        if items.is_empty() {
            return Err("an empty list: at least one fraction is needed".into());
        }
        items
            .iter()
            .map(|x| {
                x.as_f64()
                    .map(fmt_number)
                    .ok_or_else(|| FromDdError::wrong_kind("numbers", x))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(" "))
    }
}

/// A percentage written DD's way (`"60%"`), e.g. `frames-skip-steps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percent(pub f64);

impl Percent {
    fn parse(s: &str) -> Option<f64> {
        let x: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
        (0.0..=100.0).contains(&x).then_some(x)
    }

    /// DD's `calc_frames_skip_steps = math.floor(steps * (pct / 100))`, in DD's float order:
    /// the ratio is rounded before the product, so 70 % of 90 steps is `90 · 0.7 = 62.99…`
    /// → 62, not 63. Artists' DD settings must give DD's count (tests/integration/dd_arithmetic.rs).
    pub fn of_steps(self, steps: u32) -> u32 {
        (steps as f64 * (self.0 / 100.0)).floor() as u32
    }
}

impl SettingType for Percent {
    const EXPECTS: &'static str = "a percentage such as \"60%\"";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let e = read::single(node, cx, Self::EXPECTS)?;
        let s = read::string(e, cx)?;
        Percent::parse(s).map(Percent).ok_or_else(|| {
            Diagnostic::error(
                format!("`{s}` is not a percentage between 0% and 100%"),
                &cx.entry(e),
                "expected e.g. \"60%\"",
            )
        })
    }
    fn to_json(&self) -> Value {
        Value::String(format!("{}%", fmt_number(self.0)))
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        match v {
            Value::String(s) if Percent::parse(s).is_some() => Ok(kdl_string(s.trim())),
            other => {
                Err(format!("expected a percentage like \"60%\", found {}", kind(other)).into())
            }
        }
    }
    fn numeric(&self) -> Option<f64> {
        Some(self.0)
    }
}
