//! Where Disco Diffusion's float arithmetic decides an integer, disco must reach DD's integer:
//! an artist's DD settings give DD's skip count, symmetry trigger, cut-schedule entry, partial
//! name and gray cuts. `tests/fixtures/dd/integers.json` lists, per formula, the inputs where
//! DD's float expression (evaluated by CPython and numpy float32, `tests/golden-gen/dd_integers.py`)
//! differs from the exact rational answer; everywhere else the exact answer is DD's. Each test
//! sweeps the whole domain.

use std::collections::HashMap;

use disco::project::types::Percent;
use disco::render::cutouts::dango::gray_until;
use disco::render::sampler::symmetry_steps;
use disco::render::saves::save_percent;
use disco::render::schedule::{DiffusionSchedule, schedule_index};

use crate::support::root;

/// (a, b) → DD's value where it differs from the exact one.
fn exceptions(table: &str) -> HashMap<(u64, u64), i64> {
    let path = root().join("tests/fixtures/dd/integers.json");
    let all: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    all[table]["exceptions"]
        .as_array()
        .unwrap_or_else(|| panic!("no table {table}"))
        .iter()
        .map(|row| {
            let n = |i: usize| row[i].as_i64().unwrap();
            ((n(0) as u64, n(1) as u64), n(2))
        })
        .collect()
}

/// Sweeps `domain`, comparing `disco` with DD (exact, or the listed exception); returns how
/// many inputs took DD's float answer.
fn sweep(
    table: &str,
    domain: impl Iterator<Item = (u64, u64)>,
    exact: impl Fn(u64, u64) -> i64,
    mut disco: impl FnMut(u64, u64) -> i64,
) -> usize {
    let dd = exceptions(table);
    let mut wrong = Vec::new();
    let mut seen = 0;
    for (a, b) in domain {
        let want = match dd.get(&(a, b)) {
            Some(&v) => {
                seen += 1;
                v
            }
            None => exact(a, b),
        };
        let got = disco(a, b);
        if got != want {
            wrong.push(format!("({a}, {b}): DD {want}, disco {got}"));
        }
    }
    assert_eq!(
        seen,
        dd.len(),
        "{table}: exceptions outside the swept domain"
    );
    assert!(
        wrong.is_empty(),
        "{table}: {} of the domain differ from DD, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(8)]
    );
    seen
}

fn grid(
    a: std::ops::RangeInclusive<u64>,
    b: std::ops::RangeInclusive<u64>,
) -> impl Iterator<Item = (u64, u64)> {
    a.flat_map(move |x| b.clone().map(move |y| (x, y)))
}

#[test]
fn frames_skip_steps_is_dds_float_floor() {
    let n = sweep(
        "frames_skip_steps",
        grid(1..=1000, 0..=100),
        |steps, pct| (steps * pct / 100) as i64,
        |steps, pct| Percent(pct as f64).of_steps(steps as u32) as i64,
    );
    // The count: DD's own 70 % at 90 steps is 62, not 63.
    assert_eq!(n, 49);
    assert_eq!(Percent(70.0).of_steps(90), 62);
}

#[test]
fn symmetry_trigger_is_dds_truncation() {
    sweep(
        "symmetry_steps",
        grid(1..=1000, 0..=100),
        |len, k| (len * (100 - k) / 100) as i64,
        |len, k| {
            let p: f64 = format!("{}", k as f64 / 100.0).parse().unwrap();
            // symmetry_steps drops a trigger outside 0..len (p = 0 gives len): report it as len.
            symmetry_steps(len as usize, 0, &[p])
                .first()
                .map_or(len as i64, |&s| s as i64)
        },
    );
}

#[test]
fn cut_schedule_index_follows_dds_float32_time() {
    let mut schedules: HashMap<u64, DiffusionSchedule> = HashMap::new();
    let domain = (1..=1000u64).flat_map(|n| (0..n).map(move |k| (n, k)));
    sweep(
        "cut_schedule_index",
        domain,
        |n, k| {
            let d = if n < 1000 { (1000 / n) * n } else { n };
            let tau = k * (d / n);
            1000 - (tau * 1000 / d + 1) as i64
        },
        |n, k| {
            let s = schedules
                .entry(n)
                .or_insert_with(|| DiffusionSchedule::new(n as usize));
            schedule_index(s.t_model(k as usize)) as i64
        },
    );
}

#[test]
fn partial_percent_is_dds_ceil() {
    let domain = (1..=1000u64).flat_map(|total| (0..=total).map(move |j| (total, j)));
    sweep(
        "save_percent",
        domain,
        |total, j| (100 * j).div_ceil(total) as i64,
        |total, j| save_percent(j as usize, total as usize) as i64,
    );
}

#[test]
fn gray_cut_count_is_dds_truncation() {
    sweep(
        "gray_cuts",
        grid(0..=256, 0..=100),
        |inner, k| (k * inner / 100) as i64,
        |inner, k| {
            let p: f64 = format!("{}", k as f64 / 100.0).parse().unwrap();
            gray_until(p, inner as usize)
        },
    );
}
