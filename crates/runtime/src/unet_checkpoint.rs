//! The UNet's VJP with gradient checkpointing (DD's `use_checkpoint`): one forward that
//! returns every block boundary, then the segments' VJP graphs walked backwards, each
//! recomputing only its own blocks. The whole-UNet VJP graph keeps every activation of the
//! network alive until its backward reads it; this walk holds the boundaries and one
//! segment's activations, which is what lets the UNet-guided path run at DD's default
//! 1280×768 (docs/models.md, "Checkpointed UNet").

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
}

/// The boundaries of the latest forward, and where it was evaluated.
struct Saved {
    x: ArrayD<f32>,
    t: ArrayD<f32>,
    values: HashMap<String, ArrayD<f32>>,
}

impl UnetCheckpoint {
    /// Sessions for `layout`'s segments (opened by the caller).
    pub fn new(layout: Checkpointed, segments: Vec<GraphSession>) -> UnetCheckpoint {
        UnetCheckpoint {
            layout,
            segments,
            saved: None,
            reused: 0,
            recomputed: 0,
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
                let h = if parts.len() == 1 {
                    parts[0].to_owned()
                } else {
                    ndarray::concatenate(Axis(1), &parts).map_err(|e| SessionError::Input {
                        graph: session.name().to_owned(),
                        reason: format!("the boundaries of `{}` do not concatenate: {e}", seg.name),
                    })?
                };
                let mut inputs = vec![
                    ("h", Input::F32(h.view())),
                    ("upstream", Input::F32(up.view())),
                ];
                if seg.time {
                    inputs.push(("t", Input::F32(t.view())));
                }
                let mut out = session.run(&inputs)?;
                let g = out.remove("grad_h").expect("the contract names grad_h");
                let mut start = 0;
                for (name, part) in seg.inputs.iter().zip(&parts) {
                    let c = part.shape()[1];
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
