//! The guidance losses of `cond_fn` and their exact gradients (dd-algorithm.md §5.6–5.8):
//! spherical CLIP distance, total variation, saturation and range losses, the RMS clamp and
//! the NaN guard.
//!
//! Pure functions over ndarray views, generic over `f32`/`f64` (tests check every gradient
//! with `f64` central differences). Knows nothing of models, cutouts or the sampler: the
//! caller hands in embeddings and images and chains the gradients.

use ndarray::{Array2, Array4, ArrayBase, ArrayView2, ArrayView4, Data, DataMut, Dimension};
use num_traits::Float;

/// The floats the kernels run in (`f32` in the renderer, `f64` in gradient tests).
pub trait Real: Float + std::fmt::Debug + Send + Sync + 'static {}
impl Real for f32 {}
impl Real for f64 {}

fn real<F: Real>(v: f64) -> F {
    F::from(v).expect("constant fits the float type")
}

/// L2 normalisation eps, as `F.normalize` (§5.6): rows are divided by `max(‖row‖, 1e-12)`.
pub const NORMALIZE_EPS: f64 = 1e-12;

/// Rows divided by `max(‖row‖, eps)`, and the divisors. `v: [N, D]`.
fn normalize_rows<F: Real>(v: ArrayView2<F>) -> (Array2<F>, Vec<F>) {
    let eps = real::<F>(NORMALIZE_EPS);
    let mut out = v.to_owned();
    let mut norms = Vec::with_capacity(v.nrows());
    for mut row in out.rows_mut() {
        let n = row
            .iter()
            .fold(F::zero(), |a, &x| a + x * x)
            .sqrt()
            .max(eps);
        row.mapv_inplace(|x| x / n);
        norms.push(n);
    }
    (out, norms)
}

/// ‖â − b̂‖ for two unit rows.
fn chord<F: Real>(a: ndarray::ArrayView1<F>, b: ndarray::ArrayView1<F>) -> F {
    a.iter()
        .zip(b.iter())
        .fold(F::zero(), |s, (&x, &y)| s + (x - y) * (x - y))
        .sqrt()
}

/// `2·arcsin(r/2)²` for a chord length r; r/2 is capped at 1 so rounding past the antipode
/// cannot produce NaN.
fn dist_of_chord<F: Real>(r: F) -> F {
    let two = real::<F>(2.0);
    let a = (r / two).min(F::one()).asin();
    two * a * a
}

/// Spherical distance between every cut embedding and every target (§5.6):
/// `d[c,p] = 2·arcsin(‖ê_c − t̂_p‖/2)²` (= θ²/2), rows L2-normalised with eps 1e-12.
///
/// `e: [C, D]` (cut embeddings), `t: [P, D]` (targets) → `[C, P]`, values in [0, π²/2].
pub fn spherical_dist<F: Real>(e: ArrayView2<F>, t: ArrayView2<F>) -> Array2<F> {
    let ((c, d), (p, d_t)) = (e.dim(), t.dim());
    assert_eq!(
        d, d_t,
        "embedding widths differ: e [C, D] = [{c}, {d}], t [P, D] = [{p}, {d_t}]"
    );
    let (e_hat, _) = normalize_rows(e);
    let (t_hat, _) = normalize_rows(t);
    Array2::from_shape_fn((c, p), |(i, j)| {
        dist_of_chord(chord(e_hat.row(i), t_hat.row(j)))
    })
}

/// The CLIP loss of one cutn-batch (§5.6): `L = (1/C)·Σ_c Σ_p w_p·d[c,p]`, the value of
/// [`clip_loss_and_grad`] without the gradient (the fused guidance graph computes that).
///
/// `e: [C, D]`, `targets: [P, D]`, `weights: [P]`.
pub fn clip_loss<F: Real>(e: ArrayView2<F>, targets: ArrayView2<F>, weights: &[F]) -> F {
    assert_eq!(
        weights.len(),
        targets.nrows(),
        "weights [P] must match targets [P, D]"
    );
    assert!(e.nrows() > 0, "no cut embeddings (C = 0)");
    let inv_c = F::one() / real::<F>(e.nrows() as f64);
    // The same terms in the same order as clip_loss_and_grad: the same bits.
    spherical_dist(e, targets)
        .rows()
        .into_iter()
        .flat_map(|row| row.into_iter().zip(weights))
        .fold(F::zero(), |loss, (&d, &w)| loss + w * d * inv_c)
}

/// The CLIP loss of one cutn-batch and its gradient with respect to the embeddings (§5.6):
/// `L = (1/C)·Σ_c Σ_p w_p·d[c,p]`, gradient exact through the normalisation.
///
/// `e: [C, D]`, `targets: [P, D]`, `weights: [P]` (already normalised, §3.3) →
/// `(L, dL/de: [C, D])`. The caller multiplies by `clip_guidance_scale / cutn_batches`.
pub fn clip_loss_and_grad<F: Real>(
    e: ArrayView2<F>,
    targets: ArrayView2<F>,
    weights: &[F],
) -> (F, Array2<F>) {
    let ((c, d), (p, d_t)) = (e.dim(), targets.dim());
    assert_eq!(
        d, d_t,
        "embedding widths differ: e [C, D] = [{c}, {d}], targets [P, D] = [{p}, {d_t}]"
    );
    assert_eq!(
        weights.len(),
        p,
        "weights [P] must match targets [P, D] = [{p}, {d}]"
    );
    assert!(c > 0, "no cut embeddings (C = 0)");
    let (e_hat, norms) = normalize_rows(e);
    let (t_hat, _) = normalize_rows(targets);
    let (one, two) = (F::one(), real::<F>(2.0));
    let inv_c = one / real::<F>(c as f64);
    let mut loss = F::zero();
    let mut grad = Array2::<F>::zeros((c, d));
    for i in 0..c {
        // g_hat = dL/dê_i = (1/C) Σ_p w_p · f(r)·(ê_i − t̂_p), with f(r) = ∂d/∂r / r
        //       = 2·asin(r/2) / (r·sqrt(1 − r²/4)), whose limit at r = 0 is 1.
        let mut g_hat = ndarray::Array1::<F>::zeros(d);
        for (t_j, &w_j) in t_hat.rows().into_iter().zip(weights) {
            let r = chord(e_hat.row(i), t_j);
            loss = loss + w_j * dist_of_chord(r) * inv_c;
            let s = (r / two).min(one);
            let f = if r > F::zero() {
                two * s.asin() / (r * (one - s * s).sqrt())
            } else {
                one
            };
            let k = w_j * f * inv_c;
            for (g, (&a, &b)) in g_hat.iter_mut().zip(e_hat.row(i).iter().zip(t_j)) {
                *g = *g + k * (a - b);
            }
        }
        // Through ê = e/n: if n > eps, dL/de = (g − ê·⟨ê, g⟩)/n; otherwise n is the constant eps.
        let n = norms[i];
        let radial = if n > real::<F>(NORMALIZE_EPS) {
            e_hat
                .row(i)
                .iter()
                .zip(g_hat.iter())
                .fold(F::zero(), |s, (&a, &g)| s + a * g)
        } else {
            F::zero()
        };
        for (k, g) in grad.row_mut(i).iter_mut().enumerate() {
            *g = (g_hat[k] - e_hat[(i, k)] * radial) / n;
        }
    }
    (loss, grad)
}

/// L2 total variation with replicate padding (§5.7) and its gradient.
///
/// `x: [N, C, H, W]` (image space). `dx(y,x) = u(y,x+1) − u(y,x)` (0 in the last column),
/// `dy(y,x) = u(y+1,x) − u(y,x)` (0 in the last row); `TV = Σ_n mean_{C,H,W}(dx² + dy²)`
/// (DD takes the per-image mean and sums the batch). Returns `(TV, dTV/dx: [N, C, H, W])`.
pub fn tv_loss_grad<F: Real>(x: ArrayView4<F>) -> (F, Array4<F>) {
    let (n, c, h, w) = x.dim();
    assert!(
        n > 0 && c > 0 && h > 0 && w > 0,
        "empty image [N, C, H, W] = {:?}",
        x.dim()
    );
    let scale = F::one() / real::<F>((c * h * w) as f64);
    let two = real::<F>(2.0);
    let mut loss = F::zero();
    let mut grad = Array4::<F>::zeros((n, c, h, w));
    for b in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    let u = x[(b, ch, y, xx)];
                    if xx + 1 < w {
                        let dx = x[(b, ch, y, xx + 1)] - u;
                        loss = loss + dx * dx * scale;
                        grad[(b, ch, y, xx + 1)] = grad[(b, ch, y, xx + 1)] + two * dx * scale;
                        grad[(b, ch, y, xx)] = grad[(b, ch, y, xx)] - two * dx * scale;
                    }
                    if y + 1 < h {
                        let dy = x[(b, ch, y + 1, xx)] - u;
                        loss = loss + dy * dy * scale;
                        grad[(b, ch, y + 1, xx)] = grad[(b, ch, y + 1, xx)] + two * dy * scale;
                        grad[(b, ch, y, xx)] = grad[(b, ch, y, xx)] - two * dy * scale;
                    }
                }
            }
        }
    }
    (loss, grad)
}

/// Saturation loss (§5.7): `SAT = mean over all elements of |x − clamp(x, −1, 1)|`, and its
/// gradient `sign(x)/numel` outside [−1, 1], 0 inside. Any shape, e.g. `x_in: [N, 3, H, W]`.
pub fn sat_loss_grad<F: Real, S: Data<Elem = F>, D: Dimension>(
    x: &ArrayBase<S, D>,
) -> (F, ndarray::Array<F, D>) {
    assert!(!x.is_empty(), "sat_loss of an empty array");
    let inv = F::one() / real::<F>(x.len() as f64);
    let loss = x.iter().fold(F::zero(), |s, &v| s + (v - clamp1(v)).abs()) * inv;
    let grad = x.mapv(|v| {
        if v > F::one() {
            inv
        } else if v < -F::one() {
            -inv
        } else {
            F::zero()
        }
    });
    (loss, grad)
}

/// How `range-scale` acts (DESIGN.md §5): the project's `range-loss` setting, read by
/// `cond_fn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RangeLoss {
    /// DD's behaviour: the range loss is taken on the denoised estimate, which is an input
    /// of x_in, so its gradient with respect to x_in is zero and `range_scale` has no effect
    /// (dd-algorithm.md §5.7). The default, so DD settings give DD's pictures.
    #[default]
    Dd,
    /// The evident intent: the range loss's gradient flows back through the denoiser.
    ThroughDenoiser,
}

/// Range loss (§5.7): `RNG = Σ_n mean_{C,H,W}(v − clamp(v, −1, 1))²` on the denoised estimate
/// `v: [N, C, H, W]`, and its gradient `2·(v − clamp(v))/(C·H·W)`. (In DD this term never
/// reaches x, §5.7 "range_scale is a no-op"; the kernel is still exact.)
pub fn range_loss_grad<F: Real>(v: ArrayView4<F>) -> (F, Array4<F>) {
    let (_, c, h, w) = v.dim();
    assert!(
        !v.is_empty(),
        "range_loss of an empty image [N, C, H, W] = {:?}",
        v.dim()
    );
    let inv = F::one() / real::<F>((c * h * w) as f64);
    let loss = v.iter().fold(F::zero(), |s, &a| {
        let o = a - clamp1(a);
        s + o * o
    }) * inv;
    let two = real::<F>(2.0);
    (loss, v.mapv(|a| two * (a - clamp1(a)) * inv))
}

fn clamp1<F: Real>(v: F) -> F {
    v.max(-F::one()).min(F::one())
}

/// Caps the RMS of `g` at `clamp_max` in place (§5.8 step 3): `g ← g·min(r, clamp_max)/r`
/// with `r = sqrt(mean(g²))`. Returns the factor applied.
///
/// When `r = 0` (e.g. every scale 0) `g` is left as it is (zeros) and the factor is 1. DD
/// divides 0/0 there and renders a black image — a defect, not copied (§5.8).
pub fn clamp_rms<F: Real, S: DataMut<Elem = F>, D: Dimension>(
    g: &mut ArrayBase<S, D>,
    clamp_max: F,
) -> F {
    if g.is_empty() {
        return F::one();
    }
    let mean_sq = g.iter().fold(F::zero(), |s, &v| s + v * v) / real::<F>(g.len() as f64);
    let r = mean_sq.sqrt();
    if r == F::zero() {
        return F::one();
    }
    let factor = r.min(clamp_max) / r;
    g.mapv_inplace(|v| v * factor);
    factor
}

/// Whether any element is NaN.
pub fn has_nan<F: Real, S: Data<Elem = F>, D: Dimension>(g: &ArrayBase<S, D>) -> bool {
    g.iter().any(|v| v.is_nan())
}

/// The NaN guard (§5.8 step 1): if any element of `g` is NaN, sets all of `g` to 0 and returns
/// `true` (the caller then skips the clamp and reports the step as unguided).
pub fn nan_guard<F: Real, S: DataMut<Elem = F>, D: Dimension>(g: &mut ArrayBase<S, D>) -> bool {
    let found = has_nan(g);
    if found {
        g.fill(F::zero());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, IxDyn, array};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// The one tolerance helper: |a − b| ≤ abs + rel·max(|a|, |b|).
    fn assert_close(a: f64, b: f64, rel: f64, abs: f64, what: &str) {
        let tol = abs + rel * a.abs().max(b.abs());
        assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tol {tol})");
    }

    fn randn(rng: &mut ChaCha8Rng, shape: &[usize], scale: f64) -> Array<f64, IxDyn> {
        Array::from_shape_simple_fn(IxDyn(shape), || {
            scale * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng)
        })
    }

    /// Central differences of `f` at `x`, compared with `grad` element by element.
    fn check_grad<D: Dimension>(
        x: &Array<f64, D>,
        grad: &Array<f64, D>,
        f: impl Fn(&Array<f64, D>) -> f64,
        what: &str,
    ) {
        let h = 1e-6;
        let g = grad.as_slice().expect("standard layout");
        for (i, &g) in g.iter().enumerate() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp.as_slice_mut().expect("standard layout")[i] += h;
            xm.as_slice_mut().expect("standard layout")[i] -= h;
            let fd = (f(&xp) - f(&xm)) / (2.0 * h);
            assert_close(g, fd, 1e-5, 1e-8, &format!("{what} at flat index {i}"));
        }
    }

    // orthogonal unit vectors → 2·arcsin(√2/2)² = π²/8 ≈ 1.2337 (§15)
    #[test]
    fn orthogonal_unit_vectors_are_pi_squared_over_8() {
        let e = array![[1.0f64, 0.0, 0.0]];
        let t = array![[0.0f64, 3.0, 0.0]];
        let d = spherical_dist(e.view(), t.view());
        assert_close(
            d[(0, 0)],
            std::f64::consts::PI.powi(2) / 8.0,
            1e-12,
            0.0,
            "π²/8",
        );
        assert_close(d[(0, 0)], 1.2337, 0.0, 1e-4, "1.2337");
    }

    // identical (up to scale) vectors → 0; antipodal → π²/2, the top of the range (§5.6)
    #[test]
    fn identical_zero_antipodal_max() {
        let e = array![[1.0f32, 2.0, -2.0]];
        let t = array![[2.0f32, 4.0, -4.0], [-1.0, -2.0, 2.0]];
        let d = spherical_dist(e.view(), t.view());
        assert_eq!(d.dim(), (1, 2));
        assert!(d[(0, 0)].abs() < 1e-6);
        assert_close(
            d[(0, 1)] as f64,
            std::f64::consts::PI.powi(2) / 2.0,
            1e-6,
            0.0,
            "π²/2",
        );
        assert!(!d[(0, 1)].is_nan());
    }

    // L = (1/C) Σ_c Σ_p w_p d[c,p]: two cuts, targets at 0 and π²/8, weights ½, ½
    #[test]
    fn clip_loss_mean_over_cuts_weighted_sum_over_targets() {
        let e = array![[1.0f64, 0.0], [1.0, 0.0]];
        let t = array![[1.0f64, 0.0], [0.0, 1.0]];
        let (l, _) = clip_loss_and_grad(e.view(), t.view(), &[0.5, 0.5]);
        assert_close(l, 0.5 * std::f64::consts::PI.powi(2) / 8.0, 1e-12, 0.0, "L");
    }

    #[test]
    fn clip_grad_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (c, p, d) in [(3, 2, 5), (4, 3, 8), (1, 1, 2)] {
            let e = randn(&mut rng, &[c, d], 1.5).into_dimensionality().unwrap();
            let t: Array2<f64> = randn(&mut rng, &[p, d], 0.7).into_dimensionality().unwrap();
            let w: Vec<f64> = (0..p)
                .map(|i| if i % 2 == 0 { 0.8 } else { -0.3 })
                .collect();
            let (_, g) = clip_loss_and_grad(e.view(), t.view(), &w);
            let f = |x: &Array2<f64>| clip_loss_and_grad(x.view(), t.view(), &w).0;
            check_grad(&e, &g, f, "dL/de");
        }
    }

    // The loss-only kernel (used beside the fused guidance graph) gives the same bits.
    #[test]
    fn clip_loss_is_clip_loss_and_grads_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for (c, p, d) in [(16, 3, 8), (4, 1, 5), (1, 2, 3)] {
            let e = randn(&mut rng, &[c, d], 1.5).into_dimensionality().unwrap();
            let t: Array2<f64> = randn(&mut rng, &[p, d], 0.7).into_dimensionality().unwrap();
            let w: Vec<f64> = (0..p).map(|i| 0.9 - 0.4 * i as f64).collect();
            let e32 = e.mapv(|v: f64| v as f32);
            let (t32, w32) = (
                t.mapv(|v| v as f32),
                w.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            );
            let with_grad = clip_loss_and_grad(e32.view(), t32.view(), &w32).0;
            assert_eq!(
                clip_loss(e32.view(), t32.view(), &w32).to_bits(),
                with_grad.to_bits()
            );
            assert_eq!(
                clip_loss(e.view(), t.view(), &w),
                clip_loss_and_grad(e.view(), t.view(), &w).0
            );
        }
    }

    // At ê = t̂ the distance is flat: the gradient is 0, not NaN (r = 0 uses f's limit).
    #[test]
    fn clip_grad_at_coincident_vectors_is_zero() {
        let e = array![[0.0f32, 2.0]];
        let (l, g) = clip_loss_and_grad(e.view(), array![[0.0f32, 1.0]].view(), &[1.0]);
        assert_eq!(l, 0.0);
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }

    // A zero row normalises to 0 (norm clamped to eps): d = 2·arcsin(½)² = π²/18, and the
    // gradient is large (÷ eps, as PyTorch's clamp_min) but finite.
    #[test]
    fn zero_embedding_row_is_finite() {
        let e = array![[0.0f64, 0.0]];
        let t = array![[3.0f64, 0.0]];
        let (l, g) = clip_loss_and_grad(e.view(), t.view(), &[1.0]);
        assert_close(l, std::f64::consts::PI.powi(2) / 18.0, 1e-12, 0.0, "π²/18");
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
        assert!(g[(0, 0)] < 0.0 && g[(0, 1)] == 0.0);
    }

    // the f32 kernel agrees with the f64 one
    #[test]
    fn f32_matches_f64() {
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        let e: Array2<f64> = randn(&mut rng, &[4, 16], 1.0)
            .into_dimensionality()
            .unwrap();
        let t: Array2<f64> = randn(&mut rng, &[2, 16], 1.0)
            .into_dimensionality()
            .unwrap();
        let (l64, g64) = clip_loss_and_grad(e.view(), t.view(), &[0.7, 0.3]);
        let (e32, t32) = (e.mapv(|v| v as f32), t.mapv(|v| v as f32));
        let (l32, g32) = clip_loss_and_grad(e32.view(), t32.view(), &[0.7, 0.3]);
        assert_close(l32 as f64, l64, 1e-5, 0.0, "L f32");
        for (a, b) in g32.iter().zip(g64.iter()) {
            assert_close(*a as f64, *b, 1e-3, 1e-6, "dL/de f32");
        }
    }

    #[test]
    fn tv_known_value_and_grad() {
        // one channel 2×2 [[0,1],[2,3]]: dx² = 1,1; dy² = 4,4; mean over 4 px → 10/4
        let x = array![[[[0.0f64, 1.0], [2.0, 3.0]]]];
        assert_close(tv_loss_grad(x.view()).0, 2.5, 1e-12, 0.0, "TV");
        // a constant image has no variation
        let flat = Array4::<f64>::from_elem((1, 3, 4, 5), 0.3);
        let (l, g) = tv_loss_grad(flat.view());
        assert_eq!(l, 0.0);
        assert!(g.iter().all(|v| *v == 0.0));
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let x: Array4<f64> = randn(&mut rng, &[2, 3, 4, 5], 1.0)
            .into_dimensionality()
            .unwrap();
        let (_, g) = tv_loss_grad(x.view());
        check_grad(&x, &g, |x| tv_loss_grad(x.view()).0, "dTV/dx");
    }

    #[test]
    fn sat_known_value_and_grad() {
        // |1.5 − 1| + |−3 + 1| over 4 elements = 2.5/4
        let x = array![[0.2f64, 1.5], [-3.0, -0.9]];
        let (l, g) = sat_loss_grad(&x);
        assert_close(l, 0.625, 1e-12, 0.0, "SAT");
        assert_eq!(g, array![[0.0, 0.25], [-0.25, 0.0]]);
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        // scale 2 puts many values outside [−1, 1]; FD is fine away from the kinks at ±1
        let x = randn(&mut rng, &[1, 3, 4, 4], 2.0).mapv(|v: f64| {
            if (v.abs() - 1.0).abs() < 1e-3 {
                v + 0.01
            } else {
                v
            }
        });
        let (_, g) = sat_loss_grad(&x);
        check_grad(&x, &g, |x| sat_loss_grad(x).0, "dSAT/dx");
    }

    #[test]
    fn range_known_value_and_grad() {
        // (1.5 − 1)² + (−3 + 1)² over C·H·W = 4 → 4.25/4
        let v = array![[[[0.2f64, 1.5], [-3.0, -0.9]]]];
        let (l, _) = range_loss_grad(v.view());
        assert_close(l, 1.0625, 1e-12, 0.0, "RNG");
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        let v: Array4<f64> = randn(&mut rng, &[2, 3, 3, 4], 2.0)
            .into_dimensionality()
            .unwrap();
        let (_, g) = range_loss_grad(v.view());
        check_grad(&v, &g, |v| range_loss_grad(v.view()).0, "dRNG/dv");
    }

    #[test]
    fn clamp_rms_caps_and_keeps_small() {
        // RMS of [3, −4] is sqrt(12.5); capped to 0.05
        let mut g = array![3.0f64, -4.0];
        clamp_rms(&mut g, 0.05);
        let rms = (g.iter().map(|v| v * v).sum::<f64>() / 2.0).sqrt();
        assert_close(rms, 0.05, 1e-12, 0.0, "capped RMS");
        assert_close(g[0] / g[1], -0.75, 1e-12, 0.0, "direction kept");
        let mut small = array![0.01f64, -0.02];
        assert_eq!(clamp_rms(&mut small, 0.05), 1.0);
        assert_eq!(small, array![0.01, -0.02]);
    }

    // DD: 0/0 → NaN → black image (§5.8 [BUG]); here zeros stay zeros.
    #[test]
    fn clamp_rms_of_zero_gradient_is_zero_not_nan() {
        let mut g = Array4::<f32>::zeros((1, 3, 2, 2));
        assert_eq!(clamp_rms(&mut g, 0.05), 1.0);
        assert!(g.iter().all(|v| *v == 0.0));
        let mut empty = Array4::<f32>::zeros((1, 3, 0, 0));
        clamp_rms(&mut empty, 0.05);
    }

    #[test]
    fn nan_guard_detects_and_zeroes() {
        let mut g = array![[1.0f32, f32::NAN], [2.0, 3.0]];
        assert!(has_nan(&g));
        assert!(nan_guard(&mut g));
        assert!(g.iter().all(|v| *v == 0.0));
        let mut ok = array![1.0f32, f32::INFINITY];
        assert!(!has_nan(&ok));
        assert!(!nan_guard(&mut ok));
        assert_eq!(ok[0], 1.0);
    }
}
