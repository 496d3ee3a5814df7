//! Text and image prompts keyed by frame (`text_prompts`, `image_prompts`; §3).
//!
//! ```kdl
//! text-prompts "a lighthouse" "yellow color scheme:2"      // frame 0, DD's "text:weight"
//! text-prompts {
//!     frame 0 "a lighthouse" "sky:-1"
//!     frame 100 {
//!         - "a storm at sea"
//!         - "ratio 16:9 framing" weight=0.5                 // explicit weight: text kept verbatim
//!     }
//! }
//! ```
//! DD's `"text:5"` suffix sets the weight and, unlike DD, is removed from the text sent to
//! CLIP (dd-algorithm.md §3.2 lists that leak as a defect).

use std::collections::BTreeMap;

use kdl::{KdlEntry, KdlNode};
use serde_json::Value;

use super::{FromDdError, SettingType, fmt_number, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};
use crate::source::Origin;

/// One prompt: text (or an image path) and its weight.
#[derive(Clone, Debug)]
pub struct Prompt {
    /// Text for CLIP, or the image path for image prompts, without any weight suffix.
    pub text: String,
    /// Relative weight; negative weights push away.
    pub weight: f64,
    /// DD's `:weight` suffix exactly as written after the text (`":5"`), when the weight came
    /// from one: DD tokenises the text with it (§3.2), so `prompt-tokenization "dd"` needs it.
    pub suffix: Option<String>,
    /// Where it was written.
    pub origin: Option<Origin>,
}

impl PartialEq for Prompt {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.weight == other.weight && self.suffix == other.suffix
    }
}

/// The prompts that start at one frame.
#[derive(Clone, Debug)]
pub struct PromptSet {
    /// In the order written.
    pub prompts: Vec<Prompt>,
    /// The node that declared the set (for "weights sum to zero").
    pub origin: Option<Origin>,
}

impl PartialEq for PromptSet {
    fn eq(&self, other: &Self) -> bool {
        self.prompts == other.prompts
    }
}

/// Prompts keyed by the frame they start at.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Prompts(pub BTreeMap<u32, PromptSet>);

impl Prompts {
    /// DD's default `text_prompts` (parameters.md).
    pub fn dd_default() -> Self {
        let set = |texts: &[(&str, f64)]| PromptSet {
            prompts: texts
                .iter()
                .map(|(t, w)| Prompt {
                    text: (*t).into(),
                    weight: *w,
                    // DD's default writes the weight five as "…:5".
                    suffix: (*w != 1.0).then(|| format!(":{}", fmt_number(*w))),
                    origin: None,
                })
                .collect(),
            origin: None,
        };
        Prompts(BTreeMap::from([
            (
                0,
                set(&[
                    (
                        "A beautiful painting of a singular lighthouse, shining its light across a tumultuous sea of blood by greg rutkowski and thomas kinkade, Trending on artstation.",
                        1.0,
                    ),
                    ("yellow color scheme", 1.0),
                ]),
            ),
            (
                100,
                set(&[
                    ("This set of prompts start at frame 100", 1.0),
                    ("This prompt has weight five", 5.0),
                ]),
            ),
        ]))
    }

    /// The set in force at `frame`: the last key ≤ frame, else the first key (DD's
    /// forward-fill then back-fill, §3.1).
    pub fn at(&self, frame: u32) -> Option<&PromptSet> {
        self.0
            .range(..=frame)
            .next_back()
            .or_else(|| self.0.iter().next())
            .map(|(_, s)| s)
    }
}

/// Splits DD's `"text:weight"` into (text, weight); `Err` is the byte range of a bad weight.
///
/// URLs keep their scheme colon (§3.2). A suffix that is not a number is an error: DD would
/// crash on it, and guessing would change what the artist meant.
pub fn split_weight(s: &str) -> Result<(String, f64), (usize, usize)> {
    let search_from = if s.starts_with("http://") || s.starts_with("https://") {
        s.find("//").map_or(0, |i| i + 2)
    } else {
        0
    };
    match s[search_from..].rfind(':').map(|i| i + search_from) {
        None => Ok((s.to_owned(), 1.0)),
        Some(i) => {
            let suffix = &s[i + 1..];
            match suffix.trim().parse::<f64>() {
                Ok(w) if w.is_finite() => Ok((s[..i].to_owned(), w)),
                // "http://host/a.png" has no weight; "http://host:8080/a.png" is DD's crash case
                _ if search_from > 0
                    && !s[search_from..i].contains('/')
                    && suffix.contains('/') =>
                {
                    Ok((s.to_owned(), 1.0))
                }
                _ => Err((i + 1, s.len())),
            }
        }
    }
}

fn prompt_from_entry(e: &KdlEntry, cx: Cx) -> Result<Prompt, Diagnostic> {
    let s = read::string(e, cx)?;
    let (text, weight) = split_weight(s).map_err(|(a, b)| {
        Diagnostic::error(
            format!("`{}` is not a prompt weight", &s[a..b]),
            &read::inner_origin(e, cx, a, b),
            "expected a number after the last `:`",
        )
        .with_help("DD reads the text after the last `:` as the weight; to keep a colon in the text, write `- \"…\" weight=1`")
    })?;
    let suffix = (text.len() < s.len()).then(|| s[text.len()..].to_owned());
    Ok(Prompt {
        text,
        weight,
        suffix,
        origin: Some(cx.entry(e)),
    })
}

fn prompt_item(node: &KdlNode, cx: Cx) -> Result<Prompt, Diagnostic> {
    let mut text = None;
    let mut weight = None;
    for e in node.entries() {
        match e.name().map(|n| n.value()) {
            None if text.is_none() => text = Some(e),
            None => {
                return Err(Diagnostic::error(
                    "a prompt item takes one text",
                    &cx.entry(e),
                    "extra value",
                ));
            }
            Some("weight") => weight = Some(read::number(e, cx)?),
            Some(other) => {
                return Err(Diagnostic::error(
                    format!("unknown property `{other}`"),
                    &cx.entry(e),
                    "expected `weight=`",
                ));
            }
        }
    }
    let Some(t) = text else {
        return Err(Diagnostic::error(
            "a prompt item needs its text",
            &cx.node(node),
            "expected `- \"text\"`",
        ));
    };
    match weight {
        // An explicit weight keeps the text verbatim, colons included.
        Some(w) => Ok(Prompt {
            text: read::string(t, cx)?.to_owned(),
            weight: w,
            suffix: None,
            origin: Some(cx.entry(t)),
        }),
        None => prompt_from_entry(t, cx),
    }
}

fn frame_set(node: &KdlNode, args: &[&KdlEntry], cx: Cx) -> Result<PromptSet, Diagnostic> {
    let mut prompts = args
        .iter()
        .map(|e| prompt_from_entry(e, cx))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(children) = node.children() {
        for item in children.nodes() {
            if item.name().value() != "-" {
                return Err(Diagnostic::error(
                    format!("unknown node `{}` in a prompt list", item.name().value()),
                    &cx.name(item),
                    "expected `- \"text\"`",
                ));
            }
            prompts.push(prompt_item(item, cx)?);
        }
    }
    Ok(PromptSet {
        prompts,
        origin: Some(cx.node(node)),
    })
}

impl SettingType for Prompts {
    const EXPECTS: &'static str = "prompt strings, or a block of `frame N \"…\"` sets";
    fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
        let mut map = BTreeMap::new();
        let positional: Vec<&KdlEntry> = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .collect();
        if let Some(p) = node.entries().iter().find(|e| e.name().is_some()) {
            return Err(Diagnostic::error(
                "prompts take no properties",
                &cx.entry(p),
                "unexpected property",
            )
            .with_help(
                "give a weight as `\"text:2\"` or as `- \"text\" weight=2` inside a block",
            ));
        }
        let mut frame0 = PromptSet {
            prompts: Vec::new(),
            origin: Some(cx.node(node)),
        };
        for e in &positional {
            frame0.prompts.push(prompt_from_entry(e, cx)?);
        }
        if let Some(children) = node.children() {
            for child in children.nodes() {
                match child.name().value() {
                    "frame" => {
                        let args: Vec<&KdlEntry> = child.entries().iter().collect();
                        let Some((first, rest)) = args.split_first() else {
                            return Err(Diagnostic::error(
                                "`frame` needs a frame number",
                                &cx.node(child),
                                "expected `frame N \"…\"`",
                            ));
                        };
                        if first.name().is_some() {
                            return Err(Diagnostic::error(
                                "`frame` needs a frame number first",
                                &cx.entry(first),
                                "expected a frame number",
                            ));
                        }
                        let f = read::int(first, cx, 0, u32::MAX as i128)? as u32;
                        let set = frame_set(child, rest, cx)?;
                        if map.insert(f, set).is_some() {
                            return Err(Diagnostic::error(
                                format!("frame {f} has two prompt sets"),
                                &cx.entry(first),
                                "repeated frame",
                            )
                            .with_help("merge the two sets into one `frame` node"));
                        }
                    }
                    "-" => frame0.prompts.push(prompt_item(child, cx)?),
                    other => {
                        return Err(Diagnostic::error(
                            format!("unknown node `{other}` in prompts"),
                            &cx.name(child),
                            "expected `frame N …` or `- \"text\"`",
                        ));
                    }
                }
            }
        }
        if !frame0.prompts.is_empty() {
            if map.contains_key(&0) {
                return Err(Diagnostic::error(
                    "frame 0 has prompts both outside and inside `frame 0`",
                    &cx.node(node),
                    "two sets for frame 0",
                ));
            }
            map.insert(0, frame0);
        }
        Ok(Prompts(map))
    }
    fn to_json(&self) -> Value {
        let mut obj = serde_json::Map::new();
        for (frame, set) in &self.0 {
            let list = set
                .prompts
                .iter()
                .map(|p| {
                    if let Some(suffix) = &p.suffix {
                        Value::String(format!("{}{suffix}", p.text))
                    } else if p.weight == 1.0 && !p.text.contains(':') {
                        Value::String(p.text.clone())
                    } else {
                        Value::String(format!("{}:{}", p.text, fmt_number(p.weight)))
                    }
                })
                .collect();
            obj.insert(frame.to_string(), Value::Array(list));
        }
        Value::Object(obj)
    }
    /// Empty prompts give empty text: the importer then writes the bare node (`text-prompts`
    /// = no prompts) rather than an empty block.
    fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
        let strings = |list: &Value| -> Result<Vec<String>, FromDdError> {
            match list {
                Value::Array(items) => items
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(kdl_string)
                            .ok_or_else(|| FromDdError::wrong_kind("prompt strings", s))
                    })
                    .collect(),
                Value::String(s) => Ok(vec![kdl_string(s)]),
                Value::Null => Ok(Vec::new()),
                other => Err(FromDdError::wrong_kind("a list of prompts", other)),
            }
        };
        let mut frames: Vec<(u32, Vec<String>)> = match v {
            Value::Null => Vec::new(),
            Value::Object(map) => map
                .iter()
                .map(|(k, list)| {
                    let f = k.trim().parse::<u32>().map_err(|_| {
                        FromDdError::Invalid(format!(
                            "frame key \"{}\" is not a whole number",
                            k.chars().take(40).collect::<String>()
                        ))
                    })?;
                    Ok((f, strings(list)?))
                })
                .collect::<Result<_, FromDdError>>()?,
            list @ (Value::Array(_) | Value::String(_)) => vec![(0, strings(list)?)],
            other => {
                return Err(FromDdError::wrong_kind("prompts keyed by frame", other));
            }
        };
        frames.sort_by_key(|f| f.0);
        if let Some(w) = frames.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("frame {} is keyed twice", w[0].0).into());
        }
        if frames.iter().all(|(_, texts)| texts.is_empty()) {
            return Ok(String::new());
        }
        let lines: Vec<String> = frames
            .iter()
            .map(|(f, texts)| {
                let mut line = format!("    frame {f}");
                for t in texts {
                    line.push(' ');
                    line.push_str(t);
                }
                line
            })
            .collect();
        Ok(format!("{{\n{}\n}}", lines.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_suffix_is_split_off() {
        assert_eq!(split_weight("rocky beach:2").unwrap().0, "rocky beach");
        assert_eq!(split_weight("sky:-1").unwrap().1, -1.0);
        assert_eq!(split_weight("plain").unwrap().1, 1.0);
    }

    #[test]
    fn urls_keep_their_scheme() {
        let (t, w) = split_weight("https://example.org/a.png:3").unwrap();
        assert_eq!((t.as_str(), w), ("https://example.org/a.png", 3.0));
        let (t, w) = split_weight("http://example.org/a.png").unwrap();
        assert_eq!((t.as_str(), w), ("http://example.org/a.png", 1.0));
    }

    #[test]
    fn non_numeric_suffix_is_an_error() {
        let (a, b) = split_weight("a photo: 4k").unwrap_err();
        assert_eq!(&"a photo: 4k"[a..b], " 4k");
    }

    #[test]
    fn the_suffix_is_kept_as_written_for_dd_tokens() {
        // DD's default prompt "This prompt has weight five:5" (parameters.md)
        let p = Prompts::dd_default();
        let five = &p.at(100).unwrap().prompts[1];
        assert_eq!((five.weight, five.suffix.as_deref()), (5.0, Some(":5")));
        assert_eq!(p.at(0).unwrap().prompts[0].suffix, None);
        assert_eq!(
            p.to_json()["100"][1],
            Value::from("This prompt has weight five:5")
        );
    }

    #[test]
    fn set_in_force_is_forward_then_back_filled() {
        let p = Prompts::dd_default();
        assert_eq!(p.at(0).unwrap().prompts.len(), 2);
        assert_eq!(p.at(99).unwrap().prompts[1].text, "yellow color scheme");
        assert_eq!(p.at(500).unwrap().prompts[1].weight, 5.0);
    }
}
