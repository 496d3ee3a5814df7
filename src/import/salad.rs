//! The CLI port's prompt salad (entmike, `dd_prompt_salad.py`): with `prompt_salad` on, the
//! port draws `prompt_salad_amount` prompts from `prompt_salad_template`, replacing each
//! `{token}` by a random line of `<prompt_salad_path>/<token>.txt`, and appends each prompt to
//! `multipliers.text_prompts`, so every prompt is one run.
//!
//! The port draws with Python's unseeded `random`: its prompts differ on every run and no file
//! records them. The import draws the same kind of prompts once, from the same word files
//! (beside the settings file) with a seeded generator, and writes them as the multipliers'
//! prompt axis, so the project renders what the file asks for and renders it the same way
//! every time. Without the word files nothing can be drawn, and the import says so loudly.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::builder::Builder;
use super::known::truthy;
use super::report::Group;
use crate::fsutil;

/// The keys of the feature.
pub const KEYS: &[&str] = &[
    "prompt_salad",
    "prompt_salad_template",
    "prompt_salad_amount",
    "prompt_salad_path",
];

/// The port's defaults (`dd_args.py`).
const DEFAULT_TEMPLATE: &str =
    "{colors} {things} in the {custom/customword} shape of {shapes}, art by {artists}";
const DEFAULT_AMOUNT: u64 = 5;
const DEFAULT_PATH: &str = "prompt_salad";

/// Most prompts drawn (a sweep's own limit).
const MAX_AMOUNT: u64 = 10_000;
/// Largest word file read.
const MAX_WORD_FILE: u64 = 1 << 20;
/// Most distinct tokens in a template.
const MAX_TOKENS: usize = 64;

/// The drawn prompts and how they were drawn.
#[derive(Debug)]
pub struct Salad {
    /// One prompt per run.
    pub prompts: Vec<String>,
    /// The seed of the draw.
    pub seed: u64,
    /// The folder the word files came from, as the file names it.
    pub folder: String,
}

/// Draws the salad of a settings file at `file` (its word files are looked up beside it), if
/// the feature is on: `Ok(None)` when off, `Err(why)` when it cannot be drawn.
pub fn draw(map: &Map<String, Value>, file: &Path) -> Result<Option<Salad>, String> {
    if !map.get("prompt_salad").is_some_and(truthy) {
        return Ok(None);
    }
    let template = match map.get("prompt_salad_template") {
        None | Some(Value::Null) => DEFAULT_TEMPLATE,
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(format!("`prompt_salad_template` is not text: {other}")),
    };
    let amount = match map.get("prompt_salad_amount") {
        None | Some(Value::Null) => DEFAULT_AMOUNT,
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|x| x.fract() == 0.0 && *x >= 0.0)
                    .map(|x| x as u64)
            })
            .ok_or_else(|| format!("`prompt_salad_amount` is not a whole number: {v}"))?,
    };
    if amount > MAX_AMOUNT {
        return Err(format!(
            "`prompt_salad_amount` {amount} is more than {MAX_AMOUNT} prompts"
        ));
    }
    let folder = map
        .get("prompt_salad_path")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_PATH)
        .to_owned();
    let base = file.parent().unwrap_or(Path::new("")).join(&folder);
    let tokens = tokens(template)?;
    let mut words = Vec::with_capacity(tokens.len());
    for token in &tokens {
        words.push((token.as_str(), word_file(&base, token, &folder)?));
    }
    let seed = seed(map);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let prompts = (0..amount)
        .map(|_| fill(template, &words, &mut rng))
        .collect();
    Ok(Some(Salad {
        prompts,
        seed,
        folder,
    }))
}

/// Appends the prompts to `multipliers.text_prompts` as the port does (`{"0": [prompt]}`).
pub fn add_to_multipliers(map: &mut Map<String, Value>, prompts: &[String]) {
    let multipliers = map
        .entry("multipliers")
        .or_insert_with(|| Value::Object(Map::new()));
    if !multipliers.is_object() {
        *multipliers = Value::Object(Map::new());
    }
    let list = multipliers
        .as_object_mut()
        .expect("an object")
        .entry("text_prompts")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let list = list.as_array_mut().expect("an array");
    list.extend(prompts.iter().map(|p| json!({"0": [p]})));
}

impl Builder<'_> {
    /// Reports the salad: drawn (its prompts are in the multipliers' sweep), off, or loud.
    pub(super) fn salad(&mut self, salad: Result<Option<Salad>, String>) {
        match salad {
            Ok(Some(s)) => {
                for key in KEYS.iter().filter(|k| self.map.contains_key(**k)) {
                    self.imported.push(((*key).to_owned(), "sweep"));
                }
                self.notes.push(format!(
                    "the CLI port's prompt salad: {} prompts drawn once from {}/*.txt with seed {} (the port draws new ones on every run, unseeded) and swept as its multipliers",
                    s.prompts.len(),
                    s.folder,
                    s.seed
                ));
            }
            Ok(None) => {
                for key in KEYS.iter().filter(|k| self.map.contains_key(**k)) {
                    let v = self.map.get(*key);
                    let why = if *key == "prompt_salad" {
                        "the CLI port's prompt salad, off"
                    } else {
                        "tunes the CLI port's prompt salad, which is off"
                    };
                    self.skip(key, v, why, Group::OffOrDefault);
                }
            }
            Err(why) => {
                let v = self.map.get("prompt_salad");
                let why = format!("the CLI port's prompt salad cannot be drawn: {why}");
                self.skip("prompt_salad", v, why, Group::ChangesPicture);
            }
        }
    }
}

/// The `{token}`s of a template, as the port's regex `\{(.*?)\}` finds them, each once.
fn tokens(template: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let token = &after[..close];
        if !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
        if out.len() > MAX_TOKENS {
            return Err(format!("the template has more than {MAX_TOKENS} tokens"));
        }
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// The lines of the token's word file; an empty list when the file is empty (the port then
/// writes the token's name). A token must name a file inside the word folder.
fn word_file(base: &Path, token: &str, folder: &str) -> Result<Vec<String>, String> {
    let safe = !token.is_empty()
        && token.len() <= 100
        && token
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && token
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | ' '));
    if !safe {
        return Err(format!(
            "the template's token {{{}}} does not name a word file",
            token.escape_debug()
        ));
    }
    let path: PathBuf = base.join(format!("{token}.txt"));
    let text = fsutil::read_to_string_bounded(&path, MAX_WORD_FILE).map_err(|e| {
        format!(
            "the word file {folder}/{token}.txt could not be read ({e}); put the port's word files beside the settings file to draw the prompts"
        )
    })?;
    Ok(text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .collect())
}

/// The template with each token replaced by a random word of its file, or by its own name
/// when its file is empty (as the port does).
fn fill(template: &str, words: &[(&str, Vec<String>)], rng: &mut ChaCha8Rng) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push_str(&rest[..open]);
        let token = &after[..close];
        let list = words
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, l)| l.as_slice())
            .unwrap_or_default();
        if list.is_empty() {
            out.push_str(token);
        } else {
            out.push_str(&list[rng.random_range(0..list.len())]);
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The file's seed when it records a number (`seed`, else `set_seed`), else 0.
fn seed(map: &Map<String, Value>) -> u64 {
    ["seed", "set_seed"]
        .iter()
        .filter_map(|k| map.get(*k))
        .find_map(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(dir: &Path, name: &str, lines: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, lines).unwrap();
    }

    #[test]
    fn draws_each_token_from_its_word_file_reproducibly() {
        let tmp = tempfile::tempdir().unwrap();
        let salad = tmp.path().join("prompt_salad");
        words(&salad, "colors.txt", "red\ngreen\r\nblue\n");
        words(&salad, "mine/shapes.txt", "circle\nstar\n");
        words(&salad, "empty.txt", "");
        let map: Map<String, Value> = serde_json::from_value(json!({
            "prompt_salad": true,
            "prompt_salad_template": "a {colors} {mine/shapes}, {colors} again, {empty}",
            "prompt_salad_amount": 40,
            "set_seed": 8675309,
        }))
        .unwrap();
        let file = tmp.path().join("config.yml");
        let a = draw(&map, &file).unwrap().unwrap();
        assert_eq!((a.prompts.len(), a.seed), (40, 8675309));
        for p in &a.prompts {
            let parts: Vec<&str> = p.split([' ', ',']).filter(|s| !s.is_empty()).collect();
            assert!(["red", "green", "blue"].contains(&parts[1]), "{p}");
            assert!(["circle", "star"].contains(&parts[2]), "{p}");
            assert!(
                p.ends_with(", empty"),
                "an empty file gives the token's name: {p}"
            );
        }
        // each token is drawn anew where it appears; both colours vary over 40 prompts
        assert!(a.prompts.iter().any(|p| {
            let w: Vec<&str> = p.split([' ', ',']).filter(|s| !s.is_empty()).collect();
            w[1] != w[3]
        }));
        let b = draw(&map, &file).unwrap().unwrap();
        assert_eq!(a.prompts, b.prompts, "the same file draws the same prompts");
    }

    #[test]
    fn missing_files_hostile_tokens_and_huge_amounts_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("config.yml");
        let on = |extra: Value| {
            let mut m: Map<String, Value> =
                serde_json::from_value(json!({"prompt_salad": true})).unwrap();
            m.extend(extra.as_object().unwrap().clone());
            m
        };
        let missing = draw(&on(json!({"prompt_salad_template": "{colors}"})), &file).unwrap_err();
        assert!(missing.contains("prompt_salad/colors.txt"), "{missing}");
        for hostile in ["{../../etc/passwd}", "{/etc/passwd}", "{a\nb}", "{}"] {
            let e = draw(&on(json!({"prompt_salad_template": hostile})), &file).unwrap_err();
            assert!(e.contains("does not name a word file"), "{hostile}: {e}");
        }
        // a word file that is a FIFO or larger than the bound is refused, never read whole
        let words_dir = tmp.path().join("prompt_salad");
        std::fs::create_dir_all(&words_dir).unwrap();
        #[cfg(unix)]
        {
            let fifo = words_dir.join("pipe.txt");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            let e = draw(&on(json!({"prompt_salad_template": "{pipe}"})), &file).unwrap_err();
            assert!(e.contains("pipe.txt could not be read"), "{e}");
        }
        std::fs::write(
            words_dir.join("big.txt"),
            vec![b'a'; (MAX_WORD_FILE + 1) as usize],
        )
        .unwrap();
        let e = draw(&on(json!({"prompt_salad_template": "{big}"})), &file).unwrap_err();
        assert!(e.contains("big.txt could not be read"), "{e}");
        let e = draw(&on(json!({"prompt_salad_amount": 1e12})), &file).unwrap_err();
        assert!(e.contains("more than 10000"), "{e}");
        let off: Map<String, Value> =
            serde_json::from_value(json!({"prompt_salad": false})).unwrap();
        assert!(draw(&off, &file).unwrap().is_none());
    }
}
