//! Reading a project: the main file, its includes, top-level settings and target blocks.
//!
//! Settings layer in reading order with includes spliced in where they are named, so a
//! later value wins. Targets inherit the final top-level settings and override them inside
//! their block. Every problem found is collected; the project is returned only if none of
//! them is an error.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdl::{KdlDocument, KdlNode, KdlValue};

use super::bounds;
use super::diagnostic::{Diagnostic, Diagnostics};
use super::limits::{MAX_FILES, MAX_INCLUDE_EXPANSIONS, MAX_PROJECT_BYTES, MAX_TOTAL_BYTES};
use super::model::{Axis, Cell, Project, Sweep, Target, TargetKind};
use super::names;
use super::outputs;
use super::parse::parse_kdl;
use super::read::{self, Cx};
use super::schema::{self, CLIP_MODELS, SCHEMA, Settings, UNSUPPORTED};
use super::source::{Origin, SourceFile, Spanned};
use super::types::{AnimationMode, ChoiceSetting, fmt_number};
use super::validate;
use disco_fsutil::{BoundedReadError, read_to_string_bounded};
use disco_kernels::sampler::SamplerKind;

pub use super::limits::MAX_SWEEP_CELLS;

/// How the loader reads a file: at most [`MAX_PROJECT_BYTES`], regular files only.
type ReadFn<'a> = &'a dyn Fn(&Path) -> Result<String, BoundedReadError>;

fn read_project_file(p: &Path) -> Result<String, BoundedReadError> {
    read_to_string_bounded(p, MAX_PROJECT_BYTES as u64)
}

/// Node names that are not settings.
const KEYWORDS: &[&str] = &[
    "include",
    "stills",
    "animation",
    "sweep",
    "clip-models",
    "axis",
];

/// What loading produced: the project if it is valid, and every diagnostic.
#[derive(Debug)]
pub struct LoadResult {
    /// The project, if there were no errors.
    pub project: Option<Project>,
    /// Errors and warnings, in the order found.
    pub diagnostics: Diagnostics,
}

/// Loads the project at `path` from the file system.
pub fn load(path: &Path) -> LoadResult {
    Loader::new(&read_project_file).run(path, None)
}

/// Loads a project whose main file has the given text (includes still come from disk).
pub fn load_str(path: &Path, text: &str) -> LoadResult {
    Loader::new(&read_project_file).run(path, Some(text.to_owned()))
}

struct RawTarget {
    kind: TargetKind,
    node: KdlNode,
    file: Arc<SourceFile>,
}

struct Loader<'a> {
    read: ReadFn<'a>,
    files: Vec<Arc<SourceFile>>,
    diags: Diagnostics,
    /// Canonical paths of the files being read, for include cycles.
    stack: Vec<PathBuf>,
    /// Every file read so far by canonical path, with its document (`None` if it did not
    /// parse): a file included again is walked again but read and parsed once.
    parsed: HashMap<PathBuf, (Arc<SourceFile>, Option<Arc<KdlDocument>>)>,
    /// Bytes of all distinct files read (bounded by [`MAX_TOTAL_BYTES`]).
    total_bytes: usize,
    /// `include` nodes expanded so far (bounded by [`MAX_INCLUDE_EXPANSIONS`]).
    expansions: usize,
    /// Whether an include was refused for going past [`MAX_FILES`].
    too_many_files: bool,
}

impl<'a> Loader<'a> {
    fn new(read: ReadFn<'a>) -> Self {
        Loader {
            read,
            files: Vec::new(),
            diags: Diagnostics::default(),
            stack: Vec::new(),
            parsed: HashMap::new(),
            total_bytes: 0,
            expansions: 0,
            too_many_files: false,
        }
    }

    fn run(mut self, path: &Path, text: Option<String>) -> LoadResult {
        let text = match text.map(Ok).unwrap_or_else(|| (self.read)(path)) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(Diagnostic::bare(format!(
                    "cannot read project file {}: {e}",
                    path.display()
                )));
                return LoadResult {
                    project: None,
                    diagnostics: self.diags,
                };
            }
        };
        let mut base = Settings::default();
        let mut raw = Vec::new();
        let file = SourceFile::new(path, text);
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        if let Some(doc) = self.parse(canon, file.clone()) {
            self.walk_file(&file, &doc, &mut base, &mut raw);
        }

        let mut targets = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for rt in raw {
            if let Some(t) = self.target(&base, rt) {
                if !seen.insert(t.name.value.clone()) {
                    let o = t
                        .name
                        .origin
                        .clone()
                        .expect("declared targets have an origin");
                    self.diags.push(
                        Diagnostic::error(
                            format!("two targets are named `{}`", t.name.value),
                            &o,
                            "duplicate name",
                        )
                        .with_help(
                            "target names must be unique: `disco build NAME` selects by name",
                        ),
                    );
                }
                targets.push(t);
            }
        }
        if targets.is_empty() && !self.diags.has_errors() {
            let mut settings = base.clone();
            finish(&mut settings);
            targets.push(Target {
                name: base.batch_name.clone(),
                kind: TargetKind::Implicit,
                settings,
                sweep: None,
            });
        }
        for t in &targets {
            validate::target(t, &mut self.diags);
        }
        bounds::check(&targets, &mut self.diags);
        // Output paths only mean something for targets that are otherwise valid (two
        // targets with one name would also be reported as writing one folder).
        if !self.diags.has_errors() {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            outputs::check(dir.unwrap_or(Path::new(".")), &targets, &mut self.diags);
        }
        let diagnostics = dedup(self.diags);
        let project = (!diagnostics.has_errors()).then(|| Project {
            path: path.to_owned(),
            files: self.files,
            base,
            targets,
        });
        LoadResult {
            project,
            diagnostics,
        }
    }

    /// Parses a file read for the first time and remembers it under its canonical path.
    fn parse(&mut self, canon: PathBuf, file: Arc<SourceFile>) -> Option<Arc<KdlDocument>> {
        self.files.push(file.clone());
        self.total_bytes += file.text.len();
        let doc = match parse_kdl(&file) {
            Ok(doc) => Some(Arc::new(doc)),
            Err(errs) => {
                errs.into_iter().for_each(|d| self.diags.push(d));
                None
            }
        };
        self.parsed.insert(canon, (file, doc.clone()));
        doc
    }

    fn walk_file(
        &mut self,
        file: &Arc<SourceFile>,
        doc: &KdlDocument,
        base: &mut Settings,
        raw: &mut Vec<RawTarget>,
    ) {
        let cx = Cx { file };
        for node in doc.nodes() {
            match node.name().value() {
                "include" => self.include(node, cx, base, raw),
                "stills" => raw.push(RawTarget {
                    kind: TargetKind::Stills,
                    node: node.clone(),
                    file: file.clone(),
                }),
                "animation" => raw.push(RawTarget {
                    kind: TargetKind::Animation,
                    node: node.clone(),
                    file: file.clone(),
                }),
                "sweep" => raw.push(RawTarget {
                    kind: TargetKind::Sweep,
                    node: node.clone(),
                    file: file.clone(),
                }),
                _ => self.setting(base, node, cx),
            }
        }
    }

    fn include(&mut self, node: &KdlNode, cx: Cx, base: &mut Settings, raw: &mut Vec<RawTarget>) {
        let entry = match read::single(node, cx, "a path")
            .and_then(|e| read::string(e, cx).map(|s| (e, s)))
        {
            Ok(x) => x,
            Err(d) => return self.diags.push(d),
        };
        let (e, rel) = entry;
        let path = cx.file.dir().join(rel);
        let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
        let this = cx
            .file
            .path
            .canonicalize()
            .unwrap_or_else(|_| cx.file.path.clone());
        if canon == this || self.stack.contains(&canon) {
            return self.diags.push(
                Diagnostic::error(
                    format!("`{rel}` includes itself (directly or through other includes)"),
                    &cx.entry(e),
                    "include cycle",
                )
                .with_help("remove one of the includes in the cycle"),
            );
        }
        self.expansions += 1;
        if self.expansions > MAX_INCLUDE_EXPANSIONS {
            // Reported once: every include after the limit is refused the same way.
            if self.expansions > MAX_INCLUDE_EXPANSIONS + 1 {
                return;
            }
            return self.diags.push(
                Diagnostic::error(
                    format!("the project expands more than {MAX_INCLUDE_EXPANSIONS} includes"),
                    &cx.entry(e),
                    "one too many",
                )
                .with_help("each time a file is included its settings are applied again: include shared settings once, from the main file"),
            );
        }
        let (file, doc) = match self.parsed.get(&canon) {
            Some((file, doc)) => (file.clone(), doc.clone()),
            None => {
                let Some(text) = self.read_include(&path, cx, e) else {
                    return;
                };
                let file = SourceFile::new(path, text);
                let doc = self.parse(canon, file.clone());
                (file, doc)
            }
        };
        if let Some(doc) = doc {
            self.stack.push(this);
            self.walk_file(&file, &doc, base, raw);
            self.stack.pop();
        }
    }

    /// Reads an include for the first time, within the per-file and per-project limits.
    fn read_include(&mut self, path: &Path, cx: Cx, e: &kdl::KdlEntry) -> Option<String> {
        let refuse = |message: String, label: &str| Diagnostic::error(message, &cx.entry(e), label);
        if self.files.len() >= MAX_FILES {
            // Reported once, at the first include past the limit.
            if std::mem::replace(&mut self.too_many_files, true) {
                return None;
            }
            self.diags.push(
                refuse(
                    format!("the project reads more than {MAX_FILES} files"),
                    "one file too many",
                )
                .with_help("merge some of the included files"),
            );
            return None;
        }
        let text = match (self.read)(path) {
            Ok(t) => t,
            Err(err) => {
                let d = refuse(
                    format!("cannot read included file {}: {err}", path.display()),
                    "included here",
                );
                self.diags.push(match err {
                    BoundedReadError::NotRegular { .. } => {
                        d.with_help("an include must name a regular file (or a symlink to one)")
                    }
                    _ => d,
                });
                return None;
            }
        };
        if self.total_bytes + text.len() > MAX_TOTAL_BYTES {
            self.diags.push(refuse(
                format!(
                    "the project's files hold more than {MAX_TOTAL_BYTES} bytes together, with {}",
                    path.display()
                ),
                "one file too many",
            ));
            return None;
        }
        Some(text)
    }

    /// Applies one setting node; unknown names become "did you mean" errors.
    fn setting(&mut self, settings: &mut Settings, node: &KdlNode, cx: Cx) {
        let name = node.name().value();
        if name == "clip-models" {
            return self.clip_models(settings, node, cx);
        }
        if name == "sampling-mode"
            && let Some(KdlValue::String(s)) = node.entries().first().map(|e| e.value())
            && let Ok(sampler) = SamplerKind::parse(s)
        {
            self.diags.push(
                        Diagnostic::warning(
                            format!("`sampling-mode \"{s}\"` sets the sampler; its DD name is `diffusion-sampling-mode`"),
                            &cx.name(node),
                            "read as diffusion-sampling-mode",
                        )
                        .with_help("in Disco Diffusion `sampling_mode` is the 3D warp's interpolation; write `diffusion-sampling-mode` to be unambiguous"),
                    );
            settings.diffusion_sampling_mode = Spanned::at(sampler, cx.value_origin(node));
            return;
        }
        match settings.set(name, node, cx) {
            Some(Ok(())) => {}
            Some(Err(d)) => self.diags.push(d),
            None => self.diags.push(unknown_node(name, &cx.name(node))),
        }
    }

    /// `clip-models "ViT-B/32" "RN50"`: exactly these models on, the others off.
    fn clip_models(&mut self, settings: &mut Settings, node: &KdlNode, cx: Cx) {
        let args = match read::args(node, cx, "CLIP model names") {
            Ok(a) => a,
            Err(d) => return self.diags.push(d),
        };
        let mut on = BTreeSet::new();
        for e in args {
            let s = match read::string(e, cx) {
                Ok(s) => s,
                Err(d) => return self.diags.push(d),
            };
            match CLIP_MODELS
                .iter()
                .find(|(n, dd, clip)| s == *n || s == *dd || s == *clip)
            {
                Some((n, _, _)) => {
                    on.insert(*n);
                }
                None if UNSUPPORTED.iter().any(|(dd, _)| *dd == s) => {
                    return self.diags.push(
                        Diagnostic::error(format!("CLIP model `{s}` is not supported yet"), &cx.entry(e), "not supported yet")
                            .with_help("OpenCLIP models are not exported yet; use the OpenAI models (ViT-B/32, RN50, …)"),
                    );
                }
                None => {
                    let all = CLIP_MODELS.iter().flat_map(|(n, dd, c)| [*n, *dd, *c]);
                    let d = Diagnostic::error(format!("unknown CLIP model `{s}`"), &cx.entry(e), "not a CLIP model disco knows")
                        .with_help(match names::closest(s, all) {
                            Some(best) => format!("did you mean `{best}`? Known: ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336px, RN50, RN101, RN50x4, RN50x16, RN50x64"),
                            None => "known: ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336px, RN50, RN101, RN50x4, RN50x16, RN50x64".into(),
                        });
                    return self.diags.push(d);
                }
            }
        }
        for (n, _, _) in CLIP_MODELS {
            let toggle = KdlNode::new(*n);
            let mut toggle = toggle;
            toggle.push(kdl::KdlEntry::new(on.contains(n)));
            toggle.set_span(node.span());
            if let Some(Err(d)) = settings.set(n, &toggle, cx) {
                self.diags.push(d);
            }
        }
    }

    fn target(&mut self, base: &Settings, rt: RawTarget) -> Option<Target> {
        let cx = Cx { file: &rt.file };
        let node = &rt.node;
        let keyword = node.name().value();
        let name = match node.entries().first() {
            Some(e) if e.name().is_none() => match read::string(e, cx) {
                Ok(s) if !s.trim().is_empty() => Spanned::at(s.to_owned(), cx.entry(e)),
                Ok(_) => {
                    self.diags.push(Diagnostic::error(
                        "a target name cannot be empty",
                        &cx.entry(e),
                        "empty name",
                    ));
                    return None;
                }
                Err(d) => {
                    self.diags.push(d);
                    return None;
                }
            },
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        format!("`{keyword}` needs a name"),
                        &cx.name(node),
                        "expected a name",
                    )
                    .with_help(format!("write e.g. `{keyword} \"lighthouse\" {{ … }}`")),
                );
                return None;
            }
        };
        if let Some(extra) = node.entries().get(1) {
            self.diags.push(Diagnostic::error(
                format!("`{keyword}` takes only a name"),
                &cx.entry(extra),
                "unexpected value",
            ));
        }
        let mut settings = base.clone();
        settings.batch_name =
            Spanned::at(name.value.clone(), name.origin.clone().expect("written"));
        if rt.kind == TargetKind::Animation {
            settings.animation_mode = Spanned::at(AnimationMode::TwoD, cx.name(node));
        }
        let mut axes_nodes = Vec::new();
        for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
            match child.name().value() {
                "axis" if rt.kind == TargetKind::Sweep => axes_nodes.push(child),
                "axis" => self.diags.push(
                    Diagnostic::error(
                        "`axis` belongs in a `sweep` block",
                        &cx.name(child),
                        "not in a sweep",
                    )
                    .with_help(format!("change `{keyword}` to `sweep` to render a grid")),
                ),
                kw @ ("include" | "stills" | "animation" | "sweep") => {
                    self.diags.push(Diagnostic::error(
                        format!("`{kw}` cannot appear inside a target"),
                        &cx.name(child),
                        "only settings (and `axis` in sweeps) go here",
                    ))
                }
                _ => self.setting(&mut settings, child, cx),
            }
        }
        // The keyword says what the target is; an `animation-mode` that contradicts it is an error.
        let animated = settings.animation_mode.value != AnimationMode::None;
        let mismatch = match rt.kind {
            TargetKind::Stills if animated => Some((
                "a `stills` target cannot be an animation",
                "animation mode set here",
                "declare it as `animation \"name\" { … }`, or set `animation-mode \"None\"`",
            )),
            TargetKind::Animation if !animated => Some((
                "an `animation` target cannot render stills",
                "animation mode \"None\" set here",
                "declare it as `stills \"name\" { … }`, or remove `animation-mode`",
            )),
            _ => None,
        };
        if let Some((message, label, help)) = mismatch {
            let o = settings
                .animation_mode
                .origin
                .clone()
                .unwrap_or_else(|| cx.name(node));
            self.diags
                .push(Diagnostic::error(message, &o, label).with_help(help));
        }
        finish(&mut settings);
        let sweep = match rt.kind {
            TargetKind::Sweep => Some(self.sweep(node, &axes_nodes, &settings, cx)?),
            _ => None,
        };
        Some(Target {
            name,
            kind: rt.kind,
            settings,
            sweep,
        })
    }

    fn sweep(
        &mut self,
        node: &KdlNode,
        axes_nodes: &[&KdlNode],
        settings: &Settings,
        cx: Cx,
    ) -> Option<Sweep> {
        if axes_nodes.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "a sweep needs at least one `axis`",
                    &cx.name(node),
                    "no axis",
                )
                .with_help("add e.g. `axis \"clip-guidance-scale\" 5000 10000`"),
            );
            return None;
        }
        let mut axes = Vec::new();
        let mut values: Vec<Vec<KdlNode>> = Vec::new();
        let mut used = HashSet::new();
        for a in axes_nodes {
            let args: Vec<_> = a.entries().iter().collect();
            let Some((first, rest)) = args.split_first() else {
                self.diags.push(Diagnostic::error(
                    "`axis` needs a setting name and values",
                    &cx.node(a),
                    "empty axis",
                ));
                return None;
            };
            let setting = match read::string(first, cx) {
                Ok(s) => s,
                Err(d) => {
                    self.diags.push(d);
                    return None;
                }
            };
            let Some(info) = schema::info(setting) else {
                self.diags.push(unknown_node(setting, &cx.entry(first)));
                return None;
            };
            if !used.insert(info.name) {
                self.diags.push(Diagnostic::error(
                    format!("`{setting}` is swept twice"),
                    &cx.entry(first),
                    "repeated axis",
                ));
                return None;
            }
            if rest.is_empty() {
                self.diags.push(Diagnostic::error(
                    format!("axis `{setting}` has no values"),
                    &cx.node(a),
                    "expected values",
                ));
                return None;
            }
            if rest.len() > MAX_SWEEP_CELLS {
                self.diags.push(Diagnostic::error(
                    format!(
                        "axis `{setting}` has {} values; a sweep may have at most {MAX_SWEEP_CELLS} cells",
                        rest.len()
                    ),
                    &cx.node(a),
                    "too many values",
                ));
                return None;
            }
            let mut labels = Vec::new();
            // Labels are the values' canonical spelling (1 and 1.0 are both "1"): a set
            // keeps the repeat check linear (a list made 100k values take minutes).
            let mut seen_labels = HashSet::new();
            let mut nodes = Vec::new();
            for e in rest {
                if let Some(p) = e.name() {
                    self.diags.push(Diagnostic::error(
                        format!("`axis` takes no property `{}`", p.value()),
                        &cx.entry(e),
                        "unexpected property",
                    ));
                    return None;
                }
                let label = match e.value() {
                    KdlValue::String(s) => s.clone(),
                    KdlValue::Integer(i) => i.to_string(),
                    KdlValue::Float(f) => fmt_number(*f),
                    KdlValue::Bool(b) => b.to_string(),
                    KdlValue::Null => "null".into(),
                };
                if !seen_labels.insert(label.clone()) {
                    self.diags.push(Diagnostic::error(
                        format!("axis `{setting}` repeats the value {label}"),
                        &cx.entry(e),
                        "repeated value",
                    ));
                    return None;
                }
                let mut n = KdlNode::new(info.name);
                n.push((*e).clone());
                n.set_span(e.span());
                labels.push(label);
                nodes.push(n);
            }
            axes.push(Axis {
                setting: Spanned::at(info.name, cx.entry(first)),
                labels,
            });
            values.push(nodes);
        }
        // Checked: 8 axes of 256 values are 2^64 cells, which wrapped to "0 cells".
        let total = values
            .iter()
            .try_fold(1usize, |n, v| n.checked_mul(v.len()))
            .filter(|&n| n <= MAX_SWEEP_CELLS);
        let Some(total) = total else {
            let shown = values
                .iter()
                .map(|v| v.len().to_string())
                .collect::<Vec<_>>()
                .join(" × ");
            self.diags.push(
                Diagnostic::error(
                    format!("the sweep has {shown} cells; the limit is {MAX_SWEEP_CELLS}"),
                    &cx.name(node),
                    "too many cells",
                )
                .with_help("sweep fewer values, or split the sweep into several targets"),
            );
            return None;
        };
        let mut cells = Vec::with_capacity(total);
        for i in 0..total {
            let mut coords = vec![0; axes.len()];
            let mut rem = i;
            for (k, vals) in values.iter().enumerate().rev() {
                coords[k] = rem % vals.len();
                rem /= vals.len();
            }
            let mut s = settings.clone();
            let mut parts = Vec::new();
            for (k, &c) in coords.iter().enumerate() {
                let n = &values[k][c];
                match s.set(axes[k].setting.value, n, cx) {
                    Some(Ok(())) => {}
                    Some(Err(d)) => {
                        self.diags.push(d);
                        return None;
                    }
                    None => unreachable!("axis settings were looked up in the schema"),
                }
                parts.push(format!(
                    "{}={}",
                    axes[k].setting.value,
                    cell_value(&axes[k].labels[c])
                ));
            }
            finish(&mut s);
            cells.push(Cell {
                name: parts.join(","),
                coords,
                settings: s,
            });
        }
        Some(Sweep { axes, cells })
    }
}

/// A value as it appears in a cell name: quoted (with `"` and `\` escaped) when it holds a
/// character that would make the name ambiguous (`,` separates axes, `=` a name from its value).
fn cell_value(label: &str) -> String {
    if label.contains([',', '=', '"']) || label.is_empty() {
        format!("\"{}\"", label.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        label.to_owned()
    }
}

/// Applies defaults that depend on other settings (DD's 256-class default size, derived
/// respacing when not written).
fn finish(s: &mut Settings) {
    if s.width_height.origin.is_none() {
        let (w, h) = s.diffusion_model.value.default_size();
        s.width_height.value = super::types::WidthHeight {
            width: w,
            height: h,
        };
    }
    let (respacing, d) = Settings::derived_respacing(s.steps.value);
    if s.timestep_respacing.origin.is_none() {
        s.timestep_respacing.value = respacing;
    }
    if s.diffusion_steps.origin.is_none() {
        s.diffusion_steps.value = d;
    }
}

/// The error for a node that is not a setting, with the best suggestion we have.
fn unknown_node(name: &str, origin: &Origin) -> Diagnostic {
    if name == "axis" {
        return Diagnostic::error(
            "`axis` belongs in a `sweep` block",
            origin,
            "not in a sweep",
        )
        .with_help("write `sweep \"name\" { axis \"setting\" value… }`");
    }
    if name == "set_seed" {
        return Diagnostic::error("unknown setting `set_seed`", origin, "not a disco setting")
            .with_help("did you mean `seed`? (DD's `set_seed` is disco's `seed`: an integer or \"random\")");
    }
    if let Some((_, why)) = UNSUPPORTED
        .iter()
        .find(|(dd, _)| *dd == name || names::kebab(dd) == name)
    {
        return Diagnostic::error(
            format!("`{name}` is not supported yet"),
            origin,
            "not supported yet",
        )
        .with_help(*why);
    }
    let d = Diagnostic::error(
        format!("unknown setting `{name}`"),
        origin,
        "not a disco setting",
    );
    if let Some(info) = schema::by_dd_name(name) {
        return d.with_help(format!(
            "did you mean `{}`? (Disco Diffusion's `{name}`)",
            info.name
        ));
    }
    if let Some(info) = schema::info(&names::kebab(name)) {
        return d.with_help(format!("did you mean `{}`?", info.name));
    }
    let candidates = SCHEMA
        .iter()
        .map(|s| s.name)
        .chain(KEYWORDS.iter().copied());
    match names::closest(name, candidates) {
        Some(best) => d.with_help(format!("did you mean `{best}`?")),
        None => d.with_help("see docs/project-format.md for every setting"),
    }
}

/// Drops repeated diagnostics (base settings are validated once per target).
fn dedup(diags: Diagnostics) -> Diagnostics {
    let mut seen = HashSet::new();
    Diagnostics(
        diags
            .0
            .into_iter()
            .filter(|d| {
                seen.insert((
                    d.message.clone(),
                    d.primary
                        .as_ref()
                        .map(|(o, _)| (o.file.path.clone(), o.span.offset(), o.span.len())),
                ))
            })
            .collect(),
    )
}
