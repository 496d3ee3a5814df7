//! A 2D animation end to end on the tiny set: frames chained by the warp, the mp4 made from
//! every frame, and an edit at frame 6 re-rendering frames 6.. and re-encoding the video.

use std::path::Path;

use serde_json::Value;

use crate::quality::{chroma_420, luma_psnr, psnr};
use crate::support::{json_events, root};

fn build(dir: &Path) -> Vec<Value> {
    json_events(dir, &["build", "--message-format", "json"])
}

fn of(events: &[Value], kind: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["event"] == kind)
        .cloned()
        .collect()
}

#[test]
fn a_12_frame_animation_builds_its_video_and_an_edit_at_frame_6_redoes_6_onwards() {
    // the toy set (models/toy, in the repository): smooth pictures a video can keep
    let toy = root().join("models/toy");
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    let text0 = format!(
        r#"model-set "{}"
width-height 64 64
steps 10
skip-steps 0
seed 3
cutn-batches 1
clip-models "ViT-B/32"
clip-guidance-scale 50000
clamp-max 0.2
frames-scale 0
text-prompts {{
    frame 0 "a red circle"
    frame 6 "a blue square"
}}
animation "film" {{
    max-frames 12
    frames-skip-steps "70%"
    zoom "0: (1), 11: (1.1)"
    translation-x "0: (1)"
    video-fps 12
}}
"#,
        toy.display()
    );
    std::fs::write(&kdl, &text0).unwrap();
    let events = build(dir.path());
    assert_eq!(of(&events, "job-finished").len(), 12);
    let video = of(&events, "video-encoded");
    assert_eq!(video.len(), 1, "{events:?}");
    let mp4 = dir.path().join("images_out/film/film(0).mp4");
    let decoded = disco::video::decode(&mp4).unwrap();
    assert_eq!(decoded.frames.len(), 12, "every frame, frame 0 included");
    assert_eq!((decoded.width, decoded.height), (64, 64));
    assert_eq!(f64::from(decoded.fps), 12.0);
    // Each decoded frame must be nearest to its own PNG (order and completeness), and close to
    // it. The first toy set's 64×64 frames were saturated noise, whose colour 4:2:0 cannot keep: the
    // chroma subsampling alone, without any codec, leaves 23–35.5 dB of RGB PSNR (frame 0:
    // 23.3 dB; 24.0 dB at best with any of swscale's filters), so 35 dB over RGB is out of
    // reach of a yuv420p video of them. The 35 dB of issue 6 is therefore asked of luma, as
    // video PSNR is usually measured (measured ≥ 39.8 dB), and RGB must stay within 2 dB of
    // what 4:2:0 keeps (measured: within 1.4 dB; a decoder repeating chroma samples falls
    // 2.3–3.0 dB short, a 601/709 mismatch 7 dB) or above 35 dB.
    assert_eq!(decoded.luma.len(), 12);
    let pngs: Vec<_> = (0..12)
        .map(|f| {
            let png = dir
                .path()
                .join(format!("images_out/film/film(0)_{f:04}.png"));
            disco::video::png::read_rgb(&png).unwrap()
        })
        .collect();
    for (f, got) in decoded.frames.iter().enumerate() {
        let scores: Vec<f64> = pngs.iter().map(|p| psnr(got, p)).collect();
        let best = (0..12)
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .unwrap();
        assert_eq!(
            best, f,
            "decoded frame {f} is nearest to PNG {best}: {scores:?}"
        );
        let luma = luma_psnr(&decoded.luma[f], &pngs[f]);
        let kept = psnr(&chroma_420(&pngs[f]), &pngs[f]);
        eprintln!(
            "frame {f}: PSNR luma {luma:.1} dB, RGB {:.1} dB (4:2:0 alone keeps {kept:.1} dB)",
            scores[f]
        );
        assert!(luma > 35.0, "frame {f}: luma PSNR {luma:.1} dB");
        // On flat pictures 4:2:0 alone keeps ~40 dB and the codec's own quantisation shows
        // (up to 2.5 dB on the retrained toy set's frames): there 35 dB of RGB is the floor.
        assert!(
            scores[f] > (kept - 2.0).min(35.0),
            "frame {f}: RGB PSNR {:.1} dB, 4:2:0 alone keeps {kept:.1} dB",
            scores[f]
        );
    }

    // nothing changed: no frame, no video
    let events = build(dir.path());
    assert!(of(&events, "job-finished").is_empty());
    assert!(of(&events, "video-encoded").is_empty());

    std::fs::write(&kdl, text0.replace("a blue square", "a green star")).unwrap();
    let events = build(dir.path());
    let redone: Vec<String> = of(&events, "job-finished")
        .iter()
        .map(|e| e["job"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (6..12).map(|f| format!("film frame {f}")).collect();
    assert_eq!(redone, want);
    assert_eq!(of(&events, "video-encoded").len(), 1);
}
