//! Frames → H.264 mp4: RGB frames converted to yuv420p by swscale, encoded by libx264 at a
//! constant rate factor, muxed with one timestamp per frame at `1/fps`.

use std::path::{Path, PathBuf};

use ffmpeg_next::{
    Dictionary, Packet, Rational, codec, encoder, format, frame, software::scaling, util,
};
use ndarray::Array3;
use tempfile::NamedTempFile;

use super::{VideoError, init, png};

/// How to encode.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeSettings {
    /// Frames per second (DD: 12).
    pub fps: u32,
    /// x264 constant rate factor, 0–51, lower is better (DD: 17).
    pub crf: u8,
    /// x264 preset, `ultrafast` … `veryslow` (DD: `veryslow`).
    pub preset: String,
}

impl Default for EncodeSettings {
    /// DD's settings: 12 fps, crf 17, preset veryslow.
    fn default() -> Self {
        EncodeSettings {
            fps: 12,
            crf: 17,
            preset: "veryslow".into(),
        }
    }
}

/// What an encode produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Frames written.
    pub frames: usize,
    /// The FFmpeg encoder used, e.g. `libx264`.
    pub encoder: String,
    /// Size of the mp4 in bytes.
    pub bytes: u64,
}

/// The name of the H.264 encoder FFmpeg offers (libx264 preferred), or `None` when the linked
/// libraries have none (or FFmpeg cannot start).
pub fn h264_encoder() -> Option<String> {
    init().ok()?;
    find_h264().map(|c| c.name().to_owned())
}

fn find_h264() -> Option<ffmpeg_next::Codec> {
    encoder::find_by_name("libx264").or_else(|| encoder::find(codec::Id::H264))
}

/// Encodes PNG files (all the same size, in order) into an mp4 at `out`, every frame included.
pub fn encode_pngs(
    frames: &[PathBuf],
    out: &Path,
    settings: &EncodeSettings,
) -> Result<Encoded, VideoError> {
    let Some(first) = frames.first() else {
        return Err(VideoError::NoFrames);
    };
    let img = png::read_rgb(first)?;
    let (h, w, _) = img.dim();
    let mut writer = Mp4Writer::create(out, w as u32, h as u32, settings)?;
    writer.write(&img)?;
    for path in &frames[1..] {
        writer.write(&png::read_rgb(path)?).map_err(|mut e| {
            if let VideoError::SizeMismatch { path: p, .. } = &mut e {
                *p = Some(path.clone());
            }
            e
        })?;
    }
    writer.finish()
}

/// An mp4 being written: frames go in one at a time; [`Mp4Writer::finish`] puts the file in
/// place. Until then it is a temporary file in the same directory, removed if the writer is
/// dropped, so `out` is either absent, the old video, or the complete new one.
pub struct Mp4Writer {
    out: PathBuf,
    tmp: NamedTempFile,
    octx: format::context::Output,
    encoder: encoder::video::Encoder,
    scaler: scaling::Context,
    rgb: frame::Video,
    yuv: frame::Video,
    encoder_tb: Rational,
    stream_tb: Rational,
    encoder_name: String,
    frames: i64,
}

impl Mp4Writer {
    /// Starts an mp4 of `width` × `height` frames at `out`.
    pub fn create(
        out: &Path,
        width: u32,
        height: u32,
        settings: &EncodeSettings,
    ) -> Result<Mp4Writer, VideoError> {
        init()?;
        check(settings, width, height)?;
        let codec = find_h264().ok_or(VideoError::NoH264Encoder)?;
        let tmp = temp_beside(out)?;
        let mut octx = format::output_as(tmp.path(), "mp4").map_err(ff("create the mp4"))?;
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let encoder_tb = Rational::new(1, settings.fps as i32);
        let encoder = open_encoder(codec, width, height, settings, global_header)?;
        let stream_tb = start_stream(&mut octx, codec, &encoder, settings)?;
        // Bicubic, rounding exactly; the chroma filter hardly matters on the way in (area,
        // lanczos and full-resolution chroma input are within 0.2 dB of it on the toy frames).
        let scaler = scaling::Context::get(
            format::Pixel::RGB24,
            width,
            height,
            format::Pixel::YUV420P,
            width,
            height,
            scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND,
        )
        .map_err(ff("set up RGB→YUV conversion"))?;
        Ok(Mp4Writer {
            out: out.to_owned(),
            tmp,
            octx,
            encoder_name: codec.name().to_owned(),
            encoder,
            scaler,
            rgb: frame::Video::new(format::Pixel::RGB24, width, height),
            yuv: frame::Video::new(format::Pixel::YUV420P, width, height),
            encoder_tb,
            stream_tb,
            frames: 0,
        })
    }

    /// Appends one `[H, W, 3]` RGB frame.
    pub fn write(&mut self, img: &Array3<u8>) -> Result<(), VideoError> {
        let (h, w, c) = img.dim();
        let (width, height) = (self.rgb.width(), self.rgb.height());
        if (w as u32, h as u32) != (width, height) || c != 3 {
            return Err(VideoError::SizeMismatch {
                index: self.frames as usize,
                path: None,
                found_w: w as u32,
                found_h: h as u32,
                width,
                height,
            });
        }
        let stride = self.rgb.stride(0);
        let data = img.as_standard_layout();
        let src = data.as_slice().expect("standard layout");
        let dst = self.rgb.data_mut(0);
        for (y, row) in src.chunks_exact(w * 3).enumerate() {
            dst[y * stride..y * stride + w * 3].copy_from_slice(row);
        }
        self.scaler
            .run(&self.rgb, &mut self.yuv)
            .map_err(|source| VideoError::Ffmpeg {
                step: "convert a frame to YUV",
                source,
            })?;
        // frame i is shown at i/fps: pts counts frames in the encoder's 1/fps time base
        self.yuv.set_pts(Some(self.frames));
        self.encoder
            .send_frame(&self.yuv)
            .map_err(|source| VideoError::Ffmpeg {
                step: "encode a frame",
                source,
            })?;
        self.frames += 1;
        self.drain()
    }

    /// Flushes the encoder, finishes the mp4 and renames it into place.
    pub fn finish(mut self) -> Result<Encoded, VideoError> {
        if self.frames == 0 {
            return Err(VideoError::NoFrames);
        }
        self.encoder
            .send_eof()
            .map_err(|source| VideoError::Ffmpeg {
                step: "flush the encoder",
                source,
            })?;
        self.drain()?;
        self.octx
            .write_trailer()
            .map_err(|source| VideoError::Ffmpeg {
                step: "finish the mp4",
                source,
            })?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| VideoError::Io { path, source }
        };
        let Mp4Writer {
            out,
            tmp,
            octx,
            frames,
            encoder_name,
            ..
        } = self;
        drop(octx); // closes FFmpeg's handle on the file
        // tempfile creates 0600; the video is as readable as every other output
        super::shared_mode(tmp.as_file()).map_err(io(tmp.path()))?;
        tmp.as_file().sync_all().map_err(io(tmp.path()))?;
        let bytes = tmp.as_file().metadata().map_err(io(tmp.path()))?.len();
        tmp.persist(&out).map_err(|e| VideoError::Io {
            path: out.clone(),
            source: e.error,
        })?;
        Ok(Encoded {
            frames: frames as usize,
            encoder: encoder_name,
            bytes,
        })
    }

    /// Moves every packet the encoder has ready into the mp4.
    fn drain(&mut self) -> Result<(), VideoError> {
        let mut packet = Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {}
                // "needs more input" and "fully flushed" both mean: nothing more for now
                Err(ffmpeg_next::Error::Eof) => break,
                Err(ffmpeg_next::Error::Other { errno }) if errno == util::error::EAGAIN => break,
                Err(source) => {
                    return Err(VideoError::Ffmpeg {
                        step: "encode a frame",
                        source,
                    });
                }
            }
            packet.set_stream(0);
            packet.rescale_ts(self.encoder_tb, self.stream_tb);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(|source| VideoError::Ffmpeg {
                    step: "write a packet",
                    source,
                })?;
        }
        Ok(())
    }
}

/// Settings and a size x264 can encode: a frame rate, crf 0–51, even non-zero sides.
fn check(settings: &EncodeSettings, width: u32, height: u32) -> Result<(), VideoError> {
    if settings.fps == 0 || settings.fps > i32::MAX as u32 {
        return Err(VideoError::Settings(format!(
            "fps {} is not a frame rate",
            settings.fps
        )));
    }
    if settings.crf > 51 {
        return Err(VideoError::Settings(format!(
            "crf {} is out of x264's range 0–51",
            settings.crf
        )));
    }
    if width % 2 == 1 || height % 2 == 1 || width == 0 || height == 0 {
        return Err(VideoError::OddSize { width, height });
    }
    Ok(())
}

/// A temporary mp4 in `out`'s directory, renamed over `out` when the video is complete.
fn temp_beside(out: &Path) -> Result<NamedTempFile, VideoError> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(".disco-tmp-")
        .suffix(".mp4")
        .tempfile_in(dir)
        .map_err(|source| VideoError::Io {
            path: out.to_owned(),
            source,
        })
}

/// The H.264 encoder at `settings`, tagged with the colour conventions swscale's conversion
/// follows; `global_header` when the container wants the codec's headers out of band.
fn open_encoder(
    codec: ffmpeg_next::Codec,
    width: u32,
    height: u32,
    settings: &EncodeSettings,
    global_header: bool,
) -> Result<encoder::video::Encoder, VideoError> {
    let encoder_tb = Rational::new(1, settings.fps as i32);
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(ff("set up the H.264 encoder"))?;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(format::Pixel::YUV420P);
    enc.set_time_base(encoder_tb);
    enc.set_frame_rate(Some(Rational::new(settings.fps as i32, 1)));
    // What swscale's RGB→YUV does, said in the stream (x264 writes it into the SPS), so
    // that players decode with the same conventions: BT.601 coefficients, limited range,
    // and 4:2:0 chroma sampled at the centre of each 2×2 block (MPEG-1/JPEG siting). H.264
    // assumes left siting when untagged; decoding centre-sited chroma as left-sited costs
    // 2.4 dB (toy frames, no x264: 34.3 → 31.9 dB), a 601/709 mismatch 7.4 dB (docs/build.md).
    enc.set_colorspace(util::color::Space::SMPTE170M);
    enc.set_color_range(util::color::Range::MPEG);
    // SAFETY: a plain field of the codec context this encoder owns, set before opening it;
    // ffmpeg-next has no setter for it.
    unsafe {
        (*enc.as_mut_ptr()).chroma_sample_location = util::chroma::Location::Center.into();
    }
    if global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    // x264's defaults otherwise, as DD's ffmpeg call: its psy-rd and adaptive quantisation
    // spend bits where the eye sees them, not where PSNR counts them. `tune psnr` would add
    // 1.7 dB of luma PSNR (+0.3 dB RGB) for 3 % more bytes on the toy frames, at the cost of
    // flatter grain and texture; disco keeps the look DD's videos have.
    let mut opts = Dictionary::new();
    opts.set("crf", &settings.crf.to_string());
    opts.set("preset", &settings.preset);
    enc.open_with(opts).map_err(ff("open the H.264 encoder"))
}

/// Adds the video stream to `octx` and writes the mp4 header; returns the time base the
/// muxer chose for the stream.
fn start_stream(
    octx: &mut format::context::Output,
    codec: ffmpeg_next::Codec,
    encoder: &encoder::video::Encoder,
    settings: &EncodeSettings,
) -> Result<Rational, VideoError> {
    let encoder_tb = Rational::new(1, settings.fps as i32);
    let mut stream = octx.add_stream(codec).map_err(ff("add a video stream"))?;
    stream.set_parameters(encoder);
    stream.set_time_base(encoder_tb);
    stream.set_avg_frame_rate(Rational::new(settings.fps as i32, 1));
    // faststart: the index goes before the media, so players can start before the end
    let mut mux_opts = Dictionary::new();
    mux_opts.set("movflags", "+faststart");
    octx.write_header_with(mux_opts)
        .map_err(ff("write the mp4 header"))?;
    // the muxer may pick its own time base; packets are rescaled to it
    Ok(octx.stream(0).expect("stream just added").time_base())
}

/// The error of an FFmpeg call made to `step`.
fn ff(step: &'static str) -> impl Fn(ffmpeg_next::Error) -> VideoError {
    move |source| VideoError::Ffmpeg { step, source }
}
