//! What the report shows, gathered from the plan and the store's records: a section per
//! target (a sweep's cells together in one grid), a figure per image with its resolved
//! inputs, final losses and render time. Plain values, so the HTML is a pure function of
//! them ([`super::html`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};

use super::layout::Grid;
use super::thumbs;
use crate::plan::{IMAGES_OUT, Init, Job, Key, Plan, TargetPlan};
use crate::project::Settings;
use crate::store::{Record, Store};

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The project's name (its directory).
    pub title: String,
    /// One per target or sweep.
    pub sections: Vec<Section>,
    /// Images shown.
    pub images: usize,
    /// Images planned but not built.
    pub missing: usize,
}

/// One target, or one sweep with all its cells.
#[derive(Debug, Clone)]
pub struct Section {
    /// Anchor id.
    pub id: String,
    /// `stills "name"`, `animation "name"`, `sweep "name"`.
    pub heading: String,
    /// Files beside the images: the settings file, the video, the contact sheet.
    pub links: Vec<Link>,
    /// Settings that differ from Disco Diffusion's defaults (DD names), values as JSON;
    /// for a sweep, those its cells share (the varying ones are the grid's headers).
    pub settings: Vec<(String, String)>,
    /// The images.
    pub body: Body,
}

/// How a section lays out its figures.
#[derive(Debug, Clone)]
pub enum Body {
    /// In a row that wraps: stills and animation frames.
    Figures(Vec<Figure>),
    /// A sweep's table: the grid's headers, and the figures of each (row, column).
    Grid {
        /// Rows and columns.
        grid: Grid,
        /// Figures by place.
        cells: HashMap<(usize, usize), Vec<Figure>>,
    },
}

/// A link, relative to `images_out/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// What it says.
    pub text: String,
    /// Path relative to `images_out/`, `/`-separated, not yet percent-encoded.
    pub href: String,
}

/// One image (or a slot for one not built).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// `image 0`, `frame 12`.
    pub caption: String,
    /// The thumbnail's size (also of the empty slot of an image not built).
    pub size: (u32, u32),
    /// The thumbnail and the full image, when built.
    pub image: Option<Image>,
    /// One-line facts under the caption: seed, render time and device, final loss.
    pub facts: Vec<String>,
    /// Resolved inputs and the loss terms, shown on demand.
    pub details: Vec<(String, String)>,
}

/// A built image.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The full PNG, relative to `images_out/`.
    pub full: String,
    /// Its thumbnail, relative to `images_out/`.
    pub thumb: String,
    /// Alternative text.
    pub alt: String,
}

/// Everything [`collect`] reads.
pub struct Sources<'a> {
    /// The plan (all targets).
    pub plan: &'a Plan,
    /// The store, for records.
    pub store: &'a Store,
    /// Per job: whether its image is in place.
    pub built: &'a [bool],
    /// Jobs whose thumbnail exists.
    pub thumbs: &'a HashSet<Key>,
    /// Contact sheets by sweep name, relative to `images_out/`.
    pub sheets: &'a HashMap<String, String>,
}

/// The report of `src.plan`.
pub fn collect(src: &Sources) -> Page {
    let plan = src.plan;
    let mut page = Page {
        title: title(plan),
        ..Page::default()
    };
    let defaults = Settings::default().to_dd_json();
    for (targets, axes) in super::sections(plan) {
        let id = format!("target-{}", page.sections.len() + 1);
        let section = match axes {
            Some(axes) => sweep_section(src, &mut page, id, targets, &axes, &defaults),
            None => target_section(src, &mut page, id, targets.start, &defaults),
        };
        page.sections.push(section);
    }
    page
}

/// The report's title: the project directory's name.
pub fn title(plan: &Plan) -> String {
    plan.dir
        .canonicalize()
        .unwrap_or_else(|_| plan.dir.clone())
        .file_name()
        .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned())
}

fn target_section(
    src: &Sources,
    page: &mut Page,
    id: String,
    t: usize,
    defaults: &Map<String, Value>,
) -> Section {
    let target = &src.plan.targets[t];
    let kind = if target.animation {
        "animation"
    } else {
        "stills"
    };
    let mut links = vec![settings_link(target)];
    let video = target.folder.join(format!("{}(0).mp4", target.batch_name));
    if target.animation && src.plan.dir.join(&video).is_file() {
        links.push(Link {
            text: "video".into(),
            href: rel(&video),
        });
    }
    let figures = target.jobs.clone().map(|j| figure(src, page, j)).collect();
    Section {
        id,
        heading: format!("{kind} \"{}\"", target.name),
        links,
        settings: differing(&[target.settings.to_dd_json()], defaults),
        body: Body::Figures(figures),
    }
}

fn sweep_section(
    src: &Sources,
    page: &mut Page,
    id: String,
    cells: std::ops::Range<usize>,
    axes: &crate::plan::SweepAxes,
    defaults: &Map<String, Value>,
) -> Section {
    let grid = Grid::of(axes);
    let mut links = Vec::new();
    if let Some(sheet) = src.sheets.get(&axes.name) {
        links.push(Link {
            text: "contact sheet".into(),
            href: sheet.clone(),
        });
    }
    let mut placed = HashMap::new();
    let mut settings = Vec::new();
    for t in cells {
        let target = &src.plan.targets[t];
        settings.push(target.settings.to_dd_json());
        let coords = target.sweep.as_ref().map(|c| c.coords.as_slice());
        // an animation cell shows its last frame
        let jobs = if target.animation {
            target.jobs.end.saturating_sub(1).max(target.jobs.start)..target.jobs.end
        } else {
            target.jobs.clone()
        };
        let figures: Vec<Figure> = jobs.map(|j| figure(src, page, j)).collect();
        placed.insert(grid.place(coords.unwrap_or_default()), figures);
    }
    Section {
        id,
        heading: format!("sweep \"{}\"", axes.name),
        links,
        settings: differing(&settings, defaults),
        body: Body::Grid {
            grid,
            cells: placed,
        },
    }
}

fn settings_link(target: &TargetPlan) -> Link {
    Link {
        text: "settings file".into(),
        href: rel(&target
            .folder
            .join(format!("{}(0)_settings.txt", target.batch_name))),
    }
}

/// Settings every one of `all` holds with one value that is not DD's default, as
/// (name, JSON). Settings whose value differs between them are left out.
fn differing(all: &[Map<String, Value>], defaults: &Map<String, Value>) -> Vec<(String, String)> {
    let Some((first, rest)) = all.split_first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|(k, v)| defaults.get(*k) != Some(v))
        .filter(|(k, v)| rest.iter().all(|o| o.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), show(v)))
        .collect()
}

/// A setting's value for people: strings bare, the rest as compact JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn figure(src: &Sources, page: &mut Page, j: usize) -> Figure {
    let plan = src.plan;
    let job = &plan.jobs[j];
    let target = &plan.targets[job.target];
    let what = if target.animation { "frame" } else { "image" };
    let caption = format!("{what} {}", job.index);
    let mut facts = vec![format!("seed {}", job.frame.seed)];
    let mut details = inputs(job);
    let built = src.built[j];
    let image = (built && src.thumbs.contains(&job.key)).then(|| Image {
        full: rel(&job.output),
        thumb: thumbs::rel(&job.key),
        alt: plan.job_label(j),
    });
    if image.is_some() {
        page.images += 1;
    } else {
        page.missing += 1;
        facts.push(if built { "no thumbnail" } else { "not built" }.into());
    }
    if built && let Some(r) = src.store.record(&job.key) {
        facts.push(format!("{:.1} s on {}", r.seconds, r.device));
        if let Some(total) = r.losses.get("total").and_then(Value::as_f64) {
            facts.push(format!("loss {total:.4}"));
        }
        details.extend(record_details(&r));
    }
    details.push(("key".into(), job.key.to_string()));
    let c = &target.common.inputs;
    Figure {
        caption,
        size: thumbs::size(c.width, c.height),
        image,
        facts,
        details,
    }
}

/// A job's resolved inputs beyond its target's settings.
fn inputs(job: &Job) -> Vec<(String, String)> {
    let f = &job.frame;
    let mut out = Vec::new();
    for p in &f.text_prompts {
        out.push((
            "text prompt".into(),
            format!("{} (weight {})", p.text, p.weight),
        ));
    }
    for p in &f.image_prompts {
        out.push((
            "image prompt".into(),
            format!("{} (weight {})", p.path, p.weight),
        ));
    }
    let init = match &f.init {
        Init::None => None,
        Init::Perlin { mode } => Some(format!("Perlin ({mode})")),
        Init::Voronoi { points, .. } => Some(format!("Voronoi ({points} points)")),
        Init::Image { path, .. } => Some(path.clone()),
        Init::PreviousFrame {
            angle,
            zoom,
            translation_x,
            translation_y,
            ..
        } => Some(format!(
            "previous frame, angle {angle}, zoom {zoom}, translation ({translation_x}, {translation_y})"
        )),
        Init::Warp3d(w) => Some(format!(
            "previous frame in 3D, translation ({}, {}, {}), rotation ({}, {}, {}), fov {}, midas weight {}",
            w.translation_x,
            w.translation_y,
            w.translation_z,
            w.rotation_3d_x,
            w.rotation_3d_y,
            w.rotation_3d_z,
            w.fov,
            w.midas_weight
        )),
        Init::SourceFrame { .. } => Some("source frame".into()),
        Init::FlowBlend { blend, .. } => Some(format!(
            "source frame, blended {blend} with the previous frame warped along the flow"
        )),
    };
    if let Some(init) = init {
        out.push(("init".into(), init));
    }
    if let Some(s) = f.init_scale {
        out.push(("init scale".into(), s.to_string()));
    }
    out.push(("skip steps".into(), f.skip_steps.to_string()));
    out
}

fn record_details(r: &Record) -> Vec<(String, String)> {
    let mut out = vec![("steps run".into(), r.steps.to_string())];
    if let Value::Object(terms) = &r.losses {
        for (name, v) in terms.iter().filter(|(n, _)| *n != "total") {
            if let Some(x) = v.as_f64() {
                out.push((format!("{name} loss"), format!("{x:.4}")));
            }
        }
    }
    out
}

/// A project-relative path as a link from `images_out/report.html`.
pub fn rel(path: &Path) -> String {
    let parts = |p: &Path| -> Vec<String> {
        p.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect()
    };
    match path.strip_prefix(IMAGES_OUT) {
        Ok(inner) => parts(inner).join("/"),
        Err(_) => format!("../{}", parts(path).join("/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_images_out() {
        assert_eq!(rel(Path::new("images_out/a/b(0)_1.png")), "a/b(0)_1.png");
        assert_eq!(rel(Path::new("elsewhere/x.png")), "../elsewhere/x.png");
    }

    #[test]
    fn differing_keeps_shared_non_default_settings_only() {
        let m = |pairs: &[(&str, Value)]| -> Map<String, Value> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), v.clone()))
                .collect()
        };
        let defaults = m(&[
            ("steps", 250.into()),
            ("seed", 0.into()),
            ("eta", 0.8.into()),
        ]);
        let a = m(&[
            ("steps", 50.into()),
            ("seed", 1.into()),
            ("eta", 0.8.into()),
        ]);
        let b = m(&[
            ("steps", 50.into()),
            ("seed", 2.into()),
            ("eta", 0.8.into()),
        ]);
        assert_eq!(
            differing(&[a.clone(), b], &defaults),
            [("steps".to_owned(), "50".to_owned())]
        );
        assert_eq!(differing(&[a], &defaults).len(), 2);
    }
}
