//! The CLI port's Voronoi init (entmike/disco-diffusion-1): `init_generator "voronoi"`,
//! `voronoi_points`, `voronoi_palette_embed` and `voronoi_palette`, read together.
//!
//! The port paints the regions from `voronoi_palette_embed` (`mode: static` with a list of
//! 0xRRGGBBAA colours, or `mode: generated` with colour ranges). Without an embed it uses a
//! one-colour palette of transparent black, whatever `voronoi_palette` names (its
//! `render()` overwrites the file's palette), so those runs started from a black image:
//! import keeps that picture, and says so.

use serde_json::{Value, json};

use super::builder::Builder;
use super::report::Group;

/// The keys read here (the builder passes them over).
pub(super) const KEYS: &[&str] = &[
    "init_generator",
    "voronoi_points",
    "voronoi_palette",
    "voronoi_palette_embed",
];

/// The port's `palettes/default.yaml` ranges: disco's generated palette.
const DEFAULT_RANGES: [(&str, u64, u64); 3] =
    [("red", 0, 128), ("green", 0, 255), ("blue", 50, 255)];

impl Builder<'_> {
    pub(super) fn voronoi(&mut self) {
        let m = self.map;
        let generator = m.get("init_generator");
        let on = match generator.and_then(Value::as_str).map(str::trim) {
            None | Some("perlin") => false,
            Some("voronoi") => true,
            Some(_) => {
                let why = "not a generator the CLI port has (\"perlin\" or \"voronoi\")";
                self.skip("init_generator", generator, why, Group::ChangesPicture);
                false
            }
        };
        if !on {
            if let Some(v) = generator.filter(|v| v.as_str().map(str::trim) == Some("perlin")) {
                let why = "the CLI port's default: `perlin-init` decides on Perlin noise";
                self.skip("init_generator", Some(v), why, Group::OffOrDefault);
            }
            for key in &KEYS[1..] {
                if let Some(v) = m.get(*key) {
                    self.skip(
                        key,
                        Some(v),
                        "tunes the Voronoi init, which is off",
                        Group::OffOrDefault,
                    );
                }
            }
            return;
        }
        self.emit("voronoi-init", "init_generator", &Value::Bool(true));
        if let Some(v) = m.get("voronoi_points") {
            self.emit("voronoi-points", "voronoi_points", v);
        }
        if let Some(v) = m.get("voronoi_palette") {
            let why = "the CLI port does not read the palette file (see voronoi_palette_embed)";
            self.skip("voronoi_palette", Some(v), why, Group::Bookkeeping);
        }
        self.palette(m.get("voronoi_palette_embed"));
    }

    fn palette(&mut self, embed: Option<&Value>) {
        const KEY: &str = "voronoi_palette_embed";
        let Some(embed) = embed.filter(|v| !v.is_null()) else {
            self.notes.push(
                "`init_generator` \"voronoi\" without `voronoi_palette_embed`: the CLI port paints every region \
                 black (it overwrites the palette file's colours), so `voronoi-palette \"#000000\"` keeps that picture"
                    .into(),
            );
            self.emit("voronoi-palette", KEY, &json!(["#000000"]));
            return;
        };
        let mode = embed.get("mode").and_then(Value::as_str).map(str::trim);
        match (mode, embed.get("palette")) {
            (Some("static"), Some(list)) if list.as_array().is_some_and(|l| !l.is_empty()) => {
                self.emit("voronoi-palette", KEY, list);
            }
            (Some("generated"), _) if default_ranges(embed) => {
                let why = "the port's default colour ranges, which are disco's generated palette";
                self.skip(KEY, Some(embed), why, Group::OffOrDefault);
            }
            (Some("generated"), _) => {
                let why = "colour ranges other than the port's default: disco draws red 0–128, green 0–255, blue 50–255";
                self.skip(KEY, Some(embed), why, Group::ChangesPicture);
            }
            _ => {
                let why = "not a palette the CLI port reads (`mode: static` with `palette`, or `mode: generated`)";
                self.skip(KEY, Some(embed), why, Group::ChangesPicture);
            }
        }
    }
}

/// Whether a generated palette has the port's default ranges.
fn default_ranges(embed: &Value) -> bool {
    DEFAULT_RANGES.iter().all(|(channel, lo, hi)| {
        let range = &embed[channel];
        range["low"].as_u64() == Some(*lo) && range["high"].as_u64() == Some(*hi)
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::import::{Group, import};

    #[test]
    fn a_static_palette_is_kept_and_a_missing_one_is_the_ports_black() {
        let out = import(
            Path::new("v.yaml"),
            "init_generator: voronoi\nvoronoi_points: 100\nvoronoi_palette_embed:\n  mode: static\n  palette:\n  - 0xFDA4BAFF\n  - 0x000000FF\n",
        )
        .unwrap();
        assert!(out.kdl.contains("voronoi-init #true"), "{}", out.kdl);
        assert!(out.kdl.contains("voronoi-points 100"), "{}", out.kdl);
        assert!(
            out.kdl.contains("voronoi-palette 0xFDA4BAFF 0x000000FF"),
            "{}",
            out.kdl
        );
        assert_eq!(out.lossy().count(), 0);

        let out = import(
            Path::new("v.yaml"),
            "init_generator: voronoi\nvoronoi_palette: default.yaml\n",
        )
        .unwrap();
        assert!(
            out.kdl.contains("voronoi-palette \"#000000\""),
            "{}",
            out.kdl
        );
        assert_eq!(out.lossy().count(), 0);
    }

    #[test]
    fn generated_ranges_other_than_the_default_change_the_picture() {
        let yaml = "init_generator: voronoi\nvoronoi_palette_embed:\n  mode: generated\n  red: {low: 0, high: 255}\n  green: {low: 0, high: 255}\n  blue: {low: 0, high: 255}\n";
        let out = import(Path::new("v.yaml"), yaml).unwrap();
        let lossy: Vec<_> = out.lossy().map(|s| s.key.as_str()).collect();
        assert_eq!(lossy, ["voronoi_palette_embed"]);
        let out = import(
            Path::new("v.yaml"),
            "init_generator: perlin\nvoronoi_points: 5\n",
        )
        .unwrap();
        assert!(!out.kdl.contains("voronoi-"), "{}", out.kdl);
        assert!(out.skipped.iter().all(|s| s.group == Group::OffOrDefault));
    }
}
