//! The guided DDIM step (dd-algorithm.md §4.5; guided-diffusion `ddim_sample`).
//!
//! One model output and one guidance gradient in, x_{k−1} and the unguided x̂0 out. The
//! noise z_k is an argument: the loop draws it, every step, even at k = 0 (§4.5 step 7).

use ndarray::{ArrayView4, Zip};

use super::{StepOut, check_pair, condition_score};
use crate::schedule::StepAlphas;

/// σ_k = η·sqrt((1 − ᾱ_{k−1})/(1 − ᾱ_k))·sqrt(1 − ᾱ_k/ᾱ_{k−1}) (§4.5 step 6).
///
/// Computed in `f32` from the `f32`-cast ᾱ values, as `ddim_sample` does on its extracted
/// tensors. σ = 0 at k = 0 (ᾱ_{−1} = 1) and for η = 0.
pub fn ddim_sigma(alpha_bar: f64, alpha_bar_prev: f64, eta: f64) -> f32 {
    let (ab, abp) = (alpha_bar as f32, alpha_bar_prev as f32);
    eta as f32 * ((1.0 - abp) / (1.0 - ab)).sqrt() * (1.0 - ab / abp).sqrt()
}

/// One guided DDIM step at respaced index `a.k` (§4.5 steps 2–8).
///
/// `x`: x_k after any symmetry, `eps_hat`: UNet ε̂ at (x, t_model(k)), `g`: `cond_fn`'s
/// gradient at (x, t_model(k)) or `None` for no guidance, `z`: N(0, I) noise (ignored at
/// k = 0); all `[B, 3, H, W]`.
///
/// x_{k−1} = sqrt(ᾱ_{k−1})·x̂0' + sqrt(1 − ᾱ_{k−1} − σ_k²)·ε' + [k ≠ 0]·σ_k·z. The returned
/// `pred_x0` is the unguided x̂0, which is what DD yields and saves (§4.5 step 8).
pub fn ddim_step(
    x: ArrayView4<f32>,
    eps_hat: ArrayView4<f32>,
    g: Option<ArrayView4<f32>>,
    z: ArrayView4<f32>,
    a: StepAlphas,
    eta: f64,
    clip_denoised: bool,
) -> StepOut {
    check_pair(x, z, "z");
    let guided = condition_score(x, eps_hat, g, a.alpha_bar, clip_denoised);
    let sigma = ddim_sigma(a.alpha_bar, a.alpha_bar_prev, eta);
    let abp = a.alpha_bar_prev as f32;
    let c_x0 = abp.sqrt();
    // 1 − ᾱ_{k−1} − σ² ≥ 0 for η ≤ 1 in exact arithmetic; clamping keeps f32 rounding (or a
    // user's η > 1) from turning the whole image into NaN as DD's plain sqrt would.
    let c_eps = (1.0 - abp - sigma * sigma).max(0.0).sqrt();
    // DD multiplies the noise by nonzero_mask = [k ≠ 0]; z is still drawn at k = 0.
    let c_z = if a.k != 0 { sigma } else { 0.0 };

    let mut x_prev = guided.pred_x0_guided;
    Zip::from(&mut x_prev)
        .and(&guided.eps)
        .and(z)
        .for_each(|x0, &e, &z| {
            let mean = *x0 * c_x0 + c_eps * e;
            *x0 = if a.k != 0 { mean + c_z * z } else { mean };
        });
    StepOut {
        x_prev,
        pred_x0: guided.pred_x0,
    }
}
