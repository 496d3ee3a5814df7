//! PNG frames in and out as `[H, W, 3]` RGB arrays — the form the warp and the encoder use.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use ndarray::Array3;

use super::VideoError;

/// Reads a PNG as 8-bit RGB: palettes expand, 16-bit samples drop to 8, gray repeats into three
/// channels and an alpha channel is dropped (DD's frames are opaque).
pub fn read_rgb(path: &Path) -> Result<Array3<u8>, VideoError> {
    let bad = |e: png::DecodingError| VideoError::Png {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(|source| VideoError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(bad)?;
    let size = reader.output_buffer_size().ok_or_else(|| VideoError::Png {
        path: path.to_owned(),
        message: "image too large".into(),
    })?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(bad)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let buf = &buf[..info.buffer_size()];
    let rgb = Array3::from_shape_fn((h, w, 3), |(y, x, k)| {
        let px = &buf[y * info.line_size + x * channels..][..channels];
        // gray (+alpha) repeats its one sample; RGB(A) takes channel k
        if channels < 3 { px[0] } else { px[k] }
    });
    Ok(rgb)
}

/// Writes `[H, W, 3]` RGB as an 8-bit PNG, atomically (temporary file, then rename).
pub fn write_rgb(path: &Path, img: &Array3<u8>) -> Result<(), VideoError> {
    let (h, w, c) = img.dim();
    assert_eq!(c, 3, "write_rgb takes [H, W, 3] images");
    let io = |source| VideoError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".disco-tmp-")
        .suffix(".png")
        .tempfile_in(dir)
        .map_err(io)?;
    {
        let mut enc = png::Encoder::new(BufWriter::new(tmp.as_file()), w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let encode_err = |e: png::EncodingError| VideoError::Png {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let mut writer = enc.write_header().map_err(encode_err)?;
        let data = img.as_standard_layout();
        writer
            .write_image_data(data.as_slice().expect("standard layout"))
            .map_err(encode_err)?;
        writer.finish().map_err(encode_err)?;
    }
    // tempfile creates 0600; a frame is as readable as every other output
    super::shared_mode(tmp.as_file()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rgb() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        let img = Array3::from_shape_fn((5, 7, 3), |(y, x, k)| (y * 40 + x * 3 + k * 90) as u8);
        write_rgb(&p, &img).unwrap();
        assert_eq!(read_rgb(&p).unwrap(), img);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = read_rgb(Path::new("/nonexistent/f.png")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/f.png"), "{e}");
    }
}
