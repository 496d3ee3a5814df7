//! Settings that take one of a fixed set of names.

use kdl::KdlNode;
use serde_json::Value;

use super::{FromDdError, SettingType, escaped, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};
pub use disco_kernels::anim::InterpSpline;
use disco_kernels::losses::RangeLoss;
use disco_kernels::perlin::PerlinMode;
use disco_kernels::sampler::SamplerKind;

/// A setting that takes one of a fixed set of names: how each variant is written (first =
/// canonical, then accepted spellings), and names DD knows that disco does not render yet.
pub trait ChoiceSetting: Copy + Sized + 'static {
    /// Every accepted canonical name.
    const NAMES: &'static [&'static str];

    /// The canonical name of this value.
    fn name(self) -> &'static str;

    /// Reads a name (canonical or alias); `Err` carries the reason for names DD knows but
    /// disco does not support yet.
    fn parse(s: &str) -> Result<Self, Option<&'static str>>;
}

/// Declares an enum setting: `choice! { enum T … }` defines the enum here; `choice! { impl T
/// … }` reads into an enum defined by the kernel that uses it (the sampler, the Perlin
/// mode, the range loss), so planning and rendering share one type.
macro_rules! choice {
    (
        $(#[$meta:meta])* enum $ty:ident, $expects:literal {
            $( $(#[$vmeta:meta])* $variant:ident => [$canon:literal $(, $alias:literal)*] ),+ $(,)?
        }
        unsupported { $( $uname:literal => $why:expr ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $ty { $( $(#[$vmeta])* $variant ),+ }

        choice! {
            impl $ty, $expects { $( $variant => [$canon $(, $alias)*] ),+ }
            unsupported { $( $uname => $why ),* }
        }
    };
    (
        impl $ty:ident, $expects:literal {
            $( $variant:ident => [$canon:literal $(, $alias:literal)*] ),+ $(,)?
        }
        unsupported { $( $uname:literal => $why:expr ),* $(,)? }
    ) => {
        impl ChoiceSetting for $ty {
            const NAMES: &'static [&'static str] = &[$($canon),+];

            fn name(self) -> &'static str {
                match self { $( $ty::$variant => $canon ),+ }
            }

            fn parse(s: &str) -> Result<Self, Option<&'static str>> {
                $( if s == $canon $(|| s == $alias)* { return Ok($ty::$variant); } )+
                $( if s == $uname { return Err(Some($why)); } )*
                Err(None)
            }
        }

        impl SettingType for $ty {
            const EXPECTS: &'static str = $expects;
            fn from_node(node: &KdlNode, cx: Cx) -> Result<Self, Diagnostic> {
                let e = read::single(node, cx, Self::EXPECTS)?;
                let s = read::string(e, cx)?;
                <$ty as ChoiceSetting>::parse(s).map_err(|why| match why {
                    Some(why) => Diagnostic::error(
                        format!("`{s}` is not supported yet"),
                        &cx.entry(e),
                        "not supported yet",
                    ).with_help(why),
                    None => {
                        let list = Self::NAMES.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
                        let d = Diagnostic::error(
                            format!("unknown value `{}` for `{}`", escaped(s), node.name().value()),
                            &cx.entry(e),
                            format!("expected one of {list}"),
                        );
                        match crate::names::closest(s, Self::NAMES.iter().copied()) {
                            Some(best) => d.with_help(format!("did you mean \"{best}\"?")),
                            None => d,
                        }
                    }
                })
            }
            fn to_json(&self) -> Value {
                Value::String(ChoiceSetting::name(*self).to_owned())
            }
            fn kdl_from_json(v: &Value) -> Result<String, FromDdError> {
                match v {
                    Value::String(s) => match <$ty as ChoiceSetting>::parse(s.trim()) {
                        Ok(x) => Ok(kdl_string(ChoiceSetting::name(x))),
                        Err(Some(why)) => Err(FromDdError::Unsupported { value: s.clone(), why }),
                        Err(None) => Err(FromDdError::UnknownName { value: s.clone(), names: Self::NAMES }),
                    },
                    other => Err(FromDdError::wrong_kind("a string", other)),
                }
            }
        }
    };
}

/// For the 3D settings' own file (`choice3d.rs`).
pub(super) use choice;

choice! {
    /// The guided-diffusion checkpoint (dd-algorithm.md §4.1): every model DD 5.7 lists,
    /// forks' `portrait_generator_v002`, and `custom` (`custom-path` + `custom-model`).
    enum DiffusionModel, "a diffusion model name" {
        /// `512x512_diffusion_uncond_finetune_008100`.
        Uncond512 => ["512x512_diffusion_uncond_finetune_008100"],
        /// `256x256_diffusion_uncond`.
        Uncond256 => ["256x256_diffusion_uncond"],
        /// Felipe3DArtist's portrait generator.
        PortraitV001 => ["portrait_generator_v001"],
        /// The portrait generator's second release (DiscoStream).
        PortraitV002 => ["portrait_generator_v002"],
        /// KaliYuga's expanded pixel-art model.
        PixelArtExpanded => ["pixelartdiffusion_expanded"],
        /// KaliYuga's hard-edged pixel-art model.
        PixelArtHard => ["pixel_art_diffusion_hard_256"],
        /// KaliYuga's soft pixel-art model.
        PixelArtSoft => ["pixel_art_diffusion_soft_256"],
        /// KaliYuga's 4k pixel-art model.
        PixelArt4k => ["pixelartdiffusion4k"],
        /// KaliYuga's second watercolor model.
        Watercolor2 => ["watercolordiffusion_2"],
        /// KaliYuga's watercolor model.
        Watercolor => ["watercolordiffusion"],
        /// KaliYuga's pulp sci-fi model.
        PulpSciFi => ["PulpSciFiDiffusion"],
        /// A checkpoint of the user's (`custom-path`) with the architecture of `custom-model`.
        Custom => ["custom"],
    }
    unsupported {}
}

/// DD's cut schedules for the pixel-art and PulpSciFi models (DD 5.7 `pad_or_pulp_cut_*`).
const PIXEL_ART_CUTS: [&str; 4] = [
    "[15]*100+[15]*100+[12]*100+[12]*100+[6]*100+[4]*100+[2]*200+[0]*200",
    "[1]*100+[1]*100+[4]*100+[4]*100+[8]*100+[8]*100+[10]*200+[10]*200",
    "[12]*300+[12]*100+[12]*50+[12]*50+[10]*100+[10]*100+[10]*300",
    "[0.87]*100+[0.78]*50+[0.73]*50+[0.64]*60+[0.56]*40+[0.50]*50+[0.33]*100+[0.19]*150+[0]*400",
];

/// DD's cut schedules for the watercolor models (DD 5.7 `watercolor_cut_*`).
const WATERCOLOR_CUTS: [&str; 4] = [
    "[14]*200+[12]*200+[4]*400+[0]*200",
    "[2]*200+[4]*200+[12]*400+[12]*200",
    "[12]*300+[12]*100+[12]*50+[12]*50+[10]*100+[10]*100+[10]*300",
    "[0.7]*100+[0.6]*100+[0.45]*100+[0.3]*100+[0]*600",
];

impl DiffusionModel {
    /// DD's default output size for this model: `width_height_for_256x256_models` for the
    /// models of DD's `diffusion_models_256x256_list`, else the 512 models' (§2.1).
    pub fn default_size(self) -> (u32, u32) {
        use DiffusionModel::*;
        match self {
            Uncond256 | PixelArtExpanded | PixelArtHard | PixelArtSoft | PixelArt4k
            | Watercolor2 | Watercolor | PulpSciFi => (512, 448),
            Uncond512 | PortraitV001 | PortraitV002 | Custom => (1280, 768),
        }
    }

    /// The cut schedules DD sets for this model (`cut_overview`, `cut_innercut`,
    /// `cut_ic_pow`, `cut_icgray_p`), replacing the notebook's (§2.3); `None`: DD's usual ones.
    pub fn cut_schedules(self) -> Option<[&'static str; 4]> {
        use DiffusionModel::*;
        match self {
            PixelArtExpanded | PixelArtHard | PixelArtSoft | PixelArt4k | PulpSciFi => {
                Some(PIXEL_ART_CUTS)
            }
            Watercolor2 | Watercolor => Some(WATERCOLOR_CUTS),
            _ => None,
        }
    }
}

// DD's `diffusion_sampling_mode`.
choice! {
    impl SamplerKind, "\"ddim\" or \"plms\"" {
        Ddim => ["ddim"],
        Plms => ["plms"],
    }
    unsupported {}
}

// Perlin init colour mode (§9).
choice! {
    impl PerlinMode, "\"mixed\", \"color\" or \"gray\"" {
        Mixed => ["mixed"],
        Color => ["color"],
        Gray => ["gray"],
    }
    unsupported {}
}

choice! {
    /// What a target renders: stills, or an animation.
    enum AnimationMode, "\"None\", \"2D\", \"3D\" or \"Video Input\"" {
        /// Still images (`n-batches` of them).
        None => ["None", "none"],
        /// 2D animation: each frame starts from the warped previous one.
        TwoD => ["2D", "2d"],
        /// 3D animation: each frame starts from the previous one warped through its depth
        /// map by a moving camera (dd-algorithm.md §10.4).
        ThreeD => ["3D", "3d"],
        /// Video Input: each frame restyles a frame of `video-init-path` (dd-algorithm.md §10.5).
        VideoInput => ["Video Input", "video input"],
    }
    unsupported {
    }
}

choice! {
    /// DD's `video_init_blend_mode`: how the assembled video of a Video Input target blends
    /// consecutive frames (§11.6); the frames themselves are not changed.
    enum VideoBlendMode, "\"None\", \"linear\" or \"optical flow\"" {
        /// The frames as rendered.
        None => ["None", "none"],
        /// Each frame mixed half and half with the next.
        Linear => ["linear"],
        /// Each frame mixed with the next warped along the optical flow.
        OpticalFlow => ["optical flow"],
    }
    unsupported {}
}

// Interpolation between keyframes (§10.1).
choice! {
    impl InterpSpline, "\"Linear\", \"Quadratic\" or \"Cubic\"" {
        Linear => ["Linear", "linear"],
        Quadratic => ["Quadratic", "quadratic"],
        Cubic => ["Cubic", "cubic"],
    }
    unsupported {}
}

// How `range-scale` acts (DESIGN.md §5).
choice! {
    impl RangeLoss, "\"dd\" or \"through-denoiser\"" {
        Dd => ["dd"],
        ThroughDenoiser => ["through-denoiser"],
    }
    unsupported {}
}

choice! {
    /// DD's `sampling_mode`: the 3D warp's grid-sample interpolation (3D only).
    enum GridSampleMode, "\"bicubic\", \"bilinear\" or \"nearest\"" {
        /// Bicubic.
        Bicubic => ["bicubic"],
        /// Bilinear.
        Bilinear => ["bilinear"],
        /// Nearest neighbour.
        Nearest => ["nearest"],
    }
    unsupported {}
}

choice! {
    /// The text CLIP tokenises for a prompt written with DD's `:weight` suffix.
    enum PromptTokenization, "\"disco\" or \"dd\"" {
        /// The text without the suffix (`"sky:2"` → tokens of `sky`): what the prompt says.
        Disco => ["disco"],
        /// The whole string, suffix included (`"sky:2"` → tokens of `sky:2`), as DD's
        /// `clip.tokenize(prompt)` does after `parse_prompt` (dd-algorithm.md §3.2), so DD's
        /// pictures can be reproduced.
        Dd => ["dd"],
    }
    unsupported {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernels' enums are keyed under the names serde writes; the project reads the
    /// same names, so a project value and its key cannot drift apart.
    #[test]
    fn kernel_choices_read_the_names_they_are_keyed_under() {
        fn check<T: ChoiceSetting + serde::Serialize + PartialEq + std::fmt::Debug>(all: &[T]) {
            assert_eq!(T::NAMES.len(), all.len());
            for &v in all {
                let keyed = serde_json::to_value(v).unwrap();
                assert_eq!(keyed, Value::String(v.name().to_owned()));
                assert_eq!(T::parse(v.name()), Ok(v));
            }
        }
        check(&[SamplerKind::Ddim, SamplerKind::Plms]);
        check(&[PerlinMode::Mixed, PerlinMode::Color, PerlinMode::Gray]);
        assert_eq!(
            RangeLoss::parse("through-denoiser"),
            Ok(RangeLoss::ThroughDenoiser)
        );
        assert_eq!(RangeLoss::parse("through_denoiser"), Err(None));
        assert_eq!(SamplerKind::parse("euler"), Err(None));
    }
}
