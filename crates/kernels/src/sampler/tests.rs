//! Sampler tests without ONNX Runtime: fake analytic denoisers, naive `f64` twins of the steps,
//! and the loop's bookkeeping (resume, cancellation, PLMS history, symmetry, noise draws).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{Array4, ArrayView4, Zip};

use super::*;
use crate::noise::JobRng;
use crate::schedule::{DiffusionSchedule, StepAlphas, assert_close};

const SHAPE: [usize; 4] = [1, 3, 4, 6];

/// ‖a − b‖ / ‖b‖, computed in f64.
fn rel_err(a: ArrayView4<f32>, b: ArrayView4<f64>) -> f64 {
    let mut num = 0.0;
    let mut den = 0.0;
    Zip::from(a).and(b).for_each(|&a, &b| {
        num += (a as f64 - b).powi(2);
        den += b * b;
    });
    (num / den).sqrt()
}

/// A fake model: ε̂ = c·x, g = d·x + 0.01 (affine, so every path is easy to re-derive).
fn analytic(c: f32, d: Option<f32>) -> impl FnMut(ArrayView4<f32>, EvalAt) -> Result<Denoised, ()> {
    move |x, _at| {
        Ok(Denoised {
            eps: x.mapv(|v| c * v),
            grad: d.map(|d| x.mapv(|v| d * v + 0.01)),
        })
    }
}

fn options(method: Method, skip_steps: usize) -> SampleOptions {
    SampleOptions {
        method,
        skip_steps,
        clip_denoised: false,
        mirroring: Mirroring::default(),
        tone_fix: None,
    }
}

/// The naive twin of one guided DDIM step, straight from §4.5, in f64.
fn ddim_step_naive(x: f64, eps_hat: f64, g: f64, z: f64, a: StepAlphas, eta: f64) -> (f64, f64) {
    let (ab, abp) = (a.alpha_bar, a.alpha_bar_prev);
    let x0 = (x - (1.0 - ab).sqrt() * eps_hat) / ab.sqrt();
    let eps_p = eps_hat - (1.0 - ab).sqrt() * g;
    let x0_p = (x - (1.0 - ab).sqrt() * eps_p) / ab.sqrt();
    let sigma = eta * ((1.0 - abp) / (1.0 - ab)).sqrt() * (1.0 - ab / abp).sqrt();
    let noise = if a.k == 0 { 0.0 } else { sigma * z };
    let x_prev = abp.sqrt() * x0_p + (1.0 - abp - sigma * sigma).max(0.0).sqrt() * eps_p + noise;
    (x_prev, x0)
}

#[test]
fn ddim_step_matches_naive_twin_on_random_inputs() {
    let sched = DiffusionSchedule::new(250);
    let mut rng = JobRng::new(1);
    for k in [239, 150, 100, 1, 0] {
        let (x, e, g, z) = (
            rng.normal4(SHAPE),
            rng.normal4(SHAPE),
            rng.normal4(SHAPE),
            rng.normal4(SHAPE),
        );
        let a = sched.at(k);
        let out = ddim_step(x.view(), e.view(), Some(g.view()), z.view(), a, 0.8, false);
        let mut want_x = Array4::<f64>::zeros(SHAPE);
        let mut want_x0 = Array4::<f64>::zeros(SHAPE);
        Zip::from(&mut want_x)
            .and(&mut want_x0)
            .and(&x)
            .and(&e)
            .and(&g)
            .and(&z)
            .for_each(|wx, wx0, &x, &e, &g, &z| {
                (*wx, *wx0) = ddim_step_naive(x as f64, e as f64, g as f64, z as f64, a, 0.8);
            });
        assert!(
            rel_err(out.x_prev.view(), want_x.view()) < 1e-4,
            "x_prev at k={k}"
        );
        assert!(
            rel_err(out.pred_x0.view(), want_x0.view()) < 1e-4,
            "pred_x0 at k={k}"
        );
    }
}

#[test]
fn guided_x0_shifts_by_scaled_gradient() {
    // §4.5 step 5 [derived]: x̂0' = x̂0 + ((1 − ᾱ)/sqrt(ᾱ))·g.
    let mut rng = JobRng::new(2);
    let (x, e, g) = (rng.normal4(SHAPE), rng.normal4(SHAPE), rng.normal4(SHAPE));
    let ab = 0.193572;
    let gd = condition_score(x.view(), e.view(), Some(g.view()), ab, false);
    let want = &gd.pred_x0.mapv(f64::from) + &(g.mapv(f64::from) * ((1.0 - ab) / ab.sqrt()));
    assert!(rel_err(gd.pred_x0_guided.view(), want.view()) < 1e-5);
    // ε is re-derived from x̂0' and round-trips to it.
    let back = pred_x0(x.view(), gd.eps.view(), ab);
    assert!(rel_err(back.view(), gd.pred_x0_guided.mapv(f64::from).view()) < 1e-5);
}

#[test]
fn unguided_condition_score_is_plain_pred_x0_and_clamps() {
    let mut rng = JobRng::new(3);
    let (x, e) = (rng.normal4(SHAPE), rng.normal4(SHAPE));
    let ab = 0.5;
    let gd = condition_score(x.view(), e.view(), None, ab, false);
    assert_eq!(gd.pred_x0, pred_x0(x.view(), e.view(), ab));
    assert_eq!(gd.pred_x0_guided, gd.pred_x0);
    let clamped = condition_score(x.view(), e.view(), None, 0.01, true);
    assert!(clamped.pred_x0.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert!(clamped.pred_x0.iter().any(|&v| v == 1.0 || v == -1.0));
}

#[test]
fn kernels_invert_each_other_and_q_sample_is_known() {
    let mut rng = JobRng::new(4);
    let (x, e) = (rng.normal4(SHAPE), rng.normal4(SHAPE));
    let ab = 0.897018;
    let x0 = pred_x0(x.view(), e.view(), ab);
    let e2 = eps_from_x0(x.view(), x0.view(), ab);
    assert!(rel_err(e2.view(), e.mapv(f64::from).view()) < 1e-5);
    // q_sample(1, ᾱ, 1) = sqrt(ᾱ) + sqrt(1 − ᾱ).
    let ones = Array4::<f32>::ones(SHAPE);
    let q = q_sample(ones.view(), 0.25, ones.view());
    assert!(q.iter().all(|&v| v == 0.5 + 0.75_f32.sqrt()));
}

#[test]
fn ddim_sigma_edges() {
    assert_eq!(ddim_sigma(0.9999, 1.0, 0.8), 0.0, "σ = 0 at k = 0");
    assert_eq!(ddim_sigma(0.5, 0.6, 0.0), 0.0, "σ = 0 for η = 0");
}

#[test]
fn start_state_follows_section_4_4() {
    let sched = DiffusionSchedule::new(250);
    let z = JobRng::new(5).normal4(SHAPE);
    // No init, no skip: x = z, at K0 = 249.
    let s = start_state(&sched, 0, None, z.clone());
    assert_eq!((s.k, &s.x), (249, &z));
    // Skip without init: sqrt(1 − ᾱ_K0)·z with K0 = 239 (§4.7a: ᾱ = 9.44588e-5).
    let s = start_state(&sched, 10, None, z.clone());
    assert_eq!(s.k, 239);
    let f = (1.0 - sched.alpha_bar(239)).sqrt() as f32;
    assert_close(f as f64, 0.999953, 1e-5, "sqrt(1 − ᾱ_239)");
    assert_eq!(s.x, z.mapv(|v| f * v));
    // An init: q_sample(init, ᾱ_K0, z).
    let init = Array4::<f32>::from_elem(SHAPE, 0.5);
    let s = start_state(&sched, 10, Some(init.view()), z.clone());
    assert_eq!(s.x, q_sample(init.view(), sched.alpha_bar(239), z.view()));
    assert!(s.eps_prev.is_none());
}

/// The whole DDIM loop against a naive f64 twin, with the fake model ε̂ = c·x, g = d·x + 0.01.
#[test]
fn ddim_loop_matches_naive_rederivation() {
    let sched = DiffusionSchedule::new(25);
    let opts = options(Method::Ddim { eta: 0.8 }, 5);
    let (c, d) = (0.3_f32, -0.2_f32);
    let z0 = JobRng::new(6).normal4(SHAPE);
    let state = start_state(&sched, 5, None, z0.clone());

    let mut recorded = Vec::new();
    let mut noise_rng = JobRng::new(7);
    let mut noise = |shape: [usize; 4]| {
        let z = noise_rng.normal4(shape);
        recorded.push(z.clone());
        z
    };
    let mut steps = Vec::new();
    let out = sample(
        &sched,
        &opts,
        state,
        &mut analytic(c, Some(d)),
        &mut noise,
        |r| steps.push((r.iteration, r.k)),
        &AtomicBool::new(false),
    )
    .unwrap();
    let SamplerExit::Finished { pred_x0, .. } = out else {
        panic!("not finished")
    };
    // 25 − 5 = 20 iterations, j = 0..19 over k = 19..0, one z each (even at k = 0).
    assert_eq!(steps, (0..20).map(|j| (j, 19 - j)).collect::<Vec<_>>());
    assert_eq!(recorded.len(), 20);

    let mut x = z0.mapv(|v| (1.0 - sched.alpha_bar(19)).sqrt() * v as f64);
    let mut x0 = x.clone();
    for (j, k) in (0..=19).rev().enumerate() {
        let a = sched.at(k);
        let z = &recorded[j];
        let mut next = x.clone();
        Zip::from(&mut next)
            .and(&mut x0)
            .and(&x)
            .and(z)
            .for_each(|n, x0, &x, &z| {
                let (e, g) = (c as f64 * x, d as f64 * x + 0.01);
                (*n, *x0) = ddim_step_naive(x, e, g, z as f64, a, 0.8);
            });
        x = next;
    }
    let err = rel_err(pred_x0.view(), x0.view());
    assert!(err < 1e-4, "‖a−b‖/‖b‖ = {err}");
}

#[test]
fn ddim_with_eta_zero_ignores_the_noise() {
    let sched = DiffusionSchedule::new(20);
    let opts = options(Method::Ddim { eta: 0.0 }, 0);
    let z0 = JobRng::new(8).normal4(SHAPE);
    let run = |seed: u64| {
        let state = start_state(&sched, 0, None, z0.clone());
        sample(
            &sched,
            &opts,
            state,
            &mut analytic(0.5, Some(0.1)),
            &mut JobRng::new(seed),
            |_| {},
            &AtomicBool::new(false),
        )
        .unwrap()
    };
    assert_eq!(run(1), run(2));
}

/// Cancels from the callback once iteration `at_j` has been reported.
fn cancelling(flag: &AtomicBool, at_j: usize) -> impl FnMut(&StepReport<'_>) + '_ {
    move |r| {
        if r.iteration == at_j {
            flag.store(true, Ordering::Release);
        }
    }
}

#[test]
fn resume_from_a_mid_run_state_is_bit_identical() {
    for method in [Method::Ddim { eta: 0.8 }, Method::Plms] {
        let sched = DiffusionSchedule::new(30);
        let opts = options(method, 3);
        let z0 = JobRng::new(10).normal4(SHAPE);
        let never = AtomicBool::new(false);

        let mut rng = JobRng::new(11);
        let whole = sample(
            &sched,
            &opts,
            start_state(&sched, 3, None, z0.clone()),
            &mut analytic(0.4, Some(0.05)),
            &mut rng,
            |_| {},
            &never,
        )
        .unwrap();

        // Interrupt after iteration 9, persist the state and the rng position, resume fresh.
        let mut rng = JobRng::new(11);
        let flag = AtomicBool::new(false);
        let mut reported = None;
        let first = sample(
            &sched,
            &opts,
            start_state(&sched, 3, None, z0.clone()),
            &mut analytic(0.4, Some(0.05)),
            &mut rng,
            |r| {
                if r.iteration == 9 {
                    reported = r.resume.cloned();
                }
                cancelling(&flag, 9)(r)
            },
            &flag,
        )
        .unwrap();
        let SamplerExit::Cancelled(state) = first else {
            panic!("not cancelled")
        };
        assert_eq!(
            Some(&state),
            reported.as_ref(),
            "the report's resume state is the cancelled state"
        );
        assert_eq!(state.k, 26 - 10);
        assert_eq!(state.eps_prev.is_some(), method == Method::Plms);
        // A fresh stream re-opened at the saved position, as after a restart.
        let mut rng = JobRng::at(rng.position());
        let mut js = Vec::new();
        let rest = sample(
            &sched,
            &opts,
            state,
            &mut analytic(0.4, Some(0.05)),
            &mut rng,
            |r| js.push(r.iteration),
            &never,
        )
        .unwrap();
        assert_eq!(rest, whole, "{method:?}");
        assert_eq!(
            js,
            (10..=26).collect::<Vec<_>>(),
            "j continues after a resume"
        );
    }
}

#[test]
fn cancellation_stops_within_one_step() {
    let sched = DiffusionSchedule::new(50);
    let opts = options(Method::Ddim { eta: 0.8 }, 0);
    let flag = AtomicBool::new(false);
    let calls = RefCell::new(0);
    let mut model = |x: ArrayView4<f32>, _at: EvalAt| -> Result<Denoised, ()> {
        *calls.borrow_mut() += 1;
        Ok(Denoised {
            eps: x.to_owned(),
            grad: None,
        })
    };
    let state = start_state(&sched, 0, None, Array4::zeros(SHAPE));
    let out = sample(
        &sched,
        &opts,
        state,
        &mut model,
        &mut JobRng::new(0),
        cancelling(&flag, 4),
        &flag,
    )
    .unwrap();
    let SamplerExit::Cancelled(state) = out else {
        panic!("not cancelled")
    };
    assert_eq!(*calls.borrow(), 5, "iterations 0..=4 ran, no more");
    assert_eq!(state.k, 49 - 5);

    // A flag already set: nothing runs, the state comes back untouched.
    let start = start_state(&sched, 0, None, Array4::ones(SHAPE));
    let out = sample(
        &sched,
        &opts,
        start.clone(),
        &mut model,
        &mut JobRng::new(0),
        |_| {},
        &flag,
    )
    .unwrap();
    assert_eq!(out, SamplerExit::Cancelled(start));
    assert_eq!(*calls.borrow(), 5);
}

#[test]
fn plms_first_step_calls_the_model_twice_then_once() {
    let sched = DiffusionSchedule::new(12);
    let opts = options(Method::Plms, 2);
    let calls = RefCell::new(Vec::new());
    let mut model = |x: ArrayView4<f32>, at: EvalAt| -> Result<Denoised, ()> {
        calls.borrow_mut().push(at);
        Ok(Denoised {
            eps: x.mapv(|v| 0.3 * v),
            grad: Some(x.mapv(|v| 0.1 * v)),
        })
    };
    let mut no_noise = |_: [usize; 4]| -> Array4<f32> { panic!("PLMS draws no noise") };
    let state = start_state(&sched, 2, None, JobRng::new(3).normal4(SHAPE));
    sample(
        &sched,
        &opts,
        state,
        &mut model,
        &mut no_noise,
        |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    let calls = calls.into_inner();
    // K0 = 9: the first step evaluates at k = 9 and (for x_mid) at k = 8 with cur_t = 9.
    assert_eq!(calls[0], EvalAt { k: 9, cur_t: 9 });
    assert_eq!(calls[1], EvalAt { k: 8, cur_t: 9 });
    // Then one call per step, k = 8..0.
    let later: Vec<EvalAt> = (0..=8).rev().map(|k| EvalAt { k, cur_t: k }).collect();
    assert_eq!(calls[2..], later[..]);
    assert_eq!(calls.len(), 10 + 1);
}

#[test]
fn plms_steps_match_naive_twin() {
    // Two steps from k = 5 with ε̂ = c·x and no guidance, re-derived in f64 from §4.6.
    let sched = DiffusionSchedule::new(6);
    let c = 0.7_f64;
    let x = JobRng::new(12).normal4(SHAPE);
    let model = |x: ArrayView4<f32>, i: usize| -> Result<Guided, ()> {
        let e = x.mapv(|v| c as f32 * v);
        Ok(condition_score(
            x,
            e.view(),
            None,
            sched.alpha_bar(i),
            false,
        ))
    };
    let first = plms_step(x.view(), sched.at(5), None, model).unwrap();
    let second = plms_step(
        first.step.x_prev.view(),
        sched.at(4),
        Some(first.eps.view()),
        model,
    )
    .unwrap();

    let x0_of = |x: f64, e: f64, ab: f64| (x - (1.0 - ab).sqrt() * e) / ab.sqrt();
    let step = |x: f64, e: f64, a: StepAlphas| {
        a.alpha_bar_prev.sqrt() * x0_of(x, e, a.alpha_bar) + (1.0 - a.alpha_bar_prev).sqrt() * e
    };
    let (a5, a4) = (sched.at(5), sched.at(4));
    let want = x.mapv(|x| {
        let x = x as f64;
        let ea = c * x;
        let x_mid = step(x, ea, a5);
        let eb = c * x_mid;
        let x4 = step(x, (ea + eb) / 2.0, a5);
        step(x4, (3.0 * c * x4 - ea) / 2.0, a4)
    });
    assert!(rel_err(second.step.x_prev.view(), want.view()) < 1e-4);
}

#[test]
fn plms_at_k_zero_returns_the_guided_x0() {
    let sched = DiffusionSchedule::new(6);
    let x = JobRng::new(13).normal4(SHAPE);
    let g = Array4::<f32>::from_elem(SHAPE, 0.2);
    let guided = condition_score(
        x.view(),
        x.view(),
        Some(g.view()),
        sched.alpha_bar(0),
        false,
    );
    let mut calls = 0;
    let out = plms_step(x.view(), sched.at(0), None, |_, _| -> Result<Guided, ()> {
        calls += 1;
        Ok(guided.clone())
    })
    .unwrap();
    assert_eq!(calls, 1, "no probe call at index −1");
    assert_eq!(out.step.x_prev, guided.pred_x0_guided);
    assert_eq!(out.step.pred_x0, guided.pred_x0);
}

#[test]
fn symmetry_mirrors_the_model_input_at_the_trigger_only_in_ddim() {
    let sched = DiffusionSchedule::new(20);
    let symmetry = Mirroring::new(true, false, &[0.5], 20, 0); // trigger k = 10
    assert_eq!(symmetry.steps, [10]);
    for (method, expect_mirror) in [(Method::Ddim { eta: 0.8 }, true), (Method::Plms, false)] {
        let opts = SampleOptions {
            mirroring: symmetry.clone(),
            tone_fix: None,
            ..options(method, 0)
        };
        let seen = RefCell::new(Vec::new());
        let mut model = |x: ArrayView4<f32>, at: EvalAt| -> Result<Denoised, ()> {
            if at.k == at.cur_t {
                seen.borrow_mut().push((at.k, x == mirror_horizontal(x)));
            }
            Ok(Denoised {
                eps: x.mapv(|v| 0.1 * v),
                grad: None,
            })
        };
        let state = start_state(&sched, 0, None, JobRng::new(14).normal4(SHAPE));
        sample(
            &sched,
            &opts,
            state,
            &mut model,
            &mut JobRng::new(15),
            |_| {},
            &AtomicBool::new(false),
        )
        .unwrap();
        for (k, symmetric) in seen.into_inner() {
            assert_eq!(symmetric, expect_mirror && k == 10, "{method:?} at k={k}");
        }
    }
}

#[test]
fn denoiser_errors_propagate() {
    let sched = DiffusionSchedule::new(10);
    let mut failing = |_: ArrayView4<f32>, at: EvalAt| -> Result<Denoised, String> {
        Err(format!("NaN at k={}", at.k))
    };
    let state = start_state(&sched, 0, None, Array4::zeros(SHAPE));
    let err = sample(
        &sched,
        &options(Method::Plms, 0),
        state,
        &mut failing,
        &mut JobRng::new(0),
        |_| {},
        &AtomicBool::new(false),
    );
    assert_eq!(err, Err("NaN at k=9".to_string()));
}

#[test]
#[should_panic(expected = "shape")]
fn mismatched_shapes_fail_at_the_door() {
    let x = Array4::<f32>::zeros([1, 3, 4, 4]);
    let e = Array4::<f32>::zeros([1, 3, 4, 5]);
    pred_x0(x.view(), e.view(), 0.5);
}

#[test]
fn zero_gradient_is_no_guidance_up_to_rounding() {
    let mut rng = JobRng::new(16);
    let (x, e, z) = (rng.normal4(SHAPE), rng.normal4(SHAPE), rng.normal4(SHAPE));
    let zero = Array4::<f32>::zeros(SHAPE);
    let a = DiffusionSchedule::new(250).at(100);
    let with = ddim_step(
        x.view(),
        e.view(),
        Some(zero.view()),
        z.view(),
        a,
        0.8,
        false,
    );
    let without = ddim_step(x.view(), e.view(), None, z.view(), a, 0.8, false);
    assert_eq!(with.pred_x0, without.pred_x0, "the unguided x̂0 ignores g");
    assert!(rel_err(with.x_prev.view(), without.x_prev.mapv(f64::from).view()) < 1e-6);
}

#[test]
fn nan_propagates_for_the_guard_to_see() {
    // The NaN guard lives in cond_fn's caller (§5.8); the step must not hide a NaN, not
    // even behind clip_denoised's clamp.
    let mut x = Array4::<f32>::zeros(SHAPE);
    x[[0, 1, 2, 3]] = f32::NAN;
    let e = Array4::<f32>::zeros(SHAPE);
    let a = DiffusionSchedule::new(250).at(100);
    let out = ddim_step(x.view(), e.view(), None, e.view(), a, 0.8, true);
    assert!(out.pred_x0[[0, 1, 2, 3]].is_nan());
    assert!(out.x_prev[[0, 1, 2, 3]].is_nan());
    assert_eq!(out.x_prev.iter().filter(|v| v.is_nan()).count(), 1);
}

#[test]
fn empty_images_pass_through() {
    let x = Array4::<f32>::zeros([1, 3, 0, 0]);
    let a = DiffusionSchedule::new(10).at(5);
    let out = ddim_step(x.view(), x.view(), Some(x.view()), x.view(), a, 0.8, true);
    assert_eq!(out.x_prev.shape(), [1, 3, 0, 0]);
    assert_eq!(mirror_horizontal(x.view()).shape(), [1, 3, 0, 0]);
}

#[test]
fn a_tone_correction_restarts_from_the_corrected_x0_with_fresh_noise() {
    use crate::tone_fix::{Fix, Rule, ToneFix};
    // a rule that always fires: every measured step restarts
    let always_dark = ToneFix {
        interval: 5,
        high_brightness: None,
        low_brightness: Some(Rule {
            threshold: 256.0,
            amount: 1.15,
            start: 0,
        }),
        high_contrast: None,
        low_contrast: None,
        init_scale: 0.0,
    };
    let sched = DiffusionSchedule::new(50);
    let mut opts = options(Method::Ddim { eta: 0.8 }, 0);
    opts.tone_fix = Some(always_dark.clone());
    let z0 = JobRng::new(9).normal4(SHAPE);
    let mut recorded = Vec::new();
    let mut noise_rng = JobRng::new(10);
    let mut noise = |shape: [usize; 4]| {
        let z = noise_rng.normal4(shape);
        recorded.push(z.clone());
        z
    };
    // (k stepped from, the fix, x0 handed back, the state restarted to)
    let mut restarts = Vec::new();
    sample(
        &sched,
        &opts,
        start_state(&sched, 0, None, z0),
        &mut analytic(0.3, Some(-0.2)),
        &mut noise,
        |r| {
            if let Some((fix, x0)) = r.restarted {
                restarts.push((r.k, fix, x0.clone(), r.resume.unwrap().clone()));
            }
        },
        &AtomicBool::new(false),
    )
    .unwrap();
    // progrock's s = steps − cur_t after the step (cur_t = k − 1) ∈ {5, 10} (< 0.3·50): after
    // the steps from k = 46 and k = 41
    let ks: Vec<usize> = restarts.iter().map(|r| r.0).collect();
    assert_eq!(ks, [46, 41]);
    // 50 DDIM draws plus one fresh start noise per restart
    assert_eq!(recorded.len(), 52);
    for (i, (k, fix, x0, state)) in restarts.iter().enumerate() {
        assert_eq!(*fix, Fix::LowBrightness);
        assert_eq!((state.k, state.eps_prev.is_none()), (k - 1, true));
        // the draw right after this step's own DDIM draw, (49 − k) + i (i restarts before)
        let z = &recorded[(49 - k) + i + 1];
        let want = q_sample(x0.view(), sched.alpha_bar(k - 1), z.view());
        assert_eq!(state.x, want);
    }
}
