//! `sweep` blocks: their axes, checked, and the grid of cells the axes span, each cell with
//! its own settings and name.

use std::collections::HashSet;

use kdl::{KdlEntry, KdlNode, KdlValue};

use super::Loader;
use super::settings::{finish, unknown_node};
use crate::diagnostic::Diagnostic;
use crate::limits::MAX_SWEEP_CELLS;
use crate::model::{Axis, Cell, Sweep};
use crate::read::{self, Cx};
use crate::schema::{self, Settings};
use crate::source::Spanned;
use crate::types::fmt_number;

impl Loader<'_> {
    /// A sweep's axes and the grid of cells they span; every cell starts from `settings`.
    pub(super) fn sweep(
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
            let (axis, nodes) = self.axis(a, &mut used, cx)?;
            axes.push(axis);
            values.push(nodes);
        }
        let total = self.cell_count(node, &values, cx)?;
        let cells = self.cells(&axes, &values, total, settings, cx)?;
        Some(Sweep { axes, cells })
    }

    /// One `axis "setting" value…`: the axis, and per value a node setting it. `used` holds
    /// the settings of the axes before it.
    fn axis(
        &mut self,
        a: &KdlNode,
        used: &mut HashSet<&'static str>,
        cx: Cx,
    ) -> Option<(Axis, Vec<KdlNode>)> {
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
        let (labels, nodes) = self.axis_values(setting, info.name, rest, cx)?;
        let axis = Axis {
            setting: Spanned::at(info.name, cx.entry(first)),
            labels,
        };
        Some((axis, nodes))
    }

    /// An axis's values (`setting` as written, `name` its schema name): the label of each, as
    /// cell names show it, and a node setting it.
    fn axis_values(
        &mut self,
        setting: &str,
        name: &'static str,
        rest: &[&KdlEntry],
        cx: Cx,
    ) -> Option<(Vec<String>, Vec<KdlNode>)> {
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
            let mut n = KdlNode::new(name);
            n.push((*e).clone());
            n.set_span(e.span());
            labels.push(label);
            nodes.push(n);
        }
        Some((labels, nodes))
    }

    /// The number of cells, the product of the axes' lengths, within [`MAX_SWEEP_CELLS`].
    fn cell_count(&mut self, node: &KdlNode, values: &[Vec<KdlNode>], cx: Cx) -> Option<usize> {
        // Checked: 8 axes of 256 values are 2^64 cells, which wrapped to "0 cells".
        let total = values
            .iter()
            .try_fold(1usize, |n, v| n.checked_mul(v.len()))
            .filter(|&n| n <= MAX_SWEEP_CELLS);
        if total.is_none() {
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
        }
        total
    }

    /// Every cell of the grid, the last axis varying fastest: `settings` with one value of
    /// each axis applied, and a name such as `steps=50,eta=0.8`.
    fn cells(
        &mut self,
        axes: &[Axis],
        values: &[Vec<KdlNode>],
        total: usize,
        settings: &Settings,
        cx: Cx,
    ) -> Option<Vec<Cell>> {
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
        Some(cells)
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
