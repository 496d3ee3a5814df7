//! The exported tiny model set runs through disco's ONNX Runtime layer: names and shapes
//! from the manifest, dynamic batch, and VJP graphs consistent with their forward graphs
//! (directional derivative by central differences vs ⟨grad, v⟩).
//!
//! Needs a tiny set: `DISCO_TINY_MODELS=<dir>`, else `target/models/tiny`. scripts/test.sh
//! exports it before `cargo test`; outside CI a missing set skips these tests with a notice.

use std::path::PathBuf;

use disco::render::session::{
    Device, Footprint, GraphSession, Input, ModelSet, SessionError, SessionOptions,
};
use ndarray::{Array, ArrayD, IxDyn};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::support::root;

/// The tiny model set, or `None` (outside CI) when none has been exported.
pub fn tiny_set() -> Option<ModelSet> {
    let dir = std::env::var_os("DISCO_TINY_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/models/tiny"));
    if !dir.join("manifest.json").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no tiny model set at {} (scripts/test.sh exports one)",
            dir.display()
        );
        eprintln!(
            "skipping: no tiny model set at {} (run scripts/test.sh)",
            dir.display()
        );
        return None;
    }
    Some(ModelSet::open(&dir).expect("manifest"))
}

fn randn(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array::from_shape_fn(IxDyn(shape), |_| StandardNormal.sample(&mut rng))
}

fn dot(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| *x as f64 * *y as f64)
        .sum()
}

fn cpu() -> SessionOptions {
    SessionOptions {
        device: Device::Cpu,
        intra_threads: Some(2),
        verify_hashes: true,
    }
}

/// Checks a VJP graph against its forward graph: same forward output, and
/// ⟨upstream, (f(x+hv) − f(x−hv))/2h⟩ ≈ ⟨grad, v⟩.
fn check_vjp(
    set: &ModelSet,
    (fwd, vjp): (&str, &str),
    (x_name, x): (&str, ArrayD<f32>),
    extra: &[(&str, ArrayD<f32>)],
    (out, grad): (&str, &str),
) {
    let mut f = GraphSession::open(set, fwd, cpu()).unwrap();
    let mut g = GraphSession::open(set, vjp, cpu()).unwrap();
    let run_f = |f: &mut GraphSession, x: &ArrayD<f32>| {
        let mut inputs = vec![(x_name, Input::F32(x.view()))];
        inputs.extend(extra.iter().map(|(n, a)| (*n, Input::F32(a.view()))));
        f.run(&inputs).unwrap().remove(out).unwrap()
    };
    let y = run_f(&mut f, &x);
    // The upstream gradient has the shape the manifest gives (the UNet's is ∂L/∂ε, the first
    // 3 of its 6 output channels), with the batch of x.
    let up_spec = set.manifest.graphs[vjp]
        .inputs
        .iter()
        .find(|i| i.name == "upstream")
        .expect("upstream input");
    let up_shape: Vec<usize> = up_spec
        .shape
        .iter()
        .map(|d| match d {
            disco::render::manifest::Dim::Fixed(n) => *n,
            disco::render::manifest::Dim::Symbol(sym) => {
                // the same symbol's size in x's spec ("B", "H", "W")
                let x_spec = set.manifest.graphs[vjp]
                    .inputs
                    .iter()
                    .find(|i| i.name == x_name)
                    .unwrap();
                let pos = x_spec
                    .shape
                    .iter()
                    .position(|d| *d == disco::render::manifest::Dim::Symbol(sym.clone()))
                    .unwrap();
                x.shape()[pos]
            }
        })
        .collect();
    let upstream = randn(&up_shape, 11);
    let project = |out: ArrayD<f32>| -> ArrayD<f32> {
        if out.ndim() == 4 && out.shape()[1] != up_shape[1] {
            out.slice_axis(ndarray::Axis(1), ndarray::Slice::from(0..up_shape[1]))
                .to_owned()
        } else {
            out
        }
    };
    let mut inputs = vec![
        (x_name, Input::F32(x.view())),
        ("upstream", Input::F32(upstream.view())),
    ];
    inputs.extend(extra.iter().map(|(n, a)| (*n, Input::F32(a.view()))));
    let mut r = g.run(&inputs).unwrap();
    let (y_vjp, grad_x) = (r.remove(out).unwrap(), r.remove(grad).unwrap());
    let rel = (&y - &y_vjp).mapv(|d| (d as f64).powi(2)).sum().sqrt()
        / y.mapv(|d| (d as f64).powi(2)).sum().sqrt();
    assert!(
        rel < 1e-5,
        "{vjp}: forward output differs from {fwd} by {rel:e}"
    );
    let v = randn(x.shape(), 12);
    let mut central = |h: f32| {
        let (xp, xm) = (&x + &(&v * h), &x - &(&v * h));
        (dot(&upstream, &project(run_f(&mut f, &xp)))
            - dot(&upstream, &project(run_f(&mut f, &xm))))
            / (2.0 * h as f64)
    };
    // Two estimates of the directional derivative: the central difference at h = 1e-2, and
    // Richardson's extrapolation from h = 2e-2 and 1e-2, which cancels the h² term. The tiny
    // GELU ResNet (OpenCLIP RN50) curves enough for that term alone to exceed 2 % at 1e-2;
    // where the derivative is small against the output (OpenAI's tiny RN50), float32
    // rounding dominates and the extrapolation amplifies it. A wrong VJP fails both.
    let h = 1e-2f32;
    let near = central(h);
    let estimates = [near, (4.0 * near - central(2.0 * h)) / 3.0];
    let an = dot(&grad_x, &v);
    assert!(
        estimates
            .iter()
            .any(|fd| (fd - an).abs() <= 2e-2 * an.abs().max(1e-3)),
        "{vjp}: directional derivative {estimates:?} vs ⟨grad, v⟩ {an}"
    );
}

#[test]
fn unet_secondary_and_clip_vjp_graphs_agree_with_their_forward_graphs() {
    let Some(set) = tiny_set() else { return };
    // Height and width are symbolic: check a square and a non-square size.
    for (h, w) in [(64, 64), (64, 96)] {
        let x = randn(&[1, 3, h, w], 1);
        let unet = set.manifest.unet.as_ref().expect("unet section");
        let t = Array::from_elem(IxDyn(&[1]), 420.0f32);
        let graphs = (unet.graph("forward").unwrap(), unet.graph("vjp").unwrap());
        check_vjp(
            &set,
            graphs,
            ("x", x.clone()),
            &[("t", t)],
            ("eps_full", "grad_x"),
        );

        let sec = set.manifest.secondary.as_ref().expect("secondary section");
        let tc = Array::from_elem(IxDyn(&[1]), 0.6f32);
        let graphs = (sec.graph("forward").unwrap(), sec.graph("vjp").unwrap());
        check_vjp(&set, graphs, ("x", x), &[("t", tc)], ("pred", "grad_x"));
    }

    for (flag, clip) in &set.manifest.clip {
        let r = clip.resolution;
        let cuts = randn(&[3, 3, r, r], 2);
        let graphs = (
            clip.graphs["image"].as_str(),
            clip.graphs["image_vjp"].as_str(),
        );
        check_vjp(
            &set,
            graphs,
            ("image", cuts),
            &[],
            ("image_embed", "grad_image"),
        );
        eprintln!("{flag}: image VJP consistent");
    }
}

#[test]
fn clip_text_graph_embeds_golden_tokens_with_any_batch() {
    let Some(set) = tiny_set() else { return };
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("onnx-export/tests/golden/clip_tokens.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<i64> = golden
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["ids"].as_array())
        .take(5)
        .flat_map(|ids| ids.iter().map(|i| i.as_i64().unwrap()))
        .collect();
    let tokens = Array::from_shape_vec(IxDyn(&[5, 77]), ids).unwrap();
    for (flag, clip) in &set.manifest.clip {
        let mut s = GraphSession::open(&set, &clip.graphs["text"], cpu()).unwrap();
        for b in [1, 5] {
            let out = s
                .run(&[(
                    "tokens",
                    Input::I64(tokens.slice(ndarray::s![..b, ..]).into_dyn()),
                )])
                .unwrap();
            let e = &out["text_embed"];
            assert_eq!(e.shape(), &[b, clip.embed_dim], "{flag}");
            assert!(
                e.iter().all(|v| v.is_finite()) && e.iter().any(|v| *v != 0.0),
                "{flag}"
            );
        }
    }
}

#[test]
fn a_wrong_shape_is_refused_before_ort_runs() {
    let Some(set) = tiny_set() else { return };
    let (flag, clip) = set.manifest.clip.iter().next().unwrap();
    let mut s = GraphSession::open(&set, &clip.graphs["image"], cpu()).unwrap();
    let bad = randn(&[2, 3, clip.resolution + 1, clip.resolution], 3);
    match s.run(&[("image", Input::F32(bad.view()))]) {
        Err(SessionError::Input { reason, .. }) => {
            assert!(reason.contains("shape"), "{flag}: {reason}")
        }
        other => panic!(
            "{flag}: expected an input error, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[test]
fn a_modified_graph_file_is_named_before_it_is_opened() {
    let Some(set) = tiny_set() else { return };
    let tmp = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&set.dir, tmp.path());
    let copy = ModelSet::open(tmp.path()).unwrap();
    let (_, clip) = copy.manifest.clip.iter().next().unwrap();
    let name = clip.graphs["text"].clone();
    let file = tmp.path().join(&copy.manifest.graphs[&name].file);
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    match GraphSession::open(&copy, &name, cpu()) {
        Err(SessionError::Changed { graph, problem, .. }) => {
            assert_eq!(graph, name);
            assert!(problem.contains("changed since export"), "{problem}");
        }
        other => panic!("expected a changed-graph error, got {:?}", other.err()),
    }
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        GraphSession::open(&copy, &name, cpu()),
        Err(SessionError::Changed { .. })
    ));
}

/// A lean session (no constant folding, ORT's plain allocator: the checkpointed UNet's) gives
/// what the default session gives, for the boundary forward and for segment VJPs at full and
/// lowest resolution, on fresh random inputs.
#[test]
fn lean_sessions_compute_what_default_ones_do() {
    let Some(set) = tiny_set() else { return };
    let ck = checkpointed(&set);
    let both = |name: &str, inputs: &[(&str, ArrayD<f32>)]| {
        let feed: Vec<_> = inputs
            .iter()
            .map(|(n, a)| (*n, Input::F32(a.view())))
            .collect();
        let run = |footprint| {
            GraphSession::open_with(&set, name, cpu(), footprint)
                .unwrap()
                .run(&feed)
                .unwrap()
        };
        (run(Footprint::Default), run(Footprint::Lean))
    };
    let rel = |a: &ArrayD<f32>, b: &ArrayD<f32>| {
        let d: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum();
        (d / dot(b, b)).sqrt()
    };
    let t = ndarray::arr1(&[417.5f32]).into_dyn();
    let x = randn(&[1, 3, 64, 32], 31);
    let (want, got) = both(&ck.forward, &[("x", x), ("t", t.clone())]);
    assert_eq!(got.len(), want.len());
    for (name, w) in &want {
        assert!(dot(w, w) > 0.0, "{name} is zero");
        let r = rel(&got[name], w);
        assert!(
            r < 1e-6,
            "boundary forward, output {name}: relative error {r:e}"
        );
    }
    // the first segment (full resolution) and one of the innermost (the most weights)
    let first = &ck.segments[0];
    let inner = ck
        .segments
        .iter()
        .find(|s| s.name.starts_with("mid"))
        .expect("a middle segment");
    for (k, seg) in [first, inner].into_iter().enumerate() {
        let h_shape = &want
            .get(&seg.inputs[0])
            .map(|a| a.shape().to_vec())
            .unwrap_or_else(|| vec![1, 3, 64, 32]);
        let mut c = 0;
        for i in &seg.inputs {
            c += want.get(i).map_or(3, |a| a.shape()[1]);
        }
        let mut shape = h_shape.clone();
        shape[1] = c;
        let out_shape = want.get(&seg.name).map(|a| a.shape().to_vec());
        let up = randn(out_shape.as_deref().unwrap_or(&shape), 40 + k as u64);
        let mut inputs = vec![("h", randn(&shape, 50 + k as u64)), ("upstream", up)];
        if seg.time {
            inputs.push(("t", t.clone()));
        }
        let (want, got) = both(&seg.graph, &inputs);
        let r = rel(&got["grad_h"], &want["grad_h"]);
        assert!(
            dot(&want["grad_h"], &want["grad_h"]) > 0.0 && r < 1e-6,
            "segment {}: relative error {r:e}",
            seg.name
        );
    }
}

/// A released session opens again on its next run and computes the same; a graph file
/// changed while it was released is named, not loaded.
#[test]
fn a_released_session_reopens_on_its_next_run() {
    let Some(set) = tiny_set() else { return };
    let tmp = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&set.dir, tmp.path());
    let copy = ModelSet::open(tmp.path()).unwrap();
    let family = copy
        .manifest
        .diffusion_family("512x512_diffusion_uncond_finetune_008100")
        .unwrap();
    let name = family.graph("forward").unwrap().to_owned();
    let mut s = GraphSession::open(&copy, &name, cpu()).unwrap();
    assert!(s.file_bytes() > 0);
    let x = randn(&[1, 3, 32, 32], 61);
    let t = ndarray::arr1(&[250.0f32]).into_dyn();
    let run =
        |s: &mut GraphSession| s.run(&[("x", Input::F32(x.view())), ("t", Input::F32(t.view()))]);
    let first = run(&mut s).unwrap();
    s.release();
    assert!(!s.is_loaded());
    assert_eq!(run(&mut s).unwrap(), first);
    assert!(s.is_loaded());
    s.release();
    let file = tmp.path().join(&copy.manifest.graphs[&name].file);
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    match run(&mut s) {
        Err(SessionError::Changed { graph, .. }) => assert_eq!(graph, name),
        other => panic!("expected a changed-graph error, got {:?}", other.err()),
    }
}

/// The boundary estimate behind `models::lean_walk` is what the checkpoint forward returns,
/// and the rule picks lean sessions for large renders only.
#[test]
fn the_boundary_estimate_matches_the_checkpoint_forward() {
    use disco::render::models::{boundary_bytes, lean_walk};
    let Some(set) = tiny_set() else { return };
    let ck = checkpointed(&set);
    let (w, h) = (96, 64);
    let x = randn(&[1, 3, h, w], 71);
    let t = ndarray::arr1(&[600.0f32]).into_dyn();
    let out = GraphSession::open(&set, &ck.forward, cpu())
        .unwrap()
        .run(&[("x", Input::F32(x.view())), ("t", Input::F32(t.view()))])
        .unwrap();
    let actual: usize = out
        .iter()
        .filter(|(name, _)| *name != "eps_full")
        .map(|(_, a)| 4 * a.len())
        .sum();
    assert_eq!(boundary_bytes(&set, &ck, w, h), actual as u64);
    assert!(!lean_walk(&set, &ck, 8, 8));
    assert!(lean_walk(&set, &ck, 4096, 4096));
}

/// A damaged manifest's boundary shapes (a zero or unreadable divisor, a symbolic or huge
/// channel count) neither panic nor overflow the estimate behind `models::lean_walk`.
#[test]
fn a_damaged_manifest_cannot_break_the_boundary_estimate() {
    use disco::render::manifest::Dim;
    use disco::render::models::{boundary_bytes, lean_walk};
    let Some(mut set) = tiny_set() else { return };
    let ck = checkpointed(&set);
    let (w, h) = (96, 64);
    let whole = boundary_bytes(&set, &ck, w, h);
    let outputs = &set.manifest.graphs[&ck.forward].outputs;
    let i = outputs
        .iter()
        .position(|o| o.name != "eps_full" && o.shape[2] != Dim::Symbol("H".into()))
        .expect("a downsampled boundary");
    let (c, k) = match (&outputs[i].shape[1], &outputs[i].shape[2]) {
        (Dim::Fixed(c), Dim::Symbol(s)) => (*c as u64, s[2..].parse::<u64>().unwrap()),
        other => panic!("unexpected boundary shape {other:?}"),
    };
    let own = 4 * c * (h as u64 / k) * (w as u64 / k);
    let mut damage = |shape: [Dim; 2]| {
        let out = &mut set.manifest.graphs.get_mut(&ck.forward).unwrap().outputs[i];
        out.shape.splice(1..3, shape);
        let got = boundary_bytes(&set, &ck, w, h);
        let out = &mut set.manifest.graphs.get_mut(&ck.forward).unwrap().outputs[i];
        out.shape[1] = Dim::Fixed(c as usize);
        out.shape[2] = Dim::Symbol(format!("H/{k}"));
        got
    };
    // a divisor of 0 or one that is not a number: the full size
    let full_h = 4 * c * h as u64 * (w as u64 / k);
    assert_eq!(
        damage([Dim::Fixed(c as usize), Dim::Symbol("H/0".into())]),
        whole - own + full_h
    );
    assert_eq!(
        damage([Dim::Fixed(c as usize), Dim::Symbol("H/x\n".into())]),
        whole - own + full_h
    );
    // a symbolic channel count counts nothing; a huge one saturates
    assert_eq!(
        damage([Dim::Symbol("C".into()), Dim::Symbol(format!("H/{k}"))]),
        whole - own
    );
    assert_eq!(
        damage([Dim::Fixed(usize::MAX), Dim::Symbol(format!("H/{k}"))]),
        u64::MAX
    );
    assert_eq!(
        boundary_bytes(&set, &ck, w, h),
        whole,
        "the damage was undone"
    );
    set.manifest.graphs.get_mut(&ck.forward).unwrap().outputs[i].shape[1] = Dim::Fixed(usize::MAX);
    assert!(lean_walk(&set, &ck, w, h));
}

/// The tiny set's default model's checkpointed UNet.
fn checkpointed(set: &ModelSet) -> disco::render::manifest::Checkpointed {
    set.manifest
        .diffusion_family("512x512_diffusion_uncond_finetune_008100")
        .and_then(|f| f.checkpointed.clone())
        .expect("the tiny set's default model has checkpoint graphs")
}
