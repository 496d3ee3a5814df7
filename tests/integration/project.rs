//! Behaviour of the project format through the library API.

use std::path::Path;

use disco::project::{self, Project, TargetKind};

fn load(text: &str) -> Project {
    let r = project::load_str(Path::new("mem/disco.kdl"), text);
    assert!(!r.diagnostics.has_errors(), "{:?}", r.diagnostics);
    r.project.unwrap()
}

#[test]
fn no_target_blocks_means_one_target_with_dd_defaults() {
    let p = load("");
    assert_eq!(p.targets.len(), 1);
    let t = &p.targets[0];
    assert_eq!(t.kind, TargetKind::Implicit);
    assert_eq!(t.name.value, "TimeToDisco");
    assert_eq!(t.settings.steps.value, 250);
    assert_eq!(t.settings.clip_models(), vec!["ViTB32", "ViTB16", "RN50"]);
}

#[test]
fn dd_weight_suffix_sets_the_weight_and_leaves_the_text() {
    let p = load("text-prompts \"rocky beach:2\" \"sky:-1\"\n");
    let set = p.targets[0].settings.text_prompts.value.at(0).unwrap();
    let got: Vec<_> = set
        .prompts
        .iter()
        .map(|p| (p.text.as_str(), p.weight))
        .collect();
    assert_eq!(got, vec![("rocky beach", 2.0), ("sky", -1.0)]);
}

#[test]
fn explicit_weight_keeps_colons_in_the_text() {
    let p = load("text-prompts {\n    - \"ratio 16:9 framing\" weight=0.5\n}\n");
    let pr = &p.targets[0]
        .settings
        .text_prompts
        .value
        .at(0)
        .unwrap()
        .prompts[0];
    assert_eq!((pr.text.as_str(), pr.weight), ("ratio 16:9 framing", 0.5));
}

#[test]
fn sweep_cells_are_row_major_with_readable_names() {
    let p = load(
        "sweep \"grid\" {\n    axis \"clip-guidance-scale\" 5000 10000\n    axis \"seed\" 1 2 3\n}\n",
    );
    let sweep = p.targets[0].sweep.as_ref().unwrap();
    let names: Vec<_> = sweep.cells.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "clip-guidance-scale=5000,seed=1",
            "clip-guidance-scale=5000,seed=2",
            "clip-guidance-scale=5000,seed=3",
            "clip-guidance-scale=10000,seed=1",
            "clip-guidance-scale=10000,seed=2",
            "clip-guidance-scale=10000,seed=3",
        ]
    );
    assert_eq!(
        sweep.cells[4].settings.clip_guidance_scale.value.first(),
        10000.0
    );
    assert_eq!(
        sweep.cells[4].settings.seed.value,
        disco::project::types::Seed::Fixed(2)
    );
}

#[test]
fn targets_inherit_top_level_settings_and_override_in_their_block() {
    let p = load(
        "steps 100\nstills \"a\" {\n    steps 50\n}\nanimation \"b\" {\n    max-frames 12\n}\ntv-scale 10\n",
    );
    let (a, b) = (&p.targets[0], &p.targets[1]);
    assert_eq!((a.settings.steps.value, b.settings.steps.value), (50, 100));
    assert_eq!(
        (
            a.settings.tv_scale.value.first(),
            b.settings.tv_scale.value.first()
        ),
        (10.0, 10.0)
    );
    assert!(b.is_animation() && !a.is_animation());
    assert_eq!(b.settings.batch_name.value, "b");
}

#[test]
fn includes_layer_in_reading_order_and_resolve_paths_from_their_own_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("shared")).unwrap();
    std::fs::write(
        tmp.path().join("shared/base.kdl"),
        "steps 300\ntv-scale 7\ninit-image \"img/start.png\"\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("disco.kdl"),
        "steps 100\ninclude \"shared/base.kdl\"\ntv-scale 9\n",
    )
    .unwrap();
    let r = project::load(&tmp.path().join("disco.kdl"));
    let p = r.project.unwrap();
    let s = &p.targets[0].settings;
    assert_eq!(
        s.steps.value, 300,
        "the include comes later than `steps 100`"
    );
    assert_eq!(
        s.tv_scale.value.first(),
        9.0,
        "the main file's later value wins"
    );
    assert_eq!(
        s.init_image.value.resolved.as_deref(),
        Some(tmp.path().join("shared/img/start.png").as_path())
    );
    assert!(
        s.steps
            .origin
            .as_ref()
            .unwrap()
            .location()
            .contains("base.kdl:1:7"),
        "{:?}",
        s.steps.origin
    );
}

#[test]
fn model_256_defaults_to_dd_size_for_256_models() {
    let p = load("diffusion-model \"256x256_diffusion_uncond\"\n");
    let wh = p.targets[0].settings.width_height.value;
    assert_eq!((wh.width, wh.height), (512, 448));
}

#[test]
fn sampling_mode_with_a_sampler_value_sets_the_sampler_with_a_warning() {
    let r = project::load_str(Path::new("mem/disco.kdl"), "sampling-mode \"plms\"\n");
    assert_eq!(r.diagnostics.error_count(), 0);
    assert_eq!(r.diagnostics.warning_count(), 1);
    let s = &r.project.unwrap().targets[0].settings;
    assert_eq!(
        s.diffusion_sampling_mode.value,
        disco::render::sampler::SamplerKind::Plms
    );
}

#[test]
fn clip_models_list_sets_exactly_those_models() {
    let p = load("clip-models \"ViT-L/14\" \"RN101\"\n");
    assert_eq!(p.targets[0].settings.clip_models(), vec!["ViTL14", "RN101"]);
}

#[test]
fn cut_schedules_in_both_spellings_are_equal() {
    let a = load("cut-overview \"[12]*400+[4]*600\"\n");
    let b = load("cut-overview {\n    - 12 count=400\n    - 4 count=600\n}\n");
    assert_eq!(
        a.targets[0].settings.cut_overview,
        b.targets[0].settings.cut_overview
    );
}

#[test]
fn keyframes_in_both_spellings_are_equal() {
    let a = load("animation \"a\" {\n    zoom \"0: (1), 10: (1.05)\"\n}\n");
    let b = load("animation \"a\" {\n    zoom {\n        key 0 1\n        key 10 1.05\n    }\n}\n");
    assert_eq!(a.targets[0].settings.zoom, b.targets[0].settings.zoom);
}

#[test]
fn warnings_do_not_make_a_project_invalid() {
    let r = project::load_str(
        Path::new("mem/disco.kdl"),
        "width-height 1000 700\nclip-guidance-scale 200000\n",
    );
    assert_eq!(r.diagnostics.warning_count(), 2, "{:?}", r.diagnostics);
    assert!(r.project.is_some());
    assert!(
        r.diagnostics
            .0
            .iter()
            .any(|d| d.message.contains("960×640"))
    );
}

#[test]
fn a_parse_that_takes_too_long_is_abandoned_with_a_diagnostic() {
    let f = disco::project::SourceFile::new("slow.kdl", "steps 250\n".repeat(50_000));
    let start = std::time::Instant::now();
    let errs =
        disco::project::parse_kdl_within(&f, std::time::Duration::from_millis(1)).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    assert!(errs[0].message.contains("abandoned"), "{}", errs[0].message);
}

#[test]
fn sweep_values_with_commas_are_quoted_in_cell_names() {
    let p = load(
        "sweep \"words\" {\n    axis \"text-prompts\" \"a lighthouse, at night\" \"sea\"\n}\n",
    );
    let names: Vec<_> = p.targets[0]
        .sweep
        .as_ref()
        .unwrap()
        .cells
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "text-prompts=\"a lighthouse, at night\"",
            "text-prompts=sea"
        ]
    );
}

#[test]
fn unguided_projects_need_no_prompts_or_clip_models() {
    let p = load("clip-guidance-scale 0\ntext-prompts {}\nclip-models\n");
    assert!(p.targets[0].settings.clip_models().is_empty());
}
