//! Video Input's source frames: every `nth` frame of a video (frames 0, n, 2n, … in display
//! order, as DD's `select=not(mod(n\,nth))`), decoded to RGB one at a time so a long video
//! never sits in memory whole.

use std::path::Path;

use ffmpeg_next::{format, frame, media, software::scaling, util};
use ndarray::Array3;

use super::{VideoError, init};

/// Calls `each(i, frame)` for the i-th kept frame (`[H, W, 3]` RGB) of every `nth` frame of
/// `path`; returns how many were kept.
pub fn each_nth_frame(
    path: &Path,
    nth: usize,
    mut each: impl FnMut(usize, Array3<u8>) -> Result<(), VideoError>,
) -> Result<usize, VideoError> {
    init()?;
    let nth = nth.max(1);
    let mut input = format::input(path).map_err(ff("open the video"))?;
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or(VideoError::Ffmpeg {
            step: "find a video stream",
            source: ffmpeg_next::Error::StreamNotFound,
        })?;
    let index = stream.index();
    let mut decoder = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(ff("open the decoder"))?;
    let (w, h) = (decoder.width(), decoder.height());
    // the same conversion as `decode` (see there for the flags)
    let flags =
        scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT;
    let mut scaler =
        scaling::Context::get(decoder.format(), w, h, format::Pixel::RGB24, w, h, flags)
            .map_err(ff("set up YUV→RGB conversion"))?;
    let mut sink = Sink {
        seen: 0,
        kept: 0,
        nth,
        each: &mut each,
    };
    for (s, packet) in input.packets() {
        if s.index() == index {
            decoder
                .send_packet(&packet)
                .map_err(ff("decode a packet"))?;
            sink.drain(&mut decoder, &mut scaler)?;
        }
    }
    decoder.send_eof().map_err(ff("flush the decoder"))?;
    sink.drain(&mut decoder, &mut scaler)?;
    Ok(sink.kept)
}

struct Sink<'a, F> {
    seen: usize,
    kept: usize,
    nth: usize,
    each: &'a mut F,
}

impl<F: FnMut(usize, Array3<u8>) -> Result<(), VideoError>> Sink<'_, F> {
    /// Takes every frame the decoder has ready, converting and passing on the kept ones.
    fn drain(
        &mut self,
        decoder: &mut ffmpeg_next::decoder::Video,
        scaler: &mut scaling::Context,
    ) -> Result<(), VideoError> {
        let mut yuv = frame::Video::empty();
        loop {
            match decoder.receive_frame(&mut yuv) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno }) if errno == util::error::EAGAIN => {
                    return Ok(());
                }
                Err(e) => return Err(ff("decode a frame")(e)),
            }
            let n = self.seen;
            self.seen += 1;
            if !n.is_multiple_of(self.nth) {
                continue;
            }
            let mut rgb = frame::Video::empty();
            scaler
                .run(&yuv, &mut rgb)
                .map_err(ff("convert a frame to RGB"))?;
            let (stride, data) = (rgb.stride(0), rgb.data(0));
            let (w, h) = (rgb.width() as usize, rgb.height() as usize);
            let img = Array3::from_shape_fn((h, w, 3), |(y, x, k)| data[y * stride + x * 3 + k]);
            (self.each)(self.kept, img)?;
            self.kept += 1;
        }
    }
}

fn ff(step: &'static str) -> impl Fn(ffmpeg_next::Error) -> VideoError {
    move |source| VideoError::Ffmpeg { step, source }
}
