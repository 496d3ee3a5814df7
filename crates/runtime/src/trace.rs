//! Render traces (docs/trace.md): every random choice and intermediate result of one render,
//! recorded so that an independent PyTorch replay (`onnx-export/disco_export/reference`) can
//! compare itself with disco step by step.
//!
//! [`Trace`] is a [`RenderObserver`]: pass it to
//! [`render_observed`](super::job::render_observed), then write [`Trace::into_files`] where
//! the trace belongs (the renderer writes no files). `tensors.bin` holds every tensor as
//! little-endian f32, concatenated; `trace.json` indexes it. Tracing costs memory
//! proportional to everything a render computes: it is for tests and debugging, not for
//! builds.

use ndarray::{Array4, ArrayBase, Data, Dimension};
use serde_json::{Map, Value, json};

use super::cutouts::augment::{AugParams, Jitter, Ties};
use super::cutouts::dango::CutPlan;
use super::guidance::{Draws, Losses, TieRecord};
use super::job::StepEvent;
use super::losses::RangeLoss;
use super::observer::{CondFnEval, DenoiserEval, RenderObserver, RenderStart};
use super::sampler::Mirroring;
use super::spec::RenderSpec;
use disco_plan::inputs::PerStep;

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
    /// The index being built (`trace.json`); a caller may add keys (the model set).
    pub doc: Map<String, Value>,
    /// Model evaluations of the step in progress.
    evals: Vec<Value>,
    /// The evaluation whose cond_fn has been recorded, waiting for its finished gradient.
    pending: Option<Map<String, Value>>,
    /// Noise drawn during the step in progress.
    noise: Vec<Value>,
    /// Finished steps.
    steps: Vec<Value>,
}

/// A finished trace's two files (docs/trace.md), for the caller to write into one directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFiles {
    /// `trace.json`: the index, pretty-printed.
    pub trace_json: String,
    /// `tensors.bin`: every tensor, little-endian f32, concatenated.
    pub tensors_bin: Vec<u8>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Trace::default()
    }

    /// Stores a tensor and returns its reference `{offset, shape}`.
    fn tensor<S: Data<Elem = f32>, D: Dimension>(&mut self, a: &ArrayBase<S, D>) -> Value {
        let offset = self.bin.len();
        self.bin.extend(a.iter().copied());
        json!({"offset": offset, "shape": a.shape()})
    }

    /// The JSON of one cond_fn call's random choices (per model, per batch).
    fn draws(&mut self, draws: &Draws) -> Value {
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
    fn ties(record: &TieRecord) -> Value {
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
    fn losses(l: &Losses) -> Value {
        json!({"clip": l.clip, "tv": l.tv, "sat": l.sat, "range": l.range, "init": l.init})
    }

    /// The two files of the trace recorded so far.
    pub fn into_files(mut self) -> TraceFiles {
        self.doc.insert(
            "steps".into(),
            Value::Array(std::mem::take(&mut self.steps)),
        );
        let tensors_bin: Vec<u8> = self.bin.iter().flat_map(|v| v.to_le_bytes()).collect();
        let trace_json = serde_json::to_string_pretty(&Value::Object(self.doc))
            .expect("a JSON value with string keys serialises");
        TraceFiles {
            trace_json,
            tensors_bin,
        }
    }
}

impl RenderObserver for Trace {
    fn clamp_tie_margin(&self) -> Option<f32> {
        Some(TIE_MARGIN)
    }

    fn start(&mut self, start: &RenderStart<'_>) {
        let spec = start.spec;
        self.doc.insert("format".into(), FORMAT.into());
        self.doc.insert("clamp_margin".into(), TIE_MARGIN.into());
        self.doc
            .insert("spec".into(), spec_json(spec, start.symmetry));
        let targets_json: Vec<Value> = start
            .targets
            .iter()
            .map(|tg| json!({"rows": self.tensor(&tg.rows), "weights": tg.weights}))
            .collect();
        self.doc.insert("targets".into(), targets_json.into());
        let init = spec
            .init
            .as_ref()
            .map(|i| self.tensor(i))
            .unwrap_or(Value::Null);
        self.doc.insert("init".into(), init);
        let x_start = self.tensor(start.x_start);
        self.doc.insert("x_start".into(), x_start);
    }

    /// Records everything of the evaluation but its finished gradient, which
    /// [`evaluated`](RenderObserver::evaluated) adds.
    fn cond_fn(&mut self, e: &CondFnEval<'_>) {
        let Value::Object(record) = json!({
            "k": e.at.k, "cur_t": e.at.cur_t, "eps": self.tensor(e.eps), "x": self.tensor(e.x), "draws": self.draws(e.draws),
            "clamp_ties": e.ties.map(Trace::ties),
            "losses": Trace::losses(e.losses), "grad_raw": self.tensor(e.grad_raw),
        }) else {
            unreachable!("json! of braces is an object")
        };
        self.pending = Some(record);
    }

    fn evaluated(&mut self, e: &DenoiserEval<'_>) {
        let record = match (self.pending.take(), e.grad) {
            (Some(mut record), Some(g)) => {
                record.insert("grad".into(), self.tensor(g));
                Value::Object(record)
            }
            _ => {
                json!({"k": e.at.k, "cur_t": e.at.cur_t, "eps": self.tensor(e.eps), "x": self.tensor(&e.x), "draws": [], "clamp_ties": [], "losses": Trace::losses(&Losses::default()), "grad_raw": null, "grad": null})
            }
        };
        self.evals.push(record);
    }

    fn noise(&mut self, z: &Array4<f32>) {
        let r = self.tensor(z);
        self.noise.push(r);
    }

    fn step(&mut self, s: &StepEvent<'_>) {
        let evals = std::mem::take(&mut self.evals);
        let z = self.noise.pop().unwrap_or(Value::Null);
        self.noise.clear();
        let x = evals.first().map(|e| e["x"].clone()).unwrap_or(Value::Null);
        let pred = self.tensor(&s.pred_x0);
        let x_next = s
            .resume
            .map(|r| self.tensor(&r.state.x))
            .unwrap_or(Value::Null);
        let step = json!({"j": s.j, "k": s.k, "x": x, "evals": evals, "noise": z, "pred_x0": pred, "x_next": x_next});
        self.steps.push(step);
    }

    fn finished(&mut self, pred_x0: &Array4<f32>, x: &Array4<f32>) {
        let (fin, x_last) = (self.tensor(pred_x0), self.tensor(x));
        self.doc.insert("final".into(), fin);
        if let Some(last_step) = self.steps.last_mut() {
            last_step["x_next"] = x_last;
        }
    }
}

/// The `spec` block of `trace.json`: the settings the replay needs.
fn spec_json(spec: &RenderSpec, symmetry: &Mirroring) -> Value {
    let c = &spec.common;
    // The renderer's f32 values, as cond_fn uses them; a per-step schedule as its 1000
    // entries (the replay reads a number only, so it refuses those rather than guess).
    let f32s = |v: &PerStep<f64>| match v {
        PerStep::Fixed(x) => json!(*x as f32),
        PerStep::Steps(_) => json!((0..1000).map(|i| v.at(i) as f32).collect::<Vec<_>>()),
    };
    json!({
        "width": c.width, "height": c.height, "steps": c.steps, "skip_steps": spec.frame.skip_steps,
        "method": c.method.kind().name(), "eta": c.method.eta(), "clip_denoised": c.clip_denoised,
        "clip_guidance_scale": f32s(&c.clip_guidance_scale), "tv_scale": f32s(&c.tv_scale),
        "range_scale": match &c.range_scale { Some(r) => f32s(r), None => json!(spec.range_scale(0)) },
        "range_loss": match spec.range_loss() { RangeLoss::Dd => "dd", RangeLoss::ThroughDenoiser => "through_denoiser" },
        "sat_scale": f32s(&c.sat_scale), "init_scale": spec.init_scale(), "cutn_batches": c.cutn_batches,
        "augs": c.augs.map(|a| a.name()),
        "use_secondary_model": c.use_secondary_model, "clamp_max": c.clamp_max.as_ref().map(f32s),
        "symmetry": {"horizontal": symmetry.horizontal, "vertical": symmetry.vertical, "steps": symmetry.steps},
        "clip_models": c.clip_models, "seed": spec.frame.seed,
    })
}
