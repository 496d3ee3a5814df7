//! DD's 3D-only keys (dd-algorithm.md §2.4): imported from a 3D run's file, or from a file
//! that does not record its mode when they differ from DD's defaults (they may be a 3D
//! run's); otherwise listed as not acting, so a 2D or stills project is not cluttered with
//! settings it cannot use (`disco check` warns about those, `validate3d.rs`).

use serde_json::Value;

use super::known;
use crate::project::schema;
use crate::project::validate3d::THREE_D_ONLY;

/// Why 3D-only DD key `key` with value `v` is not imported, given the file's
/// `animation_mode`; `None` imports it (and for keys that are not 3D-only).
pub fn not_imported(key: &str, v: &Value, mode: Option<&str>) -> Option<&'static str> {
    let info = schema::by_dd_name(key)?;
    if !THREE_D_ONLY.contains(&info.name) {
        return None;
    }
    match mode.map(str::trim) {
        Some(m) if m.eq_ignore_ascii_case("3D") => None,
        Some(_) => Some("acts in 3D animation only, and the file's animation_mode is not 3D"),
        None if known::same(v, &info.default) => {
            Some("DD's default, and it acts in 3D animation only")
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn imports_3d_keys_of_3d_files_and_set_ones_of_files_without_a_mode() {
        let z = json!("0: (10.0)");
        assert_eq!(not_imported("translation_z", &z, Some("3D")), None);
        assert!(not_imported("translation_z", &z, Some("2D")).is_some());
        // DD's default in a file without a mode: not imported; another value is
        assert!(not_imported("translation_z", &z, None).is_some());
        assert_eq!(not_imported("translation_z", &json!("0: (3)"), None), None);
        // turbo_steps written as text, as DD does, is still its default
        assert!(not_imported("turbo_steps", &json!("3"), None).is_some());
        // keys of 2D and every mode are not this file's concern
        assert_eq!(
            not_imported("translation_x", &json!("0: (0)"), Some("None")),
            None
        );
        assert_eq!(not_imported("steps", &json!(100), Some("None")), None);
    }

    #[test]
    fn a_3d_file_keeps_its_vr_settings() {
        // VR renders now (plan/src/vr.rs): a 3D run's VR settings are imported as written
        for (key, v) in [
            ("vr_mode", json!(true)),
            ("vr_eye_angle", json!(1.5)),
            ("vr_ipd", json!(6.0)),
        ] {
            assert_eq!(not_imported(key, &v, Some("3D")), None, "{key}");
            assert!(not_imported(key, &v, Some("2D")).is_some(), "{key}");
        }
    }
}
