//! Where a planned target sits in its sweep: the sweep's axes (shared by all its cells)
//! and the cell's coordinates. Planning records it so that what lays sweeps out as grids
//! (contact sheets, the report) need not read the project again.

use std::sync::Arc;

/// One swept setting and the labels of its values, as in cell names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SweepAxis {
    /// The setting's name (`clip-guidance-scale`).
    pub setting: String,
    /// Each value as shown in cell names (`5000`, `10000`).
    pub labels: Vec<String>,
}

impl SweepAxis {
    /// `setting=label` for value `i`.
    pub fn show(&self, i: usize) -> String {
        format!("{}={}", self.setting, self.labels[i])
    }
}

/// A sweep's axes, in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SweepAxes {
    /// The sweep target's name.
    pub name: String,
    /// The axes; cells are row-major over them (last axis fastest).
    pub axes: Vec<SweepAxis>,
}

impl SweepAxes {
    /// The axes of `sweep`, named `name`.
    pub fn of(name: &str, sweep: &disco_project::Sweep) -> Arc<SweepAxes> {
        Arc::new(SweepAxes {
            name: name.to_owned(),
            axes: sweep
                .axes
                .iter()
                .map(|a| SweepAxis {
                    setting: a.setting.value.to_owned(),
                    labels: a.labels.clone(),
                })
                .collect(),
        })
    }
}

/// One cell of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepCell {
    /// The sweep's axes (one allocation shared by every cell of the sweep).
    pub axes: Arc<SweepAxes>,
    /// Index into each axis's values.
    pub coords: Vec<usize>,
}

impl SweepCell {
    /// `setting=label` for each axis, in axis order.
    pub fn lines(&self) -> Vec<String> {
        self.axes
            .axes
            .iter()
            .zip(&self.coords)
            .map(|(a, &i)| a.show(i))
            .collect()
    }
}
