//! A 3D frame's depth map (dd-algorithm.md §10.4), from the model set's depth graphs on ONNX
//! Runtime: MiDaS (`depth.midas.<model>`), and AdaBins-NYU (`depth.adabins`) blended in when
//! `midas-weight` < 1, as DD's `transform_image_3d` caller does:
//!
//! - MiDaS (the graph of `midas-depth-model`): the frame resized bicubically to
//!   [`midas_size`] (MiDaS's resize with the model's net size and rule: "minimal" for the DPT
//!   models, "upper_bound" for the v2.1 ones), normalised with the model's mean/std, the
//!   graph's inverse depth resized bicubically back to the frame, then `(50 − pred) / 19`;
//! - AdaBins: the frame scaled into `[min_area, max_area]` ([`adabins_size`]), normalised,
//!   the graph's depth (metres) resized bicubically back to the frame;
//! - `depth = w·midas + (1 − w)·adabins`.
//!
//! DD resizes the AdaBins input with PIL (LANCZOS down, BICUBIC up) to any size; the graph
//! takes multiples of 32, so disco rounds each scaled side to the nearest multiple of 32
//! and resizes with the same bicubic as MiDaS's (docs/anim3d.md).

use disco_kernels::anim::warp3d::resize::bicubic;
use ndarray::{Array2, Array4, ArrayView2, ArrayView3, Axis};

use super::manifest::{DepthModel, MidasResize};
use super::models::ModelsError;
use super::session::{GraphSession, Input, ModelSet, SessionError, SessionOptions};

/// One depth network's session and its manifest entry.
struct Net {
    session: GraphSession,
    model: DepthModel,
    output: &'static str,
}

/// The depth graphs one 3D target uses, opened once and reused for every frame.
pub struct DepthSessions {
    midas: Net,
    adabins: Option<Net>,
}

impl DepthSessions {
    /// Opens MiDaS `midas` (DD's `midas_depth_model` name) of `set`, and AdaBins when
    /// `adabins`.
    pub fn open(
        set: &ModelSet,
        midas: &str,
        adabins: bool,
        opts: SessionOptions,
    ) -> Result<DepthSessions, ModelsError> {
        let dir = set.dir.display().to_string();
        let missing = |family: &'static str| ModelsError::NoFamily {
            dir: dir.clone(),
            family,
        };
        let open = |model: &DepthModel, family: &'static str, output| {
            let name = model.forward().ok_or_else(|| ModelsError::NoRole {
                dir: dir.clone(),
                family,
                role: "forward",
            })?;
            Ok::<_, ModelsError>(Net {
                session: GraphSession::open(set, name, opts)?,
                model: model.clone(),
                output,
            })
        };
        let m = set
            .manifest
            .midas(midas)
            .ok_or_else(|| missing("MiDaS depth"))?;
        let midas = open(m, "MiDaS depth", "inverse_depth")?;
        let adabins = match adabins {
            true => {
                let a = set
                    .manifest
                    .adabins()
                    .ok_or_else(|| missing("AdaBins depth"))?;
                Some(open(a, "AdaBins depth", "depth")?)
            }
            false => None,
        };
        Ok(DepthSessions { midas, adabins })
    }

    /// The depth map `[H, W]` of `image` (`[3, H, W]` RGB in [0, 1]) with MiDaS's weight
    /// `midas_weight` (AdaBins takes the rest when it was opened).
    pub fn depth(
        &mut self,
        image: ArrayView3<f32>,
        midas_weight: f64,
    ) -> Result<Array2<f32>, SessionError> {
        let (_, h, w) = image.dim();
        let m = &self.midas.model;
        let size = midas_size(h, w, m.net_size.unwrap_or(384), m.size_multiple, m.resize);
        let midas = midas_depth(self.midas.run(image, size)?.view(), (h, w));
        let Some(adabins) = &mut self.adabins else {
            return Ok(midas);
        };
        let m = &adabins.model;
        let area = (
            m.min_area.unwrap_or(448 * 448),
            m.max_area.unwrap_or(500_000),
        );
        let size = adabins_size(h, w, area, m.size_multiple, m.patch);
        let metres = bicubic(adabins.run(image, size)?.view(), (h, w));
        Ok(blend(&midas, &metres, midas_weight))
    }
}

impl Net {
    /// The graph's output `[h', w']` for `image` resized to `(h', w')` and normalised.
    fn run(
        &mut self,
        image: ArrayView3<f32>,
        size: (usize, usize),
    ) -> Result<Array2<f32>, SessionError> {
        let input = net_input(image, size, (self.model.mean, self.model.std)).into_dyn();
        let (h, w) = size;
        let mut out = self.session.run(&[("image", Input::F32(input.view()))])?;
        let name = self.session.name().to_owned();
        let err = |reason: String| SessionError::Run {
            graph: name.clone(),
            reason,
        };
        let pred = out
            .remove(self.output)
            .ok_or_else(|| err(format!("no output `{}`", self.output)))?;
        pred.into_shape_with_order((h, w))
            .map_err(|e| err(format!("output `{}`: {e}", self.output)))
    }
}

/// A depth network's input `[1, 3, h, w]`: `image` (`[3, H, W]` in [0, 1]) resized
/// bicubically to `(h, w)`, each channel normalised `(x − mean)/std`.
pub fn net_input(
    image: ArrayView3<f32>,
    (h, w): (usize, usize),
    (mean, std): ([f32; 3], [f32; 3]),
) -> Array4<f32> {
    let mut input = Array4::<f32>::zeros((1, 3, h, w));
    for (c, plane) in image.axis_iter(Axis(0)).enumerate() {
        let resized = bicubic(plane, (h, w));
        input
            .index_axis_mut(Axis(0), 0)
            .index_axis_mut(Axis(0), c)
            .assign(&resized.mapv(|v| (v - mean[c]) / std[c]));
    }
    input
}

/// DD's depth from MiDaS's inverse depth `pred`: resized bicubically to the frame `(h, w)`,
/// then `(50 − pred)/19` (far is larger, roughly AdaBins's metres).
pub fn midas_depth(pred: ArrayView2<f32>, (h, w): (usize, usize)) -> Array2<f32> {
    bicubic(pred, (h, w)).mapv(|p| (50.0 - p) / 19.0)
}

/// `w·midas + (1 − w)·adabins`, as DD blends them (`midas_weight`).
pub fn blend(midas: &Array2<f32>, adabins: &Array2<f32>, w: f64) -> Array2<f32> {
    let w = w as f32;
    midas * w + adabins * (1.0 - w)
}

/// MiDaS's input size for an `h`×`w` frame: `Resize(net, net, keep_aspect_ratio=True,
/// ensure_multiple_of=multiple, resize_method)` as DD builds it (MiDaS's `get_size` and
/// `constrain_to_multiple_of`; `onnx-export/disco_export/midas.py`'s `resize_for_net`):
///
/// - [`MidasResize::Minimal`]: the scale closer to 1 of `net/h` and `net/w`; each scaled side
///   rounded to the nearest multiple (half to even, as numpy), unbounded;
/// - [`MidasResize::UpperBound`]: the smaller scale; each side rounded to the nearest
///   multiple, or down to one where rounding would exceed `net`.
///
/// A side that would round to 0 (aspect ratios past 1:24, where DD's cv2 resize fails) is one
/// multiple.
pub fn midas_size(
    h: usize,
    w: usize,
    net: usize,
    multiple: usize,
    mode: MidasResize,
) -> (usize, usize) {
    let (sh, sw) = (net as f64 / h as f64, net as f64 / w as f64);
    let scale = match mode {
        MidasResize::Minimal if (1.0 - sw).abs() < (1.0 - sh).abs() => sw,
        MidasResize::Minimal => sh,
        MidasResize::UpperBound => sw.min(sh),
    };
    let m = multiple.max(1) as f64;
    let side = |x: f64| {
        let mut y = (x / m).round_ties_even() * m;
        if mode == MidasResize::UpperBound && y > net as f64 {
            y = (x / m).floor() * m;
        }
        (y as usize).max(multiple.max(1))
    };
    (side(scale * h as f64), side(scale * w as f64))
}

/// The positional encodings of AdaBins's mini-ViT (the released model's and the tiny one's):
/// its input can have at most this many patches.
pub const ADABINS_POSITIONS: usize = 500;

/// AdaBins's input size for an `h`×`w` frame: DD scales the frame (aspect kept) into the area
/// `[min, max]` (unchanged inside it); each side then goes to the nearest multiple of
/// `multiple` (at least one). With `patch` (the mini-ViT's patch on the half-size decoder
/// output), an input with more than [`ADABINS_POSITIONS`] patches is scaled down to fit,
/// sides rounded down: never for the released model (DD's 500000 px have at most 488), but
/// the tiny model's 4 px patches fit far smaller inputs.
pub fn adabins_size(
    h: usize,
    w: usize,
    (min, max): (usize, usize),
    multiple: usize,
    patch: Option<usize>,
) -> (usize, usize) {
    let area = (h * w) as f64;
    let scale = if area > max as f64 {
        (max as f64 / area).sqrt()
    } else if area < min as f64 {
        (min as f64 / area).sqrt()
    } else {
        1.0
    };
    let m = multiple.max(1) as f64;
    // DD truncates the scaled sides (`int(w * scale)`)
    let side = |x: usize, s: f64, round: fn(f64) -> f64| {
        (round((x as f64 * s).floor() / m).max(1.0) * m) as usize
    };
    let (sh, sw) = (side(h, scale, f64::round), side(w, scale, f64::round));
    let Some(p) = patch.filter(|&p| p > 0) else {
        return (sh, sw);
    };
    let patches = |a: usize, b: usize| (a / (2 * p)) * (b / (2 * p));
    if patches(sh, sw) <= ADABINS_POSITIONS {
        return (sh, sw);
    }
    let cap = (ADABINS_POSITIONS * 4 * p * p) as f64;
    let scale = (cap / area).sqrt();
    (side(h, scale, f64::floor), side(w, scale, f64::floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midas_sizes_follow_midas_resize_for_net() {
        use MidasResize::{Minimal, UpperBound};
        // resize_for_net(64, 64) == (384, 384); (512, 768) → scale 0.75 → (384, 576)
        assert_eq!(midas_size(64, 64, 384, 32, Minimal), (384, 384));
        assert_eq!(midas_size(512, 768, 384, 32, Minimal), (384, 576));
        // (128, 192): w's scale (2) is closer to 1 than h's (3); 256 stays below 384
        assert_eq!(midas_size(128, 192, 384, 32, Minimal), (256, 384));
        // (300, 500): w's scale 0.768 → h 230.4 rounds to 224 (no rounding up to reach 384)
        assert_eq!(midas_size(300, 500, 384, 32, Minimal), (224, 384));
        // upper_bound takes the smaller scale: (512, 768) → 0.5 → (256, 384)
        assert_eq!(midas_size(512, 768, 384, 32, UpperBound), (256, 384));
        assert_eq!(midas_size(512, 768, 256, 32, UpperBound), (160, 256));
        // a net side off the multiple: 90 rounds to 96 > 90, so down to 64 (minimal keeps 96)
        assert_eq!(midas_size(90, 90, 90, 32, UpperBound), (64, 64));
        assert_eq!(midas_size(90, 90, 90, 32, Minimal), (96, 96));
        // never a zero side
        assert_eq!(midas_size(10, 1000, 256, 32, UpperBound), (32, 256));
    }

    #[test]
    fn adabins_sizes_stay_in_the_area() {
        // 64×64 scaled up to 448×448
        let dd = (448 * 448, 500_000);
        assert_eq!(adabins_size(64, 64, dd, 32, Some(16)), (448, 448));
        // inside: unchanged up to the multiple
        assert_eq!(adabins_size(512, 640, dd, 32, Some(16)), (512, 640));
        // above: down to ≤ 500000 px before rounding
        assert_eq!(adabins_size(1024, 1024, dd, 32, Some(16)), (704, 704));
        // the tiny model's 4 px patches: at most 500 of them (160² has 20² = 400)
        assert_eq!(adabins_size(64, 64, dd, 32, Some(4)), (160, 160));
        assert_eq!(adabins_size(64, 64, dd, 32, None), (448, 448));
    }
}
