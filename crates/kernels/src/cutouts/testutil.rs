//! Helpers shared by the cutout tests: seeded random arrays, f64 dot products, tolerances.

use ndarray::{Array4, ArrayView4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A seeded RNG for tests.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Standard-normal array of the given shape.
pub fn randn(rng: &mut impl Rng, shape: (usize, usize, usize, usize)) -> Array4<f32> {
    Array4::from_shape_simple_fn(shape, || rng.sample::<f32, _>(StandardNormal))
}

/// Uniform array in [lo, hi).
pub fn uniform(
    rng: &mut impl Rng,
    shape: (usize, usize, usize, usize),
    lo: f32,
    hi: f32,
) -> Array4<f32> {
    Array4::from_shape_simple_fn(shape, || rng.random_range(lo..hi))
}

/// ⟨a, b⟩ accumulated in f64.
pub fn dot(a: ArrayView4<f32>, b: ArrayView4<f32>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .map(|(&x, &y)| x as f64 * y as f64)
        .sum()
}

/// Asserts |a − b| ≤ tol·max(|a|, |b|, 1e-12).
#[track_caller]
pub fn assert_rel(a: f64, b: f64, tol: f64) {
    let scale = a.abs().max(b.abs()).max(1e-12);
    assert!(
        (a - b).abs() <= tol * scale,
        "{a} vs {b}: relative error {} > {tol}",
        (a - b).abs() / scale
    );
}

/// Asserts two arrays agree elementwise to `tol` (absolute, relative to the largest magnitude).
#[track_caller]
pub fn assert_close(a: ArrayView4<f32>, b: ArrayView4<f32>, tol: f32) {
    assert_eq!(a.dim(), b.dim());
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert!((x - y).abs() <= tol * scale, "element {i}: {x} vs {y}");
    }
}
