//! `disco import`: a DD settings file becomes a project whose resolved settings equal the
//! file's values; nothing is dropped silently; invalid input writes nothing.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use disco::project::{self, Settings};
use serde_json::{Value, json};

use crate::support::{disco, text, tree};

/// A settings file as DD's `save_settings()` writes it, from DD's defaults.
fn dd_settings_file() -> serde_json::Map<String, Value> {
    let mut m = Settings::default().to_dd_json();
    // DD records the seed it drew, and these keys it writes but disco does not import.
    m.insert("seed".into(), json!(2406101112u64));
    for key in [
        "batch_name",
        "n_batches",
        "display_rate",
        "resume_run",
        "animation_mode",
        "width_height",
        "timestep_respacing",
        "use_checkpoint",
        "intermediate_saves",
        "intermediates_in_subfolder",
        "fps",
    ] {
        m.remove(key);
    }
    m.insert("translation_z".into(), json!("0: (10.0)"));
    m.insert("turbo_mode".into(), json!(false));
    m.insert("video_init_path".into(), json!("init.mp4"));
    // an OpenCLIP toggle imports as a setting (it was "not supported" before OpenCLIP export)
    m.insert("RN50_cc12m".into(), json!(false));
    m
}

#[test]
fn dd_settings_file_round_trips_through_import() {
    let tmp = tempfile::tempdir().unwrap();
    let input = dd_settings_file();
    let file = tmp.path().join("TimeToDisco(0)_settings.txt");
    std::fs::write(&file, serde_json::to_string_pretty(&input).unwrap()).unwrap();

    let out = disco(tmp.path(), &["import", "TimeToDisco(0)_settings.txt"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // At DD's default: counted on screen, listed in the file under their group (3, the 3D-only
    // settings and the Video Input settings at DD's defaults in a file without a mode, and the
    // custom-model architecture keys, which a named diffusion_model does not read).
    assert!(
        stdout.contains("not imported, off or at DD's default: 47 keys"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(tmp.path().join("disco.kdl")).unwrap();
    let off = written
        .split("// Not imported, off or at DD's default:")
        .nth(1)
        .expect("an off-or-default group");
    for skipped in ["translation_z", "turbo_mode", "video_init_path"] {
        assert!(
            off.contains(&format!("//   {skipped} = ")),
            "{skipped} not listed:\n{written}"
        );
    }
    assert!(written.contains("rn50-cc12m #false"), "{written}");
    let check = disco(tmp.path(), &["check"]);
    assert_eq!(check.status.code(), Some(0), "{:?}", text(&check));

    let loaded = project::load(&tmp.path().join("disco.kdl"))
        .project
        .expect("valid");
    let resolved = loaded.targets[0].settings.to_dd_json();
    assert_eq!(loaded.targets[0].settings.batch_name.value, "TimeToDisco");
    let mut compared = 0;
    for (key, want) in &input {
        let Some(have) = resolved.get(key) else {
            continue;
        };
        if off.contains(&format!("//   {key} = ")) {
            continue; // not imported at DD's default (video_init_path's "init.mp4")
        }
        compared += 1;
        let same = match (want, have) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            _ => want == have,
        };
        assert!(same, "{key}: imported {have}, file had {want}");
    }
    assert!(compared >= 50, "only {compared} settings compared");
}

#[test]
fn cli_port_yaml_imports_with_its_own_spellings() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("job.yaml"),
        "batch_name: seaside\nsteps: 100\nwidth_height: [512, 448]\ncut_ic_pow: 1\nViTL14_336: true\nset_seed: random_seed\nmodifiers: [a, b]\n",
    )
    .unwrap();
    // `modifiers` changes the picture and disco has no such setting: refused, then allowed.
    let refused = disco(tmp.path(), &["import", "job.yaml", "-o", "seaside.kdl"]);
    assert_eq!(refused.status.code(), Some(1), "{:?}", text(&refused));
    assert!(!tmp.path().join("seaside.kdl").exists());
    let out = disco(
        tmp.path(),
        &["import", "job.yaml", "-o", "seaside.kdl", "--allow-lossy"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("  modifiers: ") && stdout.contains("[changes the picture]"),
        "{stdout}"
    );
    let p = project::load(&tmp.path().join("seaside.kdl"))
        .project
        .expect("valid");
    let s = &p.targets[0].settings;
    assert_eq!(s.batch_name.value, "seaside");
    assert!(s.vit_l14_336px.value);
    assert_eq!(&s.cut_ic_pow.value.values[..], &[1.0; 1000][..]);
    assert_eq!(
        (s.width_height.value.width, s.width_height.value.height),
        (512, 448)
    );
}

#[test]
fn an_import_that_would_be_invalid_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("s.json"),
        r#"{"steps": 100, "skip_steps": 300}"#,
    )
    .unwrap();
    let before = tree(tmp.path());
    let out = disco(tmp.path(), &["import", "s.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("must be less than `steps`"),
        "{:?}",
        text(&out)
    );
    assert_eq!(before, tree(tmp.path()));
}

#[test]
fn import_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("s.json"), r#"{"steps": 100}"#).unwrap();
    std::fs::write(tmp.path().join("disco.kdl"), "steps 7\n").unwrap();
    assert_eq!(
        disco(tmp.path(), &["import", "s.json"]).status.code(),
        Some(2)
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("disco.kdl")).unwrap(),
        "steps 7\n"
    );
    assert_eq!(
        disco(tmp.path(), &["import", "s.json", "--force"])
            .status
            .code(),
        Some(0)
    );
    assert!(
        std::fs::read_to_string(tmp.path().join("disco.kdl"))
            .unwrap()
            .contains("steps 100")
    );
}

/// Runs `disco` in `dir` and kills it after `limit` (a hang must fail the test, not stall it).
fn disco_within(dir: &Path, args: &[&str], limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_disco"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run disco");
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), start.elapsed())
}

/// The setting names written as nodes of a project text.
fn nodes(kdl: &str) -> Vec<String> {
    kdl::KdlDocument::parse_v2(kdl)
        .expect("the written project parses")
        .nodes()
        .iter()
        .map(|n| n.name().value().to_owned())
        .collect()
}

#[test]
fn keys_and_values_with_line_breaks_cannot_add_lines_to_the_project() {
    // Each text tries to end its comment and start a live `n-batches 7` line; U+2028,
    // U+0085 (NEL), U+000B and U+000C are line breaks to KDL, and `*/` ends block comments.
    let tmp = tempfile::tempdir().unwrap();
    let mut m = serde_json::Map::new();
    m.insert("steps".into(), json!(100));
    for (i, br) in [
        "\n", "\r", "\r\n", "\u{2028}", "\u{2029}", "\u{85}", "\u{b}", "\u{c}", "*/",
    ]
    .iter()
    .enumerate()
    {
        m.insert(format!("k{i}{br}n-batches 7{br}"), json!(1));
        m.insert(format!("v{i}"), json!(format!("x{br}n-batches 7{br}")));
    }
    m.insert("bidi\u{202e}".into(), json!("\u{2066}x"));
    std::fs::write(
        tmp.path().join("s.json"),
        serde_json::to_string(&m).unwrap(),
    )
    .unwrap();

    let out = disco(tmp.path(), &["import", "s.json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let written = std::fs::read_to_string(tmp.path().join("disco.kdl")).unwrap();
    assert_eq!(nodes(&written), vec!["steps"], "{written}");
    assert!(!written.contains([
        '\r', '\u{2028}', '\u{2029}', '\u{85}', '\u{b}', '\u{c}', '\u{202e}'
    ]));
    assert!(
        !stdout.contains(['\r', '\u{2028}', '\u{202e}', '\u{b}']),
        "{stdout:?}"
    );
    let p = project::load(&tmp.path().join("disco.kdl"))
        .project
        .expect("valid");
    assert!(p.targets[0].settings.n_batches.origin.is_none());
}

#[test]
fn strings_written_as_values_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let prompt = "a\u{2028}b\u{85}c\u{202e}d\"e\\f\u{7f}";
    std::fs::write(
        tmp.path().join("s.json"),
        serde_json::to_string(&json!({"text_prompts": {"0": [prompt]}, "batch_name": "sea"}))
            .unwrap(),
    )
    .unwrap();
    let out = disco(tmp.path(), &["import", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let p = project::load(&tmp.path().join("disco.kdl"))
        .project
        .expect("valid");
    let set = p.targets[0].settings.text_prompts.value.at(0).unwrap();
    assert_eq!(set.prompts[0].text, prompt);
}

#[test]
fn values_that_change_the_picture_and_cannot_be_imported_refuse_the_import() {
    // Python's json.dump writes NaN bare; "inf" as text; an unknown diffusion model; wrong types.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("s.json"),
        r#"{"steps": 100, "clip_guidance_scale": NaN, "tv_scale": "inf", "sat_scale": "-Infinity",
            "diffusion_model": "Medieval_Diffusion", "eta": "abc", "cutn_batches": [1],
            "display_rate": "often", "range_scale": 150}"#,
    )
    .unwrap();
    let before = tree(tmp.path());
    let out = disco(tmp.path(), &["import", "s.json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(before, tree(tmp.path()), "nothing may be written");
    for key in [
        "clip_guidance_scale",
        "tv_scale",
        "sat_scale",
        "diffusion_model",
        "eta",
        "cutn_batches",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("  {key}: ")))
            .unwrap_or_else(|| panic!("{key} not listed:\n{stdout}"));
        assert!(line.ends_with("[changes the picture]"), "{line}");
    }
    assert!(
        stdout.contains("  clip_guidance_scale: NaN and infinity"),
        "{stdout}"
    );
    assert!(stdout.contains("  tv_scale: NaN and infinity"), "{stdout}");
    // display_rate does not change pixels: counted in the quiet group, not listed as loud.
    assert!(!stdout.contains("  display_rate: "), "{stdout}");
    assert!(
        stdout.contains("not imported, off or at DD's default: "),
        "{stdout}"
    );
    assert!(
        stderr.contains("6 keys that change the picture"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-lossy"), "{stderr}");

    let out = disco(tmp.path(), &["import", "s.json", "--allow-lossy"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let written = std::fs::read_to_string(tmp.path().join("disco.kdl")).unwrap();
    assert!(
        written.contains("//   diffusion_model = \"Medieval_Diffusion\"")
            && written.contains("[changes the picture]"),
        "{written}"
    );
    assert_eq!(disco(tmp.path(), &["check"]).status.code(), Some(0));
}

#[test]
fn yaml_nan_and_infinity_are_reported_not_read_as_null() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("s.yaml"),
        "steps: 100\ninit_image: .nan\ntext_prompts: .inf\neta: .NaN\n",
    )
    .unwrap();
    let out = disco(tmp.path(), &["import", "s.yaml"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for key in ["init_image", "text_prompts", "eta"] {
        assert!(
            stdout.contains(&format!("  {key}: NaN and infinity")),
            "{key}:\n{stdout}"
        );
    }
}

#[test]
fn derived_keys_are_not_written_so_steps_can_be_edited() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("s.json"),
        r#"{"steps": 250, "diffusion_steps": 1000, "timestep_respacing": "ddim250"}"#,
    )
    .unwrap();
    let out = disco(tmp.path(), &["import", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let path = tmp.path().join("disco.kdl");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(nodes(&written), vec!["steps"], "{written}");
    std::fs::write(&path, written.replace("steps 250", "steps 100")).unwrap();
    let check = disco(tmp.path(), &["check"]);
    assert_eq!(check.status.code(), Some(0), "{:?}", text(&check));

    // A recorded value steps does not give: DD's derivation was not what made the picture.
    std::fs::write(
        tmp.path().join("t.json"),
        r#"{"steps": 250, "diffusion_steps": 500}"#,
    )
    .unwrap();
    let out = disco(tmp.path(), &["import", "t.json", "-o", "t.kdl"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("  diffusion_steps: DD derives 1000 from steps 250"),
        "{stdout}"
    );
}

#[test]
fn seed_and_set_seed_give_one_seed_line() {
    let tmp = tempfile::tempdir().unwrap();
    let import = |json: &str| {
        std::fs::write(tmp.path().join("s.json"), json).unwrap();
        let out = disco(tmp.path(), &["import", "s.json", "--force"]);
        let written = std::fs::read_to_string(tmp.path().join("disco.kdl")).unwrap_or_default();
        (out, written)
    };
    // DD records the seed it drew as `seed`; `set_seed` is where it came from.
    let (out, written) = import(r#"{"set_seed": "random_seed", "seed": 42}"#);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(nodes(&written), vec!["seed"], "{written}");
    assert!(written.contains("\nseed 42\n"), "{written}");
    assert!(
        written.contains("//   set_seed = \"random_seed\"  (DD drew the recorded `seed`"),
        "{written}"
    );
    // The CLI port records only set_seed.
    let (out, written) = import(r#"{"set_seed": 7}"#);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(written.contains("\nseed 7\n"), "{written}");
    // Two different seeds: which made the picture is unknown.
    std::fs::remove_file(tmp.path().join("disco.kdl")).unwrap();
    let (out, written) = import(r#"{"set_seed": 1, "seed": 2}"#);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert_eq!(written, "");
}

#[test]
fn empty_prompts_write_no_empty_block_and_names_are_trimmed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("s.json"),
        r#"{"batch_name": "  sea \t", "image_prompts": {}, "text_prompts": {" 0 ": ["a"], "100 ": ["b"]}}"#,
    )
    .unwrap();
    let out = disco(tmp.path(), &["import", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let written = std::fs::read_to_string(tmp.path().join("disco.kdl")).unwrap();
    let squeezed: String = written.split_whitespace().collect();
    assert!(!squeezed.contains("{}"), "{written}");
    let p = project::load(&tmp.path().join("disco.kdl"))
        .project
        .expect("valid");
    let s = &p.targets[0].settings;
    assert_eq!(s.batch_name.value, "sea");
    assert!(s.image_prompts.value.0.is_empty());
    assert_eq!(
        s.text_prompts.value.0.keys().copied().collect::<Vec<_>>(),
        vec![0, 100]
    );
}

#[test]
fn fifos_and_devices_are_refused_promptly() {
    let tmp = tempfile::tempdir().unwrap();
    let made = Command::new("mkfifo")
        .arg(tmp.path().join("fifo.json"))
        .status()
        .unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", tmp.path().join("zero.json")).unwrap();
    for (file, kind) in [("fifo.json", "a FIFO"), ("zero.json", "a character device")] {
        let (out, took) = disco_within(tmp.path(), &["import", file], Duration::from_secs(20));
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains(&format!("not a regular file ({kind})")),
            "{stderr}"
        );
        assert!(took < Duration::from_secs(10), "{file} took {took:?}");
    }
    std::fs::write(tmp.path().join("big.json"), vec![b' '; (1 << 20) + 1]).unwrap();
    let out = disco(tmp.path(), &["import", "big.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("larger than the limit of 1048576 bytes"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn deeply_nested_input_is_refused_promptly() {
    const N: usize = 100_000;
    let tmp = tempfile::tempdir().unwrap();
    let arrays = "[".repeat(N) + &"]".repeat(N);
    // Nested flow mappings are what libyaml's scanner takes quadratic time on.
    let maps = "{\"a\": ".repeat(N) + "1" + &"}".repeat(N);
    let cases = [
        ("arrays.json", arrays.clone()),
        ("maps.json", maps.clone()),
        ("arrays.yaml", arrays),
        ("maps.yaml", maps),
    ];
    for (file, body) in cases {
        std::fs::write(tmp.path().join(file), body).unwrap();
        let (out, took) = disco_within(tmp.path(), &["import", file], Duration::from_secs(60));
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains("nested more than 32 levels deep"),
            "{file}: {stderr}"
        );
        assert!(took < Duration::from_secs(5), "{file} took {took:?}");
    }
}

/// Found by `fuzz_import`: `steps` below DD's default `skip-steps` in a file without targets
/// gave an error with no place to point at; it points at `steps`.
#[test]
fn steps_below_the_default_skip_steps_points_at_steps() {
    let out = disco::import::import(Path::new("s.json"), r#"{"steps": 1}"#).unwrap();
    let loaded = project::load_str(Path::new("disco.kdl"), &out.kdl);
    let errors: Vec<_> = loaded
        .diagnostics
        .0
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", loaded.diagnostics);
    assert!(errors[0].location().is_some(), "{:?}", errors[0]);
    assert!(errors[0].to_string().contains("must be less than `steps`"));
}
