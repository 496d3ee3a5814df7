//! VR eye views in a build (dd-algorithm.md §10.4; `plan/src/vr.rs` plans them): deciding each
//! view (current, to materialise, to render and why), rendering one from its frame's stored
//! image, and putting it in place as `frame_NNNN_l.png` / `frame_NNNN_r.png`.
//!
//! A view is stored under its own key as `<key>.eye.png` ([`Aux::Eye`]), with its inputs as
//! the store's inputs of that key, written first, so `disco plan` can say what changed since
//! (`vr-ipd 5.0 → 6.0`). It has no record: the image is the whole object. The shared cache
//! carries it with a view record naming its blake3 (`layered.rs`); a farm's assemble step
//! (`--render never`) reports a view no store holds as missing.

use std::time::Instant;

use super::decide::Decision;
use super::exec::{At, BuildError};
use super::materialize;
use super::png;
use super::publish::stored;
use super::renderer::{RenderError, Renderer};
use crate::plan::vr::explain_eye;
use crate::plan::{EyeInputs, EyeView, Plan, Staleness};
use crate::store::{Aux, ObjectName, Outputs, Store};

/// Decides every eye view of `plan` (never [`Decision::Adopt`]: a view has no lock entry).
pub fn decide_eyes(plan: &Plan, store: &Store, outputs: &Outputs) -> Vec<Decision> {
    plan.eyes
        .iter()
        .map(|v| {
            if store.has_aux(&v.key, Aux::Eye) {
                if outputs.is_current(&plan.dir, &v.output, &v.key) {
                    Decision::Current
                } else {
                    Decision::Materialize
                }
            } else {
                Decision::Render(why_stale(store, outputs, v))
            }
        })
        .collect()
}

/// Why a view (not cached) renders: compared with the view its file last held.
fn why_stale(store: &Store, outputs: &Outputs, view: &EyeView) -> Staleness {
    let Some(entry) = outputs.get(&view.output) else {
        return Staleness::NeverBuilt;
    };
    if entry.key == view.key {
        return Staleness::ObjectMissing;
    }
    let was: Option<EyeInputs> = store
        .inputs(&entry.key)
        .and_then(|v| serde_json::from_value(v).ok());
    match was {
        Some(was) => explain_eye(&was, &view.inputs),
        None => Staleness::InputsChanged(Vec::new()),
    }
}

/// Renders eye view `e` from its frame's stored image and stores it: `Ok(Ok(seconds))`, or
/// `Ok(Err(why))` when the view failed (reported by the caller; the build goes on). A
/// renderer that cannot be set up or a store that cannot be written stop the build.
pub(super) fn render_eye(
    plan: &Plan,
    store: &Store,
    renderer: &mut dyn Renderer,
    e: usize,
) -> Result<Result<f64, String>, BuildError> {
    let view = &plan.eyes[e];
    let started = Instant::now();
    let frame_key = plan.jobs[view.job].key;
    let Some(bytes) = store.image(&frame_key) else {
        return Ok(Err(format!("its frame {frame_key} is not in the store")));
    };
    let frame = match png::decode(&bytes) {
        Ok(f) => f,
        Err(e) => return Ok(Err(format!("its frame {frame_key}: {e}"))),
    };
    let image = match renderer.eye_view(plan, e, &frame) {
        Ok(i) => i,
        Err(RenderError::Setup(s)) => return Err(BuildError::Setup(s)),
        Err(RenderError::Job(j)) => return Ok(Err(j.to_string())),
    };
    let png = png::encode(&image, &[]).map_err(std::io::Error::other)?;
    // inputs first: a view in the store can always be explained
    store
        .put_inputs(&view.key, &view.inputs)
        .map_err(|err| stored(store, &ObjectName::Inputs(view.key), err))?;
    store
        .put_aux(&view.key, Aux::Eye, &png)
        .map_err(|err| stored(store, &ObjectName::Aux(view.key, Aux::Eye), err))?;
    Ok(Ok(started.elapsed().as_secs_f64()))
}

/// Puts eye view `e`'s stored image in place (a hard link or a copy, atomically).
pub(super) fn materialise_eye(
    plan: &Plan,
    store: &Store,
    outputs: &mut Outputs,
    e: usize,
) -> Result<(), BuildError> {
    let view = &plan.eyes[e];
    let name = ObjectName::Aux(view.key, Aux::Eye);
    let dest = plan.dir.join(&view.output);
    match store.local_path(&name) {
        Some(object) => materialize::link_or_copy(&object, &dest).at(&dest)?,
        None => {
            let bytes = store
                .objects()
                .get(&name)
                .and_then(|b| b.ok_or_else(|| std::io::ErrorKind::NotFound.into()))
                .map_err(|err| stored(store, &name, err))?;
            materialize::write_new(&bytes, &dest).at(&dest)?;
        }
    }
    outputs.set(&plan.dir, &view.output, view.key).at(&dest)
}
