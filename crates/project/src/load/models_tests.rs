//! The diffusion model settings as a project reads them: every DD 5.7 model name, the
//! `custom-model` block, and the defaults DD applies per model.

use std::path::Path;

use crate::load_str;
use crate::types::{CutSchedule, DiffusionModel, WidthHeight};

fn settings(text: &str) -> crate::Settings {
    let r = load_str(Path::new("p.kdl"), text);
    assert_eq!(r.diagnostics.error_count(), 0, "{:?}", r.diagnostics);
    r.project.expect("valid").targets[0].settings.clone()
}

#[test]
fn every_dd_model_is_a_value_with_dds_size_and_cut_defaults() {
    let pixel = settings("diffusion-model \"pixel_art_diffusion_hard_256\"");
    assert_eq!(
        pixel.width_height.value,
        WidthHeight {
            width: 512,
            height: 448
        }
    );
    assert_eq!(
        pixel.cut_overview.value,
        CutSchedule::dd("[15]*100+[15]*100+[12]*100+[12]*100+[6]*100+[4]*100+[2]*200+[0]*200")
    );
    assert_eq!(pixel.cut_ic_pow.value.at(0), 12.0);
    assert_eq!(pixel.cut_icgray_p.value.at(0), 0.87);
    let pulp = settings("diffusion-model \"PulpSciFiDiffusion\"");
    assert_eq!(pulp.cut_innercut.value, pixel.cut_innercut.value);
    let water = settings("diffusion-model \"watercolordiffusion_2\"\ncut-overview \"[3]*1000\"");
    assert_eq!(
        water.cut_overview.value.at(0),
        3.0,
        "a written schedule wins"
    );
    assert_eq!(water.cut_innercut.value.at(0), 2.0);
    assert_eq!(water.cut_icgray_p.value.at(0), 0.7);
    let portrait = settings("diffusion-model \"portrait_generator_v002\"");
    assert_eq!(
        portrait.width_height.value,
        WidthHeight {
            width: 1280,
            height: 768
        }
    );
    assert_eq!(
        portrait.cut_overview.value,
        crate::Settings::default().cut_overview.value
    );
    for name in [
        "portrait_generator_v001",
        "pixelartdiffusion_expanded",
        "pixel_art_diffusion_soft_256",
        "pixelartdiffusion4k",
        "watercolordiffusion",
        "256x256_diffusion_uncond",
    ] {
        let s = settings(&format!("diffusion-model \"{name}\""));
        assert_eq!(s.diffusion_selector(), name);
    }
}

#[test]
fn a_custom_model_block_sets_the_flat_dd_fork_settings() {
    let s = settings(
        "diffusion-model \"custom\"\ncustom-path \"ckpt/ema_0.9999_058000.pt\"\ncustom-model {\n  image-size 512\n  num-head-channels 64\n  attention-resolutions \"32, 16, 8\"\n  resblock-updown #true\n}\ncustom-model-num-channels 256\n",
    );
    assert_eq!(s.diffusion_model.value, DiffusionModel::Custom);
    assert_eq!(s.diffusion_selector(), "custom:ema_0.9999_058000.pt");
    assert_eq!(s.custom_model_image_size.value, 512);
    assert_eq!(s.custom_model_num_channels.value, 256);
    assert_eq!(s.custom_model_num_head_channels.value, 64);
    assert_eq!(
        s.custom_model_attention_resolutions.value.values(),
        vec![32.0, 16.0, 8.0]
    );
    assert!(s.custom_model_resblock_updown.value);
    assert_eq!(
        s.width_height.value,
        WidthHeight {
            width: 1280,
            height: 768
        }
    );

    let r = load_str(Path::new("p.kdl"), "custom-model {\n  num-head 2\n}\n");
    let text = format!("{:?}", r.diagnostics);
    assert!(
        text.contains("`num-head` is not a custom-model field"),
        "{text}"
    );
    assert!(text.contains("num-heads"), "{text}");
    let r = load_str(
        Path::new("p.kdl"),
        "custom-model {\n  attention-resolutions \"16;8\"\n}\n",
    );
    assert_eq!(r.diagnostics.error_count(), 1);
}
