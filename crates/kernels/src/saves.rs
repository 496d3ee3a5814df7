//! Which loop iterations write an intermediate save or a preview (dd-algorithm.md §11.2–§11.3).
//!
//! Pure arithmetic over the iteration counter j (0-based within a job's loop); naming and
//! writing the files belong to the layers above.

/// `intermediate_saves`: a count spread over the run, or explicit iterations. The project file
/// writes it as `intermediate-saves 2` or `intermediate-saves { at 10 50 120 }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IntermediateSaves {
    /// An integer k: about k + 1 evenly spaced saves; 0 means none.
    Count(usize),
    /// A list: save at exactly these iterations j.
    At(Vec<usize>),
}

/// The last iteration index, total = N − skip − 1, which DD divides by for percentages.
pub fn total_iterations(steps: usize, skip_steps: usize) -> usize {
    steps.saturating_sub(skip_steps + 1)
}

/// DD's `steps_per_checkpoint` for an integer count k > 0:
/// max(1, floor((steps − skip − 1)/(k + 1))); for k = 0, steps + 10 (never reached).
pub fn steps_per_checkpoint(steps: usize, skip_steps: usize, k: usize) -> usize {
    if k == 0 {
        return steps + 10;
    }
    (total_iterations(steps, skip_steps) / (k + 1)).max(1)
}

/// Whether iteration j writes an intermediate save.
///
/// Count: j > 0 and j mod steps_per_checkpoint = 0 (yields k + 1 or more saves, the last
/// possibly at j = total). List: j is listed.
pub fn is_intermediate_save(
    saves: &IntermediateSaves,
    steps: usize,
    skip_steps: usize,
    j: usize,
) -> bool {
    match saves {
        IntermediateSaves::Count(k) => {
            let spc = steps_per_checkpoint(steps, skip_steps, *k);
            j > 0 && j.is_multiple_of(spc)
        }
        IntermediateSaves::At(list) => list.contains(&j),
    }
}

/// All iterations j in 0..=total that write an intermediate save, ascending.
pub fn save_iterations(saves: &IntermediateSaves, steps: usize, skip_steps: usize) -> Vec<usize> {
    let total = total_iterations(steps, skip_steps);
    (0..=total)
        .filter(|&j| is_intermediate_save(saves, steps, skip_steps, j))
        .collect()
}

/// The percentage in a partial's name: ceil(j/total·100).
///
/// Evaluated in DD's order (divide, then scale) in `f64` so ties round as DD's do. With
/// total = 0 (skip = N − 1) DD would divide by zero; the only iteration is the last, 100 %.
pub fn save_percent(j: usize, total: usize) -> u32 {
    if total == 0 {
        return 100;
    }
    (j as f64 / total as f64 * 100.0).ceil() as u32
}

/// Whether iteration j refreshes the preview: j mod `display_rate` = 0 (so j = 0 too) or
/// j is the last iteration (§11.3). A `display_rate` of 0 shows only the last.
pub fn is_preview(j: usize, display_rate: usize, total: usize) -> bool {
    j == total || (display_rate > 0 && j.is_multiple_of(display_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_saves_over_250_steps_skip_10() {
        // §11.2: k = 2, 250/10 → spc 79 → j = 79, 158, 237 → 34 %, 67 %, 100 %.
        let saves = IntermediateSaves::Count(2);
        assert_eq!(total_iterations(250, 10), 239);
        assert_eq!(steps_per_checkpoint(250, 10, 2), 79);
        let js = save_iterations(&saves, 250, 10);
        assert_eq!(js, [79, 158, 237]);
        let pcts: Vec<u32> = js.iter().map(|&j| save_percent(j, 239)).collect();
        assert_eq!(pcts, [34, 67, 100]);
    }

    #[test]
    fn zero_means_never_and_list_means_exactly() {
        assert!(save_iterations(&IntermediateSaves::Count(0), 250, 10).is_empty());
        let list = IntermediateSaves::At(vec![0, 5, 239, 400]);
        assert_eq!(save_iterations(&list, 250, 10), [0, 5, 239]);
    }

    #[test]
    fn many_saves_on_a_short_run_save_every_step_but_the_first() {
        // floor(4/(9+1)) = 0 → spc clamps to 1.
        assert_eq!(steps_per_checkpoint(5, 0, 9), 1);
        assert_eq!(
            save_iterations(&IntermediateSaves::Count(9), 5, 0),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn percent_rounds_up_and_handles_a_single_iteration() {
        assert_eq!(save_percent(0, 239), 0);
        assert_eq!(save_percent(1, 239), 1);
        assert_eq!(save_percent(239, 239), 100);
        assert_eq!(save_percent(0, 0), 100);
    }

    #[test]
    fn preview_every_display_rate_and_at_the_end() {
        // §11.3: j mod display_rate == 0 (including j = 0) or the last step.
        let shown: Vec<usize> = (0..=239).filter(|&j| is_preview(j, 50, 239)).collect();
        assert_eq!(shown, [0, 50, 100, 150, 200, 239]);
        assert!(is_preview(239, 0, 239) && !is_preview(0, 0, 239));
    }
}
