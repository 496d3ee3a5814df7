//! DD's turbo mode for 3D frames (dd-algorithm.md §10.4, DD:1202-1226 and 1519-1533): the
//! images a turbo frame hands on and the blends it saves.
//!
//! DD keeps three files between frames: `prevFrame.png` (what the next frame warps),
//! `oldFrameScaled.png` (the second, "old" warp chain) and the saved frame. Under turbo the
//! saved frame is neither of the others, so a turbo job stores them beside its image as
//! [`Aux::Next`] and [`Aux::Old`] (`crates/store`), written before its record:
//!
//! - a diffused frame f > 0 saves `blend(diffused, init, 1/turbo-steps)`; its next image is
//!   the unblended diffused one; its old image (from `turbo-preroll` on) is its init, the
//!   previous frame's next image warped by f's camera;
//! - a skipped frame warps the previous frame's next image (`new`, its next image) and old
//!   image (`old`, its old image) by f's camera, and saves `blend(new, old, w)`, `w` =
//!   `((f mod turbo-steps) + 1)/turbo-steps`.
//!
//! Frame 0 keeps one image, which is also its next and old image. (DD with `turbo-preroll 0`
//! would warp an `oldFrameScaled.png` no frame wrote, a leftover of an earlier run or a
//! crash; disco starts the old chain from frame 0's image.)

use ndarray::{Array3, Zip};

use crate::plan::{Job, Turbo};
use crate::store::Aux;

/// The second images job `job` stores (and the next frame may read).
pub fn aux_of(job: &Job) -> Vec<Aux> {
    match job.frame.turbo {
        None => Vec::new(),
        Some(Turbo::Diffused { old: false, .. }) => vec![Aux::Next],
        Some(Turbo::Diffused { old: true, .. } | Turbo::Skipped { .. }) => {
            vec![Aux::Next, Aux::Old]
        }
    }
}

/// Which of job `job`'s images the next frame warps: its [`Aux::Next`] under turbo, else its
/// image (`None`).
pub fn next_of(job: &Job) -> Option<Aux> {
    job.frame.turbo.as_ref().map(|_| Aux::Next)
}

/// Which of job `job`'s images is its old-chain image: its [`Aux::Old`] where it stores one,
/// else the image the next frame warps (frame 0, see the module docs).
pub fn old_of(job: &Job) -> Option<Aux> {
    if aux_of(job).contains(&Aux::Old) {
        Some(Aux::Old)
    } else {
        next_of(job)
    }
}

/// OpenCV's `addWeighted(a, alpha, b, 1 − alpha, 0)` on 8-bit images, as DD blends: the sum
/// in f32, rounded half to even and saturated.
pub fn blend(a: &Array3<u8>, alpha: f64, b: &Array3<u8>) -> Array3<u8> {
    let (wa, wb) = (alpha as f32, (1.0 - alpha) as f32);
    Zip::from(a).and(b).map_collect(|&x, &y| {
        (f32::from(x) * wa + f32::from(y) * wb)
            .round_ties_even()
            .clamp(0.0, 255.0) as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_weighs_rounds_half_to_even_and_keeps_the_ends() {
        let a = Array3::from_shape_vec((1, 1, 3), vec![255u8, 0, 3]).unwrap();
        let b = Array3::from_shape_vec((1, 1, 3), vec![0u8, 255, 0]).unwrap();
        // 2/3 of 255 = 170, 1/3 of 255 = 85, 1.5 → 2 (half to even)
        let m = blend(&a, 2.0 / 3.0, &b);
        assert_eq!(m.as_slice().unwrap(), &[170, 85, 2]);
        let half = Array3::from_shape_vec((1, 1, 3), vec![5u8, 1, 0]).unwrap();
        // 2.5 → 2, 0.5 → 0
        assert_eq!(
            blend(&half, 0.5, &Array3::zeros((1, 1, 3)))
                .as_slice()
                .unwrap(),
            &[2, 0, 0]
        );
        assert_eq!(blend(&a, 1.0, &b), a);
        assert_eq!(blend(&a, 0.0, &b), b);
    }
}
