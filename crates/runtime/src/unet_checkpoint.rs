//! The UNet's VJP with gradient checkpointing (DD's `use_checkpoint`): one forward that
//! returns every block boundary, then the segments' VJP graphs walked backwards, each
//! recomputing only its own blocks. The whole-UNet VJP graph keeps every activation of the
//! network alive until its backward reads it; this walk holds the boundaries and one
//! segment's activations (docs/models.md, "Checkpointed UNet"). In fp32 on the CPU, DD's
//! default 1280×768 peaks at 20.5 GiB, most of it in one full-resolution decoder segment's
//! VJP, which alone adds 9.3 GB (docs/bench-render-step.md).

use std::collections::HashMap;

use ndarray::{ArrayD, Axis};

use super::manifest::{Checkpointed, HEAD_SEGMENT};
use super::session::{GraphSession, Input, SessionError};

/// The open sessions of a [`Checkpointed`] UNet. Its boundary forward is the render's UNet
/// forward (`Models::unet`): the sampler's ε call leaves the boundaries here, and the walk at
/// the same (x, t) starts from them instead of running the forward again, so a guided step
/// costs two UNet forwards and one backward, as with the whole-UNet VJP.
pub struct UnetCheckpoint {
    /// The segment list, as the manifest gives it (checked when the set opened).
    pub layout: Checkpointed,
    /// One VJP session per segment, in `layout.segments` order.
    pub segments: Vec<GraphSession>,
    saved: Option<Saved>,
    /// Walks that started from the sampler's boundaries, and walks that ran the forward.
    pub reused: u64,
    /// See `reused`.
    pub recomputed: u64,
    /// Walks that released the boundary forward's session (outweighed by its boundaries).
    pub released: u64,
    /// Each segment's session is released once it has run, and opened again by the next
    /// walk: a lean render (`models::lean_walk`) holds one segment's weights at a time
    /// instead of all of them (2.5 GB for DD's 512 model), for ~15 s of opening a walk.
    pub transient: bool,
}

/// The boundaries of the latest forward, and where it was evaluated.
struct Saved {
    x: ArrayD<f32>,
    t: ArrayD<f32>,
    values: HashMap<String, ArrayD<f32>>,
}

impl UnetCheckpoint {
    /// Sessions for `layout`'s segments (opened by the caller), released after each run where
    /// `transient`.
    pub fn new(
        layout: Checkpointed,
        segments: Vec<GraphSession>,
        transient: bool,
    ) -> UnetCheckpoint {
        UnetCheckpoint {
            layout,
            segments,
            saved: None,
            reused: 0,
            recomputed: 0,
            released: 0,
            transient,
        }
    }

    /// Keeps the boundaries of a forward at (x, t) (every output of the boundary forward but
    /// `eps_full`) for a walk at the same point; replaces any kept before.
    pub fn keep(&mut self, x: &ArrayD<f32>, t: &ArrayD<f32>, values: HashMap<String, ArrayD<f32>>) {
        self.saved = Some(Saved {
            x: x.clone(),
            t: t.clone(),
            values,
        });
    }

    /// ∂⟨upstream, ε(x, t)⟩/∂x, with `x: [B, 3, H, W]`, `t: [B]` and `upstream` shaped like
    /// ε (the UNet output's first three channels): what the whole-UNet VJP graph returns.
    /// `forward` is the boundary forward, run unless the boundaries at (x, t) were kept.
    pub fn vjp(
        &mut self,
        forward: &mut GraphSession,
        x: &ArrayD<f32>,
        t: &ArrayD<f32>,
        upstream: ArrayD<f32>,
    ) -> Result<ArrayD<f32>, SessionError> {
        let mut values = match self.saved.take() {
            Some(s) if s.x == *x && s.t == *t => {
                self.reused += 1;
                s.values
            }
            _ => {
                self.recomputed += 1;
                forward.run(&[("x", Input::F32(x.view())), ("t", Input::F32(t.view()))])?
            }
        };
        let segs = &self.layout.segments;
        values.remove("eps_full");
        // The walk is the render's memory peak, and the forward's weights wait idle through
        // it. Where the boundaries outweigh them (about 768×512 and up with DD's 512 model),
        // the forward is dropped for the walk and opened again by the next step's ε: 7–10 s
        // a step on a CPU where such a step takes minutes, for 2 GB less at the walk's peak
        // with DD's 512 model (docs/models.md, "Checkpointed UNet").
        let held: u64 = values.values().map(|v| 4 * v.len() as u64).sum();
        if held > forward.file_bytes() && forward.is_loaded() {
            forward.release();
            self.released += 1;
        }
        values.insert("x".to_owned(), x.clone());
        // A boundary is dropped once the walk has passed the first segment that reads it.
        let mut first_reader: HashMap<&str, usize> = HashMap::new();
        for (k, s) in segs.iter().enumerate() {
            for i in &s.inputs {
                first_reader.entry(i.as_str()).or_insert(k);
            }
        }
        let mut cot: HashMap<&str, ArrayD<f32>> = HashMap::from([(HEAD_SEGMENT, upstream)]);
        for (k, (seg, session)) in segs.iter().zip(&mut self.segments).enumerate().rev() {
            // a segment whose output reaches no loss adds nothing (never so in a UNet)
            if let Some(up) = cot.remove(seg.name.as_str()) {
                let parts: Vec<_> = seg
                    .inputs
                    .iter()
                    .map(|i| boundary(&values, i, session.name()))
                    .collect::<Result<_, _>>()?;
                let widths: Vec<usize> = parts.iter().map(|p| p.shape()[1]).collect();
                let g = {
                    // a single boundary goes in as it is; only a skip connection's input is
                    // copied (at full resolution these are the walk's largest tensors, so the
                    // copy and the segment's input go as soon as the segment has run)
                    let joined = match parts.as_slice() {
                        [_] => None,
                        _ => Some(ndarray::concatenate(Axis(1), &parts).map_err(|e| {
                            SessionError::Input {
                                graph: session.name().to_owned(),
                                reason: format!(
                                    "the boundaries of `{}` do not concatenate: {e}",
                                    seg.name
                                ),
                            }
                        })?),
                    };
                    let h = joined
                        .as_ref()
                        .map_or_else(|| parts[0].view(), |j| j.view());
                    let mut inputs = vec![
                        ("h", Input::F32(h.view())),
                        ("upstream", Input::F32(up.view())),
                    ];
                    if seg.time {
                        inputs.push(("t", Input::F32(t.view())));
                    }
                    let g = session
                        .run_only(&inputs, Some(&["grad_h"]))?
                        .remove("grad_h")
                        .expect("the contract names grad_h");
                    if self.transient {
                        session.release();
                    }
                    // split by channels below: a graph whose gradient is not shaped like its
                    // input is named here, not in a panic
                    if g.shape() != h.shape() {
                        return Err(SessionError::Run {
                            graph: session.name().to_owned(),
                            reason: format!(
                                "output `grad_h` has shape {:?}, its input `h` {:?}",
                                g.shape(),
                                h.shape()
                            ),
                        });
                    }
                    g
                };
                drop((parts, up));
                if let [name] = seg.inputs.as_slice() {
                    // one input: its cotangent is the gradient itself, without a copy
                    match cot.get_mut(name.as_str()) {
                        Some(acc) => *acc += &g,
                        None => {
                            cot.insert(name.as_str(), g);
                        }
                    }
                } else {
                    let mut start = 0;
                    for (name, c) in seg.inputs.iter().zip(widths) {
                        let piece = g.slice_axis(Axis(1), (start..start + c).into());
                        start += c;
                        match cot.get_mut(name.as_str()) {
                            Some(acc) => *acc += &piece,
                            None => {
                                cot.insert(name.as_str(), piece.to_owned());
                            }
                        }
                    }
                }
            }
            values.retain(|name, _| first_reader.get(name.as_str()).is_none_or(|&r| r < k));
        }
        Ok(cot
            .remove("x")
            .unwrap_or_else(|| ArrayD::zeros(x.raw_dim())))
    }
}

/// The boundary `name` from the forward's outputs, as a view.
fn boundary<'a>(
    values: &'a HashMap<String, ArrayD<f32>>,
    name: &str,
    graph: &str,
) -> Result<ndarray::ArrayViewD<'a, f32>, SessionError> {
    values
        .get(name)
        .map(|v| v.view())
        .ok_or_else(|| SessionError::Input {
            graph: graph.to_owned(),
            reason: format!("the checkpoint forward returned no boundary `{name}`"),
        })
}
