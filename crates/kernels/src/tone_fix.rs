//! progrock's brightness and contrast correction (its `fix_brightness_contrast`).
//!
//! Early in a run (steps s < 0.3·steps, every `interval`-th), progrock measures the unguided
//! x̂0 as an 8-bit image: its brightness is the mean of the channels' means, its contrast the
//! mean of their population standard deviations (PIL's `ImageStat`). If one of four rules
//! fires (too bright, too dark, too contrasty, too flat; the first that fires wins), the image
//! is enhanced as PIL's `ImageEnhance` does it and the sampler restarts from it. The
//! arithmetic here is Pillow's, byte for byte (`tests/golden-gen/tone_golden.py`).

use ndarray::{Array3, Array4, ArrayView4};
use serde::{Deserialize, Serialize};

/// One of the four corrections: fires when the measure is past `threshold` and the step is
/// past `start`, and enhances by `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The measure (0–255) past which the rule fires.
    pub threshold: f64,
    /// The enhancement factor (PIL's: 1 leaves the image as it is).
    pub amount: f64,
    /// The rule fires only at steps s > start.
    pub start: u32,
}

/// Which correction fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// Brightness above its threshold: darkened.
    HighBrightness,
    /// Brightness below its threshold: brightened.
    LowBrightness,
    /// Contrast above its threshold: flattened.
    HighContrast,
    /// Contrast below its threshold: strengthened.
    LowContrast,
}

impl Fix {
    /// progrock's words for it.
    pub fn name(self) -> &'static str {
        match self {
            Fix::HighBrightness => "high brightness",
            Fix::LowBrightness => "low brightness",
            Fix::HighContrast => "high contrast",
            Fix::LowContrast => "low contrast",
        }
    }
}

/// The correction's settings; a rule that is off is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ToneFix {
    /// Measure every `interval`-th step.
    pub interval: u32,
    /// Too bright.
    pub high_brightness: Option<Rule>,
    /// Too dark.
    pub low_brightness: Option<Rule>,
    /// Too contrasty.
    pub high_contrast: Option<Rule>,
    /// Too flat.
    pub low_contrast: Option<Rule>,
    /// The LPIPS weight toward the corrected image once the sampler restarts from it (progrock
    /// keeps its `init_scale` in force: the restart's image becomes cond_fn's init).
    pub init_scale: f64,
}

impl ToneFix {
    /// Whether progrock measures after the step that leaves `k_next` as the next index (its
    /// `s = steps − cur_t` with `cur_t = k_next`), and the step number `s`.
    fn measures(&self, steps: usize, k_next: usize) -> Option<u32> {
        let s = steps.checked_sub(k_next)?;
        let due = self.interval > 0 && s % self.interval as usize == 0;
        (due && (s as f64) < steps as f64 * 0.3).then_some(s as u32)
    }

    /// The correction after the step that leaves `k_next` as the next index, given that
    /// step's unguided x̂0 (`[1, 3, H, W]` in [−1, 1]): which rule fired and the corrected image
    /// in [−1, 1], or `None`.
    pub fn check(
        &self,
        steps: usize,
        k_next: usize,
        pred_x0: ArrayView4<f32>,
    ) -> Option<(Fix, Array4<f32>)> {
        let s = self.measures(steps, k_next)?;
        let img = to_u8(pred_x0);
        let (brightness, contrast) = measure(&img);
        let fires = |rule: Option<Rule>, above: bool, value: f64| {
            rule.filter(|r| {
                s > r.start
                    && if above {
                        value > r.threshold
                    } else {
                        value < r.threshold
                    }
            })
        };
        let (fix, out) = if let Some(r) = fires(self.high_brightness, true, brightness) {
            (Fix::HighBrightness, enhance_brightness(&img, r.amount))
        } else if let Some(r) = fires(self.low_brightness, false, brightness) {
            (Fix::LowBrightness, enhance_brightness(&img, r.amount))
        } else if let Some(r) = fires(self.high_contrast, true, contrast) {
            (Fix::HighContrast, enhance_contrast(&img, r.amount))
        } else if let Some(r) = fires(self.low_contrast, false, contrast) {
            (Fix::LowContrast, enhance_contrast(&img, r.amount))
        } else {
            return None;
        };
        Some((fix, from_u8(&out)))
    }
}

/// x̂0 (`[1, 3, H, W]`, [−1, 1]) → 8-bit `[H, W, 3]` as torchvision's `to_pil_image` makes it
/// from `(x + 1)/2` clamped: ×255, truncated.
pub fn to_u8(x: ArrayView4<f32>) -> Array3<u8> {
    let (_, _, h, w) = x.dim();
    Array3::from_shape_fn((h, w, 3), |(y, i, c)| {
        (255.0 * ((x[[0, c, y, i]] + 1.0) / 2.0).clamp(0.0, 1.0)) as u8
    })
}

/// 8-bit `[H, W, 3]` → `[1, 3, H, W]` in [−1, 1], as `to_tensor(img)·2 − 1`.
pub fn from_u8(img: &Array3<u8>) -> Array4<f32> {
    let (h, w, _) = img.dim();
    Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
        f32::from(img[[y, x, c]]) / 255.0 * 2.0 - 1.0
    })
}

/// (brightness, contrast): the mean over channels of each channel's mean and population
/// standard deviation, as `ImageStat.Stat` computes them (sums in double precision).
pub fn measure(img: &Array3<u8>) -> (f64, f64) {
    let n = (img.len() / 3) as f64;
    let (mut mean, mut std) = (0.0, 0.0);
    for c in 0..3 {
        let (mut sum, mut sum2) = (0.0f64, 0.0f64);
        for &v in img.index_axis(ndarray::Axis(2), c) {
            let v = f64::from(v);
            sum += v;
            sum2 += v * v;
        }
        let m = sum / n;
        mean += m;
        std += (sum2 / n - m * m).max(0.0).sqrt();
    }
    (mean / 3.0, std / 3.0)
}

/// `ImageEnhance.Brightness(img).enhance(factor)`: a blend from black.
pub fn enhance_brightness(img: &Array3<u8>, factor: f64) -> Array3<u8> {
    img.mapv(|v| blend(0, v, factor as f32))
}

/// `ImageEnhance.Contrast(img).enhance(factor)`: a blend from the gray of the image's mean
/// luma (PIL's `convert("L")`, rounded).
pub fn enhance_contrast(img: &Array3<u8>, factor: f64) -> Array3<u8> {
    let (h, w, _) = img.dim();
    let mut sum = 0u64;
    for y in 0..h {
        for x in 0..w {
            sum += u64::from(luma(img[[y, x, 0]], img[[y, x, 1]], img[[y, x, 2]]));
        }
    }
    let mean = (sum as f64 / (h * w) as f64 + 0.5) as u8;
    img.mapv(|v| blend(mean, v, factor as f32))
}

/// Pillow's RGB → L: ITU-R 601 weights in 16-bit fixed point, rounded.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

/// Pillow's `ImagingBlend` for one channel: `in1 + α·(in2 − in1)` in single precision,
/// clipped to [0, 255] and truncated.
fn blend(in1: u8, in2: u8, alpha: f32) -> u8 {
    let t = f32::from(in1) + alpha * (f32::from(in2) - f32::from(in1));
    t.clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn golden() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/tone/pil_enhance.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn image(case: &Value, key: &str) -> Array3<u8> {
        let (w, h) = (
            case["width"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
        );
        let px: Vec<u8> = case[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        Array3::from_shape_vec((h, w, 3), px).unwrap()
    }

    #[test]
    fn measures_and_enhancements_match_pillow_byte_for_byte() {
        let g = golden();
        let mut checked = 0;
        for case in g["cases"].as_array().unwrap() {
            let img = image(case, "pixels");
            let (b, c) = measure(&img);
            let (gb, gc) = (
                case["brightness"].as_f64().unwrap(),
                case["contrast"].as_f64().unwrap(),
            );
            assert!((b - gb).abs() <= 1e-9 * gb.abs().max(1.0), "{b} vs {gb}");
            assert!((c - gc).abs() <= 1e-9 * gc.abs().max(1.0), "{c} vs {gc}");
            for e in case["enhanced"].as_array().unwrap() {
                let factor = e["factor"].as_f64().unwrap();
                let want = {
                    let mut e = e.clone();
                    e["width"] = case["width"].clone();
                    e["height"] = case["height"].clone();
                    image(&e, "pixels")
                };
                let got = match e["kind"].as_str().unwrap() {
                    "brightness" => enhance_brightness(&img, factor),
                    _ => enhance_contrast(&img, factor),
                };
                assert_eq!(got, want, "{} × {factor}", e["kind"]);
                checked += 1;
            }
        }
        assert_eq!(checked, 32);
    }

    fn rules() -> ToneFix {
        ToneFix {
            interval: 10,
            high_brightness: Some(Rule {
                threshold: 180.0,
                amount: 0.85,
                start: 0,
            }),
            low_brightness: Some(Rule {
                threshold: 40.0,
                amount: 1.15,
                start: 0,
            }),
            high_contrast: None,
            low_contrast: Some(Rule {
                threshold: 20.0,
                amount: 2.0,
                start: 20,
            }),
            init_scale: 1000.0,
        }
    }

    #[test]
    fn progrock_measures_every_interval_in_the_first_three_tenths() {
        let t = rules();
        // s = steps − k_next: 10, 20 measured at 100 steps; 30 is not below 0.3·100
        let due: Vec<u32> = (0..100).rev().filter_map(|k| t.measures(100, k)).collect();
        assert_eq!(due, [10, 20]);
    }

    #[test]
    fn the_first_rule_that_fires_wins_and_start_is_exclusive() {
        let t = rules();
        // a dark, flat image: low brightness fires (listed before low contrast)
        let dark = Array4::from_elem((1, 3, 4, 4), -0.9f32);
        let (fix, out) = t.check(100, 90, dark.view()).unwrap();
        assert_eq!(fix, Fix::LowBrightness);
        assert!(out.iter().all(|&v| v > -0.9), "brightened");
        // mid gray, flat: only low contrast, which needs s > 20
        let flat = Array4::from_elem((1, 3, 4, 4), 0.0f32);
        assert!(t.check(100, 80, flat.view()).is_none());
        let mut t2 = t.clone();
        t2.low_contrast.as_mut().unwrap().start = 10;
        assert_eq!(t2.check(100, 80, flat.view()).unwrap().0, Fix::LowContrast);
        // not a measured step
        assert!(t.check(100, 85, dark.view()).is_none());
    }
}
