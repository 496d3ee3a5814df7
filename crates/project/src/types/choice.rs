//! Settings that take one of a fixed set of names.

pub use disco_kernels::anim::InterpSpline;
use kdl::KdlNode;
use serde_json::Value;

use super::{SettingType, kdl_string};
use crate::diagnostic::Diagnostic;
use crate::read::{self, Cx};

/// A setting that takes one of a fixed set of names: the names it is written as and how
/// they read back. A trait rather than inherent methods so that enums the kernels define
/// (`disco_kernels::anim::InterpSpline`) are settings too.
pub trait Choice: Sized + Copy + 'static {
    /// Every accepted canonical name.
    const NAMES: &'static [&'static str];

    /// The canonical name of this value.
    fn name(self) -> &'static str;

    /// Reads a name (canonical or alias); `Err` carries the reason for names DD knows but
    /// disco does not support yet.
    fn parse(s: &str) -> Result<Self, Option<&'static str>>;
}

/// Declares an enum setting: its variants, the name each is written as (first = canonical,
/// then accepted spellings), and names DD knows that disco does not render yet. `extern`
/// gives names to an enum defined in a lower crate instead of declaring one.
macro_rules! choice {
    (
        $(#[$meta:meta])* $ty:ident, $expects:literal {
            $( $(#[$vmeta:meta])* $variant:ident => [$canon:literal $(, $alias:literal)*] ),+ $(,)?
        }
        unsupported { $( $uname:literal => $why:expr ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $ty { $( $(#[$vmeta])* $variant ),+ }

        choice! {
            extern $ty, $expects {
                $( $variant => [$canon $(, $alias)*] ),+
            }
            unsupported { $( $uname => $why ),* }
        }
    };
    (
        extern $ty:ident, $expects:literal {
            $( $variant:ident => [$canon:literal $(, $alias:literal)*] ),+ $(,)?
        }
        unsupported { $( $uname:literal => $why:expr ),* $(,)? }
    ) => {
        impl Choice for $ty {
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
                $ty::parse(s).map_err(|why| match why {
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
                Value::String(self.name().to_owned())
            }
            fn kdl_from_json(v: &Value) -> Result<String, String> {
                match v {
                    Value::String(s) => match $ty::parse(s.trim()) {
                        Ok(x) => Ok(kdl_string(x.name())),
                        Err(Some(why)) => Err(format!("\"{s}\" is not supported yet: {why}")),
                        Err(None) => Err(format!("\"{s}\" is not one of {:?}", Self::NAMES)),
                    },
                    other => Err(format!("expected a string, found {}", super::kind(other))),
                }
            }
        }
    };
}

const KALIYUGA: &str = "disco exports the two OpenAI guided-diffusion models; fine-tuned community \
models need their own export (see docs/models.md)";

choice! {
    /// The guided-diffusion checkpoint (dd-algorithm.md §4.1).
    DiffusionModel, "a diffusion model name" {
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

choice! {
    /// The diffusion sampler (DD's `diffusion_sampling_mode`).
    Sampler, "\"ddim\" or \"plms\"" {
        /// DDIM with `eta`.
        Ddim => ["ddim"],
        /// Pseudo linear multi-step, order 2.
        Plms => ["plms"],
    }
    unsupported {}
}

choice! {
    /// Perlin init colour mode (§9).
    PerlinMode, "\"mixed\", \"color\" or \"gray\"" {
        /// Colour octaves A, gray octaves B.
        Mixed => ["mixed"],
        /// Both colour.
        Color => ["color"],
        /// Both gray.
        Gray => ["gray"],
    }
    unsupported {}
}

choice! {
    /// What a target renders: stills, or an animation.
    AnimationMode, "\"None\" or \"2D\"" {
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

choice! {
    extern InterpSpline, "\"Linear\", \"Quadratic\" or \"Cubic\"" {
        Linear => ["Linear", "linear"],
        Quadratic => ["Quadratic", "quadratic"],
        Cubic => ["Cubic", "cubic"],
    }
    unsupported {}
}

choice! {
    /// How `range-scale` acts (DESIGN.md §5).
    RangeLossMode, "\"dd\" or \"through-denoiser\"" {
        /// DD's behaviour: the loss is taken on a detached estimate, so it has no effect (§5.7).
        Dd => ["dd"],
        /// The evident intent: the range loss's gradient flows back through the denoiser.
        ThroughDenoiser => ["through-denoiser"],
    }
    unsupported {}
}

choice! {
    /// DD's `sampling_mode`: the 3D warp's grid-sample interpolation (3D only).
    GridSampleMode, "\"bicubic\", \"bilinear\" or \"nearest\"" {
        /// Bicubic.
        Bicubic => ["bicubic"],
        /// Bilinear.
        Bilinear => ["bilinear"],
        /// Nearest neighbour.
        Nearest => ["nearest"],
    }
    unsupported {}
}
