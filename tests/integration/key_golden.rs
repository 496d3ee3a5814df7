//! A golden record of real keys: representative projects planned through the real code
//! (with faked model and runtime facts), each job's key, and per field of the shared inputs
//! the blake3 of its canonical encoding. Any change to what a key hashes shows up here, and
//! the per-field digests name the field, so a refactor that must keep cached keys identical
//! (issue: one shape for a job's inputs) can prove it.

use std::fmt::Write;

use disco::plan::key::canonical_bytes;
use disco::plan::{self, PlanOptions, target_label};
use disco::project;

use crate::engine::FakeFacts;

/// (name, project text): stills, a 2D animation, a sweep, init image and Perlin, PLMS on
/// the UNet path, symmetry, DD's range loss replaced, image prompts.
const PROJECTS: &[(&str, &str)] = &[
    (
        "stills",
        "seed 7\nsteps 50\nskip-steps 5\nn-batches 2\nwidth-height 128 128\ntext-prompts \"a red circle:2\" \"blue:-1\"\n",
    ),
    (
        "animation",
        "seed 3\nsteps 40\nskip-steps 4\nwidth-height 128 64\nanimation \"film\" {\n  animation-mode \"2D\"\n  max-frames 4\n  zoom \"0: (1), 2: (1.1)\"\n  angle \"0: (2)\"\n  translation-x \"0: (0), 3: (4)\"\n  frames-skip-steps \"70%\"\n}\n",
    ),
    (
        "sweep",
        "seed 5\nsteps 30\nskip-steps 3\nwidth-height 64 64\nn-batches 1\nsweep \"grid\" {\n  axis \"clip-guidance-scale\" 1000 5000\n  axis \"eta\" 0.5 1.0\n}\n",
    ),
    (
        "init-and-perlin",
        "seed 9\nsteps 30\nskip-steps 10\nwidth-height 64 64\nn-batches 1\ninit-image \"init.png\"\ninit-scale 500\nstills \"perlin\" {\n  init-image #null\n  perlin-init #true\n  perlin-mode \"gray\"\n}\n",
    ),
    (
        "plms-unet-symmetry",
        "seed 11\nsteps 25\nskip-steps 2\nwidth-height 64 64\nn-batches 1\ndiffusion-sampling-mode \"plms\"\nuse-secondary-model #false\nuse-horizontal-symmetry #true\ntransformation-percent 0.2 0.5\nrange-loss \"through-denoiser\"\nclip-models \"ViT-B/32\" \"RN50\"\nimage-prompts \"prompt.png:0.5\"\nintermediate-saves 2\n",
    ),
];

fn record() -> String {
    let dir = tempfile::tempdir().unwrap();
    for file in ["init.png", "prompt.png"] {
        std::fs::write(dir.path().join(file), file.as_bytes()).unwrap();
    }
    let mut out = String::new();
    for (name, text) in PROJECTS {
        let path = dir.path().join("disco.kdl");
        std::fs::write(&path, text).unwrap();
        let r = project::load(&path);
        assert!(!r.diagnostics.has_errors(), "{name}: {:?}", r.diagnostics);
        let mut facts = FakeFacts {
            model_hash: "m".into(),
        };
        let plan = plan::plan(&r.project.unwrap(), &PlanOptions::default(), &mut facts)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        writeln!(out, "# {name}").unwrap();
        for t in &plan.targets {
            writeln!(
                out,
                "target {} common {}",
                target_label(&t.name, t.cell.as_deref()),
                t.common.digest
            )
            .unwrap();
            let fields = serde_json::to_value(&t.common.inputs).unwrap();
            for (field, value) in fields.as_object().unwrap() {
                let digest = blake3::hash(&canonical_bytes(value)).to_hex();
                writeln!(out, "  {field} {}", &digest[..16]).unwrap();
            }
        }
        for job in &plan.jobs {
            let frame = String::from_utf8(canonical_bytes(&job.frame)).unwrap();
            writeln!(out, "job {} {} {}", job.index, job.key, frame).unwrap();
        }
    }
    out
}

#[test]
fn the_keys_of_representative_projects_are_unchanged() {
    insta::assert_snapshot!(record());
}
