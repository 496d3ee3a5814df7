//! Where a build writes a project's images, and the checks on those paths that `check` can
//! make before anything renders: two targets (or sweep cells) writing one folder, names
//! past the file system's limits, and names the report already uses.
//!
//! The layout (DD's): `images_out/<batch-name>/` per target, `images_out/<batch-name>/<cell>/`
//! per sweep cell (the cell's name with unsafe characters replaced), and in each folder
//! `<batch-name>(0)_<i>.png` (stills), `…_<i:04>.png` (frames), `…(0)_settings.txt`,
//! `…(0).mp4`, partials `…(0)_<i:04>-<j:03>.png` / `-<pct:02>%.png` (in `partials/` or
//! beside), and one contact sheet per sweep, `images_out/<batch-name>/<sweep>_contact.png`.
//! `plan/` builds the paths with the functions here; the settings, video and partial
//! names are formatted in `build/` (exec.rs, decide.rs), whose lengths this file mirrors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Diagnostics};
use super::limits::{NAME_MAX, PATH_MAX};
use super::model::Target;
use super::schema::Settings;
use super::source::Origin;
use super::types::{AnimationMode, IntermediateSaves};

/// Where rendered images go, relative to the project directory (DD's `images_out`).
pub const IMAGES_OUT: &str = "images_out";

/// Names directly under `images_out/` that disco itself writes (`report::REPORT`,
/// `report::thumbs::DIR`): no batch may be named so.
pub const RESERVED: &[&str] = &["report.html", ".thumbs"];

/// A sweep cell's (or sweep's) name as a file or folder name: characters other than
/// letters, digits and `.,=+-_` become `_`, and a leading `.` gets a `_` before it.
pub fn safe_file_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".,=+-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// The folder a target (or one sweep cell) writes into, relative to the project directory.
pub fn target_folder(batch_name: &str, cell: Option<&str>) -> PathBuf {
    let mut folder = PathBuf::from(IMAGES_OUT).join(batch_name);
    if let Some(c) = cell {
        folder.push(safe_file_name(c));
    }
    folder
}

/// The file name of still `index` or animation frame `index`.
pub fn image_file_name(batch_name: &str, index: u32, animation: bool) -> String {
    if animation {
        format!("{batch_name}(0)_{index:04}.png")
    } else {
        format!("{batch_name}(0)_{index}.png")
    }
}

/// A sweep's contact sheet, relative to the project directory.
pub fn contact_sheet(batch_name: &str, sweep_name: &str) -> PathBuf {
    PathBuf::from(IMAGES_OUT)
        .join(batch_name)
        .join(format!("{}_contact.png", safe_file_name(sweep_name)))
}

/// Checks every target's output paths: unique folders and contact sheets, names within
/// [`NAME_MAX`], paths within [`PATH_MAX`] under `project_dir`, no reserved batch name.
pub fn check(project_dir: &Path, targets: &[Target], diags: &mut Diagnostics) {
    // An absolute directory measures what the build will pass to the kernel.
    let dir_len = std::path::absolute(project_dir)
        .map_or(project_dir.as_os_str().len(), |p| p.as_os_str().len());
    let mut owners: HashMap<PathBuf, String> = HashMap::new();
    for t in targets {
        let s = &t.settings;
        let fallback = t.name.origin.as_ref();
        let batch_origin = s.batch_name.origin.as_ref().or(fallback);
        if RESERVED.contains(&s.batch_name.value.as_str()) {
            diags.push(error(
                format!(
                    "`batch-name \"{}\"` is a name disco uses under images_out/",
                    s.batch_name.value
                ),
                batch_origin,
                "reserved",
                "choose another batch name",
            ));
        }
        let cells: Vec<(Option<&str>, &Settings)> = match &t.sweep {
            Some(sweep) => sweep
                .cells
                .iter()
                .map(|c| (Some(c.name.as_str()), &c.settings))
                .collect(),
            None => vec![(None, s)],
        };
        if t.sweep.is_some() {
            let sheet = contact_sheet(&s.batch_name.value, &t.name.value);
            let name_len = sheet.file_name().map_or(0, |n| n.len());
            if name_len > NAME_MAX {
                diags.push(error(
                    format!("the sweep's contact sheet would be named with {name_len} bytes; file names are limited to {NAME_MAX}"),
                    fallback,
                    "name too long",
                    "shorten the sweep's name",
                ));
            } else if let Some(other) = owners.insert(sheet.clone(), t.name.value.clone()) {
                diags.push(collision(&other, &t.name.value, &sheet, fallback));
            }
        }
        for (cell, cs) in cells {
            let label = match cell {
                Some(c) => format!("{}[{c}]", t.name.value),
                None => t.name.value.clone(),
            };
            let folder = target_folder(&cs.batch_name.value, cell);
            if let Some(d) = lengths(dir_len, &folder, cs, cell, batch_origin) {
                diags.push(d);
                continue;
            }
            if let Some(other) = owners.insert(folder.clone(), label.clone()) {
                let mut d = collision(&other, &label, &folder, batch_origin);
                if cell.is_some() {
                    d.help = Some(
                        "cell folders are the cells' names with characters other than letters, digits and `.,=+-_` replaced by `_`: make the swept values differ in those".into(),
                    );
                }
                diags.push(d);
            }
        }
    }
}

fn collision(first: &str, second: &str, path: &Path, origin: Option<&Origin>) -> Diagnostic {
    error(
        format!(
            "`{first}` and `{second}` both write {} (one would overwrite the other's files)",
            path.display()
        ),
        origin,
        "same output as another target",
        "give one of them its own `batch-name`",
    )
}

/// A name or path the build would create that the file system refuses.
fn lengths(
    dir_len: usize,
    folder: &Path,
    s: &Settings,
    cell: Option<&str>,
    origin: Option<&Origin>,
) -> Option<Diagnostic> {
    let batch = s.batch_name.value.len();
    let cell_len = cell.map_or(0, |c| safe_file_name(c).len());
    let file = batch + longest_suffix(s);
    let (what, len) = [
        ("the batch folder's name", batch),
        ("the sweep cell's folder name", cell_len),
        ("the longest file name", file),
    ]
    .into_iter()
    .max_by_key(|(_, n)| *n)
    .expect("three names");
    if len > NAME_MAX {
        return Some(error(
            format!("{what} would be {len} bytes; file and folder names are limited to {NAME_MAX}"),
            origin,
            "name too long",
            "shorten `batch-name` (or the swept values, for a sweep cell)",
        ));
    }
    // dir + "/" + folder + "/partials/" + file
    let path = dir_len + 1 + folder.as_os_str().len() + "/partials/".len() + file;
    (path > PATH_MAX).then(|| {
        error(
            format!("the build would write paths of {path} bytes; paths are limited to {PATH_MAX}"),
            origin,
            "path too long",
            "move the project to a shorter directory, or shorten `batch-name`",
        )
    })
}

/// Bytes the longest file name in a target's folder adds to `batch-name`.
fn longest_suffix(s: &Settings) -> usize {
    let animation = s.animation_mode.value != AnimationMode::None;
    let count = if animation {
        s.max_frames.value
    } else {
        s.n_batches.value
    };
    let last = digits(count.saturating_sub(1));
    let index = if animation { last.max(4) } else { last };
    let image = "(0)_".len() + index + ".png".len();
    let settings = "(0)_settings.txt".len();
    let video = "(0).mp4".len();
    let partial = match &s.intermediate_saves.value {
        IntermediateSaves::Count(0) => 0,
        // `-<pct:02>%.png`, pct ≤ 100
        IntermediateSaves::Count(_) => "(0)_".len() + last.max(4) + "-100%.png".len(),
        IntermediateSaves::At(at) => {
            let j = at.last().map_or(1, |&j| digits(j as u32)).max(3);
            "(0)_".len() + last.max(4) + 1 + j + ".png".len()
        }
    };
    image.max(settings).max(video).max(partial)
}

fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn error(message: String, origin: Option<&Origin>, label: &str, help: &str) -> Diagnostic {
    match origin {
        Some(o) => Diagnostic::error(message, o, label),
        None => Diagnostic::bare(message),
    }
    .with_help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_characters_become_underscores() {
        assert_eq!(safe_file_name("seed=1,steps=50"), "seed=1,steps=50");
        assert_eq!(safe_file_name("text-prompts=a/b c"), "text-prompts=a_b_c");
        assert_eq!(safe_file_name(".hidden"), "_.hidden");
    }

    #[test]
    fn digits_of_an_index() {
        assert_eq!(
            [0, 9, 10, 999, 1000, u32::MAX].map(digits),
            [1, 1, 2, 3, 4, 10]
        );
    }

    #[test]
    fn the_longest_suffix_counts_partials_and_frame_numbers() {
        let mut s = Settings::default();
        s.n_batches.value = 50;
        // "(0)_settings.txt" beats "(0)_49.png"
        assert_eq!(longest_suffix(&s), 16);
        s.intermediate_saves.value = IntermediateSaves::At(vec![5, 12000]);
        // "(0)_0049-12000.png"
        assert_eq!(longest_suffix(&s), 18);
    }
}
