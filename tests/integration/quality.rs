//! Picture-quality measures for the video tests, computed here from the PNGs alone, so that
//! they check disco's conversions instead of repeating them.

use ndarray::{Array2, Array3};

/// PSNR in dB of two same-shaped 8-bit arrays (peak 255).
pub fn psnr(a: &Array3<u8>, b: &Array3<u8>) -> f64 {
    from_squared_errors(
        a.iter().zip(b).map(|(&x, &y)| f64::from(x) - f64::from(y)),
        a.len(),
    )
}

fn from_squared_errors(diffs: impl Iterator<Item = f64>, n: usize) -> f64 {
    let mse = diffs.map(|d| d * d).sum::<f64>() / n as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

/// BT.601 Y'CbCr of one RGB pixel, limited range, unrounded (Rec. 601 §2.5.3).
fn ycbcr(r: u8, g: u8, b: u8) -> [f64; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    [
        16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
        128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
        128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
    ]
}

/// PSNR of a decoded luma plane against the exact BT.601 limited-range luma of the RGB frame
/// it was made from: the usual "Y-PSNR" of a video.
pub fn luma_psnr(luma: &Array2<u8>, rgb: &Array3<u8>) -> f64 {
    from_squared_errors(
        luma.indexed_iter().map(|((y, x), &v)| {
            f64::from(v) - ycbcr(rgb[[y, x, 0]], rgb[[y, x, 1]], rgb[[y, x, 2]])[0]
        }),
        luma.len(),
    )
}

/// What 4:2:0 alone keeps of a frame: exact BT.601, chroma averaged over each 2×2 block (centre
/// siting), interpolated back bilinearly, no rounding until the RGB result. No codec is
/// involved, so PSNR against this is the loss of the chroma subsampling itself.
pub fn chroma_420(rgb: &Array3<u8>) -> Array3<u8> {
    let (h, w, _) = rgb.dim();
    let full = Array2::from_shape_fn((h, w), |(y, x)| {
        ycbcr(rgb[[y, x, 0]], rgb[[y, x, 1]], rgb[[y, x, 2]])
    });
    let (ch, cw) = (h / 2, w / 2);
    let half = |k: usize| {
        Array2::from_shape_fn((ch, cw), |(j, i)| {
            let (y, x) = (2 * j, 2 * i);
            (full[[y, x]][k] + full[[y, x + 1]][k] + full[[y + 1, x]][k] + full[[y + 1, x + 1]][k])
                / 4.0
        })
    };
    let (cb, cr) = (half(1), half(2));
    // chroma sample (j, i) sits at luma (2j + ½, 2i + ½); edges clamp
    let bilinear = |c: &Array2<f64>, y: usize, x: usize| {
        let fy = ((y as f64 - 0.5) / 2.0).clamp(0.0, (ch - 1) as f64);
        let fx = ((x as f64 - 0.5) / 2.0).clamp(0.0, (cw - 1) as f64);
        let (y0, x0) = (fy.floor() as usize, fx.floor() as usize);
        let (y1, x1) = ((y0 + 1).min(ch - 1), (x0 + 1).min(cw - 1));
        let (ay, ax) = (fy - y0 as f64, fx - x0 as f64);
        (1.0 - ay) * ((1.0 - ax) * c[[y0, x0]] + ax * c[[y0, x1]])
            + ay * ((1.0 - ax) * c[[y1, x0]] + ax * c[[y1, x1]])
    };
    Array3::from_shape_fn((h, w, 3), |(y, x, k)| {
        let l = (full[[y, x]][0] - 16.0) * 255.0 / 219.0;
        let b = (bilinear(&cb, y, x) - 128.0) * 255.0 / 224.0;
        let r = (bilinear(&cr, y, x) - 128.0) * 255.0 / 224.0;
        let v = match k {
            0 => l + 1.402 * r,
            1 => l - 0.344_136 * b - 0.714_136 * r,
            _ => l + 1.772 * b,
        };
        v.round().clamp(0.0, 255.0) as u8
    })
}

#[test]
fn the_measures_behave() {
    // grey has no chroma: 4:2:0 keeps it exactly, and its luma is 16 + 219·v/255
    let grey = Array3::from_shape_fn((4, 6, 3), |(y, x, _)| (y * 50 + x * 7) as u8);
    assert_eq!(chroma_420(&grey), grey);
    let luma = Array2::from_shape_fn((4, 6), |(y, x)| {
        (16.0 + 219.0 * f64::from(grey[[y, x, 0]]) / 255.0).round() as u8
    });
    assert!(luma_psnr(&luma, &grey) > 50.0);
    // a one-pixel red dot on black loses most of its chroma to the 2×2 average
    let mut dot = Array3::zeros((4, 4, 3));
    dot[[1, 1, 0]] = 255;
    assert!(psnr(&chroma_420(&dot), &dot) < 30.0);
    assert!(psnr(&dot, &dot) > 100.0);
}
