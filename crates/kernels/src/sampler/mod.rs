//! The diffusion sampler: the kernels of dd-algorithm.md §4.3–§4.7, one file per step kind
//! ([`ddim`], [`plms`], [`symmetry`]) and the loop that owns state across steps ([`run`]).
//!
//! Pure functions over ndarray views. The UNet and `cond_fn` come in through the
//! [`Denoiser`] seam and the noise through [`NoiseSource`](crate::noise::NoiseSource);
//! nothing here touches ONNX Runtime, files or a clock. Tensors are `f32` `[B, 3, H, W]`
//! (B = 1 in DD); schedule scalars arrive as `f64` and are cast to `f32` exactly where
//! guided-diffusion casts them (its `_extract_into_tensor` takes `f64` arrays to `float`).

pub mod ddim;
pub mod plms;
pub mod run;
pub mod symmetry;

#[cfg(test)]
mod tests;

pub use ddim::{ddim_sigma, ddim_step};
pub use plms::{PlmsOut, plms_step};
pub use run::{
    Denoised, Denoiser, EvalAt, Method, SampleOptions, SamplerExit, SamplerKind, SamplerState,
    StepReport, sample, start_state,
};
pub use symmetry::{Mirroring, Symmetry, mirror_horizontal, mirror_vertical, symmetry_steps};

use ndarray::{Array4, ArrayView4, Zip};

/// x̂0(x, ε) = sqrt(1/ᾱ)·x − sqrt(1/ᾱ − 1)·ε (§4.3).
///
/// `x`, `eps`: `[B, 3, H, W]`. The coefficients are computed in `f64` and cast, as
/// guided-diffusion's `sqrt_recip_alphas_cumprod` arrays are.
pub fn pred_x0(x: ArrayView4<f32>, eps: ArrayView4<f32>, alpha_bar: f64) -> Array4<f32> {
    check_pair(x, eps, "eps");
    let (c1, c2) = recip_coefs(alpha_bar);
    Zip::from(x).and(eps).map_collect(|&x, &e| c1 * x - c2 * e)
}

/// ε(x, x̂0) = (sqrt(1/ᾱ)·x − x̂0) / sqrt(1/ᾱ − 1), the inverse of [`pred_x0`] (§4.3).
///
/// `x`, `pred_x0`: `[B, 3, H, W]`. Undefined at ᾱ = 1, which no respaced step has.
pub fn eps_from_x0(x: ArrayView4<f32>, pred_x0: ArrayView4<f32>, alpha_bar: f64) -> Array4<f32> {
    check_pair(x, pred_x0, "pred_x0");
    let (c1, c2) = recip_coefs(alpha_bar);
    Zip::from(x)
        .and(pred_x0)
        .map_collect(|&x, &x0| (c1 * x - x0) / c2)
}

/// q_sample(x0, z) = sqrt(ᾱ)·x0 + sqrt(1 − ᾱ)·z: x0 noised to level ᾱ (§4.3).
///
/// `x0`, `z`: `[B, 3, H, W]`.
pub fn q_sample(x0: ArrayView4<f32>, alpha_bar: f64, z: ArrayView4<f32>) -> Array4<f32> {
    check_pair(x0, z, "z");
    let a = alpha_bar.sqrt() as f32;
    let s = (1.0 - alpha_bar).sqrt() as f32;
    Zip::from(x0).and(z).map_collect(|&x0, &z| a * x0 + s * z)
}

/// One model evaluation after guidance: what DDIM and PLMS both consume (§4.5 steps 2–5).
#[derive(Debug, Clone, PartialEq)]
pub struct Guided {
    /// ε re-derived from the guided x̂0' (guided-diffusion re-derives it rather than use ε'
    /// directly; the two agree up to rounding). `[B, 3, H, W]`.
    pub eps: Array4<f32>,
    /// x̂0' = x̂0(x, ε'), the guided estimate the step moves toward.
    pub pred_x0_guided: Array4<f32>,
    /// The unguided (and, with `clip_denoised`, clamped) x̂0: what DD yields, previews and
    /// saves (§4.5 step 8).
    pub pred_x0: Array4<f32>,
}

/// Applies the guidance gradient to one model output (guided-diffusion `condition_score`).
///
/// `x`: the (possibly mirrored) input, `eps_hat`: UNet ε̂ (channels 0..3), `g`: `cond_fn`'s
/// gradient, all `[B, 3, H, W]`. With `g = None` the output is DD's unconditioned one.
/// Steps: x̂0 = x̂0(x, ε̂), clamped to [-1, 1] if `clip_denoised`; ε = ε(x, x̂0);
/// ε' = ε − sqrt(1 − ᾱ)·g; x̂0' = x̂0(x, ε').
pub fn condition_score(
    x: ArrayView4<f32>,
    eps_hat: ArrayView4<f32>,
    g: Option<ArrayView4<f32>>,
    alpha_bar: f64,
    clip_denoised: bool,
) -> Guided {
    let mut x0 = pred_x0(x, eps_hat, alpha_bar);
    if clip_denoised {
        // p_mean_variance's process_xstart clamps before anything else reads x̂0.
        x0.mapv_inplace(|v| v.clamp(-1.0, 1.0));
    }
    let Some(g) = g else {
        let eps = eps_from_x0(x, x0.view(), alpha_bar);
        return Guided {
            eps,
            pred_x0_guided: x0.clone(),
            pred_x0: x0,
        };
    };
    check_pair(x, g, "g");
    // condition_score casts ᾱ to f32 first, then takes (1 − ᾱ).sqrt() in f32.
    let fac = (1.0 - alpha_bar as f32).sqrt();
    let mut eps_prime = eps_from_x0(x, x0.view(), alpha_bar);
    Zip::from(&mut eps_prime)
        .and(g)
        .for_each(|e, &g| *e -= fac * g);
    let x0_guided = pred_x0(x, eps_prime.view(), alpha_bar);
    Guided {
        eps: eps_from_x0(x, x0_guided.view(), alpha_bar),
        pred_x0_guided: x0_guided,
        pred_x0: x0,
    }
}

/// What one sampler step produces.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOut {
    /// x_{k−1}, `[B, 3, H, W]`.
    pub x_prev: Array4<f32>,
    /// The unguided x̂0 at (x_k, k): the image DD shows for this step.
    pub pred_x0: Array4<f32>,
}

/// (sqrt(1/ᾱ), sqrt(1/ᾱ − 1)) computed in `f64`, handed to tensors as `f32`.
fn recip_coefs(alpha_bar: f64) -> (f32, f32) {
    (
        (1.0 / alpha_bar).sqrt() as f32,
        (1.0 / alpha_bar - 1.0).sqrt() as f32,
    )
}

/// Shapes at the door: `x` is `[B, 3, H, W]` and `other` has the same shape.
#[track_caller]
fn check_pair(x: ArrayView4<f32>, other: ArrayView4<f32>, name: &str) {
    let (_b, c, _h, _w) = x.dim();
    assert_eq!(c, 3, "x must be [B, 3, H, W], got {:?}", x.shape());
    assert_eq!(
        x.shape(),
        other.shape(),
        "{name} must have x's shape [B, 3, H, W]"
    );
}
