//! Thumbnails: each job's image scaled to at most [`MAX_SIDE`] pixels on its longer side,
//! kept as `images_out/.thumbs/<key>.png`. A key's image never changes, so a thumbnail is
//! made once, from the store's object, and the contact sheets and the report share it.
//! They live under `images_out/` so the report still finds them when the folder is moved.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use image::RgbImage;
use image::imageops::FilterType;

use crate::fsutil::write_atomic;
use crate::plan::Key;
use crate::store::Store;

/// The folder under `images_out/`.
pub const DIR: &str = ".thumbs";

/// The longest side of a thumbnail: small enough that a report of a thousand frames loads
/// quickly, large enough to judge a composition.
pub const MAX_SIDE: u32 = 256;

/// A thumbnail's size for an image of `width` × `height` (never enlarged).
pub fn size(width: u32, height: u32) -> (u32, u32) {
    let long = width.max(height).max(1);
    if long <= MAX_SIDE {
        return (width, height);
    }
    let scale = |v: u32| ((v as u64 * MAX_SIDE as u64 + long as u64 / 2) / long as u64).max(1);
    (scale(width) as u32, scale(height) as u32)
}

/// The thumbnail of job `key`, relative to `images_out/`.
pub fn rel(key: &Key) -> String {
    format!("{DIR}/{key}.png")
}

/// Makes job `key`'s thumbnail unless it exists. `Ok(false)`: the cached image cannot be
/// read (gone, or damaged), so there is no thumbnail.
pub fn ensure(store: &Store, images_out: &Path, key: &Key) -> io::Result<bool> {
    let path = images_out.join(rel(key));
    if path.is_file() {
        return Ok(true);
    }
    let Some(Ok(img)) = store.image(key).map(|b| image::load_from_memory(&b)) else {
        return Ok(false);
    };
    let img = img.to_rgb8();
    let (w, h) = size(img.width(), img.height());
    let thumb = if (w, h) == img.dimensions() {
        img
    } else {
        image::imageops::resize(&img, w, h, FilterType::Triangle)
    };
    std::fs::create_dir_all(images_out.join(DIR))?;
    write_atomic(&path, &encode(&thumb)?)?;
    Ok(true)
}

/// Job `key`'s thumbnail, if there is one.
pub fn load(images_out: &Path, key: &Key) -> Option<RgbImage> {
    Some(image::open(images_out.join(rel(key))).ok()?.to_rgb8())
}

/// Removes thumbnails of keys not in `keep`, and temporaries a killed build left.
pub fn prune(images_out: &Path, keep: &HashSet<Key>) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(images_out.join(DIR)) else {
        return Ok(());
    };
    for e in entries {
        let path: PathBuf = e?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let key: Option<Key> = name.strip_suffix(".png").and_then(|k| k.parse().ok());
        if !key.is_some_and(|k| keep.contains(&k)) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// An image as PNG bytes.
pub fn encode(img: &RgbImage) -> io::Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(io::Error::other)?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_keeps_the_aspect_and_never_enlarges() {
        assert_eq!(size(64, 64), (64, 64));
        assert_eq!(size(256, 100), (256, 100));
        // 512×448 → 256×224; 1280×768 → 256×153.6 → 154
        assert_eq!(size(512, 448), (256, 224));
        assert_eq!(size(1280, 768), (256, 154));
        assert_eq!(size(4096, 8), (256, 1));
    }
}
