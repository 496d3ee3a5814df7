//! Video Input's optical flow (dd-algorithm.md §10.5): RAFT, run through ONNX Runtime on a
//! pair of source frames, once per pair. Each flow is kept in `.disco/flow/`, named by the
//! blake3 of (RAFT graph hash, the two frames' pixel hashes, the size), so a rebuild, a
//! re-encoded video or a second target over the same frames computes nothing again.
//!
//! DD computes the flow from frame f+1 back to frame f (`get_flow(frame2, frame1)`), and with
//! `video-init-check-consistency` the flow the other way too; both go through one run as a
//! batch of two. Frames are the output size (stretched as the init is); the graph takes sides
//! that are multiples of its `size_multiple` and at least `min_side`, so each frame is
//! padded by repeating its edge pixels, split evenly as RAFT's `InputPadder` splits its
//! padding, and the flow cropped back.

use std::path::{Path, PathBuf};

use ndarray::{Array3, Array4, ArrayD, Axis};

use crate::plan::{CommonInputs, Init, Plan};
use crate::render::manifest::Raft;
use crate::render::session::{GraphSession, Input};

/// The flows a flow-blended init needs, `[H, W, 2]` (x then y, in pixels).
pub struct JobFlows {
    /// From this frame's source back to the previous one: where each pixel was.
    pub back: Array3<f32>,
    /// From the previous source to this one (with `video-init-check-consistency`).
    pub forth: Option<Array3<f32>>,
}

/// Format tag of a kept flow file (first line of the hashed name's preimage, too).
const FLOW_FORMAT: &str = "disco-flow/1";

/// The flows job `j` of `plan` needs (`None` unless its init is a flow blend), from the
/// flow cache or computed with `raft` (the session and the set's padding rule).
pub fn job_flows(
    plan: &Plan,
    j: usize,
    raft: Option<&mut (GraphSession, Raft)>,
) -> Result<Option<JobFlows>, String> {
    let Some((pairs, c)) = flow_pairs(plan, j) else {
        return Ok(None);
    };
    let Some((session, raft)) = raft else {
        return Err("the model set opened for this job has no RAFT graph".into());
    };
    let graph = c
        .models
        .get(session.name())
        .ok_or_else(|| format!("the job's key holds no hash of graph `{}`", session.name()))?;
    let size = (c.width as usize, c.height as usize);
    let dir = flow_dir(&plan.dir);
    let files: Vec<PathBuf> = pairs
        .iter()
        .map(|(a, b)| dir.join(flow_name(graph, a, b, size)))
        .collect();
    let mut flows: Vec<Option<Array3<f32>>> = files.iter().map(|f| read_flow(f, size)).collect();
    let missing: Vec<usize> = (0..pairs.len()).filter(|&i| flows[i].is_none()).collect();
    if !missing.is_empty() {
        let frame = |h: &str| -> Result<Array3<u8>, String> {
            let img = super::spec::source_frame(plan, h).map_err(|e| e.to_string())?;
            Ok(super::spec::resize_exact(&img, size.0, size.1))
        };
        let (a, b) = (frame(pairs[0].0)?, frame(pairs[0].1)?);
        let inputs: Vec<(&Array3<u8>, &Array3<u8>)> = missing
            .iter()
            .map(|&i| if i == 0 { (&a, &b) } else { (&b, &a) })
            .collect();
        let computed = run_raft(session, raft, &inputs)?;
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (&i, flow) in missing.iter().zip(computed) {
            write_flow(&files[i], &flow)?;
            flows[i] = Some(flow);
        }
    }
    let mut it = flows.into_iter().map(|f| f.expect("read or computed"));
    let back = it.next().expect("the backward flow");
    Ok(Some(JobFlows {
        back,
        forth: it.next(),
    }))
}

/// The file names in [`flow_dir`] that some job of `plan` reads: for each flow-blended
/// frame, its pair's flow (both ways with the consistency check) through each graph hash its
/// key holds (only the RAFT graph's names a file; `disco gc` keeps these).
pub fn referenced_flows(plan: &Plan) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    for j in 0..plan.jobs.len() {
        let Some((pairs, c)) = flow_pairs(plan, j) else {
            continue;
        };
        let size = (c.width as usize, c.height as usize);
        for graph in c.models.values() {
            names.extend(pairs.iter().map(|(a, b)| flow_name(graph, a, b, size)));
        }
    }
    names
}

/// The source-frame pairs (pixel hashes) whose flows job `j` of `plan` reads, from its frame
/// back to the previous one, then (with the consistency check) the other way, and the job's
/// common inputs; `None` unless its init is a flow blend.
fn flow_pairs(plan: &Plan, j: usize) -> Option<(Vec<(&str, &str)>, &CommonInputs)> {
    let job = &plan.jobs[j];
    let Init::FlowBlend {
        source,
        prev_source,
        consistency,
        ..
    } = &job.frame.init
    else {
        return None;
    };
    let mut pairs = vec![(source.as_str(), prev_source.as_str())];
    if *consistency {
        pairs.push((prev_source.as_str(), source.as_str()));
    }
    Some((pairs, &plan.targets[job.target].common.inputs))
}

/// The flow from source frame `from` to `to` (pixel hashes) at `size`, through the RAFT
/// graph of hash `graph`: from [`flow_dir`] when kept, else computed with `raft` and kept.
/// What the blended video's frames are warped along (video_blend.rs), one pair at a time.
pub fn pair_flow(
    plan: &Plan,
    graph: &str,
    size: (usize, usize),
    (from, to): (&str, &str),
    raft: &mut (GraphSession, Raft),
) -> Result<Array3<f32>, String> {
    let file = flow_file(&plan.dir, graph, (from, to), size);
    if let Some(flow) = read_flow(&file, size) {
        return Ok(flow);
    }
    let frame = |h: &str| -> Result<Array3<u8>, String> {
        let img = super::spec::source_frame(plan, h).map_err(|e| e.to_string())?;
        Ok(super::spec::resize_exact(&img, size.0, size.1))
    };
    let (a, b) = (frame(from)?, frame(to)?);
    let (session, raft) = raft;
    let flow = run_raft(session, raft, &[(&a, &b)])?
        .pop()
        .ok_or("RAFT returned no flow")?;
    let dir = flow_dir(&plan.dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write_flow(&file, &flow)?;
    Ok(flow)
}

/// Where the flow from frame `from` to frame `to` (pixel hashes) at `size` through the RAFT
/// graph of hash `graph` is kept.
pub fn flow_file(
    project_dir: &Path,
    graph: &str,
    (from, to): (&str, &str),
    size: (usize, usize),
) -> PathBuf {
    flow_dir(project_dir).join(flow_name(graph, from, to, size))
}

/// Where the flows of the project in `project_dir` are kept.
pub fn flow_dir(project_dir: &Path) -> PathBuf {
    project_dir.join(crate::store::STORE_DIR).join("flow")
}

/// The file name of the flow from frame `from` to frame `to` (pixel hashes) at `(w, h)`
/// through the RAFT graph of hash `graph`.
pub(super) fn flow_name(graph: &str, from: &str, to: &str, (w, h): (usize, usize)) -> String {
    let id = format!("{FLOW_FORMAT}\n{graph}\n{from}\n{to}\n{w}x{h}\n");
    format!("{}.f32", blake3::hash(id.as_bytes()).to_hex())
}

/// A kept flow of `(w, h)`, if present and whole (raw little-endian f32, `[H, W, 2]`).
pub fn read_flow(path: &Path, (w, h): (usize, usize)) -> Option<Array3<f32>> {
    let n = h * w * 2;
    let bytes = crate::fsutil::read_bounded(path, (n * 4) as u64).ok()?;
    if bytes.len() != n * 4 {
        return None;
    }
    let values = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Array3::from_shape_vec((h, w, 2), values).ok()
}

fn write_flow(path: &Path, flow: &Array3<f32>) -> Result<(), String> {
    let bytes: Vec<u8> = flow.iter().flat_map(|v| v.to_le_bytes()).collect();
    crate::fsutil::write_atomic(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// RAFT on each `(image1, image2)` pair (`[H, W, 3]` u8, one size), as one batch: the flow
/// from image1 to image2 of each, `[H, W, 2]`.
fn run_raft(
    session: &mut GraphSession,
    raft: &Raft,
    pairs: &[(&Array3<u8>, &Array3<u8>)],
) -> Result<Vec<Array3<f32>>, String> {
    let (h, w, _) = pairs[0].0.dim();
    let (pw, ph) = raft.padded(w, h);
    let (left, top) = ((pw - w) / 2, (ph - h) / 2);
    let batch = |pick: fn(&(&Array3<u8>, &Array3<u8>)) -> usize| {
        Array4::from_shape_fn((pairs.len(), 3, ph, pw), |(b, c, y, x)| {
            let img = if pick(&pairs[b]) == 0 {
                pairs[b].0
            } else {
                pairs[b].1
            };
            let sy = y.saturating_sub(top).min(h - 1);
            let sx = x.saturating_sub(left).min(w - 1);
            f32::from(img[[sy, sx, c]])
        })
    };
    let (image1, image2) = (batch(|_| 0), batch(|_| 1));
    let out = session
        .run(&[
            ("image1", Input::F32(image1.view().into_dyn())),
            ("image2", Input::F32(image2.view().into_dyn())),
        ])
        .map_err(|e| e.to_string())?;
    let flow: ArrayD<f32> = out
        .get("flow")
        .cloned()
        .ok_or("the RAFT graph returned no `flow`")?;
    if flow.shape() != [pairs.len(), 2, ph, pw] {
        return Err(format!(
            "the RAFT graph returned a flow of shape {:?} for {} pairs of {pw}x{ph}",
            flow.shape(),
            pairs.len()
        ));
    }
    Ok(flow
        .axis_iter(Axis(0))
        .map(|f| Array3::from_shape_fn((h, w, 2), |(y, x, k)| f[[k, y + top, x + left]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_flows_round_trip_and_a_short_file_is_not_a_flow() {
        let dir = tempfile::tempdir().unwrap();
        let flow =
            Array3::from_shape_fn((3, 4, 2), |(y, x, k)| (y * 10 + x) as f32 - k as f32 * 0.5);
        let file = dir.path().join(flow_name("g", "a", "b", (4, 3)));
        write_flow(&file, &flow).unwrap();
        assert_eq!(read_flow(&file, (4, 3)), Some(flow));
        assert_eq!(read_flow(&file, (4, 4)), None, "another size");
        std::fs::write(&file, [0u8; 10]).unwrap();
        assert_eq!(read_flow(&file, (4, 3)), None);
    }

    #[test]
    fn a_flow_is_named_by_graph_direction_frames_and_size() {
        let n = flow_name("g", "a", "b", (64, 64));
        assert_ne!(n, flow_name("h", "a", "b", (64, 64)));
        assert_ne!(n, flow_name("g", "b", "a", (64, 64)));
        assert_ne!(n, flow_name("g", "a", "c", (64, 64)));
        assert_ne!(n, flow_name("g", "a", "b", (64, 128)));
        assert_eq!(n, flow_name("g", "a", "b", (64, 64)));
    }
}
