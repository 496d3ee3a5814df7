//! The UNet's fp16 graphs (DD's `use_fp16`): planning asks for them on CUDA for a model DD
//! runs in fp16, the set resolves them (falling back to fp32, with a notice, where it has
//! none), and they compute the fp32 model's output to half precision. ONNX Runtime's CPU
//! provider runs them here (it casts fp16 nodes to fp32 around kernels it lacks), which is
//! how they are checked without a GPU.

use std::collections::BTreeMap;
use std::path::Path;

use disco::plan::{self, DepthHashes, Facts, FactsError, ModelNeeds, PlanOptions, RuntimeFacts};
use disco::project;
use disco::render::models::{Models, Needs};
use disco::render::noise::JobRng;
use disco::render::session::{Device, Input, ModelSet, SessionOptions};
use ndarray::{Array1, Array4};

use crate::models::tiny_set;

/// Facts that record what planning asked of the model set, on a chosen provider.
struct Recording {
    provider: &'static str,
    asked: Vec<ModelNeeds>,
}

impl Facts for Recording {
    fn file_blake3(&mut self, path: &Path) -> Result<String, FactsError> {
        let bytes = std::fs::read(path).map_err(|e| FactsError::read(path, e))?;
        Ok(blake3::hash(&bytes).to_hex().to_string())
    }
    fn model_hashes(
        &mut self,
        _: &Path,
        needs: &ModelNeeds,
    ) -> Result<BTreeMap<String, String>, FactsError> {
        self.asked.push(needs.clone());
        Ok(BTreeMap::from([("unet_fwd".to_owned(), "h".to_owned())]))
    }
    fn depth_hashes(&mut self, _: &Path, _: &str, _: bool) -> Result<DepthHashes, FactsError> {
        Ok(DepthHashes {
            midas: "d".into(),
            adabins: None,
        })
    }
    fn runtime(&mut self) -> Result<RuntimeFacts, FactsError> {
        Ok(RuntimeFacts {
            renderer: "fake/1".into(),
            provider: self.provider.into(),
            ort: "0".into(),
        })
    }
}

/// What each target of `text` asks for fp16, planned on `provider`.
fn fp16_asked(text: &str, provider: &'static str) -> Vec<bool> {
    let r = project::load_str(Path::new("mem/disco.kdl"), text);
    assert!(!r.diagnostics.has_errors(), "{:?}", r.diagnostics);
    let mut facts = Recording {
        provider,
        asked: Vec::new(),
    };
    plan::plan(&r.project.unwrap(), &PlanOptions::default(), &mut facts)
        .unwrap_or_else(|e| panic!("{e:?}"));
    facts.asked.iter().map(|n| n.fp16).collect()
}

#[test]
fn planning_asks_for_fp16_graphs_on_cuda_where_dd_runs_the_model_in_fp16() {
    let text = r#"
stills "named" {
    n-batches 1
}
stills "custom-fp16" {
    n-batches 1
    diffusion-model "custom"
    custom-path "m.pt"
}
stills "custom-fp32" {
    n-batches 1
    diffusion-model "custom"
    custom-path "m.pt"
    custom-model-use-fp16 #false
}
"#;
    assert_eq!(fp16_asked(text, "cuda"), [true, true, false]);
    assert_eq!(fp16_asked(text, "cpu"), [false, false, false]);
}

fn needs<'a>(clip: &'a [String], secondary: bool, fp16: bool) -> Needs<'a> {
    Needs {
        width: 64,
        height: 64,
        secondary,
        lpips: false,
        clip,
        diffusion: "512x512_diffusion_uncond_finetune_008100",
        flow: false,
        fp16,
    }
}

/// The tiny set, which must carry the fp16 graphs (a set exported before them fails loudly).
fn fp16_tiny_set() -> Option<ModelSet> {
    let set = tiny_set()?;
    assert!(
        set.manifest
            .diffusion_fp16_family("512x512_diffusion_uncond_finetune_008100")
            .is_some(),
        "the tiny set at {} has no fp16 UNet graphs: it predates them, re-export it",
        set.dir.display()
    );
    Some(set)
}

#[test]
fn the_set_resolves_fp16_graphs_and_falls_back_to_fp32_without_them() {
    let Some(set) = fp16_tiny_set() else { return };
    let clip = vec!["ViTB32".to_owned()];
    let half = needs(&clip, true, true).graphs(&set).unwrap();
    assert_eq!(half.unet, "unet_fp16_fwd");
    let full = needs(&clip, true, false).graphs(&set).unwrap();
    assert_eq!(full.unet, "unet_fwd");
    // the UNet path: the fp16 family's own guidance graph (the tiny set has no fp16
    // checkpoint graphs), never the fp32 checkpoint walk
    let half = needs(&clip, false, true).graphs(&set).unwrap();
    assert_eq!(half.unet, "unet_fp16_fwd");
    assert_eq!(half.unet_vjp.as_deref(), Some("unet_fp16_vjp"));
    assert!(half.unet_checkpoint.is_none());
    let full = needs(&clip, false, false).graphs(&set).unwrap();
    assert!(full.all().iter().all(|g| !g.contains("fp16")), "{full:?}");

    // a set exported with --no-fp16: the fp32 graphs, and the build says so
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&set.dir, dir.path());
    let path = dir.path().join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for d in m["diffusion_models"].as_object_mut().unwrap().values_mut() {
        d.as_object_mut().unwrap().remove("fp16");
    }
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    let bare = ModelSet::open(dir.path()).unwrap();
    assert_eq!(
        needs(&clip, true, true).graphs(&bare).unwrap().unet,
        "unet_fwd"
    );
    let opened = Models::open(&bare, &needs(&clip, true, true), cpu()).unwrap();
    assert!(
        opened.notices.iter().any(|n| n.contains("no fp16 graphs")),
        "{:?}",
        opened.notices
    );
}

fn cpu() -> SessionOptions {
    SessionOptions {
        device: Device::Cpu,
        intra_threads: Some(2),
        verify_hashes: true,
    }
}

/// ‖a − b‖ / ‖b‖.
fn rel(a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let n: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (d / n).sqrt()
}

#[test]
fn the_fp16_unet_graphs_compute_the_fp32_models_output_to_half_precision() {
    let Some(set) = fp16_tiny_set() else { return };
    let clip = vec!["ViTB32".to_owned()];
    let mut half = Models::open(&set, &needs(&clip, false, true), cpu()).unwrap();
    let mut full = Models::open(&set, &needs(&clip, false, false), cpu()).unwrap();
    assert!(half.unet_vjp.is_some() && full.unet_checkpoint.is_some());

    let mut rng = JobRng::new(11);
    let x = Array4::from_shape_simple_fn((1, 3, 64, 64), || rng.normal());
    let t = Array1::from_elem(1, 417.0f32);
    let up = Array4::from_shape_simple_fn((1, 3, 64, 64), || rng.normal());
    let feeds = [
        ("x", Input::F32(x.view().into_dyn())),
        ("t", Input::F32(t.view().into_dyn())),
    ];
    let eps_half = half.unet.run(&feeds).unwrap().remove("eps_full").unwrap();
    let eps_full = full.unet.run(&feeds).unwrap().remove("eps_full").unwrap();
    let e = rel(&eps_half, &eps_full);
    assert!(e > 1e-6 && e < 1e-2, "eps: relative error {e:e}");

    let vjp_feeds = [
        ("x", Input::F32(x.view().into_dyn())),
        ("t", Input::F32(t.view().into_dyn())),
        ("upstream", Input::F32(up.view().into_dyn())),
    ];
    let grad_half = half
        .unet_vjp
        .as_mut()
        .unwrap()
        .run(&vjp_feeds)
        .unwrap()
        .remove("grad_x")
        .unwrap();
    // the fp32 whole-UNet VJP graph (renders use the checkpoint walk in its place)
    let mut fp32_vjp = disco::render::session::GraphSession::open(&set, "unet_vjp", cpu()).unwrap();
    let grad_full = fp32_vjp.run(&vjp_feeds).unwrap().remove("grad_x").unwrap();
    let e = rel(&grad_half, &grad_full);
    assert!(e > 1e-6 && e < 2e-2, "grad_x: relative error {e:e}");
}

/// A copy of the tiny set with `damage` applied to its default model's `fp16` entry.
fn damaged_fp16(set: &ModelSet, damage: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&set.dir, dir.path());
    let path = dir.path().join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    damage(&mut m["diffusion_models"]["512x512_diffusion_uncond_finetune_008100"]["fp16"]);
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    dir
}

// A damaged `fp16` entry is an error naming what is wrong when the set opens or its graphs
// resolve, never a panic: a graph name with a newline that names nothing, a huge size
// multiple, a section that is not an object.
#[test]
fn a_damaged_fp16_entry_is_an_error_not_a_panic() {
    let Some(set) = fp16_tiny_set() else { return };
    let clip = vec!["ViTB32".to_owned()];

    // the set opens; resolving its fp16 graphs fails (and the fp32 ones are untouched)
    let fp16_error = |damage: fn(&mut serde_json::Value)| {
        let dir = damaged_fp16(&set, damage);
        let bad = ModelSet::open(dir.path()).unwrap();
        assert_eq!(
            needs(&clip, true, false).graphs(&bad).unwrap().unet,
            "unet_fwd"
        );
        needs(&clip, true, true)
            .graphs(&bad)
            .unwrap_err()
            .to_string()
    };
    let e = fp16_error(|f| f["graphs"]["forward"] = "unet_fwd\nnope".into());
    assert!(e.contains("nope"), "{e}");
    let e = fp16_error(|f| f["size_multiple"] = u64::MAX.into());
    assert!(e.contains("multiple"), "{e}");

    let dir = damaged_fp16(&set, |f| *f = serde_json::json!([1, 2]));
    let Err(e) = ModelSet::open(dir.path()) else {
        panic!("a non-object fp16 entry was accepted")
    };
    let e = e.to_string();
    assert!(e.contains("manifest"), "{e}");
}
