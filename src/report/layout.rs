//! A sweep laid out as a grid, for the contact sheet and the report alike: one column per
//! value of the last axis, one row per combination of the other axes, in the cells' own
//! row-major order, so reading a sheet left to right, top to bottom follows the cells.

use crate::plan::SweepAxes;

/// Rows and columns of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Each row's header: `setting=value` for every axis but the last (empty for one axis).
    pub rows: Vec<Vec<String>>,
    /// Each column's header: `setting=value` of the last axis.
    pub cols: Vec<String>,
    /// Values per axis.
    dims: Vec<usize>,
}

impl Grid {
    /// The grid of `axes`.
    pub fn of(axes: &SweepAxes) -> Grid {
        let dims: Vec<usize> = axes.axes.iter().map(|a| a.labels.len()).collect();
        let Some((last, others)) = axes.axes.split_last() else {
            return Grid {
                rows: vec![Vec::new()],
                cols: vec![String::new()],
                dims,
            };
        };
        let cols = (0..last.labels.len()).map(|i| last.show(i)).collect();
        // the other axes' combinations, last of them fastest
        let mut rows: Vec<Vec<String>> = vec![Vec::new()];
        for a in others {
            rows = rows
                .into_iter()
                .flat_map(|r| {
                    (0..a.labels.len()).map(move |i| {
                        let mut r = r.clone();
                        r.push(a.show(i));
                        r
                    })
                })
                .collect();
        }
        Grid { rows, cols, dims }
    }

    /// (row, column) of the cell at `coords`.
    pub fn place(&self, coords: &[usize]) -> (usize, usize) {
        let Some((&col, others)) = coords.split_last() else {
            return (0, 0);
        };
        let row = others
            .iter()
            .zip(&self.dims)
            .fold(0, |row, (&i, &n)| row * n + i);
        (row, col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SweepAxis;

    fn axes(spec: &[(&str, &[&str])]) -> SweepAxes {
        SweepAxes {
            name: "grid".into(),
            axes: spec
                .iter()
                .map(|(s, l)| SweepAxis {
                    setting: (*s).into(),
                    labels: l.iter().map(|x| (*x).into()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn one_axis_is_one_row() {
        let g = Grid::of(&axes(&[("seed", &["1", "2", "3"])]));
        assert_eq!(g.rows, vec![Vec::<String>::new()]);
        assert_eq!(g.cols, ["seed=1", "seed=2", "seed=3"]);
        assert_eq!(g.place(&[2]), (0, 2));
    }

    #[test]
    fn two_axes_put_the_last_across() {
        let g = Grid::of(&axes(&[
            ("clip-guidance-scale", &["5000", "10000"]),
            ("seed", &["1", "2", "3"]),
        ]));
        assert_eq!(
            g.rows,
            [["clip-guidance-scale=5000"], ["clip-guidance-scale=10000"]]
        );
        assert_eq!(g.cols, ["seed=1", "seed=2", "seed=3"]);
        assert_eq!(g.place(&[1, 0]), (1, 0));
    }

    #[test]
    fn three_axes_make_rows_of_the_first_two_in_cell_order() {
        let g = Grid::of(&axes(&[
            ("a", &["x", "y"]),
            ("b", &["1", "2", "3"]),
            ("c", &["p", "q"]),
        ]));
        assert_eq!(g.rows.len(), 6);
        assert_eq!(g.rows[0], ["a=x", "b=1"]);
        assert_eq!(g.rows[4], ["a=y", "b=2"]);
        assert_eq!(g.cols, ["c=p", "c=q"]);
        // row-major cell index i = (a·3 + b)·2 + c sits at (i / 2, i % 2)
        let mut i = 0;
        for a in 0..2 {
            for b in 0..3 {
                for c in 0..2 {
                    assert_eq!(g.place(&[a, b, c]), (i / 2, i % 2));
                    i += 1;
                }
            }
        }
    }
}
