//! Setting nodes: one value each (through the schema), `clip-models` as a set of toggles,
//! the "did you mean" errors of names that are not settings, and the defaults that depend on
//! other settings.

use std::collections::BTreeSet;

use kdl::{KdlNode, KdlValue};

use super::Loader;
use crate::clip_names::{clip_toggle, display_names, known_clip_names};
use crate::diagnostic::Diagnostic;
use crate::names;
use crate::read::{self, Cx};
use crate::schema::{self, CLIP_MODELS, SCHEMA, Settings, UNSUPPORTED};
use crate::source::{Origin, Spanned};
use crate::types::{ChoiceSetting, CutSchedule, WidthHeight, escaped};
use disco_kernels::sampler::SamplerKind;

/// Node names that are not settings.
const KEYWORDS: &[&str] = &[
    "include",
    "stills",
    "animation",
    "sweep",
    "clip-models",
    "custom-model",
    "axis",
];

impl Loader<'_> {
    /// Applies one setting node; unknown names become "did you mean" errors.
    pub(super) fn setting(&mut self, settings: &mut Settings, node: &KdlNode, cx: Cx) {
        let name = node.name().value();
        if name == "clip-models" {
            return self.clip_models(settings, node, cx);
        }
        if name == "custom-model" {
            return self.custom_model(settings, node, cx);
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

    /// `custom-model { image-size 256; num-heads 1; … }`: each child `x` is the setting
    /// `custom-model-x` (DD forks' `custom_model_x`), so a block and flat settings mean the same.
    fn custom_model(&mut self, settings: &mut Settings, node: &KdlNode, cx: Cx) {
        if !node.entries().is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "`custom-model` takes a block, not values",
                    &cx.name(node),
                    "here",
                )
                .with_help("write `custom-model { image-size 256; num-channels 128; … }`"),
            );
        }
        for child in node.children().map(|d| d.nodes()).unwrap_or_default() {
            let field = child.name().value();
            let full = format!("custom-model-{field}");
            match settings.set(&full, child, cx) {
                Some(Ok(())) => {}
                Some(Err(d)) => self.diags.push(d),
                None => {
                    let known = SCHEMA
                        .iter()
                        .filter_map(|s| s.name.strip_prefix("custom-model-"));
                    let d = Diagnostic::error(
                        format!("`{field}` is not a custom-model field"),
                        &cx.name(child),
                        "unknown field",
                    );
                    self.diags.push(match names::closest(field, known) {
                        Some(best) => d.with_help(format!("did you mean `{best}`?")),
                        None => d,
                    });
                }
            }
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
            match clip_toggle(s) {
                Some(n) => {
                    on.insert(n);
                }
                None => {
                    let known = display_names();
                    let d = Diagnostic::error(
                        format!("unknown CLIP model `{}`", escaped(s)),
                        &cx.entry(e),
                        "not a CLIP model disco knows",
                    )
                    .with_help(match names::closest(s, known_clip_names()) {
                        Some(best) => format!("did you mean `{best}`? Known: {known}"),
                        None => format!("known: {known}"),
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
}

/// Applies defaults that depend on other settings (DD's 256-class default size, the cut
/// schedules DD sets for the pixel-art, PulpSciFi and watercolor models, derived respacing
/// when not written).
pub(super) fn finish(s: &mut Settings) {
    if s.width_height.origin.is_none() {
        let (w, h) = s.diffusion_model.value.default_size();
        s.width_height.value = WidthHeight {
            width: w,
            height: h,
        };
    }
    if let Some([overview, innercut, ic_pow, icgray_p]) = s.diffusion_model.value.cut_schedules() {
        // DD overwrites the notebook's schedules for these models; a schedule written in the
        // project still wins (DD's settings files record the overwritten ones, so imports agree).
        for (slot, text) in [
            (&mut s.cut_overview, overview),
            (&mut s.cut_innercut, innercut),
            (&mut s.cut_ic_pow, ic_pow),
            (&mut s.cut_icgray_p, icgray_p),
        ] {
            if slot.origin.is_none() {
                slot.value = CutSchedule::dd(text);
            }
        }
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
pub(super) fn unknown_node(name: &str, origin: &Origin) -> Diagnostic {
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
