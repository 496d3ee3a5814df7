use super::*;
use crate::cutouts::testutil::{assert_rel, dot, randn, rng, uniform};

fn params(seed: u64, n: usize, r: usize, mode: AugMode) -> AugParams {
    AugParams::draw(&mut rng(seed), n, r, mode)
}

/// ⟨(f(x + εv) − f(x − εv)) / 2ε, g⟩ for the directional finite difference.
fn fd(
    f: impl Fn(ArrayView4<f32>) -> Array4<f32>,
    x: &Array4<f32>,
    v: &Array4<f32>,
    g: &Array4<f32>,
    eps: f32,
) -> f64 {
    let (xp, xm) = (x + &(v * eps), x - &(v * eps));
    let diff = f(xp.view()) - f(xm.view());
    dot(diff.view(), g.view()) / (2.0 * eps as f64)
}

#[test]
fn linear_part_passes_dot_product_test() {
    let mut r = rng(31);
    for seed in 0..8 {
        let mut p = params(seed, 2, 9, AugMode::Still);
        p.noise.iter_mut().for_each(|n| n.fill(0.0));
        p.gray = seed % 2 == 0;
        p.flip = seed % 3 == 0;
        let (x, y) = (randn(&mut r, (2, 3, 9, 9)), randn(&mut r, (2, 3, 9, 9)));
        let lhs = dot(linear_part(x.view(), &p).view(), y.view());
        assert_rel(
            lhs,
            dot(x.view(), linear_adjoint(y.view(), &p).view()),
            1e-5,
        );
    }
}

#[test]
fn clamped_jitter_ops_match_finite_differences() {
    let mut r = rng(32);
    for op in [Jitter::Brightness, Jitter::Contrast, Jitter::Saturation] {
        let p = params(7, 2, 4, AugMode::Still);
        // Inputs partly outside [0, 1] so both clamp branches occur, redrawn until every blend
        // value is at least 0.01 from the kinks at 0 and 1.
        let x = (0..10_000)
            .map(|_| uniform(&mut r, (2, 3, 4, 4), -0.2, 1.2))
            .find(|x| {
                blend(op, x.view(), &p)
                    .iter()
                    .all(|&z| z.abs() > 0.01 && (z - 1.0).abs() > 0.01)
            })
            .expect("a point away from the kinks");
        assert!(
            blend(op, x.view(), &p)
                .iter()
                .any(|&z| !(0.0..=1.0).contains(&z)),
            "clamp never active"
        );
        let (v, g) = (
            uniform(&mut r, (2, 3, 4, 4), -1.0, 1.0),
            randn(&mut r, (2, 3, 4, 4)),
        );
        let want = fd(|x| jitter(op, x, &p), &x, &v, &g, 1e-3);
        let got = dot(jitter_adjoint(op, g.view(), x.view(), &p).view(), v.view());
        assert_rel(got, want, 1e-3);
    }
}

/// Pixels whose sorted channels are at least 0.15 apart: the hue map's derivative grows like
/// 1/chroma, so low-chroma pixels make finite differences meaningless.
fn chromatic(
    rng: &mut impl rand::Rng,
    shape: (usize, usize, usize, usize),
    lo: f32,
    hi: f32,
) -> Array4<f32> {
    let mut x = uniform(rng, shape, lo, hi);
    for mut px in x.lanes_mut(Axis(1)) {
        loop {
            let mut v = [px[0], px[1], px[2]];
            v.sort_by(f32::total_cmp);
            if v[1] - v[0] > 0.15 && v[2] - v[1] > 0.15 {
                break;
            }
            px.iter_mut().for_each(|c| *c = rng.random_range(lo..hi));
        }
    }
    x
}

#[test]
fn hue_jitter_matches_finite_differences() {
    let mut r = rng(33);
    let p = params(8, 2, 4, AugMode::Animated);
    let x = chromatic(&mut r, (2, 3, 4, 4), 0.05, 0.95);
    let (v, g) = (
        uniform(&mut r, (2, 3, 4, 4), -1.0, 1.0),
        randn(&mut r, (2, 3, 4, 4)),
    );
    let want = fd(|x| jitter(Jitter::Hue, x, &p), &x, &v, &g, 1e-3);
    let got = dot(
        jitter_adjoint(Jitter::Hue, g.view(), x.view(), &p).view(),
        v.view(),
    );
    assert_rel(got, want, 2e-3);
}

#[test]
fn jitter_chain_in_drawn_order_matches_finite_differences() {
    // Linear part switched off so the jitter ops see strongly coloured pixels.
    let mut r = rng(37);
    for seed in 0..6 {
        let mut p = params(200 + seed, 1, 4, AugMode::Animated);
        (p.flip, p.gray, p.angle, p.translate) = (false, false, 0.0, (0, 0));
        p.noise.iter_mut().for_each(|n| n.fill(0.0));
        // In [0.2, 0.75] no blend of the chain (factors within 0.9..1.1) gets near 0 or 1.
        let x = chromatic(&mut r, (1, 3, 4, 4), 0.2, 0.75);
        let (v, g) = (
            uniform(&mut r, (1, 3, 4, 4), -1.0, 1.0),
            randn(&mut r, (1, 3, 4, 4)),
        );
        let want = fd(|x| apply(x, &p), &x, &v, &g, 1e-3);
        assert_rel(
            dot(adjoint(g.view(), x.view(), &p).view(), v.view()),
            want,
            2e-3,
        );
    }
}

#[test]
fn whole_pipeline_matches_finite_differences() {
    let mut r = rng(34);
    for seed in 0..6 {
        let mode = if seed % 2 == 0 {
            AugMode::Still
        } else {
            AugMode::Animated
        };
        let mut p = params(100 + seed, 2, 6, mode);
        p.flip = seed % 3 != 0;
        p.gray = seed == 4;
        // Hue's derivative blows up at low chroma (gray cuts, blurred borders); the tests above
        // cover it. Here: the composition of every other stage, clamps included.
        p.hue = 0.0;
        let x = uniform(&mut r, (2, 3, 6, 6), 0.0, 1.0);
        let (v, g) = (
            uniform(&mut r, (2, 3, 6, 6), -1.0, 1.0),
            randn(&mut r, (2, 3, 6, 6)),
        );
        let want = fd(|x| apply(x, &p), &x, &v, &g, 1e-3);
        let got = dot(adjoint(g.view(), x.view(), &p).view(), v.view());
        assert_rel(got, want, 2e-3);
    }
}

#[test]
fn draws_stay_in_their_ranges() {
    let mut r = rng(35);
    let (mut flips, mut grays) = (0, 0);
    for i in 0..400 {
        let mode = if i % 2 == 0 {
            AugMode::Still
        } else {
            AugMode::Animated
        };
        let p = AugParams::draw(&mut r, 1, 64, mode);
        flips += p.flip as usize;
        grays += p.gray as usize;
        assert!(p.angle.abs() <= 10.0);
        // 0.05·64 = 3.2 → |t| ≤ 3
        assert!(p.translate.0.abs() <= 3 && p.translate.1.abs() <= 3);
        for f in [p.brightness, p.contrast, p.saturation] {
            assert!((0.9..1.1).contains(&f));
        }
        assert!(p.hue.abs() <= if mode == AugMode::Still { 0.1 } else { 0.3 });
        let mut ops = p.order.to_vec();
        ops.dedup();
        assert_eq!(ops.len(), 4);
        assert!(p.order.contains(&Jitter::Hue) && p.order.contains(&Jitter::Contrast));
    }
    // flip p ≈ 0.45 on average of the two modes, gray p = 0.1
    assert!((140..220).contains(&flips), "{flips}");
    assert!((20..70).contains(&grays), "{grays}");
    let p = AugParams::draw(&mut r, 2, 32, AugMode::Still);
    let var = p.noise[1].iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / p.noise[1].len() as f64;
    assert!(
        (var.sqrt() - 0.01).abs() < 0.001,
        "noise std {}",
        var.sqrt()
    );
}

#[test]
fn identity_params_leave_in_range_cuts_unchanged() {
    let mut p = params(9, 1, 8, AugMode::Still);
    p.flip = false;
    p.gray = false;
    p.angle = 0.0;
    p.translate = (0, 0);
    p.noise.iter_mut().for_each(|n| n.fill(0.0));
    (p.brightness, p.contrast, p.saturation, p.hue) = (1.0, 1.0, 1.0, 0.0);
    let x = uniform(&mut rng(36), (1, 3, 8, 8), 0.1, 0.9);
    let y = apply(x.view(), &p);
    assert!(y.iter().zip(x.iter()).all(|(a, b)| (a - b).abs() < 1e-5));
}

#[test]
fn ties_record_blends_near_a_bound_with_the_decision_taken() {
    // Identity geometry, brightness 1 first: the first op's blend is the input itself.
    let mut p = params(12, 1, 2, AugMode::Still);
    (p.flip, p.gray, p.angle, p.translate) = (false, false, 0.0, (0, 0));
    p.noise.iter_mut().for_each(|n| n.fill(0.0));
    p.order = [
        Jitter::Brightness,
        Jitter::Contrast,
        Jitter::Saturation,
        Jitter::Hue,
    ];
    p.brightness = 1.0;
    let vals = [
        1.0 + 4e-6, // near, clamped
        1.0 - 4e-6, // near, passes
        0.5,
        1.0,   // exactly at the bound: structural, left out
        -2e-6, // near, clamped
        3e-6,  // near, passes
        0.0,
        1.0 + 1e-3, // clamped, but not near
        0.25,
        0.75,
        0.4,
        0.6,
    ];
    let x = Array4::from_shape_vec((1, 3, 2, 2), vals.to_vec()).unwrap();
    assert_eq!(linear_part(x.view(), &p), x, "identity geometry");
    let first: Vec<(usize, bool)> = ties(x.view(), &p, 1e-5)
        .clamps
        .iter()
        .filter(|t| t.op == 0)
        .map(|t| (t.index, t.passed))
        .collect();
    assert_eq!(
        first,
        vec![(0, false), (1, true), (4, false), (5, true)],
        "index and decision of each near tie of the first op"
    );
    let wide = ties(x.view(), &p, 2e-3).clamps;
    assert!(wide.iter().any(|t| t.op == 0 && t.index == 7 && !t.passed));
}

#[test]
fn zero_gradient_gives_zero_gradient() {
    let p = params(10, 2, 6, AugMode::Still);
    let x = uniform(&mut rng(38), (2, 3, 6, 6), 0.0, 1.0);
    let g = adjoint(Array4::zeros((2, 3, 6, 6)).view(), x.view(), &p);
    assert!(g.iter().all(|&v| v == 0.0));
}

#[test]
#[should_panic(expected = "cuts must be [C, 3, R, R]")]
fn wrong_cut_size_is_refused_at_the_door() {
    let p = params(11, 1, 6, AugMode::Still);
    apply(Array4::zeros((1, 3, 7, 7)).view(), &p);
}

/// Timing at DD's default size (768×512 image, 16 cuts of 224): `cargo test --release -- --ignored perf`.
#[test]
#[ignore]
fn perf_dd_default_size() {
    use crate::cutouts::dango::{self, CutPlan};
    let mut r = rng(39);
    let u = uniform(&mut r, (1, 3, 512, 768), 0.0, 1.0);
    let t = std::time::Instant::now();
    let plan = CutPlan::draw(&mut r, 512, 768, 224, 4, 12, 1.0, 0.2);
    let cuts = dango::apply(u.view(), &plan);
    let t_cut = t.elapsed();
    let p = AugParams::draw(&mut r, 16, 224, AugMode::Still);
    let t_draw = t.elapsed();
    let aug = apply(cuts.view(), &p);
    let t_aug = t.elapsed();
    let g = adjoint(aug.view(), cuts.view(), &p);
    let t_aug_back = t.elapsed();
    let gu = dango::adjoint(g.view(), &plan);
    let t_back = t.elapsed();
    assert_eq!(gu.dim(), (1, 3, 512, 768));
    eprintln!(
        "cumulative: cuts {t_cut:?}, +draw augs {t_draw:?}, +augment {t_aug:?}, +augment adjoint {t_aug_back:?}, +cut adjoint {t_back:?}"
    );
}

#[test]
#[ignore]
fn perf_stages() {
    let mut r = rng(40);
    let x = uniform(&mut r, (16, 3, 224, 224), 0.0, 1.0);
    let p = AugParams::draw(&mut r, 16, 224, AugMode::Still);
    let time = |name: &str, f: &dyn Fn() -> Array4<f32>| {
        let t = std::time::Instant::now();
        let y = f();
        eprintln!("{name}: {:?} ({})", t.elapsed(), y.len());
    };
    time("flip", &|| hflip(x.view()));
    time("warp build", &|| {
        p.warp();
        Array4::zeros((1, 1, 1, 1))
    });
    let w = p.warp();
    time("warp apply", &|| w.apply(x.view()));
    time("warp adjoint", &|| w.adjoint(x.view()));
    time("gray", &|| gray(x.view()));
    time("linear part", &|| linear_part(x.view(), &p));
    for op in [
        Jitter::Brightness,
        Jitter::Contrast,
        Jitter::Saturation,
        Jitter::Hue,
    ] {
        time(&format!("{op:?}"), &|| jitter(op, x.view(), &p));
        time(&format!("{op:?} adjoint"), &|| {
            jitter_adjoint(op, x.view(), x.view(), &p)
        });
    }
}
