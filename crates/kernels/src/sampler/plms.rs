//! The PLMS (order 2) step (dd-algorithm.md §4.6; guided-diffusion `plms_sample`).
//!
//! The step asks its caller for guided model outputs through a closure and is handed the
//! previous ε (the history, owned by the loop). Deterministic: no noise, η unused.

use ndarray::{Array4, ArrayView4, Zip};

use super::{Guided, StepOut, pred_x0};
use crate::schedule::StepAlphas;

/// What one PLMS step produces.
#[derive(Debug, Clone, PartialEq)]
pub struct PlmsOut {
    /// x_{k−1} and the unguided x̂0 at (x_k, k).
    pub step: StepOut,
    /// ε_a, the guided ε at (x_k, k): the history the next step is handed.
    pub eps: Array4<f32>,
}

/// One PLMS step at respaced index `a.k`.
///
/// `x`: x_k, `[B, 3, H, W]`. `eps_prev`: the ε_a of the previous step, `None` on the first
/// step of a run. `model(x, i)` evaluates the UNet and `cond_fn` at respaced index `i` and
/// applies the guidance ([`condition_score`](super::condition_score)).
///
/// * First step: ε_a = ε'(x_k, k); x_mid = sqrt(ᾱ_{k−1})·x̂0' + sqrt(1 − ᾱ_{k−1})·ε_a;
///   ε_b = ε'(x_mid, k − 1) (a second model call); ε* = (ε_a + ε_b)/2.
/// * Later steps: ε* = (3·ε_a − ε_prev)/2 (Adams–Bashforth 2), one model call.
///
/// Then x_{k−1} = sqrt(ᾱ_{k−1})·x̂0(x_k, ε*) + sqrt(1 − ᾱ_{k−1})·ε*, except at k = 0 where
/// x_{−1} = x̂0' of the first call.
pub fn plms_step<E>(
    x: ArrayView4<f32>,
    a: StepAlphas,
    eps_prev: Option<ArrayView4<f32>>,
    mut model: impl FnMut(ArrayView4<f32>, usize) -> Result<Guided, E>,
) -> Result<PlmsOut, E> {
    let Guided {
        eps: eps_a,
        pred_x0_guided,
        pred_x0: pred_x0_unguided,
    } = model(x, a.k)?;
    assert_eq!(eps_a.shape(), x.shape(), "model output must have x's shape");

    let abp = a.alpha_bar_prev as f32;
    let (c_x0, c_eps) = (abp.sqrt(), (1.0 - abp).sqrt());
    let x_prev = if a.k == 0 {
        // DD keeps the guided x̂0 at the last index (nonzero_mask = 0). A first step at
        // k = 0 (skip = N − 1) would call the model at index −1 only to discard the result,
        // so that call is skipped.
        pred_x0_guided
    } else {
        let eps_star = match eps_prev {
            None => {
                // Pseudo improved Euler: probe one step ahead with ε_a, average the slopes.
                let x_mid = Zip::from(&pred_x0_guided)
                    .and(&eps_a)
                    .map_collect(|&x0, &e| x0 * c_x0 + c_eps * e);
                let eps_b = model(x_mid.view(), a.k - 1)?.eps;
                assert_eq!(eps_b.shape(), x.shape(), "model output must have x's shape");
                Zip::from(&eps_a)
                    .and(&eps_b)
                    .map_collect(|&ea, &eb| (ea + eb) / 2.0)
            }
            Some(prev) => {
                assert_eq!(prev.shape(), x.shape(), "eps_prev must have x's shape");
                Zip::from(&eps_a)
                    .and(prev)
                    .map_collect(|&ea, &ep| (3.0 * ea - ep) / 2.0)
            }
        };
        let x0_star = pred_x0(x, eps_star.view(), a.alpha_bar);
        Zip::from(&x0_star)
            .and(&eps_star)
            .map_collect(|&x0, &e| x0 * c_x0 + c_eps * e)
    };
    Ok(PlmsOut {
        step: StepOut {
            x_prev,
            pred_x0: pred_x0_unguided,
        },
        eps: eps_a,
    })
}
