//! Interpolating B-splines as SciPy's `make_interp_spline` builds them with its default
//! boundary conditions — what pandas' `interpolate(method="quadratic"/"cubic")` calls
//! through `interp1d` (dd-algorithm.md §10.1).
//!
//! Knots: cubic uses not-a-knot (x₀ ×4, x₂ … x₋₃, xₙ ×4); quadratic uses SciPy's "Greville
//! sites minus the 2nd and 2nd-to-last midpoints" (x₀ ×3, interior midpoints, xₙ ×3). The
//! collocation system is banded, so it is solved in O(n·k²) with partial pivoting like LAPACK's
//! `gbsv`, which keeps a series with thousands of keys cheap.

/// A B-spline of degree `k` interpolating given points.
#[derive(Clone, Debug)]
pub(crate) struct BSpline {
    k: usize,
    knots: Vec<f64>,
    coefs: Vec<f64>,
}

impl BSpline {
    /// The spline through (xs, ys); xs strictly increasing, `xs.len() > k`, k ∈ {2, 3}.
    pub(crate) fn interpolate(xs: &[f64], ys: &[f64], k: usize) -> BSpline {
        let n = xs.len();
        assert!(
            (2..=3).contains(&k) && n > k && ys.len() == n,
            "spline needs more points than its degree"
        );
        let knots = knots(xs, k);
        // Row i holds B_{l-k..=l}(x_i): the k+1 basis functions alive on x_i's knot interval.
        let rows: Vec<(usize, Vec<f64>)> = xs
            .iter()
            .map(|&x| {
                let l = interval(&knots, k, n, x);
                (l - k, basis(&knots, k, l, x))
            })
            .collect();
        let coefs = solve_banded(&rows, ys.to_vec(), k);
        BSpline { k, knots, coefs }
    }

    /// The spline's value at x (inside [x₀, xₙ]; outside it extrapolates the end pieces).
    pub(crate) fn eval(&self, x: f64) -> f64 {
        let n = self.coefs.len();
        let l = interval(&self.knots, self.k, n, x);
        basis(&self.knots, self.k, l, x)
            .iter()
            .zip(&self.coefs[l - self.k..=l])
            .map(|(b, c)| b * c)
            .sum()
    }
}

fn knots(xs: &[f64], k: usize) -> Vec<f64> {
    let (first, last) = (xs[0], xs[xs.len() - 1]);
    let interior: Vec<f64> = if k == 2 {
        // midpoints of consecutive sites, dropping the first and last midpoint
        let mids: Vec<f64> = xs.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
        mids[1..mids.len() - 1].to_vec()
    } else {
        // not-a-knot: the 2nd and 2nd-to-last sites are not knots
        xs[2..xs.len() - 2].to_vec()
    };
    let mut t = vec![first; k + 1];
    t.extend(interior);
    t.extend(std::iter::repeat_n(last, k + 1));
    t
}

/// The knot interval l (k ≤ l < n) with t[l] ≤ x < t[l+1]; the last interval is closed.
fn interval(t: &[f64], k: usize, n: usize, x: f64) -> usize {
    // first index in t[k+1..n] greater than x, as SciPy's search does
    let upper = t[k + 1..n].partition_point(|&v| v <= x);
    k + upper
}

/// The k+1 nonzero B-spline basis values at x on interval l (Cox–de Boor recursion).
fn basis(t: &[f64], k: usize, l: usize, x: f64) -> Vec<f64> {
    let mut h = vec![0.0; k + 1];
    h[0] = 1.0;
    let mut prev = vec![0.0; k + 1];
    for j in 1..=k {
        prev[..j].copy_from_slice(&h[..j]);
        h[0] = 0.0;
        for i in 1..=j {
            let (xa, xb) = (t[l + i - j], t[l + i]);
            if xb == xa {
                h[i] = 0.0;
                continue;
            }
            let w = prev[i - 1] / (xb - xa);
            h[i - 1] += w * (xb - x);
            h[i] = w * (x - xa);
        }
    }
    h
}

/// Solves A·c = b where row i of A is `rows[i].1` starting at column `rows[i].0`.
///
/// Gaussian elimination with partial pivoting inside the band: the lower bandwidth `kl` bounds
/// how far below the diagonal a pivot can come from, and pivoting widens the upper band to
/// `ku + kl`, as in LAPACK's banded LU.
fn solve_banded(rows: &[(usize, Vec<f64>)], mut b: Vec<f64>, k: usize) -> Vec<f64> {
    let n = rows.len();
    let kl = rows
        .iter()
        .enumerate()
        .map(|(i, (c, _))| i.saturating_sub(*c))
        .max()
        .unwrap_or(0);
    let ku = rows
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c + k).saturating_sub(i))
        .max()
        .unwrap_or(0);
    let width = 2 * kl + ku + 1;
    // band storage: entry (i, j) lives at i·width + (j + kl − i), for i − kl ≤ j ≤ i + ku + kl
    let at = |i: usize, j: usize| i * width + (j + kl - i);
    let mut a = vec![0.0; n * width];
    for (i, (c, vals)) in rows.iter().enumerate() {
        for (d, v) in vals.iter().enumerate() {
            a[at(i, c + d)] = *v;
        }
    }
    for c in 0..n {
        let last_row = (c + kl).min(n - 1);
        let last_col = (c + ku + kl).min(n - 1);
        let p = (c..=last_row)
            .max_by(|&r, &s| a[at(r, c)].abs().total_cmp(&a[at(s, c)].abs()))
            .unwrap_or(c);
        if p != c {
            for j in c..=last_col {
                a.swap(at(p, j), at(c, j));
            }
            b.swap(p, c);
        }
        let pivot = a[at(c, c)];
        for r in c + 1..=last_row {
            let f = a[at(r, c)] / pivot;
            if f == 0.0 {
                continue;
            }
            for j in c..=last_col {
                a[at(r, j)] -= f * a[at(c, j)];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for c in (0..n).rev() {
        let last_col = (c + ku + kl).min(n - 1);
        let s: f64 = (c + 1..=last_col).map(|j| a[at(c, j)] * x[j]).sum();
        x[c] = (b[c] - s) / a[at(c, c)];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_polynomials_of_its_degree() {
        // not-a-knot / SciPy's quadratic knots reproduce a polynomial of the spline's degree
        let xs = [0.0, 1.0, 2.5, 4.0, 7.0, 8.0, 11.0];
        for k in [2, 3] {
            let p =
                |x: f64| 0.5 - 1.5 * x + 0.25 * x * x + if k == 3 { 0.03 * x * x * x } else { 0.0 };
            let ys: Vec<f64> = xs.iter().map(|&x| p(x)).collect();
            let s = BSpline::interpolate(&xs, &ys, k);
            for i in 0..=110 {
                let x = i as f64 / 10.0;
                assert!((s.eval(x) - p(x)).abs() < 1e-10, "k={k} x={x}");
            }
        }
    }

    #[test]
    fn passes_through_its_points() {
        let xs = [0.0, 3.0, 4.0, 9.0, 10.0, 19.0];
        let ys = [1.0, -2.0, 5.0, 0.5, 0.0, 3.0];
        for k in [2, 3] {
            let s = BSpline::interpolate(&xs, &ys, k);
            for (x, y) in xs.iter().zip(ys) {
                assert!((s.eval(*x) - y).abs() < 1e-12, "k={k} x={x}");
            }
        }
    }

    #[test]
    fn knots_match_scipy() {
        let xs = [0.0, 2.0, 4.0, 10.0, 12.0];
        assert_eq!(
            knots(&xs, 3),
            vec![0.0, 0.0, 0.0, 0.0, 4.0, 12.0, 12.0, 12.0, 12.0]
        );
        assert_eq!(
            knots(&xs, 2),
            vec![0.0, 0.0, 0.0, 3.0, 7.0, 12.0, 12.0, 12.0]
        );
    }
}
