//! 3D animation targets in the plan (dd-algorithm.md §10.4). The project layer reads and
//! checks DD's 3D settings; a 3D frame's job — the previous frame warped through MiDaS /
//! AdaBins depth by the keyframed camera, with the depth graphs in its key — is not planned
//! yet, so a 3D target is refused here, before anything is rendered, rather than drawn as 2D.

use disco_project::types::AnimationMode;
use disco_project::{Diagnostic, Settings};

/// Refuses a 3D target with a diagnostic at its `animation-mode`.
pub fn refuse_unplanned(s: &Settings) -> Result<(), Diagnostic> {
    if s.animation_mode.value != AnimationMode::ThreeD {
        return Ok(());
    }
    let message = "3D animation is checked but cannot be rendered yet: the depth graphs (MiDaS, AdaBins) and the 3D frame job are not built".to_owned();
    let d = match s.animation_mode.origin.as_ref() {
        Some(o) => Diagnostic::error(message, o, "3D set here"),
        None => Diagnostic::bare(message),
    };
    Err(d.with_help("render it as `animation-mode \"2D\"` for now (2D motion, no depth)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_3d_is_refused() {
        let mut s = Settings::default();
        assert!(refuse_unplanned(&s).is_ok());
        s.animation_mode.value = AnimationMode::TwoD;
        assert!(refuse_unplanned(&s).is_ok());
        s.animation_mode.value = AnimationMode::ThreeD;
        let e = refuse_unplanned(&s).unwrap_err();
        assert!(
            e.message.contains("cannot be rendered yet"),
            "{}",
            e.message
        );
    }
}
