//! Video assembly: synthetic PNG frames → mp4 → decoded back with FFmpeg.

use std::path::PathBuf;

use disco::video::{self, EncodeSettings, VideoError, png};
use ffmpeg_next::util::{chroma, color};
use ndarray::Array3;

use crate::quality::{luma_psnr, psnr};

/// A moving, smooth test picture (x264 at crf 17 keeps such content well above 35 dB).
fn frame(i: usize, w: usize, h: usize) -> Array3<u8> {
    Array3::from_shape_fn((h, w, 3), |(y, x, k)| {
        let t = i as f64 * 0.4;
        let v = match k {
            0 => 128.0 + 100.0 * ((x as f64 / 9.0) + t).sin(),
            1 => 128.0 + 100.0 * ((y as f64 / 7.0) - t).cos(),
            _ => (x + y + 8 * i) as f64 * 255.0 / (w + h + 8 * 16) as f64,
        };
        v.round().clamp(0.0, 255.0) as u8
    })
}

fn write_frames(dir: &std::path::Path, n: usize, w: usize, h: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("frame_{i:04}.png"));
            png::write_rgb(&p, &frame(i, w, h)).unwrap();
            p
        })
        .collect()
}

#[test]
fn every_frame_round_trips_at_the_right_rate() {
    if video::h264_encoder().is_none() {
        panic!("no H.264 encoder: {}", video::INSTALL_HELP);
    }
    let dir = tempfile::tempdir().unwrap();
    let (n, w, h) = (14, 96, 64);
    let frames = write_frames(dir.path(), n, w, h);
    let out = dir.path().join("anim.mp4");
    let settings = EncodeSettings {
        preset: "medium".into(),
        ..EncodeSettings::default()
    };
    let t = std::time::Instant::now();
    let enc = video::encode_pngs(&frames, &out, &settings).unwrap();
    let took = t.elapsed();
    assert_eq!(enc.frames, n);
    assert_eq!(enc.encoder, "libx264");
    assert_eq!(enc.bytes, std::fs::metadata(&out).unwrap().len());
    // faststart: the index (moov) precedes the media (mdat)
    let bytes = std::fs::read(&out).unwrap();
    let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(find(b"moov") < find(b"mdat"));

    let dec = video::decode(&out).unwrap();
    assert_eq!(dec.frames.len(), n, "frame 0 included, none dropped");
    assert_eq!((dec.width, dec.height), (w as u32, h as u32));
    assert_eq!(f64::from(dec.fps), 12.0);
    // frame i is shown at i/12 s
    let secs: Vec<f64> = dec
        .pts
        .iter()
        .map(|&p| p as f64 * f64::from(dec.time_base))
        .collect();
    for (i, s) in secs.iter().enumerate() {
        assert!((s - i as f64 / 12.0).abs() < 1e-6, "frame {i} at {s} s");
    }
    // the stream declares what the encoder did, so players convert back the same way
    assert_eq!(
        (dec.color_space, dec.color_range, dec.chroma_location),
        (
            color::Space::SMPTE170M,
            color::Range::MPEG,
            chroma::Location::Center
        )
    );
    let (mut worst, mut worst_luma) = (f64::INFINITY, f64::INFINITY);
    for (i, got) in dec.frames.iter().enumerate() {
        let p = psnr(got, &frame(i, w, h));
        let l = luma_psnr(&dec.luma[i], &frame(i, w, h));
        (worst, worst_luma) = (worst.min(p), worst_luma.min(l));
        assert!(
            p > 35.0 && l > 35.0,
            "frame {i}: PSNR {p:.1} dB, luma {l:.1} dB"
        );
    }
    eprintln!(
        "{n} frames {w}×{h}: encoded in {took:?}, worst PSNR {worst:.2} dB, luma {worst_luma:.2} dB"
    );
    // only the video is left besides the frames: the temporary was renamed
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), n + 1);
}

#[test]
fn frame_order_is_kept() {
    // frames that differ strongly: the decoded sequence must follow the input order
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (32, 32);
    let levels = [20u8, 200, 60, 240, 100, 10, 180, 140, 30, 220, 90, 160];
    let frames: Vec<PathBuf> = levels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let p = dir.path().join(format!("{i}.png"));
            png::write_rgb(&p, &Array3::from_elem((h, w, 3), l)).unwrap();
            p
        })
        .collect();
    let out = dir.path().join("o.mp4");
    let settings = EncodeSettings {
        fps: 24,
        crf: 10,
        preset: "ultrafast".into(),
    };
    video::encode_pngs(&frames, &out, &settings).unwrap();
    let dec = video::decode(&out).unwrap();
    assert_eq!(f64::from(dec.fps), 24.0);
    let means: Vec<u8> = dec
        .frames
        .iter()
        .map(|f| (f.iter().map(|&v| u32::from(v)).sum::<u32>() / f.len() as u32) as u8)
        .collect();
    for (m, l) in means.iter().zip(levels) {
        assert!(m.abs_diff(l) <= 2, "decoded {means:?} for {levels:?}");
    }
}

#[test]
fn mismatched_sizes_are_an_error_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.png");
    let b = dir.path().join("b.png");
    png::write_rgb(&a, &frame(0, 32, 32)).unwrap();
    png::write_rgb(&b, &frame(1, 34, 32)).unwrap();
    let out = dir.path().join("o.mp4");
    let err = video::encode_pngs(&[a, b.clone()], &out, &EncodeSettings::default()).unwrap_err();
    assert!(
        matches!(&err, VideoError::SizeMismatch { index: 1, path: Some(p), found_w: 34, .. } if *p == b),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary left"
    );
}

#[test]
fn odd_sizes_and_no_frames_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.png");
    png::write_rgb(&a, &frame(0, 33, 32)).unwrap();
    let out = dir.path().join("o.mp4");
    let err = video::encode_pngs(&[a], &out, &EncodeSettings::default()).unwrap_err();
    assert!(
        matches!(
            err,
            VideoError::OddSize {
                width: 33,
                height: 32
            }
        ),
        "{err}"
    );
    assert!(matches!(
        video::encode_pngs(&[], &out, &EncodeSettings::default()),
        Err(VideoError::NoFrames)
    ));
    let zero_fps = EncodeSettings {
        fps: 0,
        ..EncodeSettings::default()
    };
    let err = video::Mp4Writer::create(&out, 32, 32, &zero_fps)
        .err()
        .unwrap();
    assert!(matches!(err, VideoError::Settings(_)), "{err}");
    assert!(!out.exists());
}

#[test]
fn doctor_reports_the_h264_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let o = crate::support::disco(dir.path(), &["doctor"]);
    let (stdout, _) = crate::support::text(&o);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FFmpeg"))
        .unwrap_or_else(|| panic!("no FFmpeg line in:\n{stdout}"));
    let name = video::h264_encoder().expect("this machine has libx264");
    assert!(line.ends_with(&format!("H.264 encoder {name}")), "{line}");
}

#[test]
fn an_existing_video_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let frames = write_frames(dir.path(), 3, 32, 32);
    let out = dir.path().join("o.mp4");
    std::fs::write(&out, b"old").unwrap();
    let settings = EncodeSettings {
        preset: "ultrafast".into(),
        ..EncodeSettings::default()
    };
    video::encode_pngs(&frames, &out, &settings).unwrap();
    assert_eq!(video::decode(&out).unwrap().frames.len(), 3);
}

/// Issue "Trust", class 8: the mp4 was written 0600 while every other output is
/// world-readable.
#[test]
fn the_video_and_its_frames_are_as_readable_as_every_other_output() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let frames = write_frames(dir.path(), 2, 32, 32);
    let out = dir.path().join("o.mp4");
    let settings = EncodeSettings {
        preset: "ultrafast".into(),
        ..EncodeSettings::default()
    };
    video::encode_pngs(&frames, &out, &settings).unwrap();
    let settings_file = dir.path().join("settings.txt");
    disco::fsutil::write_atomic(&settings_file, b"{}").unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), mode(&settings_file), "the mp4");
    assert_eq!(mode(&frames[0]), mode(&settings_file), "a frame");
    assert_eq!(mode(&out), 0o644);
}
