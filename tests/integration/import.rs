//! `disco import`: a DD settings file becomes a project whose resolved settings equal the
//! file's values; nothing is dropped silently; invalid input writes nothing.

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
    for skipped in [
        "translation_z",
        "turbo_mode",
        "video_init_path",
        "RN50_cc12m",
    ] {
        assert!(
            stdout.contains(&format!("  {skipped}: ")),
            "{skipped} not listed:\n{stdout}"
        );
    }
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
    let out = disco(tmp.path(), &["import", "job.yaml", "-o", "seaside.kdl"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("  modifiers: "), "{stdout}");
    let p = project::load(&tmp.path().join("seaside.kdl"))
        .project
        .expect("valid");
    let s = &p.targets[0].settings;
    assert_eq!(s.batch_name.value, "seaside");
    assert!(s.vit_l14_336px.value);
    assert_eq!(s.cut_ic_pow.value.values, vec![1.0; 1000]);
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
