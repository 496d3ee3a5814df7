//! The names a CLIP model goes by, resolved to one toggle (its setting name).
//!
//! Accepted for every model: disco's toggle (`vit-b32-laion2b-e16`), the model-set key (DD's
//! flag where DD has one: `ViTB32`, `ViTB32_laion2b_e16`) and the display name (`ViT-B/32`,
//! or open_clip's `ARCH::TAG` as DiscoArt writes it: `ViT-B-32::laion2b_e16`). DiscoArt names
//! OpenAI's models `ARCH::openai` (`ViT-B-32::openai`, also with a `-quickgelu` suffix, which
//! open_clip ignores for OpenAI weights); those mean the OpenAI toggles.

/// open_clip's architecture names of OpenAI's models → disco's toggle.
const OPENAI_ARCHS: &[(&str, &str)] = &[
    ("ViT-B-32", "vit-b32"),
    ("ViT-B-16", "vit-b16"),
    ("ViT-L-14", "vit-l14"),
    ("ViT-L-14-336", "vit-l14-336px"),
    ("RN50", "rn50"),
    ("RN101", "rn101"),
    ("RN50x4", "rn50x4"),
    ("RN50x16", "rn50x16"),
    ("RN50x64", "rn50x64"),
];

/// The toggle that `name` means, or `None` for a name disco does not know. Surrounding
/// whitespace is ignored.
pub fn clip_toggle(name: &str) -> Option<&'static str> {
    let s = name.trim();
    if let Some((toggle, _, _)) = CLIP_MODELS
        .iter()
        .find(|(toggle, key, display)| s == *toggle || s == *key || s == *display)
    {
        return Some(toggle);
    }
    let (arch, tag) = s.split_once("::")?;
    if tag != "openai" {
        return None;
    }
    let arch = arch.strip_suffix("-quickgelu").unwrap_or(arch);
    OPENAI_ARCHS
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, toggle)| *toggle)
}

/// Every name [`clip_toggle`] accepts, for "did you mean" suggestions.
pub fn known_clip_names() -> impl Iterator<Item = &'static str> {
    CLIP_MODELS
        .iter()
        .flat_map(|(toggle, key, display)| [*toggle, *key, *display])
}

/// The names for help texts: OpenAI's models, then where the OpenCLIP ones are listed.
pub fn display_names() -> String {
    let openai: Vec<&str> = CLIP_MODELS
        .iter()
        .map(|(_, _, display)| *display)
        .filter(|d| !d.contains("::"))
        .collect();
    format!(
        "{}, and the OpenCLIP models listed in docs/project-format.md (e.g. ViT-B-32::laion2b_e16)",
        openai.join(", ")
    )
}

/// The CLIP toggles: (setting name, model key, display name). The key names the model in a
/// model set's manifest: DD's flag where DD has one (with DD's own spellings `ViTB32_laion400m_32`
/// and `RN50_yffcc15m`), else `<arch>_<tag>`; the display name is OpenAI's, or open_clip's
/// `ARCH::TAG` as DiscoArt writes it. Order: DD's load order, then the models DD lacks.
pub const CLIP_MODELS: &[(&str, &str, &str)] = &[
    ("vit-b32", "ViTB32", "ViT-B/32"),
    ("vit-b16", "ViTB16", "ViT-B/16"),
    ("vit-l14", "ViTL14", "ViT-L/14"),
    ("vit-l14-336px", "ViTL14_336px", "ViT-L/14@336px"),
    ("rn50", "RN50", "RN50"),
    ("rn101", "RN101", "RN101"),
    ("rn50x4", "RN50x4", "RN50x4"),
    ("rn50x16", "RN50x16", "RN50x16"),
    ("rn50x64", "RN50x64", "RN50x64"),
    (
        "vit-b32-laion2b-e16",
        "ViTB32_laion2b_e16",
        "ViT-B-32::laion2b_e16",
    ),
    (
        "vit-b32-laion400m-e31",
        "ViTB32_laion400m_e31",
        "ViT-B-32::laion400m_e31",
    ),
    (
        "vit-b32-laion400m-e32",
        "ViTB32_laion400m_32",
        "ViT-B-32::laion400m_e32",
    ),
    (
        "vit-b32-quickgelu-laion400m-e31",
        "ViTB32quickgelu_laion400m_e31",
        "ViT-B-32-quickgelu::laion400m_e31",
    ),
    (
        "vit-b32-quickgelu-laion400m-e32",
        "ViTB32quickgelu_laion400m_e32",
        "ViT-B-32-quickgelu::laion400m_e32",
    ),
    (
        "vit-b16-laion400m-e31",
        "ViTB16_laion400m_e31",
        "ViT-B-16::laion400m_e31",
    ),
    (
        "vit-b16-laion400m-e32",
        "ViTB16_laion400m_e32",
        "ViT-B-16::laion400m_e32",
    ),
    ("rn50-yfcc15m", "RN50_yffcc15m", "RN50::yfcc15m"),
    ("rn50-cc12m", "RN50_cc12m", "RN50::cc12m"),
    (
        "rn50-quickgelu-yfcc15m",
        "RN50_quickgelu_yfcc15m",
        "RN50-quickgelu::yfcc15m",
    ),
    (
        "rn50-quickgelu-cc12m",
        "RN50_quickgelu_cc12m",
        "RN50-quickgelu::cc12m",
    ),
    ("rn101-yfcc15m", "RN101_yfcc15m", "RN101::yfcc15m"),
    (
        "rn101-quickgelu-yfcc15m",
        "RN101_quickgelu_yfcc15m",
        "RN101-quickgelu::yfcc15m",
    ),
    (
        "vit-b32-laion2b-s34b-b79k",
        "ViTB32_laion2b_s34b_b79k",
        "ViT-B-32::laion2b_s34b_b79k",
    ),
    (
        "vit-l14-laion400m-e31",
        "ViTL14_laion400m_e31",
        "ViT-L-14::laion400m_e31",
    ),
    (
        "vit-l14-laion400m-e32",
        "ViTL14_laion400m_e32",
        "ViT-L-14::laion400m_e32",
    ),
    (
        "vit-l14-laion2b-s32b-b82k",
        "ViTL14_laion2b_s32b_b82k",
        "ViT-L-14::laion2b_s32b_b82k",
    ),
    (
        "vit-h14-laion2b-s32b-b79k",
        "ViTH14_laion2b_s32b_b79k",
        "ViT-H-14::laion2b_s32b_b79k",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_resolves_to_one_toggle() {
        for (name, toggle) in [
            ("ViT-B-32::laion2b_e16", "vit-b32-laion2b-e16"),
            ("ViTB32_laion2b_e16", "vit-b32-laion2b-e16"),
            ("vit-b32-laion2b-e16", "vit-b32-laion2b-e16"),
            ("ViTB32_laion400m_32", "vit-b32-laion400m-e32"),
            ("ViT-B-32::laion400m_e32", "vit-b32-laion400m-e32"),
            ("RN50_yffcc15m", "rn50-yfcc15m"),
            ("RN50::yfcc15m", "rn50-yfcc15m"),
            ("RN50-quickgelu::cc12m", "rn50-quickgelu-cc12m"),
            (" ViT-H-14::laion2b_s32b_b79k ", "vit-h14-laion2b-s32b-b79k"),
            ("ViT-B-32::openai", "vit-b32"),
            ("ViT-B-32-quickgelu::openai", "vit-b32"),
            ("ViT-L-14-336::openai", "vit-l14-336px"),
            ("ViT-B/16", "vit-b16"),
            ("RN50x64", "rn50x64"),
        ] {
            assert_eq!(clip_toggle(name), Some(toggle), "{name}");
        }
    }

    #[test]
    fn unknown_names_resolve_to_none() {
        for name in [
            "ViT-g-14::laion2b_s12b_b42k",
            "ViT-B-32::nope",
            "ViT-B-32",
            "RN50::",
            "::openai",
            "",
        ] {
            assert_eq!(clip_toggle(name), None, "{name}");
        }
    }

    #[test]
    fn toggles_keys_and_display_names_are_unique() {
        let mut all: Vec<&str> = known_clip_names().collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        // RN50 and friends use one spelling for key and display name.
        assert!(all.len() >= n - 2 * 6, "{n} names, {} distinct", all.len());
        for (toggle, key, display) in CLIP_MODELS {
            for name in [toggle, key, display] {
                assert_eq!(clip_toggle(name), Some(*toggle), "{name}");
            }
        }
    }
}
