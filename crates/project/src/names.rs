//! Setting names: kebab-case spelling of DD's names and "did you mean" suggestions.

/// The kebab-case spelling of a DD name (`clip_guidance_scale` → `clip-guidance-scale`).
pub fn kebab(dd_name: &str) -> String {
    dd_name.replace('_', "-").to_lowercase()
}

/// The candidate closest to `word`, if any is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.to_lowercase().replace(['_', '-', ' '], "");
    let w = norm(word);
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&w, &norm(c)), c))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_maps_to_kebab() {
        assert_eq!(kebab("clip_guidance_scale"), "clip-guidance-scale");
        assert_eq!(kebab("ViTL14_336px"), "vitl14-336px");
    }

    #[test]
    fn typo_suggests_the_nearest_name() {
        let names = ["clip-guidance-scale", "tv-scale", "steps"];
        assert_eq!(
            closest("clip_guidance_scale", names),
            Some("clip-guidance-scale")
        );
        assert_eq!(closest("stpes", names), Some("steps"));
        assert_eq!(closest("zzzz", names), None);
    }
}
