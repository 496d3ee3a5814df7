//! Perlin-noise init images (dd-algorithm.md §9): multi-octave gradient noise, resized,
//! 8-bit quantised and autocontrasted as DD does, mixed into an init in image space.
//!
//! Randomness comes in as an `Rng` (disco's own stream; PyTorch's cannot be matched, §15).
//! Draw order, which fixes the image for a seed: image A then image B; within an image,
//! channel by channel, octave by octave; within an octave all of gx then all of gy, each
//! row-major over the `(w+1)×(h+1)` lattice — the order of DD's
//! `torch.randn(2, w+1, h+1)` calls.
//!
//! **Only the pixels the resize reads are computed.** DD builds image A at 4096² and B at
//! 1024², then resizes them bilinearly to `side_y×side_x`. Bilinear resizing
//! (`align_corners=False`, no antialiasing: torchvision's tensor `resize` before 0.17, which DD
//! ran on) reads exactly two source rows and two source columns per output pixel, so
//! [`perlin_image`] evaluates the noise at those rows × columns only — the same numbers as the
//! full image, without 200 MB of it (the test `sampled_equals_full_then_resized` checks this).
//! All gradients are still drawn, so the stream and the noise are those of the full image.

use ndarray::{Array2, Array3, Array4};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Which Perlin images are in colour (DD's `perlin_mode`, §9). The one definition: the project
/// parses the setting into it and a job's inputs key it, under the names serde writes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PerlinMode {
    /// Image A in colour, image B gray (DD's default).
    #[default]
    Mixed,
    /// Both in colour.
    Color,
    /// Both gray: the three channels of the init are equal.
    Gray,
}

impl PerlinMode {
    /// The name the key and the project file use (`mixed`, `color`, `gray`).
    pub fn name(self) -> &'static str {
        match self {
            PerlinMode::Mixed => "mixed",
            PerlinMode::Color => "color",
            PerlinMode::Gray => "gray",
        }
    }
}

impl std::fmt::Display for PerlinMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// DD's octave amplitudes `a_i = 0.5·1.5^(−i)`, `i < n`.
pub fn octave_amplitudes(n: usize) -> Vec<f32> {
    (0..n).map(|i| 0.5 * 1.5f32.powi(-(i as i32))).collect()
}

/// Random gradients of one octave: `(gx, gy)`, each `[w+1, h+1]`, gx drawn first.
fn gradients(w: usize, h: usize, rng: &mut impl Rng) -> (Array2<f32>, Array2<f32>) {
    let mut draw = || Array2::from_shape_simple_fn((w + 1, h + 1), || StandardNormal.sample(rng));
    let gx = draw();
    let gy = draw();
    (gx, gy)
}

/// `3t² − 2t³`.
fn interp(t: f32) -> f32 {
    3.0 * t * t - 2.0 * t * t * t
}

/// Gradient noise from given gradients at pixel rows × cols of the `[w·scale, h·scale]` image,
/// times `a`, added to `out: [rows, cols]`; `gx, gy: [w+1, h+1]`. The first axis carries `xs`
/// (DD's `perlin`, after its permute).
fn add_perlin(
    out: &mut ndarray::ArrayViewMut2<f32>,
    a: f32,
    (gx, gy): (&Array2<f32>, &Array2<f32>),
    scale: usize,
    rows: &[usize],
    cols: &[usize],
) {
    let (w1, h1) = gx.dim();
    assert_eq!(gy.dim(), (w1, h1), "gx and gy lattices differ");
    assert_eq!(
        out.dim(),
        (rows.len(), cols.len()),
        "out must be [rows, cols]"
    );
    let max_r = rows.iter().max().copied().unwrap_or(0);
    let max_c = cols.iter().max().copied().unwrap_or(0);
    assert!(
        max_r / scale + 1 < w1 && max_c / scale + 1 < h1,
        "pixel outside the image"
    );
    // (lattice index, fraction, smoothstep weight) of each pixel coordinate
    let split = |p: usize| {
        let t = (p % scale) as f32 / scale as f32;
        (p / scale, t, 1.0 - interp(t))
    };
    let col_params: Vec<(usize, f32, f32)> = cols.iter().map(|&c| split(c)).collect();
    for (ri, &r) in rows.iter().enumerate() {
        let (i, xs, wx) = split(r);
        let (gx0, gx1, gy0, gy1) = (gx.row(i), gx.row(i + 1), gy.row(i), gy.row(i + 1));
        for (o, &(j, ys, wy)) in out.row_mut(ri).iter_mut().zip(&col_params) {
            let mut dots = wx * wy * (gx0[j] * xs + gy0[j] * ys);
            dots += (1.0 - wx) * wy * (-gx1[j] * (1.0 - xs) + gy1[j] * ys);
            dots += wx * (1.0 - wy) * (gx0[j + 1] * xs - gy0[j + 1] * (1.0 - ys));
            dots += (1.0 - wx) * (1.0 - wy) * (-gx1[j + 1] * (1.0 - xs) - gy1[j + 1] * (1.0 - ys));
            *o += dots * a;
        }
    }
}

/// DD's `perlin(w, h, scale)`: gradient noise on a `(w+1)×(h+1)` lattice, `[w·scale, h·scale]`.
pub fn perlin(w: usize, h: usize, scale: usize, rng: &mut impl Rng) -> Array2<f32> {
    let (gx, gy) = gradients(w, h, rng);
    let rows: Vec<usize> = (0..w * scale).collect();
    let cols: Vec<usize> = (0..h * scale).collect();
    let mut out = Array2::zeros((rows.len(), cols.len()));
    add_perlin(&mut out.view_mut(), 1.0, (&gx, &gy), scale, &rows, &cols);
    out
}

/// Multi-octave noise at rows × cols of the `[w·2^L, h·2^L]` image (L = `octaves.len()`):
/// per channel `0.5 + Σ_i a_i·perlin(w·2^i, h·2^i, 2^(L−i))`. Returns `[C, rows, cols]`,
/// C = 1 (`gray`) or 3.
fn perlin_ms_at(
    octaves: &[f32],
    w: usize,
    h: usize,
    gray: bool,
    rows: &[usize],
    cols: &[usize],
    rng: &mut impl Rng,
) -> Array3<f32> {
    let channels = if gray { 1 } else { 3 };
    let levels = octaves.len();
    let mut out = Array3::from_elem((channels, rows.len(), cols.len()), 0.5f32);
    for mut ch in out.outer_iter_mut() {
        for (i, &a) in octaves.iter().enumerate() {
            let (gx, gy) = gradients(w << i, h << i, rng);
            add_perlin(&mut ch, a, (&gx, &gy), 1 << (levels - i), rows, cols);
        }
    }
    out
}

/// DD's `perlin_ms(octaves, w, h, gray)`, whole: `[C, w·2^L, h·2^L]`, C = 1 or 3.
pub fn perlin_ms(
    octaves: &[f32],
    w: usize,
    h: usize,
    gray: bool,
    rng: &mut impl Rng,
) -> Array3<f32> {
    let levels = octaves.len();
    let rows: Vec<usize> = (0..w << levels).collect();
    let cols: Vec<usize> = (0..h << levels).collect();
    perlin_ms_at(octaves, w, h, gray, &rows, &cols, rng)
}

/// Bilinear taps of a resize `n → m` (`align_corners=False`, no antialiasing, PyTorch's
/// `upsample_bilinear2d`): per output index `(i0, i1, λ)` with value `(1−λ)·v[i0] + λ·v[i1]`.
fn bilinear_taps(n: usize, m: usize) -> Vec<(usize, usize, f32)> {
    let scale = n as f32 / m as f32;
    (0..m)
        .map(|j| {
            let src = ((j as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src as usize).min(n - 1);
            let i1 = (i0 + 1).min(n - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

/// The sorted distinct source indices of `taps`, and each tap's positions in that list.
fn tap_index(taps: &[(usize, usize, f32)]) -> (Vec<usize>, Vec<(usize, usize, f32)>) {
    let mut used: Vec<usize> = taps.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    used.sort_unstable();
    used.dedup();
    let pos = |i: usize| used.binary_search(&i).expect("tap listed");
    let local = taps.iter().map(|&(a, b, l)| (pos(a), pos(b), l)).collect();
    (used, local)
}

/// One of DD's `create_perlin_noise` images at `side_y×side_x`: [`perlin_ms`] of `octaves`
/// from a `w×w` lattice, bilinear resize, clamp to [0, 1], 8-bit quantise by truncation
/// (`mul(255).byte()`), gray replicated to RGB, then PIL `autocontrast` (cutoff 0) per
/// channel. Returns `[3, side_y, side_x]` bytes.
pub fn perlin_image(
    octaves: &[f32],
    w: usize,
    gray: bool,
    side_y: usize,
    side_x: usize,
    rng: &mut impl Rng,
) -> Array3<u8> {
    assert!(side_y > 0 && side_x > 0 && w > 0, "empty Perlin image");
    let n = w << octaves.len();
    let (rows, row_taps) = tap_index(&bilinear_taps(n, side_y));
    let (cols, col_taps) = tap_index(&bilinear_taps(n, side_x));
    let src = perlin_ms_at(octaves, w, w, gray, &rows, &cols, rng);
    let mut out = Array3::zeros((3, side_y, side_x));
    for c in 0..3 {
        let s = src.index_axis(ndarray::Axis(0), if gray { 0 } else { c });
        for (y, &(r0, r1, ly)) in row_taps.iter().enumerate() {
            for (x, &(c0, c1, lx)) in col_taps.iter().enumerate() {
                let top = (1.0 - lx) * s[(r0, c0)] + lx * s[(r0, c1)];
                let bottom = (1.0 - lx) * s[(r1, c0)] + lx * s[(r1, c1)];
                let v = ((1.0 - ly) * top + ly * bottom).clamp(0.0, 1.0);
                out[(c, y, x)] = (v * 255.0) as u8;
            }
        }
    }
    for mut ch in out.outer_iter_mut() {
        autocontrast(ch.as_slice_mut().expect("standard layout"));
    }
    out
}

/// PIL's `ImageOps.autocontrast` on one band, cutoff 0: the lowest used value → 0, the highest
/// → 255, `lut[v] = int(v·scale + offset)` clipped; a flat band is left unchanged.
fn autocontrast(band: &mut [u8]) {
    let (Some(&lo), Some(&hi)) = (band.iter().min(), band.iter().max()) else {
        return;
    };
    if hi <= lo {
        return;
    }
    let scale = 255.0 / f64::from(hi - lo);
    let offset = -f64::from(lo) * scale;
    let lut: Vec<u8> = (0..=255u8)
        .map(|v| (f64::from(v) * scale + offset).clamp(0.0, 255.0) as u8)
        .collect();
    band.iter_mut().for_each(|v| *v = lut[usize::from(*v)]);
}

/// One Perlin image's recipe: `octaves` amplitudes from a `w×w` lattice.
#[derive(Debug, Clone)]
struct Recipe {
    octaves: Vec<f32>,
    w: usize,
}

/// DD's image A: 12 octaves from 1×1 (4096² before resizing).
fn recipe_a() -> Recipe {
    Recipe {
        octaves: octave_amplitudes(12),
        w: 1,
    }
}

/// DD's image B: 8 octaves from 4×4 (1024² before resizing).
fn recipe_b() -> Recipe {
    Recipe {
        octaves: octave_amplitudes(8),
        w: 4,
    }
}

/// DD's `regen_perlin` (§9): image A (12 octaves from 1×1, 4096² before resizing) and
/// image B (8 octaves from 4×4, 1024²), colour per `mode` (mixed: A colour, B gray), mixed as
/// `((A + B)/2)·2 − 1`. Returns the init `[1, 3, side_y, side_x]` in image space, [−1, 1].
/// DD regenerates it for every batch image; the caller draws again.
///
/// Cost: every gradient of the 4096² noise is drawn (about 34 M normals in colour) to keep
/// the stream that of the full image; the noise itself is evaluated at ~4·side_y·side_x points.
/// About 0.7 s for 1280×768 in a release build (one core).
pub fn perlin_init(
    mode: PerlinMode,
    side_y: usize,
    side_x: usize,
    rng: &mut impl Rng,
) -> Array4<f32> {
    init_from(&recipe_a(), &recipe_b(), mode, side_y, side_x, rng)
}

fn init_from(
    a: &Recipe,
    b: &Recipe,
    mode: PerlinMode,
    side_y: usize,
    side_x: usize,
    rng: &mut impl Rng,
) -> Array4<f32> {
    let (gray_a, gray_b) = match mode {
        PerlinMode::Mixed => (false, true),
        PerlinMode::Color => (false, false),
        PerlinMode::Gray => (true, true),
    };
    let a = perlin_image(&a.octaves, a.w, gray_a, side_y, side_x, rng);
    let b = perlin_image(&b.octaves, b.w, gray_b, side_y, side_x, rng);
    let mut init = Array4::zeros((1, 3, side_y, side_x));
    // TF.to_tensor (v/255) of each, add, div(2), mul(2), sub(1), in f32 as DD
    ndarray::Zip::from(init.index_axis_mut(ndarray::Axis(0), 0))
        .and(&a)
        .and(&b)
        .for_each(|o, &va, &vb| {
            *o = (f32::from(va) / 255.0 + f32::from(vb) / 255.0) / 2.0 * 2.0 - 1.0;
        });
    init
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    // w = h = 1, scale 2, pixel (1, 0): xs = ½, ys = 0, wx = ½, wy = 1 →
    // ½·(gx00·½) + ½·(−gx10·½) = ¼·(gx00 − gx10) = ½ for gx00 = 1, gx10 = −1
    #[test]
    fn perlin_by_hand() {
        let gx = array![[1.0f32, 5.0], [-1.0, 7.0]];
        let gy = array![[3.0f32, 2.0], [4.0, 9.0]];
        let mut p = Array2::zeros((2, 2));
        add_perlin(&mut p.view_mut(), 1.0, (&gx, &gy), 2, &[0, 1], &[0, 1]);
        assert_eq!(p[(1, 0)], 0.5);
        // lattice corners are zero whatever the gradients
        assert_eq!(p[(0, 0)], 0.0);
    }

    #[test]
    fn perlin_shape_and_corners() {
        let p = perlin(3, 2, 4, &mut rng(1));
        assert_eq!(p.dim(), (12, 8));
        for i in (0..12).step_by(4) {
            for j in (0..8).step_by(4) {
                assert_eq!(p[(i, j)], 0.0);
            }
        }
        let ms = perlin_ms(&octave_amplitudes(3), 2, 2, false, &mut rng(1));
        assert_eq!(ms.dim(), (3, 16, 16));
    }

    // 0.5·1.5^−i: 0.5, 0.3333, 0.2222
    #[test]
    fn amplitudes() {
        let a = octave_amplitudes(3);
        assert!((a[1] - 1.0 / 3.0).abs() < 1e-7 && (a[2] - 2.0 / 9.0).abs() < 1e-7);
    }

    #[test]
    fn bilinear_taps_by_hand() {
        assert_eq!(bilinear_taps(4, 2), vec![(0, 1, 0.5), (2, 3, 0.5)]);
        let up = bilinear_taps(2, 4);
        assert_eq!(up[0], (0, 1, 0.0)); // −0.25 clamps to 0
        assert_eq!(up[3], (1, 1, 0.25)); // 1.25: the right neighbour is the edge
    }

    // [10, 20, 30]: scale 255/20 = 12.75, offset −127.5 → 0, int(127.5) = 127, 255
    #[test]
    fn autocontrast_by_hand() {
        let mut band = [20u8, 10, 30];
        autocontrast(&mut band);
        assert_eq!(band, [127, 0, 255]);
        let mut flat = [9u8; 4];
        autocontrast(&mut flat);
        assert_eq!(flat, [9; 4]);
    }

    /// The plain twin: whole image, then a naive bilinear resize, clamp, quantise, autocontrast.
    fn full_then_resized(
        octaves: &[f32],
        w: usize,
        gray: bool,
        sy: usize,
        sx: usize,
        seed: u64,
    ) -> Array3<u8> {
        let full = perlin_ms(octaves, w, w, gray, &mut rng(seed));
        let n = full.dim().1;
        let src = |j: usize, m: usize| {
            let s = ((j as f32 + 0.5) * (n as f32 / m as f32) - 0.5).max(0.0);
            let i0 = s.floor() as usize;
            (i0, (i0 + 1).min(n - 1), s - i0 as f32)
        };
        let mut out = Array3::zeros((3, sy, sx));
        for c in 0..3 {
            let f = full.index_axis(ndarray::Axis(0), if gray { 0 } else { c });
            for y in 0..sy {
                let (r0, r1, ly) = src(y, sy);
                for x in 0..sx {
                    let (c0, c1, lx) = src(x, sx);
                    let top = (1.0 - lx) * f[(r0, c0)] + lx * f[(r0, c1)];
                    let bottom = (1.0 - lx) * f[(r1, c0)] + lx * f[(r1, c1)];
                    out[(c, y, x)] =
                        (((1.0 - ly) * top + ly * bottom).clamp(0.0, 1.0) * 255.0) as u8;
                }
            }
        }
        for mut ch in out.outer_iter_mut() {
            autocontrast(ch.as_slice_mut().unwrap());
        }
        out
    }

    #[test]
    fn sampled_equals_full_then_resized() {
        let oct = octave_amplitudes(4);
        for (gray, sy, sx, seed) in [
            (false, 5, 7, 3),
            (true, 24, 20, 4),
            (false, 32, 32, 5),
            (false, 13, 40, 6),
        ] {
            let want = full_then_resized(&oct, 2, gray, sy, sx, seed);
            let got = perlin_image(&oct, 2, gray, sy, sx, &mut rng(seed));
            assert_eq!(got, want, "gray {gray}, {sy}×{sx}");
        }
    }

    /// Small stand-ins for DD's recipes (the real ones draw ~34 M normals: slow in debug).
    fn small(mode: PerlinMode, seed: u64) -> Array4<f32> {
        let a = Recipe {
            octaves: octave_amplitudes(6),
            w: 1,
        };
        let b = Recipe {
            octaves: octave_amplitudes(3),
            w: 4,
        };
        init_from(&a, &b, mode, 24, 40, &mut rng(seed))
    }

    #[test]
    fn init_shape_range_determinism_and_modes() {
        let mixed = small(PerlinMode::Mixed, 42);
        assert_eq!(mixed.dim(), (1, 3, 24, 40));
        assert!(mixed.iter().all(|v| (-1.0..=1.0).contains(v)));
        // autocontrast stretches A and B to 0..255, so the init spans most of [−1, 1]
        let (lo, hi) = mixed
            .iter()
            .fold((1.0f32, -1.0f32), |(l, u), &v| (l.min(v), u.max(v)));
        assert!(lo < -0.3 && hi > 0.3, "{lo}..{hi}");
        assert_eq!(small(PerlinMode::Mixed, 42), mixed);
        assert_ne!(small(PerlinMode::Mixed, 43), mixed);
        // gray: every channel equal; colour and mixed: not
        let gray = small(PerlinMode::Gray, 42);
        let ch = |a: &Array4<f32>, c: usize| a.index_axis(ndarray::Axis(1), c).to_owned();
        assert!(ch(&gray, 0) == ch(&gray, 1) && ch(&gray, 1) == ch(&gray, 2));
        let color = small(PerlinMode::Color, 42);
        assert!(ch(&color, 0) != ch(&color, 1));
        assert!(ch(&mixed, 0) != ch(&mixed, 2));
        assert_ne!(color, mixed);
    }

    // DD's recipes once (gray: A draws one channel, ~11 M normals): shape, range, channels.
    #[test]
    fn dd_recipes() {
        assert_eq!(
            (
                recipe_a().w << recipe_a().octaves.len(),
                recipe_b().w << recipe_b().octaves.len()
            ),
            (4096, 1024)
        );
        let init = perlin_init(PerlinMode::Gray, 16, 24, &mut rng(1));
        assert_eq!(init.dim(), (1, 3, 16, 24));
        assert!(init.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_eq!(
            init.index_axis(ndarray::Axis(1), 0),
            init.index_axis(ndarray::Axis(1), 2)
        );
    }

    #[test]
    fn every_channel_is_autocontrasted() {
        let img = perlin_image(&octave_amplitudes(5), 2, false, 16, 16, &mut rng(8));
        for ch in img.outer_iter() {
            assert_eq!((ch.iter().min(), ch.iter().max()), (Some(&0), Some(&255)));
        }
    }
}
