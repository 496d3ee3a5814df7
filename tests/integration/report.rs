//! Contact sheets and the HTML report: what is redrawn when (the engine with its seams
//! faked), every link of the report present on disk, and the report of a real build on the
//! tiny model set loaded by a real browser (headless Chromium), which must display every
//! image; its screenshot goes under `target/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use disco::build::{self, BuildEvent, BuildOptions, Hooks, RenderOutcome, Renderer, Request};
use disco::report::sheet::EMPTY;
use disco::store::Store;
use serde_json::Value;

use crate::engine::{FakeFacts, FakeRenderer};
use crate::models::tiny_set;
use crate::support::{disco, root, text};

const PROJECT: &str = r#"
model-set "models"
width-height 64 64
steps 20
seed 1
text-prompts "a <red> circle & \"a square\""
sweep "grid" {
    n-batches 1
    axis "clip-guidance-scale" 5000 6000
    axis "seed" 1 2 3
}
stills "still" {
    n-batches 2
    tv-scale 1
}
animation "film" {
    max-frames 2
}
"#;

/// A temp project built by the engine with a fake renderer.
struct Scenario {
    dir: tempfile::TempDir,
    facts: FakeFacts,
}

impl Scenario {
    fn new(text: &str) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("disco.kdl"), text).unwrap();
        Scenario {
            dir,
            facts: FakeFacts {
                model_hash: "m1".into(),
            },
        }
    }

    fn edit(&self, from: &str, to: &str) {
        let path = self.dir.path().join("disco.kdl");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in the project");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn out(&self, rel: &str) -> PathBuf {
        self.dir.path().join("images_out").join(rel)
    }

    /// Builds the targets `only` (all if empty); returns every event.
    fn build(&mut self, only: &[&str]) -> Vec<BuildEvent> {
        self.build_with(only, &mut FakeRenderer)
    }

    fn build_with(&mut self, only: &[&str], renderer: &mut dyn Renderer) -> Vec<BuildEvent> {
        let loaded = disco::project::load(&self.dir.path().join("disco.kdl"));
        let project = loaded
            .project
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let store = Store::new(self.dir.path());
        let only: Vec<String> = only.iter().map(|s| (*s).to_owned()).collect();
        let plan = build::make_plan(&project, &only, None, &store, &mut self.facts).expect("plan");
        let mut events = Vec::new();
        let mut sink = |e: &BuildEvent| events.push(e.clone());
        build::build(
            &plan,
            &BuildOptions::default(),
            renderer,
            &mut sink,
            &AtomicBool::new(false),
        )
        .expect("build");
        events
    }
}

/// The fake renderer, but the job labelled `fail` fails.
struct FailOne {
    fail: &'static str,
}

impl Renderer for FailOne {
    fn render(
        &mut self,
        req: &Request<'_>,
        hooks: &mut dyn Hooks,
        cancel: &AtomicBool,
    ) -> Result<RenderOutcome, build::RenderError> {
        if req.plan.job_label(req.job) == self.fail {
            return Err("NaN in the denoised estimate".into());
        }
        FakeRenderer.render(req, hooks, cancel)
    }
}

fn rendered(events: &[BuildEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::JobFinished { job, .. } => Some(job.clone()),
            _ => None,
        })
        .collect()
}

/// Tiles of each contact sheet redrawn.
fn sheets(events: &[BuildEvent]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::ContactSheet { tiles, .. } => Some(*tiles),
            _ => None,
        })
        .collect()
}

fn report_written(events: &[BuildEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, BuildEvent::Report { .. }))
}

fn png_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `src` and `href` of the report but in-page anchors, decoded to a path under
/// `images_out/`.
fn links(report: &Path) -> Vec<PathBuf> {
    let html = std::fs::read_to_string(report).unwrap();
    let re = regex::Regex::new(r#"(?:src|href)="([^"]*)""#).unwrap();
    re.captures_iter(&html)
        .map(|c| c[1].to_owned())
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            assert!(!l.contains("://"), "{l} is not a relative link");
            let l = htmlize::unescape(l.as_str()).into_owned();
            let decoded = percent_encoding::percent_decode_str(&l)
                .decode_utf8()
                .unwrap();
            report.parent().unwrap().join(decoded.as_ref())
        })
        .collect()
}

fn assert_links_exist(report: &Path) -> usize {
    let links = links(report);
    for l in &links {
        assert!(
            l.is_file(),
            "the report links to {}, which is missing",
            l.display()
        );
    }
    links.len()
}

#[test]
fn sheets_and_the_report_are_redrawn_exactly_when_what_they_show_changes() {
    let mut s = Scenario::new(PROJECT);
    let first = s.build(&[]);
    assert_eq!(rendered(&first).len(), 6 + 2 + 2);
    assert_eq!(sheets(&first), [6]);
    assert!(report_written(&first));
    let sheet = s.out("grid/grid_contact.png");
    let report = s.out("report.html");
    let (w0, h0) = png_size(&sheet);
    // 10 thumbnails and 10 full images, 2 settings files, the sheet (and the video if made)
    let n = assert_links_exist(&report);
    assert!(n >= 23, "{n} links");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("a &lt;red&gt; circle &amp; \"a square\""),
        "{html}"
    );
    assert!(html.contains("<th>seed=3</th>") && html.contains("<th>clip-guidance-scale=6000</th>"));
    let (sheet0, report0) = (
        std::fs::read(&sheet).unwrap(),
        std::fs::read(&report).unwrap(),
    );

    // nothing changed: nothing rendered, nothing redrawn
    let again = s.build(&[]);
    assert!(rendered(&again).is_empty());
    assert!(
        sheets(&again).is_empty() && !report_written(&again),
        "{again:?}"
    );
    assert_eq!(std::fs::read(&sheet).unwrap(), sheet0);
    assert_eq!(std::fs::read(&report).unwrap(), report0);

    // a value added to one axis: its 2 cells render, the sheet gains a column
    s.edit("1 2 3", "1 2 3 4");
    let grown = s.build(&[]);
    assert_eq!(
        rendered(&grown),
        [
            "grid[clip-guidance-scale=5000,seed=4] image 0",
            "grid[clip-guidance-scale=6000,seed=4] image 0"
        ]
    );
    assert_eq!(sheets(&grown), [8]);
    assert!(report_written(&grown));
    let (w1, h1) = png_size(&sheet);
    assert!(w1 > w0 && h1 == h0, "{w0}×{h0} → {w1}×{h1}");
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("<th>seed=4</th>")
    );

    // another target changes: the report is rewritten, the sheet is not
    s.edit("n-batches 2", "n-batches 3");
    let more = s.build(&[]);
    assert_eq!(rendered(&more), ["still image 2"]);
    assert!(sheets(&more).is_empty() && report_written(&more));
    assert_links_exist(&report);

    // a deleted thumbnail is made again
    let thumbs: Vec<PathBuf> = std::fs::read_dir(s.out(".thumbs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(thumbs.len(), 8 + 3 + 2);
    std::fs::remove_file(&thumbs[0]).unwrap();
    assert!(rendered(&s.build(&[])).is_empty());
    assert!(thumbs[0].is_file());

    // a build of one target draws its sheet but leaves the report, which shows them all
    s.edit("1 2 3 4", "1 2 3 4 5");
    let report1 = std::fs::read(&report).unwrap();
    let one = s.build(&["grid"]);
    assert_eq!((rendered(&one).len(), sheets(&one)), (2, vec![10]));
    assert!(!report_written(&one));
    assert_eq!(std::fs::read(&report).unwrap(), report1);
    assert!(report_written(&s.build(&[])));
}

#[test]
fn a_cell_that_failed_is_an_empty_tile_until_it_is_built() {
    let mut s = Scenario::new(PROJECT);
    let failing = "grid[clip-guidance-scale=6000,seed=2] image 0";
    let first = s.build_with(&[], &mut FailOne { fail: failing });
    assert!(
        first
            .iter()
            .any(|e| matches!(e, BuildEvent::JobFailed { job, .. } if job == failing))
    );
    assert_eq!(sheets(&first), [6]);
    let html = std::fs::read_to_string(s.out("report.html")).unwrap();
    assert_eq!(html.matches("<img ").count(), 9);
    assert_eq!(html.matches(">not built</div>").count(), 1);
    assert!(html.contains("; 1 not built."), "{html}");
    assert_links_exist(&s.out("report.html"));
    // the failed cell's tile is filled where its image would be
    let sheet = image::open(s.out("grid/grid_contact.png"))
        .unwrap()
        .to_rgb8();
    let empty = |img: &image::RgbImage| img.pixels().filter(|p| **p == EMPTY).count();
    assert!(
        empty(&sheet) >= 64 * 64 / 2,
        "{} pixels of an empty tile",
        empty(&sheet)
    );

    let fixed = s.build(&[]);
    assert_eq!(rendered(&fixed), [failing]);
    assert_eq!(sheets(&fixed), [6]);
    assert!(report_written(&fixed));
    let sheet = image::open(s.out("grid/grid_contact.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(empty(&sheet), 0);
    assert!(
        !std::fs::read_to_string(s.out("report.html"))
            .unwrap()
            .contains("not built")
    );
}

#[test]
fn temporaries_a_killed_build_left_beside_the_sheet_and_report_are_cleared() {
    let mut s = Scenario::new(PROJECT);
    s.build(&[]);
    let strays = [
        ".disco-tmp-r1",
        ".thumbs/.disco-tmp-t1",
        "grid/.disco-tmp-s1",
    ]
    .map(|p| s.out(p));
    for p in &strays {
        std::fs::write(p, b"half").unwrap();
    }
    assert!(rendered(&s.build(&[])).is_empty());
    for p in &strays {
        assert!(!p.exists(), "{} left", p.display());
    }
}

/// The sweep of the browser test: 2 × 3 cells on the tiny set, as small as renders go.
fn tiny_project(models: &Path, seeds: &str) -> String {
    format!(
        "model-set \"{}\"\nwidth-height 64 64\nsteps 6\nskip-steps 4\nseed 2\ncutn-batches 1\n\
         clip-models \"RN50\"\ntext-prompts \"a red circle\"\n\
         sweep \"grid\" {{\n    n-batches 1\n    axis \"clip-guidance-scale\" 5000 6000\n    axis \"seed\" {seeds}\n}}\n",
        models.display()
    )
}

/// `disco build --message-format json`: (exit code, events).
fn build_json(dir: &Path) -> Vec<Value> {
    let out = disco(dir, &["build", "--message-format", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["event"] == kind).count()
}

/// Chromium, or `None` (outside CI) when it is not installed.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium on PATH (scripts/setup.sh installs Debian's `chromium`)"
        );
        eprintln!("skipping the browser check: no chromium on PATH (apt-get install chromium)");
    }
    found
}

/// Runs headless Chromium on `page` with `args`; returns stdout.
fn headless(chromium: &Path, page: &Path, profile: &Path, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "chromium failed: {stderr}");
    stdout
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

#[test]
fn the_report_of_a_2x3_sweep_shows_every_image_in_a_browser() {
    let Some(models) = tiny_set().map(|s| s.dir) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(&kdl, tiny_project(&models, "1 2 3")).unwrap();
    let first = build_json(dir.path());
    assert_eq!(count(&first, "job-finished"), 6);
    assert_eq!(count(&first, "contact-sheet"), 1);
    assert_eq!(count(&first, "report"), 1);
    let images_out = dir.path().join("images_out");
    let (sheet, report) = (
        images_out.join("grid/grid_contact.png"),
        images_out.join("report.html"),
    );
    let (sheet0, report0) = (
        std::fs::read(&sheet).unwrap(),
        std::fs::read(&report).unwrap(),
    );

    let again = build_json(dir.path());
    assert_eq!(count(&again, "job-finished"), 0);
    assert_eq!(count(&again, "contact-sheet") + count(&again, "report"), 0);
    assert_eq!(std::fs::read(&sheet).unwrap(), sheet0);

    std::fs::write(&kdl, tiny_project(&models, "1 2 3 4")).unwrap();
    let grown = build_json(dir.path());
    let jobs: Vec<&str> = grown
        .iter()
        .filter(|e| e["event"] == "job-finished")
        .map(|e| e["job"].as_str().unwrap())
        .collect();
    assert_eq!(
        jobs,
        [
            "grid[clip-guidance-scale=5000,seed=4] image 0",
            "grid[clip-guidance-scale=6000,seed=4] image 0"
        ]
    );
    let sheet1 = std::fs::read(&sheet).unwrap();
    assert_ne!(sheet1, sheet0);
    assert!(png_size(&sheet).0 > image::load_from_memory(&sheet0).unwrap().width());
    assert_ne!(std::fs::read(&report).unwrap(), report0);
    assert_links_exist(&report);
    let html = std::fs::read_to_string(&report).unwrap();
    let imgs = html.matches("<img ").count();
    assert_eq!(imgs, 8);
    assert!(
        html.contains("loss ") && html.contains(" s on cpu"),
        "{html}"
    );

    let Some(chromium) = chromium() else { return };
    let profile = tempfile::tempdir().unwrap();
    let dom = headless(&chromium, &report, profile.path(), &["--dump-dom"]);
    assert!(
        dom.contains(&format!("data-images=\"{imgs}\"")) && dom.contains("data-failed=\"0\""),
        "the page's check did not run or found failures:\n{dom}"
    );
    assert_eq!(dom.matches("data-state=\"loaded\"").count(), imgs, "{dom}");
    let shot = target_dir().join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &chromium,
        &report,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1400",
        ],
    );
    assert_eq!(png_size(&shot), (1280, 1400));
    println!("report screenshot: {}", shot.display());
    eprintln!("report screenshot: {}", shot.display());

    // a deleted thumbnail: the page says so, naming it
    let thumb = std::fs::read_dir(images_out.join(".thumbs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&thumb).unwrap();
    let dom = headless(&chromium, &report, profile.path(), &["--dump-dom"]);
    assert!(dom.contains("data-failed=\"1\""), "{dom}");
    let name = thumb.file_name().unwrap().to_string_lossy().into_owned();
    let warning = &dom[dom.find("id=\"load-failures\"").unwrap()..];
    assert!(
        !warning.starts_with("id=\"load-failures\" hidden") && warning.contains(&name),
        "{warning}"
    );
}
