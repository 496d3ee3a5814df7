//! `disco plan --shards N`: the plan's units of work and the shard of each, for people or
//! (`--message-format json`) for an external scheduler.

use serde::Serialize;

use disco::build::{BuildError, Decision};
use disco::plan::Plan;
use disco::plan::shard::{self, Unit};

use super::progress::{JsonSink, MessageFormat};
use super::{EXIT_INVALID, EXIT_OK};

/// One line of `disco plan --shards N --message-format json`.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Line {
    /// A unit of work: a still image, or every frame of one animation, in order.
    Unit {
        shard: usize,
        target: String,
        cost: u64,
        jobs: Vec<UnitJob>,
    },
    /// A shard's totals, after its units.
    Shard(Totals),
}

/// A shard's units, jobs, jobs that would render, and cost.
#[derive(Serialize)]
struct Totals {
    shard: usize,
    units: usize,
    jobs: usize,
    stale: usize,
    cost: u64,
}

/// A job of a unit.
#[derive(Serialize)]
struct UnitJob {
    job: String,
    key: String,
    /// The key of the frame it starts from (animation frames after the first).
    prev: Option<String>,
    /// Whether it would render (its image is not cached).
    stale: bool,
}

/// Prints `plan`'s units among `shards` shards; refuses (exit 2) a plan that draws a seed,
/// as `disco build --shard` does: its keys would not be the workers'.
pub(super) fn run(
    plan: &Plan,
    decisions: &[Decision],
    shards: usize,
    format: MessageFormat,
) -> i32 {
    if !plan.drawn_seeds.is_empty() {
        print_seed_refusal(&BuildError::ShardDrawsSeed {
            targets: plan.drawn_seeds.keys().cloned().collect(),
        });
        return EXIT_INVALID;
    }
    print(plan, decisions, shards, format);
    EXIT_OK
}

/// The error for a sharded plan that draws a seed, and how to fix the seed.
pub(super) fn print_seed_refusal(e: &BuildError) {
    eprintln!(
        "error: {e}\nhelp: fix the seed first: give the target a `seed N`, or run a plain \
         `disco build` once and commit the disco.lock it writes (it records drawn seeds), so \
         that every worker plans the same keys"
    );
}

/// Prints `plan`'s units among `shards` shards, grouped by shard.
fn print(plan: &Plan, decisions: &[Decision], shards: usize, format: MessageFormat) {
    let units = shard::assign(plan, shards);
    let stale = |j: &usize| matches!(decisions[*j], Decision::Render(_));
    for s in 0..shards {
        let mine: Vec<&Unit> = units.iter().filter(|u| u.shard == s).collect();
        let total = Totals {
            shard: s,
            units: mine.len(),
            jobs: mine.iter().map(|u| u.jobs.len()).sum(),
            stale: mine
                .iter()
                .flat_map(|u| &u.jobs)
                .filter(|j| stale(j))
                .count(),
            cost: mine.iter().map(|u| u.cost).sum(),
        };
        if format == MessageFormat::Human {
            print_human(plan, s, &mine, &total);
            continue;
        }
        for u in mine {
            JsonSink::write(&unit_line(plan, decisions, u));
        }
        JsonSink::write(&Line::Shard(total));
    }
}

fn unit_line(plan: &Plan, decisions: &[Decision], u: &Unit) -> Line {
    let first = &plan.jobs[u.jobs[0]];
    Line::Unit {
        shard: u.shard,
        target: plan.targets[first.target].label(),
        cost: u.cost,
        jobs: u
            .jobs
            .iter()
            .map(|&j| UnitJob {
                job: plan.job_label(j),
                key: plan.jobs[j].key.to_string(),
                prev: plan.jobs[j].prev.map(|p| plan.jobs[p].key.to_string()),
                stale: matches!(decisions[j], Decision::Render(_)),
            })
            .collect(),
    }
}

fn print_human(plan: &Plan, s: usize, units: &[&Unit], t: &Totals) {
    println!(
        "shard {s}: {} jobs ({} to render), cost {}",
        t.jobs, t.stale, t.cost
    );
    for u in units {
        let first = u.jobs[0];
        let what = match u.jobs.len() {
            1 => plan.job_label(first),
            n => format!(
                "{} ({n} frames)",
                plan.targets[plan.jobs[first].target].label()
            ),
        };
        println!("  {what}: cost {}", u.cost);
    }
}
