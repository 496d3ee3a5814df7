//! `disco import` on what DD's forks write (issue 14, items 3-5): their spellings, Python's
//! words and numbers written as switches, comments and trailing commas, scheduled values for
//! scalar settings, DD's prompt tokens, and the grouped report.

use std::path::Path;

use disco::import::{self, Group, Imported};
use disco::project::{self, Settings};

use crate::support::{disco, text};

fn import(name: &str, text: &str) -> Imported {
    import::import(Path::new(name), text).unwrap_or_else(|e| panic!("{e}"))
}

/// The settings of the project's first target, which must load.
fn settings(out: &Imported) -> Settings {
    let p = project::load_str(Path::new("disco.kdl"), &out.kdl)
        .project
        .unwrap_or_else(|| panic!("not a valid project:\n{}", out.kdl));
    p.targets[0].settings.clone()
}

fn group_of(out: &Imported, key: &str) -> Group {
    out.skipped
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("{key} not listed:\n{}", out.kdl))
        .group
}

#[test]
fn hand_written_json_with_comments_trailing_commas_and_python_words_imports() {
    let out = import(
        "settings.json",
        "// progrock style\n{\n  \"steps\": 120, // fewer\n  \"init_image\": None,\n  \"skip_augs\": True,\n  \"image_prompts\": [],\n}\n",
    );
    let s = settings(&out);
    assert_eq!(s.steps.value, 120);
    assert!(s.skip_augs.value);
    assert!(s.init_image.value.written.is_none());
    assert!(
        s.image_prompts.value.0.is_empty(),
        "an empty list is no image prompts"
    );
    assert_eq!(out.lossy().count(), 0, "{}", out.kdl);
}

#[test]
fn numbers_written_as_switches_and_switches_as_numbers_keep_their_meaning() {
    // trevbook's Dash app writes `false` for 0; progrock writes CLIP toggles as weights.
    let out = import(
        "a.json",
        r#"{"sat_scale": false, "tv_scale": true, "cut_ic_pow": true, "ViTB32": 1.0, "RN50": 0.0, "ViTB16": 0.5}"#,
    );
    let s = settings(&out);
    assert_eq!(
        (s.sat_scale.value.first(), s.tv_scale.value.first()),
        (0.0, 1.0)
    );
    assert_eq!(s.cut_ic_pow.value.values[0], 1.0);
    assert!(s.vit_b32.value && !s.rn50.value);
    // A weight of 0.5 is neither on nor off: disco cannot weigh a model.
    assert_eq!(group_of(&out, "ViTB16"), Group::ChangesPicture);
}

#[test]
fn schedules_holding_one_value_are_that_value_keyframes_and_guidance_schedules_are_kept() {
    let out = import(
        "a.json",
        r#"{"eta": "0:(0.2)", "frames_skip_steps": "0:(.6)", "clip_guidance_scale": "[20000]*1000",
            "cutn_batches": "[8]*1000", "clamp_grad": "[True]*1000", "clamp_max": "[0.05]*500+[0.1]*500",
            "zoom": "0: (1), 10: (1.05)", "tv_scale": "0:(0), 50:(100)"}"#,
    );
    let s = settings(&out);
    assert_eq!(s.eta.value.first(), 0.2);
    assert_eq!(s.frames_skip_steps.value.first().0, 60.0);
    assert_eq!(s.clip_guidance_scale.value.first(), 20000.0);
    assert_eq!(s.cutn_batches.value.first(), 8);
    assert!(s.clamp_grad.value);
    // zoom is keyframed in disco: the keyframes are kept as written.
    assert!(
        out.kdl.contains("zoom \"0: (1), 10: (1.05)\""),
        "{}",
        out.kdl
    );
    // Keyframes that change a number are kept: disco keyframes it per frame.
    assert!(
        out.kdl.contains("tv-scale \"0:(0), 50:(100)\""),
        "{}",
        out.kdl
    );
    assert_eq!(s.tv_scale.value.values(), [0.0, 100.0]);
    // A per-step schedule that changes is kept for a guidance setting.
    assert!(
        out.kdl.contains("clamp-max \"[0.05]*500+[0.1]*500\""),
        "{}",
        out.kdl
    );
    assert_eq!(out.lossy().count(), 0);
}

#[test]
fn fork_spellings_are_read_as_dd_s() {
    // DD 5.6 writes a size per model class; DiscoArt a list of CLIP models and a prompt list.
    let out = import(
        "da.json",
        r#"{"width_height_for_512x512_models": [1024, 576], "width_height_for_256x256_models": [256, 256],
            "clip_models": ["ViT-B-16::openai", "RN50x4::openai"], "text_prompts": ["a castle:2", "fog"],
            "seed": null, "name_docarray": "x", "cut_schedules_group": null, "skip_augs": true}"#,
    );
    // DiscoArt drops its legacy `skip_augs`: its pictures had augmentations.
    assert_eq!(group_of(&out, "skip_augs"), Group::Bookkeeping);
    let s = settings(&out);
    assert_eq!(
        (s.width_height.value.width, s.width_height.value.height),
        (1024, 576)
    );
    assert!(s.vit_b16.value && s.rn50x4.value && !s.vit_b32.value && !s.rn50.value);
    assert!(!s.skip_augs.value);
    assert_eq!(s.text_prompts.value.at(0).unwrap().prompts[0].weight, 2.0);
    assert_eq!(
        group_of(&out, "width_height_for_256x256_models"),
        Group::OffOrDefault
    );
    assert_eq!(out.lossy().count(), 0, "{}", out.kdl);
    // DiscoArt tokenises the text alone, as disco does: no setting written.
    assert!(!out.kdl.contains("prompt-tokenization"), "{}", out.kdl);
}

#[test]
fn dd_prompt_tokens_are_kept_for_dd_files() {
    let file = r#"{"text_prompts": {"0": ["a lighthouse:3", "yellow"]}, "steps": 50}"#;
    let out = import("sea(0)_settings.txt", file);
    assert!(
        out.kdl.contains("\nprompt-tokenization dd\n")
            || out.kdl.contains("\nprompt-tokenization \"dd\"\n"),
        "{}",
        out.kdl
    );
    assert!(out.notes.iter().any(|n| n.contains("`:weight` suffix")));
    // The setting puts the suffix back into the text CLIP reads (and so into the key).
    let p = project::load_str(Path::new("disco.kdl"), &out.kdl)
        .project
        .expect("valid");
    let prompt = &p.targets[0]
        .settings
        .text_prompts
        .value
        .at(0)
        .unwrap()
        .prompts[0];
    assert_eq!(
        (prompt.text.as_str(), prompt.suffix.as_deref()),
        ("a lighthouse", Some(":3"))
    );
    // Without a weighted prompt, nothing is written.
    let out = import("b.json", r#"{"text_prompts": {"0": ["a lighthouse"]}}"#);
    assert!(!out.kdl.contains("prompt-tokenization"), "{}", out.kdl);
}

#[test]
fn three_d_files_import_with_their_motion() {
    let out = import(
        "a.json",
        r#"{"animation_mode": "3D", "translation_z": "0: (5)", "fov": 60}"#,
    );
    assert_eq!(out.lossy().count(), 0, "{:?}", out.skipped);
    for line in [
        "animation-mode \"3D\"",
        "translation-z \"0: (5)\"",
        "fov 60",
    ] {
        assert!(out.kdl.contains(line), "{line} not in\n{}", out.kdl);
    }
}

#[test]
fn video_input_settings_import_and_are_quiet_in_other_modes() {
    let video = r#""video_init_path": "clip.mp4", "video_init_steps": 60, "extract_nth_frame": 3"#;
    let out = import(
        "b.json",
        &format!(r#"{{"animation_mode": "Video Input", {video}}}"#),
    );
    assert_eq!(out.lossy().count(), 0, "{}", out.kdl);
    let s = settings(&out);
    assert_eq!(s.video_init_steps.value, 60);
    assert_eq!(s.extract_nth_frame.value, 3);
    assert_eq!(s.video_init_path.value.written.as_deref(), Some("clip.mp4"));
    // DD records them in every mode: a 2D file does not write them
    let out = import("c.json", &format!(r#"{{"animation_mode": "2D", {video}}}"#));
    assert_eq!(group_of(&out, "video_init_steps"), Group::OffOrDefault);
    assert!(!out.kdl.contains("video-init"), "{}", out.kdl);
}

#[test]
fn motion_without_a_recorded_mode_is_said() {
    let out = import("a.json", r#"{"zoom": "0: (1.02)", "steps": 100}"#);
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("does not record animation_mode, but sets motion (zoom)")),
        "{:?}",
        out.notes
    );
    let out = import("b.json", r#"{"zoom": "0: (1), 10: (1.05)"}"#);
    assert!(!out.notes.iter().any(|n| n.contains("sets motion")));
}

#[test]
fn fork_features_are_loud_only_when_on() {
    let out = import(
        "p.json",
        r#"{"smooth_schedules": true, "symmetry_loss_v": false,
            "symm_loss_scale": 20000, "use_jpg": false, "perf_tf32": true}"#,
    );
    assert_eq!(group_of(&out, "smooth_schedules"), Group::ChangesPicture);
    assert_eq!(group_of(&out, "symmetry_loss_v"), Group::OffOrDefault);
    assert_eq!(group_of(&out, "symm_loss_scale"), Group::OffOrDefault);
    assert_eq!(group_of(&out, "use_jpg"), Group::Bookkeeping);
    assert_eq!(group_of(&out, "perf_tf32"), Group::Bookkeeping);
}

#[test]
fn cli_port_multipliers_become_a_sweep() {
    let out = import(
        "explore.yaml",
        "batch_name: explore\nsteps: 150\nmultipliers:\n  text_prompts:\n  - 0:\n    - a castle\n  - 0:\n    - a ship\n  clip_guidance_scale: [500, 1000, 1500]\n",
    );
    let p = project::load_str(Path::new("disco.kdl"), &out.kdl)
        .project
        .unwrap_or_else(|| panic!("{}", out.kdl));
    assert_eq!(p.targets.len(), 1, "{}", out.kdl);
    let cells = p.targets[0].sweep.as_ref().expect("a sweep").cells.len();
    assert_eq!(cells, 6, "2 prompts × 3 scales:\n{}", out.kdl);
    assert_eq!(out.lossy().count(), 0, "{}", out.kdl);
}

#[test]
fn cli_port_modifiers_become_one_target_each() {
    let out = import(
        "study.yml",
        "batch_name: study\nsteps: 100\nmodifiers:\n  0:\n    clip_guidance_scale: 500\n  1:\n    text_prompts:\n      0:\n      - a castle:2\n",
    );
    let p = project::load_str(Path::new("disco.kdl"), &out.kdl)
        .project
        .unwrap_or_else(|| panic!("{}", out.kdl));
    let names: Vec<&str> = p.targets.iter().map(|t| t.name.value.as_str()).collect();
    assert_eq!(names, ["study-0", "study-1"], "{}", out.kdl);
    assert_eq!(
        p.targets[0].settings.clip_guidance_scale.value.first(),
        500.0
    );
    assert_eq!(
        p.targets[0].settings.steps.value, 100,
        "the top level is the base"
    );
    let prompt = &p.targets[1]
        .settings
        .text_prompts
        .value
        .at(0)
        .unwrap()
        .prompts[0];
    assert_eq!((prompt.text.as_str(), prompt.weight), ("a castle", 2.0));
    assert_eq!(out.lossy().count(), 0, "{}", out.kdl);
    assert!(out.notes.iter().any(|n| n.contains("only the last one")));
    // The weighted prompt is the CLI port's, which tokenises it as DD does.
    assert_eq!(
        p.targets[1].settings.prompt_tokenization.value,
        disco::project::types::PromptTokenization::Dd
    );
}

#[test]
fn the_report_on_screen_is_grouped_loud_first() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("s.json"),
        r#"{"batchNum": 3, "turbo_mode": false, "sharpen_preset": "Faster", "steps": 100}"#,
    )
    .unwrap();
    let out = disco(tmp.path(), &["import", "s.json", "--allow-lossy"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let loud = stdout
        .find("not imported, changes your picture (1):")
        .expect(&stdout);
    let off = stdout
        .find("not imported, off or at DD's default: 1 key")
        .expect(&stdout);
    let books = stdout
        .find("not imported, bookkeeping (1): batchNum")
        .expect(&stdout);
    assert!(loud < off && off < books, "{stdout}");
    assert!(
        stdout.contains("  sharpen_preset: DD v4.1-v5.0's latent-diffusion sharpening"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(tmp.path().join("disco.kdl")).unwrap();
    assert!(
        written.contains("// Not imported, changes your picture:"),
        "{written}"
    );
}

#[test]
fn progrock_s_brightness_and_contrast_correction_imports_as_its_settings() {
    let out = import(
        "p.json",
        r#"{"fix_brightness_contrast": true, "adjustment_interval": 5, "high_contrast_threshold": 70,
            "low_brightness_adjust_amount": 1.2, "low_contrast_adjust": false, "high_brightness_start": 3}"#,
    );
    assert_eq!(out.lossy().count(), 0, "{:?}", out.skipped);
    let p = project::load_str(Path::new("disco.kdl"), &out.kdl)
        .project
        .unwrap_or_else(|| panic!("{}", out.kdl));
    let s = &p.targets[0].settings;
    assert!(s.fix_brightness_contrast.value);
    assert_eq!(s.adjustment_interval.value, 5);
    assert_eq!(s.high_contrast_threshold.value, 70.0);
    assert_eq!(s.low_brightness_adjust_amount.value, 1.2);
    assert!(!s.low_contrast_adjust.value);
    assert_eq!(s.high_brightness_start.value, 3);
}
