//! PNG files of rendered images: deterministic encoding (same pixels and text, same bytes)
//! with `tEXt` chunks for the resolved settings, and decoding back to pixels.

use std::io::Cursor;

use ndarray::Array3;

/// Why a PNG could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// The encoder refused the image or a text chunk.
    #[error("{0}")]
    Encode(#[from] png::EncodingError),
    /// The bytes are not a PNG this decoder reads.
    #[error("{0}")]
    Decode(#[from] image::ImageError),
    /// A chunk of the PNG cannot be read.
    #[error("{0}")]
    Chunks(#[from] png::DecodingError),
    /// The decoded pixels do not form an `[H, W, 3]` image.
    #[error("{0}")]
    Shape(#[from] ndarray::ShapeError),
}

/// Encodes `[H, W, 3]` RGB pixels with `text` chunks (keyword, value) in order.
pub fn encode(image: &Array3<u8>, text: &[(&str, String)]) -> Result<Vec<u8>, PngError> {
    let (h, w, c) = image.dim();
    assert_eq!(c, 3, "RGB image expected, got {c} channels");
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Balanced);
        for (k, v) in text {
            // iTXt: the settings hold prompts in any script (tEXt is Latin-1 only)
            enc.add_itxt_chunk((*k).to_owned(), v.clone())?;
        }
        let mut writer = enc.write_header()?;
        let data: Vec<u8> = image.iter().copied().collect();
        writer.write_image_data(&data)?;
        writer.finish()?;
    }
    Ok(out)
}

/// Decodes a PNG to `[H, W, 3]` RGB (gray and alpha are converted).
pub fn decode(bytes: &[u8]) -> Result<Array3<u8>, PngError> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?.to_rgb8();
    let (w, h) = img.dimensions();
    Ok(Array3::from_shape_vec(
        (h as usize, w as usize, 3),
        img.into_raw(),
    )?)
}

/// The text chunks of a PNG (keyword, value).
pub fn text_chunks(bytes: &[u8]) -> Result<Vec<(String, String)>, PngError> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let reader = decoder.read_info()?;
    let info = reader.info();
    let mut out: Vec<(String, String)> = info
        .uncompressed_latin1_text
        .iter()
        .map(|t| (t.keyword.clone(), t.text.clone()))
        .collect();
    for t in &info.utf8_text {
        out.push((t.keyword.clone(), t.get_text()?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_pixels_and_text_and_is_deterministic() {
        let img = Array3::from_shape_fn((5, 7, 3), |(y, x, c)| (y * 31 + x * 7 + c * 50) as u8);
        let text = [(
            "disco",
            "{\"prompt\": \"ein Leuchtturm · 灯台\"}".to_owned(),
        )];
        let a = encode(&img, &text).unwrap();
        assert_eq!(a, encode(&img, &text).unwrap());
        assert_eq!(decode(&a).unwrap(), img);
        assert_eq!(
            text_chunks(&a).unwrap(),
            vec![("disco".to_owned(), text[0].1.clone())]
        );
    }
}
