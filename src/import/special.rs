//! The keys DD writes in pairs or derives: `width`/`height`/`width_height`, `seed`/`set_seed`,
//! and `diffusion_steps`/`timestep_respacing` (derived from `steps`).

use serde_json::Value;

use super::builder::Builder;
use super::known;
use super::report::Group;
use crate::project::schema::{self, Settings};

impl Builder<'_> {
    pub(super) fn size(&mut self) {
        let m = self.map;
        match (m.get("width"), m.get("height"), m.get("width_height")) {
            (w, h, Some(wh)) => {
                self.emit("width-height", "width_height", wh);
                let items = wh.as_array();
                for (key, v, i) in [("width", w, 0), ("height", h, 1)] {
                    let Some(v) = v else { continue };
                    let agrees = items
                        .and_then(|a| a.get(i))
                        .is_some_and(|x| known::same(x, v));
                    let why = if agrees {
                        "the same as width_height, which was imported".to_owned()
                    } else {
                        "disagrees with width_height, which was imported".to_owned()
                    };
                    self.skip(
                        key,
                        Some(v),
                        why,
                        if agrees {
                            Group::Bookkeeping
                        } else {
                            Group::ChangesPicture
                        },
                    );
                }
            }
            (Some(w), Some(h), None) => self.emit(
                "width-height",
                "width+height",
                &Value::Array(vec![w.clone(), h.clone()]),
            ),
            (Some(v), None, None) | (None, Some(v), None) => {
                let key = if m.contains_key("width") {
                    "width"
                } else {
                    "height"
                };
                let default = &schema::info("width-height").map(|i| i.default.clone());
                let i = usize::from(key == "height");
                let lossy = if default
                    .as_ref()
                    .and_then(|d| d.get(i))
                    .is_none_or(|d| !known::same(d, v))
                {
                    Group::ChangesPicture
                } else {
                    Group::OffOrDefault
                };
                self.skip(
                    key,
                    Some(v),
                    "width and height are imported together; the other is missing",
                    lossy,
                );
            }
            (None, None, None) => {}
        }
    }

    /// One `seed` line. DD records the seed it rendered with as `seed` and the setting it
    /// came from as `set_seed` (`'random_seed'` or the same number), so `seed` wins; the CLI
    /// port's configs have only `set_seed`.
    pub(super) fn seed(&mut self) {
        let m = self.map;
        match (m.get("seed"), m.get("set_seed")) {
            (Some(seed), Some(set)) => {
                self.emit("seed", "seed", seed);
                let random = set
                    .as_str()
                    .is_some_and(|s| matches!(s.trim(), "random_seed" | "random"));
                let (why, lossy) = if random {
                    (
                        "DD drew the recorded `seed` from it; that seed was imported",
                        Group::Bookkeeping,
                    )
                } else if known::same(seed, set) {
                    ("the same as `seed`, which was imported", Group::Bookkeeping)
                } else {
                    (
                        "disagrees with `seed`, which was imported",
                        Group::ChangesPicture,
                    )
                };
                self.skip("set_seed", Some(set), why, lossy);
            }
            (Some(v), None) => self.emit("seed", "seed", v),
            (None, Some(v)) => self.emit("seed", "set_seed", v),
            (None, None) => {}
        }
    }

    /// `diffusion_steps` and `timestep_respacing` are derived from `steps` (dd-algorithm.md
    /// §1 step 2); disco derives them too, so they are never written (a written one would
    /// make the project invalid at the first edit of `steps`). A recorded value that is not
    /// what `steps` gives means the file was not made by DD's own derivation.
    pub(super) fn derived(&mut self) {
        let steps = match self.map.get("steps") {
            None => Some(250),
            Some(v) => match v {
                // As `steps` reads it: whole numbers, also when written as floats (`250.0`).
                Value::Number(n) => n
                    .as_f64()
                    .filter(|x| x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(x))
                    .map(|x| x as u32),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            },
        };
        for key in ["diffusion_steps", "timestep_respacing"] {
            let Some(v) = self.map.get(key) else { continue };
            if v.is_null() {
                self.skip(key, Some(v), "None: derived from steps", Group::Bookkeeping);
                continue;
            }
            let Some(steps) = steps.filter(|s| *s > 0) else {
                self.skip(
                    key,
                    Some(v),
                    "derived from steps, which was not imported",
                    Group::Bookkeeping,
                );
                continue;
            };
            let (respacing, diffusion_steps) = Settings::derived_respacing(steps);
            let want = if key == "diffusion_steps" {
                Value::from(diffusion_steps)
            } else {
                Value::from(respacing)
            };
            if known::same(v, &want) {
                self.skip(
                    key,
                    Some(v),
                    "derived from steps, as DD does",
                    Group::Bookkeeping,
                );
            } else {
                let why = format!(
                    "DD derives {want} from steps {steps}; disco always derives it, so the file's value is not used"
                );
                self.skip(key, Some(v), why, Group::ChangesPicture);
            }
        }
    }
}
