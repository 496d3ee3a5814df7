//! Render traces (docs/trace.md): every random choice and intermediate result of one render,
//! written so that an independent PyTorch replay (`onnx-export/disco_export/reference`) can
//! compare itself with disco step by step.
//!
//! `tensors.bin` holds every tensor as little-endian f32, concatenated; `trace.json` indexes
//! it. Tracing costs memory proportional to everything a render computes: it is for tests
//! and debugging, not for builds.

use std::path::Path;

use ndarray::{ArrayBase, Data, Dimension};
use serde_json::{Value, json};

use super::cutouts::augment::{AugParams, Jitter, Ties};
use super::cutouts::dango::CutPlan;
use super::guidance::{Draws, Losses, TieRecord};

/// The trace format written (docs/trace.md).
pub const FORMAT: &str = "disco-trace/2";

/// Augmentation clamp decisions whose blend lies within this distance of 0 or 1 are recorded
/// (`clamp_ties`, docs/trace.md). Float32 rounding differences between ORT and PyTorch upstream
/// of the clamps are ~1e-7 absolute on values of order 1; ten times more leaves room while
/// keeping the record to a handful of elements per evaluation.
pub const TIE_MARGIN: f32 = 1e-5;

/// Collects a trace in memory.
#[derive(Debug, Default)]
pub struct Trace {
    bin: Vec<f32>,
    /// The index being built (`trace.json`).
    pub doc: serde_json::Map<String, Value>,
    /// Model evaluations of the step in progress.
    pub evals: Vec<Value>,
    /// Noise drawn during the step in progress.
    pub noise: Vec<Value>,
    /// Finished steps.
    pub steps: Vec<Value>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Trace::default()
    }

    /// Stores a tensor and returns its reference `{offset, shape}`.
    pub fn tensor<S: Data<Elem = f32>, D: Dimension>(&mut self, a: &ArrayBase<S, D>) -> Value {
        let offset = self.bin.len();
        self.bin.extend(a.iter().copied());
        json!({"offset": offset, "shape": a.shape()})
    }

    /// The JSON of one cond_fn call's random choices (per model, per batch).
    pub fn draws(&mut self, draws: &Draws) -> Value {
        let per_model: Vec<Value> = draws
            .batches
            .iter()
            .map(|batches| {
                Value::Array(
                    batches
                        .iter()
                        .map(|(plan, aug)| self.batch(plan, aug.as_ref()))
                        .collect(),
                )
            })
            .collect();
        Value::Array(per_model)
    }

    fn batch(&mut self, plan: &CutPlan, aug: Option<&AugParams>) -> Value {
        let inner: Vec<Value> = plan
            .inner
            .iter()
            .map(|c| json!({"size": c.size, "oy": c.oy, "ox": c.ox, "gray": c.gray}))
            .collect();
        let aug = aug.map(|p| {
            let noise: Vec<Value> = p.noise.iter().map(|n| self.tensor(n)).collect();
            let order: Vec<&str> = p
                .order
                .iter()
                .map(|j| match j {
                    Jitter::Brightness => "brightness",
                    Jitter::Contrast => "contrast",
                    Jitter::Saturation => "saturation",
                    Jitter::Hue => "hue",
                })
                .collect();
            json!({
                "flip": p.flip, "noise": noise, "angle": p.angle, "translate": [p.translate.0, p.translate.1],
                "gray": p.gray, "brightness": p.brightness, "contrast": p.contrast,
                "saturation": p.saturation, "hue": p.hue, "order": order,
            })
        });
        json!({
            "plan": {"h": plan.h, "w": plan.w, "r": plan.r, "overview": plan.overview, "inner": inner},
            "aug": aug,
        })
    }

    /// The JSON of one cond_fn call's clamp ties: `[model][batch]` of
    /// `{"op": [..], "index": [..], "passed": [..], "hue": {"pixel": [..], "imax": [..],
    /// "imin": [..], "sector": [..], "passed": [[p, q, t], ..], "rgb": [[r, g, b], ..]}}`
    /// (parallel arrays).
    pub fn ties(record: &TieRecord) -> Value {
        let batch = |t: &Ties| {
            let (c, h) = (&t.clamps, &t.hue);
            json!({
                "op": c.iter().map(|t| t.op).collect::<Vec<_>>(),
                "index": c.iter().map(|t| t.index).collect::<Vec<_>>(),
                "passed": c.iter().map(|t| t.passed).collect::<Vec<_>>(),
                "hue": {
                    "pixel": h.iter().map(|t| t.pixel).collect::<Vec<_>>(),
                    "imax": h.iter().map(|t| t.imax).collect::<Vec<_>>(),
                    "imin": h.iter().map(|t| t.imin).collect::<Vec<_>>(),
                    "sector": h.iter().map(|t| t.sector).collect::<Vec<_>>(),
                    "passed": h.iter().map(|t| t.passed).collect::<Vec<_>>(),
                    "rgb": h.iter().map(|t| t.rgb).collect::<Vec<_>>(),
                },
            })
        };
        Value::Array(
            record
                .ties
                .iter()
                .map(|batches| batches.iter().map(batch).collect())
                .collect(),
        )
    }

    /// The JSON of a loss record.
    pub fn losses(l: &Losses) -> Value {
        json!({"clip": l.clip, "tv": l.tv, "sat": l.sat, "range": l.range, "init": l.init})
    }

    /// Writes `trace.json` and `tensors.bin` into `dir` (created if needed).
    pub fn write(mut self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        self.doc.insert(
            "steps".into(),
            Value::Array(std::mem::take(&mut self.steps)),
        );
        let bytes: Vec<u8> = self.bin.iter().flat_map(|v| v.to_le_bytes()).collect();
        disco_fsutil::write_atomic(&dir.join("tensors.bin"), &bytes)?;
        let text = serde_json::to_string_pretty(&Value::Object(self.doc))
            .map_err(std::io::Error::other)?;
        disco_fsutil::write_atomic(&dir.join("trace.json"), text.as_bytes())
    }
}
