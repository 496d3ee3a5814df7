//! Where DD's semantics decide what a combination of settings means, disco follows DD and
//! says so: Perlin noise replaces an init image (dd-algorithm.md §9); a fractional frame rate
//! is rounded.

use std::path::Path;

use disco::plan::{self, Init, PlanOptions};
use disco::project;

use crate::engine::FakeFacts;

fn warnings(text: &str) -> Vec<String> {
    let r = project::load_str(Path::new("mem/disco.kdl"), text);
    assert!(!r.diagnostics.has_errors(), "{:?}", r.diagnostics);
    r.diagnostics
        .0
        .iter()
        .filter(|d| d.severity == miette::Severity::Warning)
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn perlin_init_replaces_the_init_image_as_in_dd_and_check_warns() {
    let dir = tempfile::tempdir().unwrap();
    // The image is never read: it does not even exist.
    let text = "init-image \"init_images/missing.png\"\nperlin-init #true\nperlin-mode \"gray\"\nn-batches 2\n";
    let path = dir.path().join("disco.kdl");
    std::fs::write(&path, text).unwrap();
    let r = project::load(&path);
    assert!(!r.diagnostics.has_errors(), "{:?}", r.diagnostics);
    let found = r
        .diagnostics
        .0
        .iter()
        .find(|d| d.message.contains("`init-image` is not used"))
        .unwrap_or_else(|| panic!("no warning in {:?}", r.diagnostics));
    assert_eq!(found.severity, miette::Severity::Warning);

    let mut facts = FakeFacts {
        model_hash: "m".into(),
    };
    let plan = plan::plan(&r.project.unwrap(), &PlanOptions::default(), &mut facts)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(plan.jobs.len(), 2);
    for job in &plan.jobs {
        assert!(
            matches!(&job.frame.init, Init::Perlin { mode } if *mode == disco::render::perlin::PerlinMode::Gray),
            "{:?}",
            job.frame.init
        );
    }
}

#[test]
fn an_init_image_without_perlin_is_used_and_not_warned_about() {
    assert!(warnings("init-image \"a.png\"\n").is_empty());
    assert!(warnings("perlin-init #true\n").is_empty());
}

#[test]
fn a_fractional_frame_rate_is_rounded_with_a_warning() {
    let w = warnings(
        "animation \"a\" {\n  animation-mode \"2D\"\n  max-frames 3\n  video-fps 23.976\n}\n",
    );
    assert!(
        w.iter()
            .any(|m| m.contains("`video-fps` 23.976 is rounded to 24")),
        "{w:?}"
    );
    assert!(warnings("video-fps 24\n").is_empty());
}

#[test]
fn a_negative_zoom_that_stays_away_from_zero_is_accepted() {
    // DD's matrix with a negative zoom is a point reflection: odd, but a picture.
    let r = project::load_str(
        Path::new("mem/disco.kdl"),
        "animation \"a\" {\n  animation-mode \"2D\"\n  max-frames 5\n  zoom \"0: (-1)\"\n}\n",
    );
    assert!(!r.diagnostics.has_errors(), "{:?}", r.diagnostics);
}

#[test]
fn a_model_set_for_another_diffusion_model_is_refused_before_rendering() {
    // Before, the set's 512 UNet silently rendered a project that asks for the 256 model.
    let Some(set) = crate::models::tiny_set() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "model-set \"{}\"\ndiffusion-model \"256x256_diffusion_uncond\"\nwidth-height 64 64\nsteps 4\nskip-steps 2\nseed 1\nn-batches 1\nclip-models \"ViT-B/32\"\n",
        set.dir.display()
    );
    std::fs::write(dir.path().join("disco.kdl"), text).unwrap();
    let out = crate::support::disco(dir.path(), &["build", "--dry-run"]);
    let (_, stderr) = crate::support::text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // miette wraps the message: read it as one line
    let stderr = stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        stderr.contains("holds the diffusion model")
            && stderr.contains("not `256x256_diffusion_uncond`"),
        "{stderr}"
    );
}

#[test]
fn a_voronoi_init_replaces_the_init_image_and_paints_the_palettes_colours() {
    let dir = tempfile::tempdir().unwrap();
    let text = "width-height 128 64\ninit-image \"missing.png\"\nvoronoi-init #true\nvoronoi-points 7\nvoronoi-palette \"#ff0000\" 0x00FF00FF \"#0000ff\"\nn-batches 2\n";
    let path = dir.path().join("disco.kdl");
    std::fs::write(&path, text).unwrap();
    let r = project::load(&path);
    assert!(!r.diagnostics.has_errors(), "{:?}", r.diagnostics);
    assert!(
        r.diagnostics
            .0
            .iter()
            .any(|d| d.message.contains("the Voronoi image replaces it")),
        "{:?}",
        r.diagnostics
    );
    let mut facts = FakeFacts {
        model_hash: "m".into(),
    };
    let plan = plan::plan(&r.project.unwrap(), &PlanOptions::default(), &mut facts)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let specs: Vec<_> = (0..2)
        .map(|j| disco::build::spec::render_spec(&plan, j, None, None).unwrap())
        .collect();
    for (job, spec) in plan.jobs.iter().zip(&specs) {
        assert!(
            matches!(&job.frame.init, Init::Voronoi { points: 7, palette } if palette.len() == 3),
            "{:?}",
            job.frame.init
        );
        let init = spec.init.as_ref().expect("a start image");
        assert_eq!(init.dim(), (1, 3, 64, 128));
        // every pixel is one of the palette's colours, and more than one is used
        let mut seen = std::collections::BTreeSet::new();
        for y in 0..64 {
            for x in 0..128 {
                let px: Vec<i32> = (0..3).map(|c| init[(0, c, y, x)].round() as i32).collect();
                assert!(
                    [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
                        .iter()
                        .any(|p| p[..] == px[..]),
                    "{px:?}"
                );
                seen.insert(px);
            }
        }
        assert!(seen.len() > 1);
    }
    // each image draws its own points from its seed
    assert_ne!(specs[0].init, specs[1].init);
}

#[test]
fn voronoi_and_perlin_init_together_are_an_error() {
    let r = project::load_str(
        Path::new("mem/disco.kdl"),
        "voronoi-init #true\nperlin-init #true\n",
    );
    assert!(r.diagnostics.has_errors(), "{:?}", r.diagnostics);
}
