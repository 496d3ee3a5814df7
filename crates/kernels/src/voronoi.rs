//! The CLI port's Voronoi init (entmike/disco-diffusion-1, `voronoi_utils.py`): random
//! points, each pixel painted with the colour of its nearest point, as the start image.
//!
//! As the port does: points are drawn one after another as `x` then `y` (then the point's
//! colour in the generated palette), both from 1 inclusive; a pixel belongs to the point at
//! the smallest squared distance, the earliest point on a tie; with a static palette point i
//! takes colour `(i + 1) mod len` (the port tiles its palette behind an unused entry 0); the
//! alpha byte of a colour is dropped (`convert("RGB")`). Unlike the port, which reseeds
//! from the OS for every point, the points come from the job's seed (a render must be
//! reproducible), and they spread over the image's own size (the port draws them in
//! 1280×768 whatever the size).

use ndarray::Array4;
use rand::Rng;

/// Where the regions' colours come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Palette {
    /// These RGB colours, in turn.
    Static(Vec<[u8; 3]>),
    /// A random colour per point, each channel uniform in its inclusive range.
    Generated {
        /// Red range.
        red: (u8, u8),
        /// Green range.
        green: (u8, u8),
        /// Blue range.
        blue: (u8, u8),
    },
}

impl Palette {
    /// The port's `palettes/default.yaml`: generated, red 0–128, green 0–255, blue 50–255.
    pub const DEFAULT: Palette = Palette::Generated {
        red: (0, 128),
        green: (0, 255),
        blue: (50, 255),
    };
}

/// A `[1, 3, h, w]` start image in [−1, 1] with `points` regions (`points` ≥ 1; a static
/// palette has at least one colour).
pub fn voronoi_init(
    w: usize,
    h: usize,
    points: usize,
    palette: &Palette,
    rng: &mut impl Rng,
) -> Array4<f32> {
    assert!(points > 0 && w > 0 && h > 0, "an empty Voronoi image");
    let mut sites = Vec::with_capacity(points);
    let mut colours = Vec::with_capacity(points);
    for i in 0..points {
        let x = rng.random_range(1..=w) as i64;
        let y = rng.random_range(1..=h) as i64;
        sites.push((x, y));
        colours.push(match palette {
            Palette::Static(list) => list[(i + 1) % list.len()],
            Palette::Generated { red, green, blue } => [
                rng.random_range(red.0..=red.1),
                rng.random_range(green.0..=green.1),
                rng.random_range(blue.0..=blue.1),
            ],
        });
    }
    let mut out = Array4::zeros((1, 3, h, w));
    for py in 0..h as i64 {
        for px in 0..w as i64 {
            let nearest = nearest(&sites, px, py);
            for (c, &v) in colours[nearest].iter().enumerate() {
                out[(0, c, py as usize, px as usize)] = v as f32 / 255.0 * 2.0 - 1.0;
            }
        }
    }
    out
}

/// The index of the site nearest to (px, py); the earliest on a tie.
fn nearest(sites: &[(i64, i64)], px: i64, py: i64) -> usize {
    let mut best = (i64::MAX, 0);
    for (i, &(x, y)) in sites.iter().enumerate() {
        let d = (px - x).pow(2) + (py - y).pow(2);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng as StdRng;

    fn to_u8(v: f32) -> u8 {
        ((v + 1.0) / 2.0 * 255.0).round() as u8
    }

    #[test]
    fn each_pixel_takes_its_nearest_points_colour() {
        let palette = Palette::Static(vec![[0, 0, 0], [255, 0, 0], [0, 0, 255], [0, 255, 0]]);
        let mut rng = StdRng::seed_from_u64(7);
        let img = voronoi_init(24, 16, 5, &palette, &mut rng);
        // redraw the same points to check every pixel by brute force
        let mut rng = StdRng::seed_from_u64(7);
        let sites: Vec<(i64, i64)> = (0..5)
            .map(|_| {
                let x = rng.random_range(1..=24usize) as i64;
                (x, rng.random_range(1..=16usize) as i64)
            })
            .collect();
        for y in 0..16 {
            for x in 0..24 {
                let d: Vec<i64> = sites
                    .iter()
                    .map(|&(sx, sy)| (x - sx).pow(2) + (y - sy).pow(2))
                    .collect();
                let min = *d.iter().min().unwrap();
                let i = d.iter().position(|&v| v == min).unwrap();
                let want = [
                    [255, 0, 0],
                    [0, 0, 255],
                    [0, 255, 0],
                    [0, 0, 0],
                    [255, 0, 0],
                ][i];
                let got: Vec<u8> = (0..3)
                    .map(|c| to_u8(img[(0, c, y as usize, x as usize)]))
                    .collect();
                assert_eq!(got, want, "pixel ({x}, {y})");
            }
        }
    }

    #[test]
    fn generated_colours_stay_in_their_ranges_and_seeds_reproduce() {
        let mut a = StdRng::seed_from_u64(3);
        let img = voronoi_init(32, 32, 12, &Palette::DEFAULT, &mut a);
        for y in 0..32 {
            for x in 0..32 {
                let (r, b) = (to_u8(img[(0, 0, y, x)]), to_u8(img[(0, 2, y, x)]));
                assert!(r <= 128 && b >= 50, "({r}, {b}) at ({x}, {y})");
            }
        }
        let mut b = StdRng::seed_from_u64(3);
        assert_eq!(img, voronoi_init(32, 32, 12, &Palette::DEFAULT, &mut b));
        let mut c = StdRng::seed_from_u64(4);
        assert_ne!(img, voronoi_init(32, 32, 12, &Palette::DEFAULT, &mut c));
    }
}
