//! `disco-video`: the FFmpeg half of disco, in its own executable so that `disco` links no
//! FFmpeg library. Loading FFmpeg and its ~90 codec libraries costs ~20 ms at every start,
//! which a no-op `disco build` cannot afford; `disco` runs this helper only to make videos
//! (and for `disco doctor`).
//!
//!     disco-video probe
//!     disco-video encode --out OUT.mp4 --fps 12 --crf 17 --preset veryslow FRAME.png…
//!
//! `probe` prints `libavcodec <version>` and `encoder <name>` (or `encoder -`); `encode`
//! prints `frames <n>`, `encoder <name>`, `bytes <n>`. Errors go to stderr with exit 1.

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
        _ => Err("usage: disco-video probe | disco-video encode --out OUT --fps N --crf N --preset P FRAME…".into()),
    }
}
