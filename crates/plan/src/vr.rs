//! VR eye views in the plan (dd-algorithm.md §10.4; DD's `generate_eye_views`): with
//! `vr-mode`, every final frame of a 3D target — diffused or turbo-skipped — has a left and a
//! right view, its saved image seen from each eye through DD's spherical projection.
//!
//! An eye view is work of its own, not an output of its frame's job: its key ([`of_eye`])
//! chains to the frame's key and adds what only the view depends on (the eye, `vr-eye-angle`,
//! `vr-ipd`) and what its depth warp does (`fov`, `midas-weight`, the modes, the depth graphs),
//! so an edit of a VR setting re-renders eye views and no frame, and turning `vr-mode` on
//! adds views without moving a frame's key. `near-plane` and `far-plane` are not keyed, as
//! for the 3D init (they shape only the depth coordinate DD drops).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use disco_kernels::anim::warp3d::Eye;
use disco_project::Settings;
use disco_project::types::ChoiceSetting;

use super::facts::DepthHashes;
use super::key::{KEY_FORMAT, Key, canonical_bytes};
use super::reason::{Change, Staleness, diff_objects};

/// What an eye view is computed from: its key's inputs. The fields are the settings' names,
/// so `disco plan` explains an edit as `vr-ipd 5 → 6`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EyeInputs {
    /// Always `vr-eye`: an eye view's encoding never equals a job's.
    pub kind: String,
    /// The key of the frame the view shows.
    pub frame: Key,
    /// `left` or `right`.
    pub eye: String,
    /// `vr-eye-angle`, degrees.
    pub vr_eye_angle: f64,
    /// `vr-ipd`, in 1/200 of the scene's unit.
    pub vr_ipd: f64,
    /// `fov`, degrees.
    pub fov: f64,
    /// `midas-weight`: MiDaS's share of the depth.
    pub midas_weight: f64,
    /// `padding-mode` of the depth warp.
    pub padding_mode: String,
    /// `sampling-mode` of the depth warp.
    pub sampling_mode: String,
    /// `midas-depth-model`.
    pub midas_depth_model: String,
    /// blake3 of the MiDaS graph.
    pub midas_graph: String,
    /// blake3 of the AdaBins graph, when `midas-weight` < 1 blends it in.
    pub adabins_graph: Option<String>,
}

impl EyeInputs {
    /// The eye, from its recorded name.
    pub fn eye(&self) -> Option<Eye> {
        Eye::BOTH.into_iter().find(|e| eye_name(*e) == self.eye)
    }
}

/// One eye's view of one frame: what a build renders after the frame.
#[derive(Debug, Clone)]
pub struct EyeView {
    /// The frame's job, an index into [`super::Plan::jobs`].
    pub job: usize,
    /// Which eye.
    pub eye: Eye,
    /// What it is computed from.
    pub inputs: EyeInputs,
    /// Its key: what the view is cached under.
    pub key: Key,
    /// Its file, relative to the project directory.
    pub output: PathBuf,
}

/// `left` or `right`.
pub fn eye_name(eye: Eye) -> &'static str {
    match eye {
        Eye::Left => "left",
        Eye::Right => "right",
    }
}

/// The key of an eye view: `blake3("disco-key/1\n" ‖ encoding)` of its inputs, no target's
/// shared inputs (its frame's key carries them).
pub fn of_eye(inputs: &EyeInputs) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(KEY_FORMAT.as_bytes());
    h.update(b"\n");
    h.update(&canonical_bytes(inputs));
    Key(*h.finalize().as_bytes())
}

/// DD's file name of `eye`'s view of frame `index`: `frame_NNNN_l.png` / `frame_NNNN_r.png`.
/// Named after the frame it shows (DD's CLI port writes frame − 1, dd-algorithm.md §12).
pub fn eye_file_name(index: u32, eye: Eye) -> String {
    format!("frame_{index:04}_{}.png", eye.suffix())
}

/// The view of frame job `job` (key `frame`, frame number `index`) from `eye`, with the
/// target's settings `s` and depth graphs `depth`, written into `folder`.
pub(super) fn eye_view(
    s: &Settings,
    depth: &DepthHashes,
    (job, frame, index): (usize, Key, u32),
    eye: Eye,
    folder: &Path,
) -> EyeView {
    let inputs = EyeInputs {
        kind: "vr-eye".into(),
        frame,
        eye: eye_name(eye).into(),
        vr_eye_angle: s.vr_eye_angle.value,
        vr_ipd: s.vr_ipd.value,
        fov: s.fov.value,
        midas_weight: s.midas_weight.value,
        padding_mode: s.padding_mode.value.name().to_owned(),
        sampling_mode: s.sampling_mode.value.name().to_owned(),
        midas_depth_model: s.midas_depth_model.value.name().to_owned(),
        midas_graph: depth.midas.clone(),
        adabins_graph: depth.adabins.clone(),
    };
    EyeView {
        job,
        eye,
        key: of_eye(&inputs),
        inputs,
        output: folder.join(eye_file_name(index, eye)),
    }
}

/// Why an eye view renders, given the inputs of the view its file last held: the settings
/// that differ (`vr-ipd 5 → 6`), else [`Staleness::FrameChanged`] when only its frame did.
pub fn explain_eye(was: &EyeInputs, now: &EyeInputs) -> Staleness {
    let value = |i: &EyeInputs| {
        let mut v = serde_json::to_value(i).expect("eye inputs serialise");
        v.as_object_mut().map(|o| o.remove("frame"));
        v
    };
    let mut changes: Vec<Change> = Vec::new();
    diff_objects("", &value(was), &value(now), true, &mut changes);
    match (changes.is_empty(), was.frame != now.frame) {
        (false, _) => Staleness::InputsChanged(changes),
        (true, true) => Staleness::FrameChanged,
        (true, false) => Staleness::RendererChanged(vec![Change {
            field: "key format".into(),
            was: "older".into(),
            now: KEY_FORMAT.into(),
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> EyeInputs {
        let depth = DepthHashes {
            midas: "m".into(),
            adabins: None,
        };
        eye_view(
            &Settings::default(),
            &depth,
            (0, Key([7; 32]), 3),
            Eye::Left,
            Path::new("images_out/b"),
        )
        .inputs
    }

    #[test]
    fn the_view_is_named_after_its_frame_and_eye() {
        assert_eq!(eye_file_name(3, Eye::Left), "frame_0003_l.png");
        assert_eq!(eye_file_name(12, Eye::Right), "frame_0012_r.png");
        assert_eq!(inputs().eye(), Some(Eye::Left));
    }

    #[test]
    fn each_keyed_input_moves_the_key() {
        let a = inputs();
        let k = of_eye(&a);
        let edits: [fn(&mut EyeInputs); 6] = [
            |i| i.frame = Key([8; 32]),
            |i| i.eye = "right".into(),
            |i| i.vr_ipd = 6.0,
            |i| i.vr_eye_angle = 1.0,
            |i| i.fov = 50.0,
            |i| i.adabins_graph = Some("a".into()),
        ];
        for edit in edits {
            let mut b = a.clone();
            edit(&mut b);
            assert_ne!(of_eye(&b), k, "{b:?}");
        }
    }

    #[test]
    fn an_edit_is_explained_by_its_setting_and_a_new_frame_by_the_frame() {
        let a = inputs();
        let mut b = a.clone();
        b.vr_ipd = 6.0;
        assert_eq!(explain_eye(&a, &b).to_string(), "vr-ipd 5.0 → 6.0");
        let mut c = a.clone();
        c.frame = Key([9; 32]);
        assert_eq!(explain_eye(&a, &c), Staleness::FrameChanged);
    }
}
