//! The noise schedule of one job: base betas, respacing to `steps`, and the scalars the
//! sampler and `cond_fn` read at respaced index k (dd-algorithm.md §4.2–§4.3, §5.1–§5.2).
//!
//! Built once per job as `f64` arrays, as guided-diffusion keeps them; the values are cast
//! to `f32` only where DD combines them with tensors. Owns no tensors and draws no noise.

use std::f32::consts::PI;

/// The number of timesteps the UNets were trained on; `t_model` is always on this scale.
const TRAIN_STEPS: usize = 1000;

/// The respaced linear noise schedule for `steps` sampling steps (§4.2).
///
/// N = `steps`, D = `diffusion_steps`, S = `stride`; respaced index k runs 0..N, and the
/// kept original timestep is τ_k = k·S.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionSchedule {
    steps: usize,
    diffusion_steps: usize,
    stride: usize,
    alpha_bar: Vec<f64>,
    alpha_bar_prev: Vec<f64>,
}

/// The two schedule scalars one sampler step needs at respaced index k.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepAlphas {
    /// Respaced index k.
    pub k: usize,
    /// ᾱ_k.
    pub alpha_bar: f64,
    /// ᾱ_{k−1} (1 at k = 0).
    pub alpha_bar_prev: f64,
}

impl DiffusionSchedule {
    /// Builds the schedule for N = `steps` (DD: `timestep_respacing = "ddim{steps}"`,
    /// `diffusion_steps = (1000 // steps)·steps` if steps < 1000 else steps, §1 step 2).
    ///
    /// # Panics
    /// If `steps` is 0 (the project layer rejects it first).
    pub fn new(steps: usize) -> Self {
        assert!(steps >= 1, "steps must be at least 1");
        let diffusion_steps = if steps < TRAIN_STEPS {
            (TRAIN_STEPS / steps) * steps
        } else {
            steps
        };
        let stride = diffusion_steps / steps;
        let base = base_alpha_bar(diffusion_steps);

        // Respacing as guided-diffusion does it (respace.py): new β_k = 1 − ᾱ[τ_k]/ᾱ[τ_{k−1}],
        // then ᾱ is the running product of 1 − β_k again. Mathematically ᾱ_k = ᾱ_base[τ_k];
        // redoing the round trip keeps the last bits equal to DD's arrays.
        let mut alpha_bar = Vec::with_capacity(steps);
        let mut last = 1.0_f64;
        let mut prod = 1.0_f64;
        for k in 0..steps {
            let a = base[k * stride];
            let beta = 1.0 - a / last;
            last = a;
            prod *= 1.0 - beta;
            alpha_bar.push(prod);
        }
        // alphas_cumprod_prev = append(1.0, alphas_cumprod[:-1]): ᾱ_{−1} = 1.
        let alpha_bar_prev = std::iter::once(1.0)
            .chain(alpha_bar[..steps - 1].iter().copied())
            .collect();

        Self {
            steps,
            diffusion_steps,
            stride,
            alpha_bar,
            alpha_bar_prev,
        }
    }

    /// N, the number of respaced steps.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// D, the length of the base schedule the steps are picked from.
    pub fn diffusion_steps(&self) -> usize {
        self.diffusion_steps
    }

    /// S = D/N, the distance between kept base timesteps.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// τ_k = k·S, the base timestep kept as respaced index k.
    pub fn tau(&self, k: usize) -> usize {
        self.check(k);
        k * self.stride
    }

    /// Respaced ᾱ_k.
    pub fn alpha_bar(&self, k: usize) -> f64 {
        self.check(k);
        self.alpha_bar[k]
    }

    /// Respaced ᾱ_{k−1}, with ᾱ_{−1} = 1.
    pub fn alpha_bar_prev(&self, k: usize) -> f64 {
        self.check(k);
        self.alpha_bar_prev[k]
    }

    /// Both scalars a sampler step needs at k.
    pub fn at(&self, k: usize) -> StepAlphas {
        StepAlphas {
            k,
            alpha_bar: self.alpha_bar(k),
            alpha_bar_prev: self.alpha_bar_prev(k),
        }
    }

    /// sqrt(ᾱ_k), DD's `sqrt_alphas_cumprod[k]` (α in `cond_fn`, §5).
    pub fn sqrt_alpha_bar(&self, k: usize) -> f64 {
        self.alpha_bar(k).sqrt()
    }

    /// `fac` = sqrt(1 − ᾱ_k), DD's `sqrt_one_minus_alphas_cumprod[k]` (σ in `cond_fn`, §5).
    pub fn fac(&self, k: usize) -> f64 {
        (1.0 - self.alpha_bar(k)).sqrt()
    }

    /// `t_model(k) = τ_k·1000/D`, the time the UNet and `cond_fn` are handed (§4.2).
    ///
    /// Computed as DD's `_WrappedModel` does: the kept timestep as `f32` times
    /// `1000/D` rounded to `f32`, so D = 900 gives DD's exact bits.
    pub fn t_model(&self, k: usize) -> f32 {
        let scale = (TRAIN_STEPS as f64 / self.diffusion_steps as f64) as f32;
        self.tau(k) as f32 * scale
    }

    /// K0 = N − skip − 1, the first respaced index the loop visits (§4.4).
    ///
    /// # Panics
    /// If `skip_steps >= N` (DD would sample nothing; the project layer rejects it).
    pub fn start_index(&self, skip_steps: usize) -> usize {
        assert!(
            skip_steps < self.steps,
            "skip_steps ({skip_steps}) must be below steps ({})",
            self.steps
        );
        self.steps - skip_steps - 1
    }

    fn check(&self, k: usize) {
        assert!(
            k < self.steps,
            "respaced index {k} out of 0..{}",
            self.steps
        );
    }
}

/// ᾱ_base over D base timesteps: β = linspace(1e-4·1000/D, 0.02·1000/D, D) in `f64`, then
/// the running product of 1 − β (§4.2).
///
/// The linspace follows numpy's (`j·step + start`, last entry set to the end point) so
/// the values match DD's to the last bit.
pub fn base_alpha_bar(diffusion_steps: usize) -> Vec<f64> {
    let d = diffusion_steps;
    let scale = TRAIN_STEPS as f64 / d as f64;
    let (start, end) = (scale * 0.0001, scale * 0.02);
    let step = if d > 1 {
        (end - start) / (d - 1) as f64
    } else {
        0.0
    };
    let mut prod = 1.0_f64;
    (0..d)
        .map(|j| {
            let beta = if j + 1 == d && d > 1 {
                end
            } else {
                j as f64 * step + start
            };
            prod *= 1.0 - beta;
            prod
        })
        .collect()
}

/// The secondary model's time `t_c = atan2(sqrt(1−ᾱ), sqrt(ᾱ))·2/π` (§5.1).
///
/// DD builds α and σ as `f32` tensors from the `f64` arrays and does the rest in `f32`.
pub fn t_c(alpha_bar: f64) -> f32 {
    let alpha = alpha_bar.sqrt() as f32;
    let sigma = (1.0 - alpha_bar).sqrt() as f32;
    sigma.atan2(alpha) * 2.0 / PI
}

/// Index into the 1000-entry cut schedules for time `t_model`: `1000 − (int(t) + 1)`
/// (§5.2), so t = 0 reads entry 999 and t = 999.x reads entry 0.
///
/// # Panics
/// If `t_model` is not in [0, 1000), which no schedule produces.
pub fn schedule_index(t_model: f32) -> usize {
    assert!(
        (0.0..TRAIN_STEPS as f32).contains(&t_model),
        "t_model {t_model} out of [0, 1000)"
    );
    // `as usize` truncates toward zero, like Python's int() on a non-negative float.
    TRAIN_STEPS - (t_model as usize + 1)
}

/// Asserts `actual` is within relative tolerance `rel` of `expected` (absolute near 0):
/// the render core's one float-comparison helper (STYLE.md rule 15).
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    let tol = rel * expected.abs().max(1e-12);
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual:e}, expected {expected:e} (rel tol {rel:e})"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec prints 6 significant figures, or 6 decimals for values below 0.1 (0.025567,
    /// 0.026439): half a unit in the last printed digit is at most 2·10⁻⁵ relative.
    const SIX: f64 = 2e-5;

    /// The relative tolerance for a value the spec prints with 6 decimals (half a unit in
    /// the last digit, plus float slack).
    fn six_decimals(v: f64) -> f64 {
        6e-7 / v.abs().max(6e-7)
    }

    #[test]
    fn respacing_sizes_follow_the_ddim_rule() {
        // §4.2: N=250 → D=1000,S=4; 150 → 900,6; 300 → 900,3; 1000 → 1000,1; 2000 → 2000,1.
        for (n, d, s) in [
            (250, 1000, 4),
            (150, 900, 6),
            (300, 900, 3),
            (1000, 1000, 1),
            (2000, 2000, 1),
        ] {
            let sched = DiffusionSchedule::new(n);
            assert_eq!(
                (sched.steps(), sched.diffusion_steps(), sched.stride()),
                (n, d, s)
            );
        }
    }

    #[test]
    fn base_alpha_bar_matches_spec_for_d_1000_and_900() {
        // §4.2 reference values for D = 1000.
        let base = base_alpha_bar(1000);
        for (j, want) in [
            (0, 0.9999),
            (4, 0.999301),
            (99, 0.897018),
            (249, 0.524085),
            (500, 0.077797),
            (600, 0.025567),
            (956, 9.44588e-5),
            (996, 4.28774e-5),
            (999, 4.03583e-5),
        ] {
            assert_close(base[j], want, SIX, &format!("ᾱ_base[{j}], D=1000"));
        }
        // §4.2: for D = 900, ᾱ[894] = 4.48040e-5.
        assert_close(
            base_alpha_bar(900)[894],
            4.48040e-5,
            SIX,
            "ᾱ_base[894], D=900",
        );
    }

    #[test]
    fn respaced_alpha_bar_is_the_base_value_at_tau() {
        // §4.2: ᾱ_k = ᾱ_base[τ_k]; the respacing round trip only moves the last bits.
        for n in [25, 150, 250, 300, 1000] {
            let sched = DiffusionSchedule::new(n);
            let base = base_alpha_bar(sched.diffusion_steps());
            for k in 0..n {
                assert_close(sched.alpha_bar(k), base[sched.tau(k)], 1e-12, "ᾱ_k");
            }
            assert_eq!(sched.alpha_bar_prev(0), 1.0, "ᾱ_{{-1}} = 1");
            assert_eq!(sched.alpha_bar_prev(n - 1), sched.alpha_bar(n - 2));
        }
    }

    /// k, τ, t_model, ᾱ_k, ᾱ_{k−1}, fac, σ_k, sqrt(1−ᾱ_{k−1}−σ²), t_c, cut idx.
    type Row = (usize, usize, f32, f64, f64, f64, f64, f64, f64, usize);

    #[test]
    fn worked_example_rows_of_section_4_7a() {
        // §4.7a (steps 250, skip 10, η 0.8): k, τ, t_model, ᾱ_k, ᾱ_{k−1}, fac, σ_k,
        // sqrt(1−ᾱ_{k−1}−σ²), t_c, cut idx.
        let rows: [Row; 5] = [
            (
                239, 956, 956.0, 9.44588e-5, 1.02039e-4, 0.999953, 0.218049, 0.975886, 0.993813, 43,
            ),
            (
                238, 952, 952.0, 1.02039e-4, 1.10192e-4, 0.999949, 0.217607, 0.975980, 0.993569, 47,
            ),
            (
                100, 400, 400.0, 0.193572, 0.199923, 0.898013, 0.142023, 0.883123, 0.709979, 599,
            ),
            (
                1, 4, 4.0, 0.999301, 0.9999, 0.026439, 0.007406, 0.006719, 0.016833, 995,
            ),
            (0, 0, 0.0, 0.9999, 1.0, 0.01, 0.0, 0.0, 0.006366, 999),
        ];
        let sched = DiffusionSchedule::new(250);
        assert_eq!(sched.start_index(10), 239, "K0 = 250 − 10 − 1");
        for (k, tau, t, ab, abp, fac, sigma, dir, tc, idx) in rows {
            let what = |s: &str| format!("{s} at k={k}");
            assert_eq!(sched.tau(k), tau, "{}", what("τ"));
            assert_eq!(sched.t_model(k), t, "{}", what("t_model"));
            assert_close(sched.alpha_bar(k), ab, SIX, &what("ᾱ_k"));
            assert_close(sched.alpha_bar_prev(k), abp, SIX, &what("ᾱ_{k−1}"));
            assert_close(sched.fac(k), fac, six_decimals(fac), &what("fac"));
            // The table is derived in f64 (§4.5 step 6–7 with η = 0.8)…
            let (a, ap) = (sched.alpha_bar(k), sched.alpha_bar_prev(k));
            let s64 = 0.8 * ((1.0 - ap) / (1.0 - a)).sqrt() * (1.0 - a / ap).sqrt();
            assert_close(s64, sigma, six_decimals(sigma), &what("σ_k"));
            let dir64 = (1.0 - ap - s64 * s64).sqrt();
            assert_close(dir64, dir, six_decimals(dir), &what("sqrt(1−ᾱ_{k−1}−σ²)"));
            // …while DD evaluates them in f32, where 1 − ᾱ_{k−1} cancels near k = 0 and the
            // direction coefficient at k = 1 moves by 1.6·10⁻⁴ relative.
            let s32 = crate::sampler::ddim_sigma(a, ap, 0.8);
            assert_close(s32 as f64, sigma, 1e-4, &what("σ_k (f32)"));
            let dir32 = (1.0 - ap as f32 - s32 * s32).sqrt();
            assert_close(
                dir32 as f64,
                dir,
                3e-4,
                &what("direction coefficient (f32)"),
            );
            assert_close(t_c(a) as f64, tc, six_decimals(tc), &what("t_c"));
            assert_eq!(schedule_index(sched.t_model(k)), idx, "{}", what("cut idx"));
        }
    }

    #[test]
    fn t_c_at_first_base_step() {
        // t_c(ᾱ = 0.9999) = 0.0063663 (§15).
        assert_close(t_c(0.9999) as f64, 0.0063663, 1e-5, "t_c(0.9999)");
        assert_eq!(t_c(1.0), 0.0);
        assert_close(t_c(0.0) as f64, 1.0, 1e-7, "t_c(0) = 1");
    }

    #[test]
    fn cut_schedule_switches_between_idx_399_and_403_for_250_steps() {
        // §5.2 / §15: τ=600 → idx 399 (O=12, I=4); the next step τ=596 → idx 403.
        let sched = DiffusionSchedule::new(250);
        assert_eq!(sched.tau(150), 600);
        assert_eq!(schedule_index(sched.t_model(150)), 399);
        assert_eq!(sched.tau(149), 596);
        assert_eq!(schedule_index(sched.t_model(149)), 403);
    }

    #[test]
    fn schedule_index_truncates_then_adds_one() {
        // §5.2: s = int(t) + 1, idx = 1000 − s.
        assert_eq!(schedule_index(0.0), 999);
        assert_eq!(schedule_index(0.99), 999);
        assert_eq!(schedule_index(1.0), 998);
        assert_eq!(schedule_index(999.5), 0);
    }

    #[test]
    fn t_model_rescales_for_d_900() {
        // §4.2: t_model = τ·1000/D as f32; N=150 → D=900, S=6, last τ = 894.
        let sched = DiffusionSchedule::new(150);
        let want = 894.0_f32 * (1000.0_f64 / 900.0) as f32;
        assert_eq!(sched.t_model(149), want);
        assert_close(sched.t_model(149) as f64, 993.333, 1e-5, "t_model(149)");
        assert!(schedule_index(sched.t_model(149)) == 6);
    }

    #[test]
    #[should_panic(expected = "skip_steps")]
    fn start_index_rejects_skipping_everything() {
        DiffusionSchedule::new(50).start_index(50);
    }
}
