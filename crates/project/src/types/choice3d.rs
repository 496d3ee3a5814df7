//! The name-valued settings of DD's 3D animation mode (dd-algorithm.md §2.4, §10.4).

use kdl::KdlNode;
use serde_json::Value;

use super::choice::{ChoiceSetting, choice};
use super::{FromDdError, SettingType, escaped, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};
pub use disco_kernels::anim::warp3d::Padding;

choice! {
    /// DD's `midas_depth_model`: the MiDaS network that estimates each 3D frame's depth.
    enum MidasDepthModel, "a MiDaS model name" {
        /// MiDaS v2.1 small (EfficientNet-Lite3 encoder, 256 px input).
        V21Small => ["midas_v21_small"],
        /// MiDaS v2.1 (ResNeXt-101 encoder, 384 px input).
        V21 => ["midas_v21"],
        /// DPT-Large (ViT-L/16 encoder, 384 px input): DD's default.
        DptLarge => ["dpt_large"],
        /// DPT-Hybrid (ResNet-50 + ViT-B/16 encoder, 384 px input).
        DptHybrid => ["dpt_hybrid"],
        /// DPT-Hybrid fine-tuned on NYUv2.
        DptHybridNyu => ["dpt_hybrid_nyu"],
    }
    unsupported {}
}

// DD's `padding_mode`: what the 3D warp samples outside the previous frame (grid_sample's
// padding), read into the warp kernel's own type.
choice! {
    impl Padding, "\"border\", \"zeros\" or \"reflection\"" {
        Border => ["border"],
        Zeros => ["zeros"],
        Reflection => ["reflection"],
    }
    unsupported {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reads_the_kernels_names() {
        for p in Padding::ALL {
            assert_eq!(<Padding as ChoiceSetting>::parse(p.as_str()), Ok(p));
            assert_eq!(ChoiceSetting::name(p), p.as_str());
        }
        assert_eq!(<Padding as ChoiceSetting>::parse("wrap"), Err(None));
    }

    #[test]
    fn midas_models_are_dds_five() {
        assert_eq!(
            MidasDepthModel::NAMES,
            [
                "midas_v21_small",
                "midas_v21",
                "dpt_large",
                "dpt_hybrid",
                "dpt_hybrid_nyu"
            ]
        );
        assert_eq!(MidasDepthModel::parse("DPT_Large"), Err(None));
    }
}
