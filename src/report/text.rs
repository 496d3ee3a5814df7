//! Label text drawn into images: DejaVu Sans (bundled in `assets/fonts/`, with its licence)
//! rasterised by ab_glyph. Knows strings and pixels, not sweeps.

use ab_glyph::{Font as _, FontRef, PxScale, PxScaleFont, ScaleFont as _, point};
use image::{Rgb, RgbImage};

/// Embedded so that a sheet looks the same on every machine, fonts installed or not.
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The bundled font at one pixel size.
pub struct Face {
    font: PxScaleFont<FontRef<'static>>,
}

impl Face {
    /// DejaVu Sans at `px` pixels per em.
    pub fn new(px: f32) -> Face {
        let font = FontRef::try_from_slice(DEJAVU_SANS).expect("the bundled font parses");
        Face {
            font: font.into_scaled(PxScale::from(px)),
        }
    }

    /// Height of one line of text, in pixels.
    pub fn line_height(&self) -> u32 {
        (self.font.height() + self.font.line_gap()).ceil() as u32
    }

    /// Advance width of `text`, kerning included.
    pub fn width(&self, text: &str) -> f32 {
        let mut w = 0.0;
        let mut prev = None;
        for c in text.chars() {
            let id = self.font.glyph_id(c);
            if let Some(p) = prev {
                w += self.font.kern(p, id);
            }
            w += self.font.h_advance(id);
            prev = Some(id);
        }
        w
    }

    /// `text`, or its longest prefix that fits `max` pixels with `…` after it.
    pub fn fit(&self, text: &str, max: f32) -> String {
        if self.width(text) <= max {
            return text.to_owned();
        }
        let mut chars: Vec<char> = text.chars().collect();
        while !chars.is_empty() {
            chars.pop();
            let s: String = chars.iter().chain(['…'].iter()).collect();
            if self.width(&s) <= max {
                return s;
            }
        }
        String::new()
    }

    /// Draws `text` with its top-left corner at (`x`, `y`) in `colour`, blended by glyph
    /// coverage, clipped to the box `max_width` × [`Face::line_height`] and to the image.
    pub fn draw(
        &self,
        img: &mut RgbImage,
        text: &str,
        x: i32,
        y: i32,
        max_width: u32,
        colour: Rgb<u8>,
    ) {
        let (x1, y1) = (x + max_width as i32, y + self.line_height() as i32);
        let baseline = y as f32 + self.font.ascent();
        let mut caret = x as f32;
        let mut prev = None;
        for c in text.chars() {
            let id = self.font.glyph_id(c);
            if let Some(p) = prev {
                caret += self.font.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(self.font.scale(), point(caret, baseline));
            caret += self.font.h_advance(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue; // a space
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let (px, py) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                let inside = (x..x1).contains(&px) && (y..y1).contains(&py);
                if !inside || px < 0 || py < 0 {
                    return;
                }
                if let Some(p) = img.get_pixel_mut_checked(px as u32, py as u32) {
                    let a = coverage.clamp(0.0, 1.0);
                    for (dst, src) in p.0.iter_mut().zip(colour.0) {
                        *dst = (*dst as f32 * (1.0 - a) + src as f32 * a).round() as u8;
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
    const INK: Rgb<u8> = Rgb([20, 20, 20]);

    #[test]
    fn a_label_is_drawn_inside_its_box_only() {
        let face = Face::new(14.0);
        let mut img = RgbImage::from_pixel(200, 60, WHITE);
        let (x, y, w) = (12, 9, 120);
        face.draw(&mut img, "seed=1, cgs=5000", x, y, w, INK);
        let h = face.line_height() as i32;
        let mut inked = 0;
        for (px, py, p) in img.enumerate_pixels() {
            if *p != WHITE {
                inked += 1;
                let (px, py) = (px as i32, py as i32);
                assert!(
                    (x..x + w as i32).contains(&px) && (y..y + h).contains(&py),
                    "ink at ({px}, {py}) outside the box"
                );
            }
        }
        // 14 px glyphs of 16 characters cover far more than 100 pixels
        assert!(inked > 100, "only {inked} pixels inked");
    }

    #[test]
    fn a_label_too_long_for_its_box_is_clipped_to_it() {
        let face = Face::new(14.0);
        let mut img = RgbImage::from_pixel(100, 30, WHITE);
        face.draw(&mut img, "a very long label that cannot fit", 5, 5, 40, INK);
        assert!(
            img.enumerate_pixels()
                .all(|(px, _, p)| *p == WHITE || (5..45).contains(&px))
        );
    }

    #[test]
    fn fit_shortens_with_an_ellipsis_within_the_width() {
        let face = Face::new(14.0);
        let text = "text-prompts=a lighthouse on a cliff, oil painting";
        assert_eq!(face.fit("seed=1", 500.0), "seed=1");
        let short = face.fit(text, 100.0);
        assert!(short.ends_with('…') && short.len() < text.len(), "{short}");
        assert!(face.width(&short) <= 100.0);
        assert!(face.width("seed=10") > face.width("seed=1"));
    }
}
