//! Settings keyframed per frame (`clip-guidance-scale "0: (5000), 50: (10000)"`): each
//! frame of an animation is planned with the values its keyframes give it there, with
//! `interp-spline` between keys as DD interpolates motion (dd-algorithm.md §10.1).
//!
//! Only a target whose keyframes change a value gets per-frame settings; every other
//! target plans from its settings as written, so its keys are what they always were.

use disco_kernels::anim::Series;
use disco_project::Settings;
use disco_project::types::{KeyValue, Keyed, Percent};

type Access<T> = fn(&mut Settings) -> &mut Keyed<T>;
/// A keyframeable setting: its name (for its limits) and where it lives.
type Field<T> = (&'static str, Access<T>);

/// Every keyframeable setting, by value type.
const NUMBERS: &[Field<f64>] = &[
    ("clip-guidance-scale", |s| &mut s.clip_guidance_scale.value),
    ("tv-scale", |s| &mut s.tv_scale.value),
    ("range-scale", |s| &mut s.range_scale.value),
    ("sat-scale", |s| &mut s.sat_scale.value),
    ("eta", |s| &mut s.eta.value),
    ("clamp-max", |s| &mut s.clamp_max.value),
    ("rand-mag", |s| &mut s.rand_mag.value),
    ("frames-scale", |s| &mut s.frames_scale.value),
];
const COUNTS: &[Field<u32>] = &[("cutn-batches", |s| &mut s.cutn_batches.value)];
const PERCENTS: &[Field<Percent>] = &[("frames-skip-steps", |s| &mut s.frames_skip_steps.value)];

/// The keyframed settings of one animation target, as per-frame series.
pub(super) struct FrameSettings {
    numbers: Vec<(Field<f64>, Series)>,
    counts: Vec<(Field<u32>, Series)>,
    percents: Vec<(Field<Percent>, Series)>,
}

impl FrameSettings {
    /// The series of `s`'s keyframed settings; `None` when no value changes over the
    /// animation.
    pub(super) fn of(s: &Settings) -> Option<FrameSettings> {
        let mut probe = s.clone();
        let out = FrameSettings {
            numbers: series_of(&mut probe, NUMBERS),
            counts: series_of(&mut probe, COUNTS),
            percents: series_of(&mut probe, PERCENTS),
        };
        let none = out.numbers.is_empty() && out.counts.is_empty() && out.percents.is_empty();
        (!none).then_some(out)
    }

    /// `s` with each keyframed setting fixed at its value at `frame`.
    pub(super) fn at(&self, s: &Settings, frame: u32) -> Settings {
        let mut out = s.clone();
        fix(&mut out, &self.numbers, frame);
        fix(&mut out, &self.counts, frame);
        fix(&mut out, &self.percents, frame);
        out
    }
}

fn series_of<T: KeyValue>(s: &mut Settings, fields: &[Field<T>]) -> Vec<(Field<T>, Series)> {
    let (frames, spline) = (s.max_frames.value, s.interp_spline.value);
    fields
        .iter()
        .filter_map(|&f| Some((f, f.1(s).series(frames, spline)?)))
        .collect()
}

fn fix<T: KeyValue>(s: &mut Settings, fields: &[(Field<T>, Series)], frame: u32) {
    for ((name, field), series) in fields {
        // frames past the series (never planned) keep the last value
        let x = series
            .get(frame)
            .or_else(|| series.get(0))
            .unwrap_or_default();
        *field(s) = Keyed::Fixed(T::between(within_limits(name, x)));
    }
}

/// A spline between valid keys can overshoot a setting's limit (a negative weight):
/// the value is held at the limit, as `check` holds every key to it.
fn within_limits(name: &str, x: f64) -> f64 {
    let Some(info) = disco_project::schema::info(name) else {
        return x;
    };
    let x = info.max.map_or(x, |m| x.min(m));
    let x = info.min.map_or(x, |m| x.max(m));
    match info.above {
        Some(a) if x <= a => a + f64::EPSILON.max(a.abs() * f64::EPSILON),
        _ => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use disco_kernels::anim::InterpSpline;
    use disco_project::types::Keyframes;
    use std::marker::PhantomData;

    fn keyed(text: &str) -> Keyed<f64> {
        Keyed::Keys(Keyframes::dd(text), PhantomData)
    }

    #[test]
    fn only_changing_values_make_frame_settings() {
        let mut s = Settings::default();
        s.max_frames.value = 11;
        assert!(FrameSettings::of(&s).is_none());
        s.eta.value = keyed("0: (0.2), 10: (0.7)");
        s.interp_spline.value = InterpSpline::Linear;
        let f = FrameSettings::of(&s).unwrap();
        assert_eq!(f.at(&s, 0).eta.value, Keyed::Fixed(0.2));
        let mid = f.at(&s, 5).eta.value.fixed().unwrap();
        assert!((mid - 0.45).abs() < 1e-12, "{mid}");
        assert_eq!(f.at(&s, 10).eta.value, Keyed::Fixed(0.7));
        // the others stay as written
        assert_eq!(f.at(&s, 5).clip_guidance_scale, s.clip_guidance_scale);
    }
}
