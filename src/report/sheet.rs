//! A sweep's contact sheet: one PNG with a tile per cell, laid out by [`Grid`], headers on
//! top and left and each tile labelled with its cell's values. Its key covers the layout
//! and every tile's image keys, so the sheet is redrawn exactly when a tile changed.

use image::{Rgb, RgbImage};

use super::layout::Grid;
use super::text::Face;
use crate::plan::Key;

/// Versions the drawing: bump it when the pixels for the same tiles change.
pub const VERSION: &str = "disco-sheet/1";

const PAD: u32 = 10;
/// Between the images of one cell (`n-batches` above 1).
const GAP: u32 = 4;
const FONT_PX: f32 = 14.0;
/// Tiles are at least this wide, so that labels of small images stay readable.
const MIN_CELL_WIDTH: u32 = 200;
/// Row headers are cut (with `…`) beyond this width.
const MAX_HEADER_WIDTH: u32 = 320;

const PAPER: Rgb<u8> = Rgb([250, 250, 250]);
const INK: Rgb<u8> = Rgb([25, 25, 25]);
/// Not a grey, so that no anti-aliased label pixel has the colour of an empty tile.
pub const EMPTY: Rgb<u8> = Rgb([226, 222, 214]);
const FAINT: Rgb<u8> = Rgb([110, 110, 110]);

/// One cell's tile.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// The cell's coordinates in its sweep.
    pub coords: Vec<usize>,
    /// Its label: `setting=value` per axis.
    pub lines: Vec<String>,
    /// Its images, side by side: a key for each built image, `None` for one not built.
    pub images: Vec<Option<Key>>,
    /// The size of one thumbnail.
    pub thumb: (u32, u32),
}

/// A contact sheet to draw.
#[derive(Debug, Clone)]
pub struct Sheet {
    /// Written above the grid: the sweep's name.
    pub title: String,
    /// Rows and columns.
    pub grid: Grid,
    /// One tile per cell.
    pub tiles: Vec<Tile>,
}

/// Where things go, in pixels.
struct Layout {
    width: u32,
    height: u32,
    line: u32,
    left: u32,
    top: u32,
    cell_w: u32,
    cell_h: u32,
    image_h: u32,
}

impl Sheet {
    /// blake3 over the drawing version, the headers and every tile.
    pub fn key(&self) -> Key {
        let mut h = blake3::Hasher::new();
        let mut line = |s: &str| {
            h.update(s.as_bytes());
            h.update(b"\n");
        };
        line(VERSION);
        line(&self.title);
        for r in &self.grid.rows {
            line(&format!("row {}", r.join("\t")));
        }
        line(&format!("cols {}", self.grid.cols.join("\t")));
        for t in &self.tiles {
            let images: Vec<String> = t
                .images
                .iter()
                .map(|k| k.map_or_else(|| "-".to_owned(), |k| k.to_string()))
                .collect();
            line(&format!(
                "tile {:?} {:?} {}x{} {}",
                t.coords,
                t.lines,
                t.thumb.0,
                t.thumb.1,
                images.join(" ")
            ));
        }
        Key(*h.finalize().as_bytes())
    }

    fn layout(&self, face: &Face) -> Layout {
        let line = face.line_height();
        let images_w = |t: &Tile| {
            let n = t.images.len().max(1) as u32;
            n * t.thumb.0 + (n - 1) * GAP
        };
        let cell_w = self
            .tiles
            .iter()
            .map(images_w)
            .max()
            .unwrap_or(0)
            .max(MIN_CELL_WIDTH);
        let image_h = self.tiles.iter().map(|t| t.thumb.1).max().unwrap_or(0);
        let lines = self.tiles.iter().map(|t| t.lines.len()).max().unwrap_or(0) as u32;
        let cell_h = image_h + PAD / 2 + lines * line;
        let header_w = self
            .grid
            .rows
            .iter()
            .flatten()
            .map(|s| face.width(s).ceil() as u32)
            .max();
        let left = header_w.map_or(0, |w| w.min(MAX_HEADER_WIDTH) + PAD);
        let top = PAD + line + PAD + line + PAD / 2;
        let (rows, cols) = (self.grid.rows.len() as u32, self.grid.cols.len() as u32);
        Layout {
            width: PAD + left + cols * (cell_w + PAD),
            height: top + rows * (cell_h + PAD),
            line,
            left,
            top,
            cell_w,
            cell_h,
            image_h,
        }
    }

    /// Draws the sheet; `thumb` gives a built image's thumbnail (`None`: an empty tile).
    pub fn draw(&self, thumb: &dyn Fn(&Key) -> Option<RgbImage>) -> RgbImage {
        let face = Face::new(FONT_PX);
        let l = self.layout(&face);
        let mut img = RgbImage::from_pixel(l.width, l.height, PAPER);
        let text_w = l.width - 2 * PAD;
        let title = face.fit(&format!("sweep \"{}\"", self.title), text_w as f32);
        face.draw(&mut img, &title, PAD as i32, PAD as i32, text_w, INK);
        let cell_x = |c: usize| PAD + l.left + c as u32 * (l.cell_w + PAD);
        let row_y = |r: usize| l.top + r as u32 * (l.cell_h + PAD);
        let header_y = (PAD + l.line + PAD) as i32;
        for (c, h) in self.grid.cols.iter().enumerate() {
            let h = face.fit(h, l.cell_w as f32);
            let x = cell_x(c) + (l.cell_w - face.width(&h).ceil() as u32).min(l.cell_w) / 2;
            face.draw(&mut img, &h, x as i32, header_y, l.cell_w, INK);
        }
        for (r, lines) in self.grid.rows.iter().enumerate() {
            for (i, s) in lines.iter().enumerate() {
                let s = face.fit(s, MAX_HEADER_WIDTH as f32);
                let y = row_y(r) + i as u32 * l.line;
                face.draw(&mut img, &s, PAD as i32, y as i32, l.left, INK);
            }
        }
        for t in &self.tiles {
            let (r, c) = self.grid.place(&t.coords);
            let (x0, y0) = (cell_x(c), row_y(r));
            let n = t.images.len() as u32;
            let images_w = n * t.thumb.0 + n.saturating_sub(1) * GAP;
            let mut x = x0 + l.cell_w.saturating_sub(images_w) / 2;
            for k in &t.images {
                match k.as_ref().and_then(thumb) {
                    Some(th) => image::imageops::overlay(&mut img, &th, x.into(), y0.into()),
                    None => {
                        let (w, h) = t.thumb;
                        for (px, py) in (0..w).flat_map(|dx| (0..h).map(move |dy| (dx, dy))) {
                            img.put_pixel(x + px, y0 + py, EMPTY);
                        }
                        let s = face.fit("not built", w as f32);
                        let y = y0 + h.saturating_sub(l.line) / 2;
                        let dx = (w as f32 - face.width(&s)).max(0.0) as u32 / 2;
                        face.draw(&mut img, &s, (x + dx) as i32, y as i32, w, FAINT);
                    }
                }
                x += t.thumb.0 + GAP;
            }
            for (i, s) in t.lines.iter().enumerate() {
                let s = face.fit(s, l.cell_w as f32);
                let y = y0 + l.image_h + PAD / 2 + i as u32 * l.line;
                face.draw(&mut img, &s, x0 as i32, y as i32, l.cell_w, INK);
            }
        }
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{SweepAxes, SweepAxis};

    fn key(b: u8) -> Key {
        Key([b; 32])
    }

    /// A 2×3 sweep whose cell i shows image key(i), all built.
    fn sheet() -> Sheet {
        let axes = SweepAxes {
            name: "grid".into(),
            axes: vec![
                SweepAxis {
                    setting: "clip-guidance-scale".into(),
                    labels: vec!["5000".into(), "10000".into()],
                },
                SweepAxis {
                    setting: "seed".into(),
                    labels: vec!["1".into(), "2".into(), "3".into()],
                },
            ],
        };
        let tiles = (0..6)
            .map(|i| Tile {
                coords: vec![i / 3, i % 3],
                lines: vec![axes.axes[0].show(i / 3), axes.axes[1].show(i % 3)],
                images: vec![Some(key(i as u8))],
                thumb: (64, 48),
            })
            .collect();
        Sheet {
            title: "grid".into(),
            grid: Grid::of(&axes),
            tiles,
        }
    }

    #[test]
    fn the_key_changes_when_one_tile_changes_and_only_then() {
        let a = sheet();
        assert_eq!(a.key(), sheet().key());
        let mut b = sheet();
        b.tiles[4].images[0] = Some(key(99));
        assert_ne!(a.key(), b.key());
        let mut c = sheet();
        c.tiles[4].images[0] = None;
        assert_ne!(a.key(), c.key());
        assert_ne!(b.key(), c.key());
        let mut d = sheet();
        d.tiles[0].lines[1] = "seed=7".into();
        assert_ne!(a.key(), d.key());
    }

    #[test]
    fn each_thumbnail_lands_in_its_cell_and_a_missing_one_is_an_empty_tile() {
        let mut s = sheet();
        s.tiles[5].images[0] = None;
        // thumbnail i is a flat colour (i·40, 0, 200)
        let colour = |k: &Key| Rgb([k.0[0] * 40, 0, 200]);
        let img = s.draw(&|k| Some(RgbImage::from_pixel(64, 48, colour(k))));
        let face = Face::new(FONT_PX);
        let l = s.layout(&face);
        assert_eq!(img.dimensions(), (l.width, l.height));
        for (i, t) in s.tiles.iter().enumerate() {
            let (r, c) = s.grid.place(&t.coords);
            let x = PAD + l.left + c as u32 * (l.cell_w + PAD) + (l.cell_w - 64) / 2;
            let y = l.top + r as u32 * (l.cell_h + PAD);
            let centre = *img.get_pixel(x + 32, y + 10);
            match t.images[0] {
                Some(k) => assert_eq!(centre, colour(&k), "tile {i}"),
                None => assert_eq!(centre, EMPTY, "tile {i}"),
            }
        }
        // labels are drawn: some pixels are ink-dark
        assert!(img.pixels().any(|p| p.0[0] < 80 && p.0[2] < 80));
    }

    #[test]
    fn a_new_column_widens_the_sheet() {
        let a = sheet();
        let mut b = sheet();
        b.grid.cols.push("seed=4".into());
        let face = Face::new(FONT_PX);
        assert!(b.layout(&face).width > a.layout(&face).width);
        assert_eq!(b.layout(&face).height, a.layout(&face).height);
    }
}
