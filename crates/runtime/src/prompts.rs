//! One frame's CLIP targets from its prompts (dd-algorithm.md §3.3): the target rows per CLIP
//! model, their weights normalised jointly over text and image prompts, and fuzzy prompts.
//!
//! Rendering side only: parsing `text:weight` and choosing the frame's prompts belong to the
//! project and plan layers; running the text and image encoders belongs to the caller, which
//! hands the embeddings in. Randomness (fuzzy noise) comes in as an `Rng` argument.

use ndarray::{Array2, ArrayView2, Axis, concatenate};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Rows each image prompt contributes: its legacy cutouts, each weighted `w/16` (`DD:1291`).
pub const IMAGE_PROMPT_CUTS: usize = 16;

/// Rows each text prompt becomes with `fuzzy_prompt` (`DD:1300`).
pub const FUZZY_COPIES: usize = 25;

/// DD refuses weights whose sum is smaller than this in absolute value (§3.3 step 3).
pub const MIN_WEIGHT_SUM: f32 = 1e-3;

/// One image prompt, encoded: `embeds: [16, D]` (one row per legacy cutout, §5.9) and the
/// prompt's weight `w` (each row gets `w/16`).
#[derive(Debug, Clone, Copy)]
pub struct EncodedImagePrompt<'a> {
    /// `encode_image` of the prompt's cutouts, `[16, D]`.
    pub embeds: ArrayView2<'a, f32>,
    /// The parsed weight of the prompt.
    pub weight: f32,
}

/// The targets of one CLIP model for one frame: `rows: [P, D]`, `weights: [P]` with
/// `|Σ weights| = 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Target embeddings, text prompts first, then image prompts (DD's order).
    pub rows: Array2<f32>,
    /// Normalised weights, one per row.
    pub weights: Vec<f32>,
}

/// Why targets could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromptError {
    /// No text and no image prompt for the frame.
    #[error("the frame has no prompts")]
    NoPrompts,
    /// `|Σw| < 1e-3`: DD raises "The weights must not sum to 0." (§3.3).
    #[error("the prompt weights sum to {sum}, too close to 0 to normalise (|sum| must be ≥ 0.001)")]
    WeightsSumToZero {
        /// The sum of all row weights before normalisation.
        sum: f32,
    },
    /// Shapes do not agree (a caller bug, reported rather than panicking mid-render).
    #[error("prompt shapes disagree: {0}")]
    Shape(String),
}

/// Builds one CLIP model's targets for a frame (§3.3).
///
/// * `text_embeds: [P_t, D]`, `encode_text` of the frame's text prompts; `text_weights: [P_t]`.
/// * `images`: the frame's image prompts, each `[16, D]`, appended after the text rows.
/// * `fuzzy`: `Some(rand_mag)` turns each text row `e` into 25 rows
///   `clamp(e + rand_mag·N(0, I), 0, 1)`, each with the prompt's full weight. The clamp to
///   [0, 1] is DD's literal behaviour (it destroys negative components) and is kept for
///   parity. Noise is drawn from `rng`, row by row, D normals a row; `rng` is untouched
///   without `fuzzy`.
///
/// Weights are then normalised jointly: `w ← w/|Σw|` (signs kept), error if `|Σw| < 1e-3`.
///
/// DD crashes when `fuzzy_prompt` meets image prompts (§3.3 step 2 (a bug)); here the text rows
/// are fuzzed and the image rows are kept as without fuzzy, the evident intent.
pub fn build_targets(
    text_embeds: ArrayView2<f32>,
    text_weights: &[f32],
    images: &[EncodedImagePrompt],
    fuzzy: Option<f32>,
    rng: &mut impl Rng,
) -> Result<Targets, PromptError> {
    let (p_t, d) = text_embeds.dim();
    if text_weights.len() != p_t {
        return Err(PromptError::Shape(format!(
            "{} text weights for text embeddings [P, D] = [{p_t}, {d}]",
            text_weights.len()
        )));
    }
    for (i, im) in images.iter().enumerate() {
        if im.embeds.dim() != (IMAGE_PROMPT_CUTS, d) {
            return Err(PromptError::Shape(format!(
                "image prompt {i} has embeddings {:?}, expected [16, D] = [16, {d}]",
                im.embeds.dim()
            )));
        }
    }
    if p_t == 0 && images.is_empty() {
        return Err(PromptError::NoPrompts);
    }

    let mut blocks: Vec<Array2<f32>> = Vec::new();
    let mut weights: Vec<f32> = Vec::new();
    match fuzzy {
        None => {
            blocks.push(text_embeds.to_owned());
            weights.extend_from_slice(text_weights);
        }
        Some(rand_mag) => {
            for (e, &w) in text_embeds.rows().into_iter().zip(text_weights) {
                blocks.push(fuzz(Array2::zeros((FUZZY_COPIES, d)), e, rand_mag, rng));
                weights.extend(std::iter::repeat_n(w, FUZZY_COPIES));
            }
        }
    }
    for im in images {
        blocks.push(im.embeds.to_owned());
        let w = im.weight / IMAGE_PROMPT_CUTS as f32;
        weights.extend(std::iter::repeat_n(w, IMAGE_PROMPT_CUTS));
    }

    let views: Vec<ArrayView2<f32>> = blocks.iter().map(|b| b.view()).collect();
    let rows = concatenate(Axis(0), &views).map_err(|e| PromptError::Shape(e.to_string()))?;
    let weights = normalize_weights(weights)?;
    Ok(Targets { rows, weights })
}

/// Fills `out: [25, D]` with `clamp(e + rand_mag·N(0,1), 0, 1)`, drawing row-major.
fn fuzz(
    mut out: Array2<f32>,
    e: ndarray::ArrayView1<f32>,
    rand_mag: f32,
    rng: &mut impl Rng,
) -> Array2<f32> {
    for mut row in out.rows_mut() {
        for (o, &v) in row.iter_mut().zip(e.iter()) {
            let z: f32 = StandardNormal.sample(rng);
            // DD clamps the embedding to [0, 1] (DD:1300), not to the unit sphere: kept for parity.
            *o = (v + rand_mag * z).clamp(0.0, 1.0);
        }
    }
    out
}

/// `w ← w/|Σw|`, error if `|Σw| < 1e-3` (§3.3 step 3). Summed in `f32` like DD's tensor.
pub fn normalize_weights(mut weights: Vec<f32>) -> Result<Vec<f32>, PromptError> {
    let sum: f32 = weights.iter().sum();
    if sum.abs() < MIN_WEIGHT_SUM || sum.is_nan() {
        return Err(PromptError::WeightsSumToZero { sum });
    }
    let norm = sum.abs();
    weights.iter_mut().for_each(|w| *w /= norm);
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    // weights 2 and −1 → sum 1 → unchanged; 1 and 3 → ¼, ¾; −1, −1 → −½, −½ (signs kept)
    #[test]
    fn text_weights_divide_by_abs_sum() {
        let e = array![[1.0f32, 0.0], [0.0, 1.0]];
        let t = build_targets(e.view(), &[2.0, -1.0], &[], None, &mut rng()).unwrap();
        assert_eq!(t.rows, e);
        close(&t.weights, &[2.0, -1.0]);
        let t = build_targets(e.view(), &[1.0, 3.0], &[], None, &mut rng()).unwrap();
        close(&t.weights, &[0.25, 0.75]);
        let t = build_targets(e.view(), &[-1.0, -1.0], &[], None, &mut rng()).unwrap();
        close(&t.weights, &[-0.5, -0.5]);
    }

    // text w = 1, image w = 3 → 16 rows of 3/16; Σ = 4 → text 1/4, each image row 3/64
    #[test]
    fn image_prompts_share_the_normalisation() {
        let e = array![[1.0f32, 0.0]];
        let im = Array2::from_elem((16, 2), 0.5f32);
        let images = [EncodedImagePrompt {
            embeds: im.view(),
            weight: 3.0,
        }];
        let t = build_targets(e.view(), &[1.0], &images, None, &mut rng()).unwrap();
        assert_eq!(t.rows.dim(), (17, 2));
        assert_eq!(t.rows.row(0), e.row(0));
        assert_eq!(t.rows.row(16), im.row(15));
        let mut want = vec![0.25f32];
        want.extend([3.0 / 64.0; 16]);
        close(&t.weights, &want);
        // image prompts alone work too
        let t = build_targets(Array2::zeros((0, 2)).view(), &[], &images, None, &mut rng());
        close(&t.unwrap().weights, &[1.0 / 16.0; 16]);
    }

    #[test]
    fn weights_summing_to_zero_are_refused() {
        let e = array![[1.0f32], [2.0]];
        let err = build_targets(e.view(), &[1.0, -0.9995], &[], None, &mut rng()).unwrap_err();
        assert!(matches!(err, PromptError::WeightsSumToZero { .. }), "{err}");
        // 1e-3 itself passes (DD's test is `< 1e-3`)
        assert!(normalize_weights(vec![0.001]).is_ok());
        let none = build_targets(Array2::zeros((0, 3)).view(), &[], &[], None, &mut rng());
        assert_eq!(none.unwrap_err(), PromptError::NoPrompts);
    }

    #[test]
    fn fuzzy_makes_25_clamped_rows_with_full_weight() {
        let e = array![[0.5f32, -0.2, 0.9], [0.1, 0.2, 0.3]];
        let t = build_targets(e.view(), &[1.0, 3.0], &[], Some(0.05), &mut rng()).unwrap();
        assert_eq!(t.rows.dim(), (50, 3));
        // each row has the prompt's weight; Σ = 25·1 + 25·3 = 100
        close(&t.weights[..25], &[0.01; 25]);
        close(&t.weights[25..], &[0.03; 25]);
        assert!(t.rows.iter().all(|v| (0.0..=1.0).contains(v)));
        // −0.2 with noise 0.05·N(0,1) is below 0 unless N > 4: clamped to exactly 0
        assert!(t.rows.column(1).iter().take(25).all(|v| *v == 0.0));
        // the rest stay near the embedding
        assert!(
            t.rows
                .column(0)
                .iter()
                .take(25)
                .all(|v| (v - 0.5).abs() < 0.3)
        );
        // same seed, same rows; a different seed, different rows
        let again = build_targets(e.view(), &[1.0, 3.0], &[], Some(0.05), &mut rng()).unwrap();
        assert_eq!(again, t);
        let mut other = ChaCha8Rng::seed_from_u64(8);
        let t2 = build_targets(e.view(), &[1.0, 3.0], &[], Some(0.05), &mut other).unwrap();
        assert_ne!(t2.rows, t.rows);
    }

    #[test]
    fn shape_mismatches_are_errors() {
        let e = array![[1.0f32, 0.0]];
        let err = build_targets(e.view(), &[1.0, 2.0], &[], None, &mut rng()).unwrap_err();
        assert!(matches!(err, PromptError::Shape(_)));
        let im = Array2::zeros((16, 3));
        let images = [EncodedImagePrompt {
            embeds: im.view(),
            weight: 1.0,
        }];
        let err = build_targets(e.view(), &[1.0], &images, None, &mut rng()).unwrap_err();
        assert!(matches!(err, PromptError::Shape(_)));
    }
}
