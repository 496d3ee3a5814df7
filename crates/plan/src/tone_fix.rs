//! progrock's brightness and contrast correction as a job's shared input: the settings of
//! `fix-brightness-contrast`, read into the kernel's [`ToneFix`].

use disco_kernels::tone_fix::{Rule, ToneFix};
use disco_project::Settings;

/// progrock's brightness and contrast correction when it is on; a rule that is off is left out.
pub(crate) fn of(s: &Settings) -> Option<ToneFix> {
    let rule = |on: bool, threshold: f64, amount: f64, start: u32| {
        on.then_some(Rule {
            threshold,
            amount,
            start,
        })
    };
    s.fix_brightness_contrast.value.then(|| ToneFix {
        interval: s.adjustment_interval.value,
        high_brightness: rule(
            s.high_brightness_adjust.value,
            s.high_brightness_threshold.value,
            s.high_brightness_adjust_amount.value,
            s.high_brightness_start.value,
        ),
        low_brightness: rule(
            s.low_brightness_adjust.value,
            s.low_brightness_threshold.value,
            s.low_brightness_adjust_amount.value,
            s.low_brightness_start.value,
        ),
        high_contrast: rule(
            s.high_contrast_adjust.value,
            s.high_contrast_threshold.value,
            s.high_contrast_adjust_amount.value,
            s.high_contrast_start.value,
        ),
        low_contrast: rule(
            s.low_contrast_adjust.value,
            s.low_contrast_threshold.value,
            s.low_contrast_adjust_amount.value,
            s.low_contrast_start.value,
        ),
        init_scale: s.init_scale.value,
    })
}
