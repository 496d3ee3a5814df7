//! Value types of the `custom-model` architecture settings: guided-diffusion's signed counts
//! (`num_head_channels -1`) and its comma-separated lists (`attention_resolutions "32, 16, 8"`,
//! `channel_mult ""`), as DD's custom model cell and DD forks' `custom_model_*` write them.

use kdl::{KdlNode, KdlValue};
use serde_json::Value;

use super::{FromDdError, SettingType, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};

impl SettingType for i32 {
    const EXPECTS: &'static str = "a whole number (may be -1)";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let e = read::single(node, cx, Self::EXPECTS)?;
        Ok(read::int(e, cx, i32::MIN as i128, i32::MAX as i128)? as i32)
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        let whole = |x: f64| x.fract() == 0.0 && (i32::MIN as f64..=i32::MAX as f64).contains(&x);
        match v {
            Value::Number(n) if n.as_f64().is_some_and(whole) => {
                Ok(format!("{}", n.as_f64().unwrap_or_default() as i64))
            }
            Value::String(s) if s.trim().parse::<i32>().is_ok() => Ok(s.trim().to_owned()),
            other => Err(FromDdError::wrong_kind("a whole number", other)),
        }
    }
    fn numeric(&self) -> Option<f64> {
        Some(*self as f64)
    }
}

/// A comma-separated list of numbers as guided-diffusion reads it (`"32, 16, 8"`; `""` =
/// the default for the image size), kept as written in its canonical form `32,16,8`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NumberList(pub String);

impl NumberList {
    /// A list from DD's text; `Err` names the first part that is not a positive number.
    pub fn parse(text: &str) -> Result<NumberList, String> {
        let parts: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        for p in &parts {
            match p.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => {}
                _ => return Err(format!("`{p}` is not a positive number")),
            }
        }
        Ok(NumberList(parts.join(",")))
    }

    /// The numbers (empty for `""`).
    pub fn values(&self) -> Vec<f64> {
        self.0.split(',').filter_map(|p| p.parse().ok()).collect()
    }
}

impl SettingType for NumberList {
    const EXPECTS: &'static str = "comma-separated numbers in a string, e.g. \"32,16,8\"";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let e = read::single(node, cx, Self::EXPECTS)?;
        let text = match e.value() {
            KdlValue::String(s) => s.clone(),
            KdlValue::Integer(i) => i.to_string(),
            _ => return Err(read::expected(e, cx, Self::EXPECTS)),
        };
        NumberList::parse(&text)
            .map_err(|why| Diagnostic::error(why, &cx.entry(e), "not a list of numbers"))
    }
    fn to_json(&self) -> Value {
        Value::String(self.0.clone())
    }
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(a) => a
                .iter()
                .map(|x| match x {
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(FromDdError::wrong_kind("numbers", other)),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => return Err(FromDdError::wrong_kind("comma-separated numbers", other)),
        };
        Ok(kdl_string(&NumberList::parse(&text)?.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guided_diffusion_lists_and_signed_counts_import() {
        let kdl = |v: Value| NumberList::kdl_from_json(&v);
        assert_eq!(kdl(Value::from("32, 16, 8")), Ok("\"32,16,8\"".into()));
        assert_eq!(kdl(Value::from(16)), Ok("\"16\"".into()));
        assert_eq!(
            kdl(serde_json::json!([0.5, 1, 2])),
            Ok("\"0.5,1,2\"".into())
        );
        assert_eq!(kdl(Value::from("")), Ok("\"\"".into()));
        assert!(kdl(Value::from("16;8")).is_err());
        assert_eq!(
            NumberList::parse("0.5, 1,2").unwrap().values(),
            vec![0.5, 1.0, 2.0]
        );
        assert_eq!(i32::kdl_from_json(&Value::from(-1)), Ok("-1".into()));
        assert_eq!(i32::kdl_from_json(&Value::from("64")), Ok("64".into()));
        assert!(i32::kdl_from_json(&Value::from(1.5)).is_err());
    }
}
