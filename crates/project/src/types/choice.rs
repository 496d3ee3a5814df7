//! Settings that take one of a fixed set of names.

use kdl::KdlNode;
use serde_json::Value;

use super::{FromDdError, SettingType, kdl_string};
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
                            format!("unknown value `{s}` for `{}`", node.name().value()),
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

const KALIYUGA: &str = "disco exports the two OpenAI guided-diffusion models; fine-tuned community \
models need their own export (see docs/models.md)";

choice! {
    /// The guided-diffusion checkpoint (dd-algorithm.md §4.1).
    enum DiffusionModel, "a diffusion model name" {
        /// `512x512_diffusion_uncond_finetune_008100`.
        Uncond512 => ["512x512_diffusion_uncond_finetune_008100"],
        /// `256x256_diffusion_uncond`.
        Uncond256 => ["256x256_diffusion_uncond"],
    }
    unsupported {
        "portrait_generator_v001" => KALIYUGA,
        "pixelartdiffusion_expanded" => KALIYUGA,
        "pixel_art_diffusion_hard_256" => KALIYUGA,
        "pixel_art_diffusion_soft_256" => KALIYUGA,
        "pixelartdiffusion4k" => KALIYUGA,
        "watercolordiffusion_2" => KALIYUGA,
        "watercolordiffusion" => KALIYUGA,
        "PulpSciFiDiffusion" => KALIYUGA,
        "custom" => KALIYUGA,
    }
}

impl DiffusionModel {
    /// DD's default output size for this model (`width_height_for_256x256_models`, §2.1).
    pub fn default_size(self) -> (u32, u32) {
        match self {
            DiffusionModel::Uncond512 => (1280, 768),
            DiffusionModel::Uncond256 => (512, 448),
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
    enum AnimationMode, "\"None\" or \"2D\"" {
        /// Still images (`n-batches` of them).
        None => ["None", "none"],
        /// 2D animation: each frame starts from the warped previous one.
        TwoD => ["2D", "2d"],
    }
    unsupported {
        "3D" => "3D animation needs MiDaS/AdaBins depth models, which disco does not export yet; use \"2D\"",
        "3d" => "3D animation needs MiDaS/AdaBins depth models, which disco does not export yet; use \"2D\"",
        "Video Input" => "Video Input mode needs RAFT optical flow, which disco does not export yet",
    }
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
