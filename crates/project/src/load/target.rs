//! Target blocks (`stills`, `animation`, `sweep`): the name, the settings written inside over
//! the top-level ones, and the keyword checked against `animation-mode`.

use kdl::KdlNode;

use super::settings::finish;
use super::{Loader, RawTarget};
use crate::diagnostic::Diagnostic;
use crate::model::{Target, TargetKind};
use crate::read::{self, Cx};
use crate::schema::Settings;
use crate::source::Spanned;
use crate::types::AnimationMode;

impl Loader<'_> {
    /// A declared target: its name, its settings over `base`, and its sweep.
    pub(super) fn target(&mut self, base: &Settings, rt: RawTarget) -> Option<Target> {
        let cx = Cx { file: &rt.file };
        let node = &rt.node;
        let name = self.target_name(node, cx)?;
        let mut settings = base.clone();
        settings.batch_name =
            Spanned::at(name.value.clone(), name.origin.clone().expect("written"));
        if rt.kind == TargetKind::Animation {
            settings.animation_mode = Spanned::at(AnimationMode::TwoD, cx.name(node));
        }
        let axes_nodes = self.target_body(rt.kind, node, &mut settings, cx);
        self.check_kind(rt.kind, node, &settings, cx);
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

    /// The target's name: its first argument, a non-empty string, and its only one.
    fn target_name(&mut self, node: &KdlNode, cx: Cx) -> Option<Spanned<String>> {
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
        Some(name)
    }

    /// Applies the settings written in the target's block to `settings`; returns a sweep's
    /// `axis` nodes.
    fn target_body<'n>(
        &mut self,
        kind: TargetKind,
        node: &'n KdlNode,
        settings: &mut Settings,
        cx: Cx,
    ) -> Vec<&'n KdlNode> {
        let keyword = node.name().value();
        let mut axes_nodes = Vec::new();
        for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
            match child.name().value() {
                "axis" if kind == TargetKind::Sweep => axes_nodes.push(child),
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
                _ => self.setting(settings, child, cx),
            }
        }
        axes_nodes
    }

    /// The keyword says what the target is; an `animation-mode` that contradicts it is an error.
    fn check_kind(&mut self, kind: TargetKind, node: &KdlNode, settings: &Settings, cx: Cx) {
        let animated = settings.animation_mode.value != AnimationMode::None;
        let mismatch = match kind {
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
    }
}
