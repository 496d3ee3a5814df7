//! `voronoi-palette`: the colours of a Voronoi init's regions, as `"#RRGGBB"` strings or as
//! the CLI port writes them, 32-bit `0xRRGGBBAA` integers (the alpha byte is dropped, as
//! the port's `convert("RGB")` drops it). No colours: the port's generated default.

use kdl::{KdlNode, KdlValue};
use serde_json::Value;

use super::{FromDdError, SettingType, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};

/// Most colours a palette holds (the port's palettes hold a handful).
pub const MAX_COLOURS: usize = 4096;

/// RGB colours; empty = the generated default palette.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Colours(pub Vec<[u8; 3]>);

fn hex(s: &str) -> Option<[u8; 3]> {
    let h = s.trim().strip_prefix('#')?;
    if h.len() != 6 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

fn rgba(v: u32) -> [u8; 3] {
    [(v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8]
}

fn show(c: &[u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

const EXPECTED: &str = "\"#RRGGBB\" or a 0xRRGGBBAA integer";

impl SettingType for Colours {
    const EXPECTS: &'static str = "colours, each \"#RRGGBB\" or 0xRRGGBBAA";

    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let args = read::args(node, cx, Self::EXPECTS)?;
        if args.len() > MAX_COLOURS {
            return Err(Diagnostic::error(
                format!("more than {MAX_COLOURS} colours"),
                &cx.node(node),
                "too many colours",
            ));
        }
        let mut out = Vec::with_capacity(args.len());
        for e in args {
            let colour = match e.value() {
                KdlValue::String(s) => hex(s),
                KdlValue::Integer(_) => Some(rgba(read::int(e, cx, 0, u32::MAX as i128)? as u32)),
                _ => None,
            };
            out.push(colour.ok_or_else(|| {
                Diagnostic::error(
                    format!("not a colour: expected {EXPECTED}"),
                    &cx.entry(e),
                    "not a colour",
                )
            })?);
        }
        Ok(Colours(out))
    }

    fn to_json(&self) -> Value {
        Value::from(self.0.iter().map(show).collect::<Vec<_>>())
    }

    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        let Value::Array(items) = v else {
            return Err(FromDdError::wrong_kind("a list of colours", v));
        };
        if items.len() > MAX_COLOURS {
            return Err(format!("more than {MAX_COLOURS} colours").into());
        }
        items
            .iter()
            .map(|x| match x {
                Value::Number(n) => match n.as_u64().and_then(|v| u32::try_from(v).ok()) {
                    Some(v) => Ok(format!("0x{v:08X}")),
                    None => Err(format!("{n} is not a 0xRRGGBBAA colour").into()),
                },
                Value::String(s) => match hex(s) {
                    Some(c) => Ok(kdl_string(&show(&c))),
                    None => Err(format!("not a colour: expected {EXPECTED}").into()),
                },
                other => Err(FromDdError::wrong_kind("colours", other)),
            })
            .collect::<Result<Vec<_>, FromDdError>>()
            .map(|v| v.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_ports_rgba_integers_and_hex_strings() {
        assert_eq!(rgba(0xFDA4BAFF), [0xFD, 0xA4, 0xBA]);
        assert_eq!(hex("#fda4ba"), Some([0xFD, 0xA4, 0xBA]));
        assert_eq!(hex("fda4ba"), None);
        assert_eq!(hex("#fda4b"), None);
        assert_eq!(
            Colours::kdl_from_json(&json!([4255431423u64, "#000000"])).unwrap(),
            "0xFDA4BAFF \"#000000\""
        );
        assert!(Colours::kdl_from_json(&json!([-1])).is_err());
        assert!(Colours::kdl_from_json(&json!(["red"])).is_err());
    }
}
