//! `disco-video`: the FFmpeg half of disco, in its own executable so that `disco` links no
//! FFmpeg library. Loading FFmpeg and its ~90 codec libraries costs ~20 ms at every start,
//! which a no-op `disco build` cannot afford; `disco` runs this helper only to make videos
//! (and for `disco doctor`).
//!
//!     disco-video probe
//!     disco-video encode --out OUT.mp4 --fps 12 --crf 17 --preset veryslow FRAME.png…
//!     disco-video frames --nth 2 --out DIR VIDEO
//!
//! `probe` prints `libavcodec <version>` and `encoder <name>` (or `encoder -`); `encode`
//! prints `frames <n>`, `encoder <name>`, `bytes <n>`; `frames` writes every nth frame of VIDEO as
//! DIR/000000.png, 000001.png, … and prints `frames <n>`. Errors go to stderr with exit 1.

use std::path::PathBuf;
use std::process::ExitCode;

use disco::video::{self, EncodeSettings};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("probe") => {
            println!("libavcodec {}", video::libavcodec_version());
            println!(
                "encoder {}",
                video::h264_encoder().unwrap_or_else(|| "-".into())
            );
            Ok(())
        }
        Some("encode") => {
            let mut settings = EncodeSettings::default();
            let mut out = None;
            let mut frames = Vec::new();
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                let mut value = |name: &str| {
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value"))
                };
                match a.as_str() {
                    "--out" => out = Some(PathBuf::from(value("--out")?)),
                    "--fps" => settings.fps = value("--fps")?.parse().map_err(|e| format!("--fps: {e}"))?,
                    "--crf" => settings.crf = value("--crf")?.parse().map_err(|e| format!("--crf: {e}"))?,
                    "--preset" => settings.preset = value("--preset")?,
                    f => frames.push(PathBuf::from(f)),
                }
            }
            let out = out.ok_or("encode needs --out")?;
            let e = video::encode_pngs(&frames, &out, &settings).map_err(|e| e.to_string())?;
            println!("frames {}", e.frames);
            println!("encoder {}", e.encoder);
            println!("bytes {}", e.bytes);
            Ok(())
        }
        Some("frames") => frames(&args[1..]),
        _ => Err("usage: disco-video probe | disco-video encode --out OUT --fps N --crf N --preset P FRAME… | disco-video frames --nth N --out DIR VIDEO".into()),
    }
}

/// `frames --nth N --out DIR VIDEO`: Video Input's source frames as PNG files.
fn frames(args: &[String]) -> Result<(), String> {
    let (mut nth, mut out, mut video) = (1usize, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--nth" => {
                let v = it.next().ok_or("--nth needs a value")?;
                nth = v.parse().map_err(|e| format!("--nth: {e}"))?;
            }
            "--out" => out = Some(PathBuf::from(it.next().ok_or("--out needs a value")?)),
            v => video = Some(PathBuf::from(v)),
        }
    }
    let (out, video) = (
        out.ok_or("frames needs --out")?,
        video.ok_or("frames needs a video")?,
    );
    if nth == 0 {
        return Err("--nth must be at least 1".into());
    }
    let n = video::each_nth_frame(&video, nth, |i, img| {
        video::png::write_rgb(&out.join(format!("{i:06}.png")), &img)
    })
    .map_err(|e| e.to_string())?;
    println!("frames {n}");
    Ok(())
}
