//! DD's 2D warp (dd-algorithm.md §10.3): the previous frame, moved by one frame's angle, zoom
//! and translation, becomes the next frame's init.
//!
//! DD builds `M = Rot · Trans` — Trans moves content by (tx, ty) pixels, Rot is OpenCV's
//! `getRotationMatrix2D` about (W//2, H//2) with the angle in degrees (counter-clockwise
//! positive) and isotropic scale `zoom` — and applies `cv2.warpPerspective(img, M, (W, H),
//! borderMode=cv2.BORDER_WRAP)` with bilinear interpolation: each output pixel samples the
//! input at M⁻¹·(x, y, 1), neighbours past an edge wrapping around to the opposite edge.
//!
//! OpenCV has two bilinear kernels for 8-bit images, and the output differs by a few levels
//! between them: up to 4.10 (what DD ran with) the sample position is rounded to 1/32 pixel and
//! blended in 15-bit fixed point; from 4.11 positions and blends are `f32`. [`Kernel`] picks one;
//! both match their OpenCV to within one level (see `tests/integration/anim.rs`).

use ndarray::Array3;

/// One frame's 2D motion, in DD's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Motion {
    /// Rotation in degrees, counter-clockwise positive.
    pub angle: f64,
    /// Isotropic scale about the centre; above 1 zooms in.
    pub zoom: f64,
    /// Translation right, in pixels.
    pub translation_x: f64,
    /// Translation down, in pixels.
    pub translation_y: f64,
}

/// Which OpenCV bilinear kernel to reproduce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernel {
    /// OpenCV ≤ 4.10, which DD's notebooks ran with: 1/32-pixel positions, 15-bit fixed point.
    #[default]
    FixedPoint,
    /// OpenCV ≥ 4.11: `f32` positions and blends, rounded to nearest at the end.
    Float32,
}

/// DD's 3×3 warp matrix for an image of `width` × `height` pixels.
pub fn matrix(width: usize, height: usize, m: &Motion) -> [[f64; 3]; 3] {
    let (cx, cy) = ((width / 2) as f64, (height / 2) as f64);
    let theta = m.angle.to_radians();
    let (a, b) = (m.zoom * theta.cos(), m.zoom * theta.sin());
    let rot = [
        [a, b, (1.0 - a) * cx - b * cy],
        [-b, a, b * cx + (1.0 - a) * cy],
        [0.0, 0.0, 1.0],
    ];
    // DD writes the translation into an np.float32 matrix, so it is rounded to f32.
    let (tx, ty) = (
        f64::from(m.translation_x as f32),
        f64::from(m.translation_y as f32),
    );
    let trans = [[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]];
    mul(&rot, &trans)
}

/// Warps `src` (`[H, W, C]`, any channel count) by `m` as `cv2.warpPerspective` does with
/// bilinear interpolation and `BORDER_WRAP`; the output has the input's size.
pub fn warp_perspective_wrap(src: &Array3<u8>, m: &[[f64; 3]; 3], kernel: Kernel) -> Array3<u8> {
    let (h, w, c) = src.dim();
    let mut out = Array3::<u8>::zeros((h, w, c));
    if h == 0 || w == 0 {
        return out;
    }
    // OpenCV inverts the matrix (a singular one becomes all zeros) and samples backwards.
    let inv = invert(m).unwrap_or([[0.0; 3]; 3]);
    let src = src.as_standard_layout();
    let data = src.as_slice().expect("standard layout");
    let pixel = |x: i64, y: i64| {
        let (x, y) = (
            x.rem_euclid(w as i64) as usize,
            y.rem_euclid(h as i64) as usize,
        );
        &data[(y * w + x) * c..(y * w + x + 1) * c]
    };
    let out_data = out.as_slice_mut().expect("fresh array");
    for y in 0..h {
        for x in 0..w {
            let dst = &mut out_data[(y * w + x) * c..(y * w + x + 1) * c];
            match kernel {
                Kernel::FixedPoint => {
                    let (sx, sy, fx, fy) = fixed_position(&inv, x as f64, y as f64);
                    let (p00, p01) = (pixel(sx, sy), pixel(sx + 1, sy));
                    let (p10, p11) = (pixel(sx, sy + 1), pixel(sx + 1, sy + 1));
                    // weights (32−fx)(32−fy)·32 etc. sum to exactly 2^15
                    let w00 = (32 - fx) * (32 - fy) * 32;
                    let w01 = fx * (32 - fy) * 32;
                    let w10 = (32 - fx) * fy * 32;
                    let w11 = fx * fy * 32;
                    for k in 0..c {
                        let v = i32::from(p00[k]) * w00
                            + i32::from(p01[k]) * w01
                            + i32::from(p10[k]) * w10
                            + i32::from(p11[k]) * w11;
                        dst[k] = ((v + (1 << 14)) >> 15).clamp(0, 255) as u8;
                    }
                }
                Kernel::Float32 => {
                    let (sx, sy) = float_position(&inv, x as f32, y as f32);
                    let (x0, y0) = (sx.floor(), sy.floor());
                    let (ax, ay) = (sx - x0, sy - y0);
                    let (ix, iy) = (x0 as i64, y0 as i64);
                    let (p00, p01) = (pixel(ix, iy), pixel(ix + 1, iy));
                    let (p10, p11) = (pixel(ix, iy + 1), pixel(ix + 1, iy + 1));
                    for k in 0..c {
                        let (q00, q01) = (f32::from(p00[k]), f32::from(p01[k]));
                        let (q10, q11) = (f32::from(p10[k]), f32::from(p11[k]));
                        let top = q00 + ax * (q01 - q00);
                        let bottom = q10 + ax * (q11 - q10);
                        let v = top + ay * (bottom - top);
                        dst[k] = v.round_ties_even().clamp(0.0, 255.0) as u8;
                    }
                }
            }
        }
    }
    out
}

/// The 2D warp of one frame as DD does it: [`matrix`] then [`warp_perspective_wrap`].
pub fn warp_frame(src: &Array3<u8>, motion: &Motion, kernel: Kernel) -> Array3<u8> {
    let (h, w, _) = src.dim();
    warp_perspective_wrap(src, &matrix(w, h, motion), kernel)
}

/// OpenCV ≤ 4.10's sample position: integer pixel and 1/32 fractions (fx, fy ∈ 0..32).
fn fixed_position(inv: &[[f64; 3]; 3], x: f64, y: f64) -> (i64, i64, i32, i32) {
    const TAB: f64 = 32.0;
    let xs = inv[0][0] * x + inv[0][1] * y + inv[0][2];
    let ys = inv[1][0] * x + inv[1][1] * y + inv[1][2];
    let ws = inv[2][0] * x + inv[2][1] * y + inv[2][2];
    let ws = if ws != 0.0 { TAB / ws } else { 0.0 };
    // saturate_cast<int>: round half to even, clamped to the int range
    let round = |v: f64| {
        (v * ws)
            .clamp(f64::from(i32::MIN), f64::from(i32::MAX))
            .round_ties_even() as i64
    };
    let (xi, yi) = (round(xs), round(ys));
    (xi >> 5, yi >> 5, (xi & 31) as i32, (yi & 31) as i32)
}

/// OpenCV ≥ 4.11's sample position, computed in f32.
fn float_position(inv: &[[f64; 3]; 3], x: f32, y: f32) -> (f32, f32) {
    let m = inv.map(|r| r.map(|v| v as f32));
    let ws = 1.0 / (m[2][0] * x + m[2][1] * y + m[2][2]);
    let xs = (m[0][0] * x + m[0][1] * y + m[0][2]) * ws;
    let ys = (m[1][0] * x + m[1][1] * y + m[1][2]) * ws;
    if xs.is_finite() && ys.is_finite() {
        (xs, ys)
    } else {
        (0.0, 0.0)
    }
}

fn mul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut r = [[0.0; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

/// The inverse of a 3×3 matrix by cofactors, or `None` when it is singular.
fn invert(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let cof =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let det = m[0][0] * cof(1, 2, 1, 2) - m[0][1] * cof(1, 2, 0, 2) + m[0][2] * cof(1, 2, 0, 1);
    if det == 0.0 || !det.is_finite() {
        return None;
    }
    let adj = [
        [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
        [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
        [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
    ];
    Some(adj.map(|r| r.map(|v| v / det)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn still() -> Motion {
        Motion {
            angle: 0.0,
            zoom: 1.0,
            translation_x: 0.0,
            translation_y: 0.0,
        }
    }

    fn pattern(h: usize, w: usize) -> Array3<u8> {
        Array3::from_shape_fn((h, w, 3), |(y, x, k)| {
            ((x * 37 + y * 11 + k * 80) % 256) as u8
        })
    }

    #[test]
    fn identity_leaves_the_image() {
        let img = pattern(9, 14);
        for kernel in [Kernel::FixedPoint, Kernel::Float32] {
            assert_eq!(warp_frame(&img, &still(), kernel), img);
        }
    }

    #[test]
    fn whole_pixel_translation_wraps_around() {
        let img = pattern(9, 14);
        let m = Motion {
            translation_x: 3.0,
            translation_y: -2.0,
            ..still()
        };
        for kernel in [Kernel::FixedPoint, Kernel::Float32] {
            let out = warp_frame(&img, &m, kernel);
            for ((y, x, k), v) in out.indexed_iter() {
                // content moves right by 3 and up by 2
                assert_eq!(
                    *v,
                    img[((y + 2) % 9, (x + 14 - 3) % 14, k)],
                    "{kernel:?} {y},{x}"
                );
            }
        }
    }

    #[test]
    fn matrix_rotates_counter_clockwise_about_the_centre() {
        let m = matrix(
            10,
            6,
            &Motion {
                angle: 90.0,
                ..still()
            },
        );
        // centre (5, 3) is fixed; a point right of it goes up (image y points down)
        let apply = |x: f64, y: f64| {
            (
                m[0][0] * x + m[0][1] * y + m[0][2],
                m[1][0] * x + m[1][1] * y + m[1][2],
            )
        };
        let (cx, cy) = apply(5.0, 3.0);
        assert!((cx - 5.0).abs() < 1e-12 && (cy - 3.0).abs() < 1e-12);
        let (px, py) = apply(6.0, 3.0);
        assert!((px - 5.0).abs() < 1e-12 && (py - 2.0).abs() < 1e-12);
    }

    #[test]
    fn inverse_is_an_inverse() {
        let m = matrix(
            64,
            48,
            &Motion {
                angle: 33.0,
                zoom: 1.3,
                translation_x: 4.5,
                translation_y: -7.0,
            },
        );
        let p = mul(&m, &invert(&m).unwrap());
        for (i, row) in p.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!(invert(&[[0.0; 3]; 3]).is_none());
    }
}
