//! A plan split among N farm workers (`disco build --shard I/N`): every worker computes the
//! same split from the plan alone, so they need not talk to one another.
//!
//! The unit of work is a still image (a batch's or a sweep cell's) or a whole animation
//! (every frame needs the one before it, so a chain is never split). Units are handed out
//! by cost, largest first, each to the least-loaded shard (ties to the lowest index): the
//! greedy "longest processing time" rule, whose makespan is at most 4/3 of the best.

use std::fmt;
use std::str::FromStr;

use super::expand::Plan;
use super::key::Key;

/// `I/N`: worker I (0-based, so an array job's index passes straight in) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// This worker's shard, `0..count`.
    pub index: usize,
    /// How many shards the plan is split into (at least 1).
    pub count: usize,
}

/// Why a `--shard` argument is not `I/N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardSpecError {
    /// No `/` between the two numbers.
    #[error("`{0}` is not a shard: write I/N, e.g. 0/4 (0-based index I of N shards)")]
    Form(String),
    /// A side is not a number.
    #[error("`{0}` is not a number: write I/N with whole numbers, e.g. 0/4")]
    Number(String),
    /// `N` is 0.
    #[error("there must be at least one shard (N ≥ 1)")]
    NoShards,
    /// `I` is not below `N`.
    #[error("shard {index} of {count} does not exist: I is 0-based, so 0 ≤ I < {count}")]
    OutOfRange {
        /// The index given.
        index: usize,
        /// The count given.
        count: usize,
    },
}

impl FromStr for ShardSpec {
    type Err = ShardSpecError;

    fn from_str(s: &str) -> Result<ShardSpec, ShardSpecError> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| ShardSpecError::Form(s.to_owned()))?;
        let number = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| ShardSpecError::Number(t.to_owned()))
        };
        let (index, count) = (number(i)?, number(n)?);
        if count == 0 {
            return Err(ShardSpecError::NoShards);
        }
        if index >= count {
            return Err(ShardSpecError::OutOfRange { index, count });
        }
        Ok(ShardSpec { index, count })
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One unit of work: a still image, or every frame of one animation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Its jobs, as indices into [`Plan::jobs`]; a chain's frames in order.
    pub jobs: Vec<usize>,
    /// Its cost estimate: sampler steps run (steps − skip-steps) × pixels, summed over
    /// its jobs.
    pub cost: u64,
    /// The shard it is assigned to.
    pub shard: usize,
}

impl Unit {
    /// The key that orders units of equal cost: its first job's.
    pub fn key(&self, plan: &Plan) -> Key {
        plan.jobs[self.jobs[0]].key
    }
}

/// The plan's units in plan order, each assigned to one of `shards` shards (`shards` ≥ 1).
pub fn assign(plan: &Plan, shards: usize) -> Vec<Unit> {
    let mut units = units(plan);
    let costs: Vec<(u64, Key)> = units.iter().map(|u| (u.cost, u.key(plan))).collect();
    for (u, shard) in units.iter_mut().zip(assign_costs(&costs, shards)) {
        u.shard = shard;
    }
    units
}

/// The jobs shard `spec` renders, in plan order.
pub fn jobs_of(plan: &Plan, spec: ShardSpec) -> Vec<usize> {
    let mut jobs: Vec<usize> = assign(plan, spec.count)
        .into_iter()
        .filter(|u| u.shard == spec.index)
        .flat_map(|u| u.jobs)
        .collect();
    jobs.sort_unstable();
    jobs
}

/// The plan's units, unassigned (shard 0), in plan order.
fn units(plan: &Plan) -> Vec<Unit> {
    let mut units = Vec::new();
    for t in &plan.targets {
        let c = &t.common.inputs;
        let pixels = u64::from(c.width) * u64::from(c.height);
        let cost = |j: usize| {
            let steps = c.steps.saturating_sub(plan.jobs[j].frame.skip_steps);
            u64::from(steps) * pixels
        };
        if t.animation {
            if !t.jobs.is_empty() {
                units.push(Unit {
                    jobs: t.jobs.clone().collect(),
                    cost: t.jobs.clone().map(cost).sum(),
                    shard: 0,
                });
            }
        } else {
            units.extend(t.jobs.clone().map(|j| Unit {
                jobs: vec![j],
                cost: cost(j),
                shard: 0,
            }));
        }
    }
    units
}

/// The shard of each unit given its `(cost, key)`: cost descending, then key, then position
/// (two units may share a key), each to the least-loaded shard, ties to the lowest index.
pub fn assign_costs(units: &[(u64, Key)], shards: usize) -> Vec<usize> {
    assert!(shards >= 1, "at least one shard");
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| {
        let (ca, ka) = &units[a];
        let (cb, kb) = &units[b];
        cb.cmp(ca).then(ka.0.cmp(&kb.0)).then(a.cmp(&b))
    });
    let mut load = vec![0u64; shards];
    let mut shard_of = vec![0; units.len()];
    for u in order {
        // `min_by_key` returns the first of equal minima: the lowest index
        let (s, _) = load
            .iter()
            .enumerate()
            .min_by_key(|&(_, l)| *l)
            .expect("at least one shard");
        load[s] += units[u].0;
        shard_of[u] = s;
    }
    shard_of
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::expand::{PlanOptions, plan};
    use crate::facts::{Facts, FactsError, ModelNeeds, RuntimeFacts};

    struct NoFiles;

    impl Facts for NoFiles {
        fn file_blake3(&mut self, path: &Path) -> Result<String, FactsError> {
            Err(FactsError::read(path, std::io::ErrorKind::NotFound.into()))
        }
        fn model_hashes(
            &mut self,
            _: &Path,
            _: &ModelNeeds,
        ) -> Result<BTreeMap<String, String>, FactsError> {
            Ok(BTreeMap::from([("unet_fwd".to_owned(), "m".to_owned())]))
        }
        fn runtime(&mut self) -> Result<RuntimeFacts, FactsError> {
            Ok(RuntimeFacts {
                renderer: "fake/1".into(),
                provider: "cpu".into(),
                ort: "0".into(),
            })
        }
    }

    /// A film of 6 frames (skip-steps 2 from frame 1 on), 3 stills and a 2-cell sweep.
    fn sample() -> Plan {
        let text = r#"
model-set "models"
width-height 64 64
steps 10
skip-steps 0
seed 5
text-prompts { frame 0 "a red circle"; }
animation "film" {
    max-frames 6
    frames-skip-steps "20%"
}
stills "still" { n-batches 3; }
sweep "grid" {
    axis "clip-guidance-scale" 5000 9000
    n-batches 1
}
"#;
        let loaded = disco_project::load_str(Path::new("disco.kdl"), text);
        let project = loaded
            .project
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        plan(&project, &PlanOptions::default(), &mut NoFiles).expect("a plan")
    }

    fn key(b: u8) -> Key {
        Key([b; 32])
    }

    #[test]
    fn a_shard_spec_is_0_based_index_of_count() {
        assert_eq!(
            "2/3".parse::<ShardSpec>(),
            Ok(ShardSpec { index: 2, count: 3 })
        );
        assert_eq!(
            "3/3".parse::<ShardSpec>(),
            Err(ShardSpecError::OutOfRange { index: 3, count: 3 })
        );
        assert_eq!("0/0".parse::<ShardSpec>(), Err(ShardSpecError::NoShards));
        assert_eq!(
            "a/b".parse::<ShardSpec>(),
            Err(ShardSpecError::Number("a".into()))
        );
        assert_eq!(
            "3".parse::<ShardSpec>(),
            Err(ShardSpecError::Form("3".into()))
        );
        assert_eq!(ShardSpec { index: 1, count: 4 }.to_string(), "1/4");
    }

    #[test]
    fn a_chain_is_one_unit_and_every_still_its_own() {
        let plan = sample();
        let units = assign(&plan, 3);
        // the film's 6 frames, 3 stills, 2 sweep cells of 1 image
        assert_eq!(units.len(), 6);
        assert_eq!(units[0].jobs, (0..6).collect::<Vec<_>>());
        assert!(units[1..].iter().all(|u| u.jobs.len() == 1));
        // frame 0 runs 10 steps, frames 1-5 run 8 (20 % skipped)
        assert_eq!(units[0].cost, (10 + 5 * 8) * 64 * 64);
        assert_eq!(units[1].cost, 10 * 64 * 64);
    }

    #[test]
    fn every_job_is_in_exactly_one_shard_and_the_split_is_deterministic() {
        let plan = sample();
        for n in 1..=8 {
            let mut seen: Vec<usize> = (0..n)
                .flat_map(|i| jobs_of(&plan, ShardSpec { index: i, count: n }))
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..plan.jobs.len()).collect::<Vec<_>>(), "{n} shards");
            assert_eq!(assign(&plan, n), assign(&sample(), n), "{n} shards");
        }
    }

    #[test]
    fn more_shards_than_units_leaves_the_rest_empty() {
        let plan = sample();
        let units = assign(&plan, 10);
        let mut shards: Vec<usize> = units.iter().map(|u| u.shard).collect();
        shards.sort_unstable();
        // the 6 units go to shards 0..6, one each; 6..10 get none
        assert_eq!(shards, (0..6).collect::<Vec<_>>());
        assert!(
            jobs_of(
                &plan,
                ShardSpec {
                    index: 9,
                    count: 10
                }
            )
            .is_empty()
        );
    }

    #[test]
    fn cost_descending_then_key_then_position_ties_to_the_lowest_shard() {
        // in order 5 → shard 0; 3 (key 1) → 1; 3 (key 9) → 1 (load 3 < 5); 1 → 0 (5 < 6)
        let units = [(3, key(9)), (5, key(4)), (1, key(2)), (3, key(1))];
        assert_eq!(assign_costs(&units, 2), [1, 0, 0, 1]);
        // equal costs and keys: by position, round-robin from shard 0
        let same = [(2, key(7)); 4];
        assert_eq!(assign_costs(&same, 3), [0, 1, 2, 0]);
        // the input's order does not matter beyond ties of cost and key
        let reversed: Vec<_> = units.iter().rev().copied().collect();
        assert_eq!(assign_costs(&reversed, 2), [1, 0, 0, 1]);
    }

    #[test]
    fn loads_stay_within_the_greedy_bound() {
        // a deterministic spread of costs; greedy's largest load is at most the mean
        // plus the largest unit (and never below the mean)
        let units: Vec<(u64, Key)> = (0..40u64)
            .map(|i| ((i * 37 % 23 + 1) * 100, key(i as u8)))
            .collect();
        for n in 1..=7 {
            let shard_of = assign_costs(&units, n);
            let mut load = vec![0u64; n];
            for (u, s) in units.iter().zip(&shard_of) {
                load[*s] += u.0;
            }
            let total: u64 = units.iter().map(|u| u.0).sum();
            let largest = units.iter().map(|u| u.0).max().unwrap();
            let (max, min) = (*load.iter().max().unwrap(), *load.iter().min().unwrap());
            assert!(
                max * n as u64 <= total + n as u64 * largest,
                "{n}: {load:?}"
            );
            assert!(max - min <= largest, "{n}: {load:?}");
        }
    }
}
