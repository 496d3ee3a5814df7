//! Decide: a pure function from (the new plan's jobs, the jobs running or queued) to what
//! the watcher does (STYLE.md rule 21). No files, threads or clocks: every rule of
//! `disco watch` about which work survives an edit is here and tested here.

use std::collections::HashSet;

use crate::plan::Key;

/// One job of the newly planned project, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The job's key.
    pub key: Key,
    /// The job it starts from (an animation's previous frame), as an index into the list.
    pub prev: Option<usize>,
    /// Whether it must render (not in the store).
    pub stale: bool,
}

/// What the worker is doing when the new plan arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Busy {
    /// The key of the job rendering now.
    pub running: Option<Key>,
    /// Keys waiting, in order.
    pub queued: Vec<Key>,
}

/// What to do about a new plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    /// Stop the running job (its key is no longer wanted); it saves a checkpoint.
    pub cancel_running: Option<Key>,
    /// The running job goes on: its key is still wanted.
    pub keep_running: Option<Key>,
    /// Queued keys dropped because no job wants them any more.
    pub dropped: Vec<Key>,
    /// Jobs to render after the running one, as indices into the new plan's jobs: the
    /// jobs this edit made stale first, then the ones already waiting, each after the
    /// stale frame it starts from.
    pub queue: Vec<usize>,
    /// How many of `queue` this edit made stale (keys neither running nor queued before).
    pub newly_stale: usize,
}

impl Actions {
    /// Whether the plan changes nothing the worker does.
    pub fn is_noop(&self, busy: &Busy, jobs: &[Wanted]) -> bool {
        self.cancel_running.is_none()
            && self.dropped.is_empty()
            && self.queue.iter().map(|&j| jobs[j].key).collect::<Vec<_>>() == busy.queued
    }
}

/// Decides what the worker does with the new plan's `jobs`, given what it is doing.
///
/// - the running job is kept when a stale job still has its key (a valid frame in
///   progress is never restarted), left alone when its key is wanted but already stored
///   (it finished while the plan was made), else cancelled;
/// - queued keys no job wants are dropped;
/// - stale jobs are queued: newly stale ones first (the frames nearest the edit), then
///   those that were waiting, in plan order, each after the stale frame it starts from.
pub fn decide(jobs: &[Wanted], busy: &Busy) -> Actions {
    let stale: HashSet<Key> = jobs.iter().filter(|j| j.stale).map(|j| j.key).collect();
    let mut actions = Actions::default();
    match busy.running {
        Some(k) if stale.contains(&k) => actions.keep_running = Some(k),
        // wanted and in the store: it finished while the plan was made
        Some(k) if jobs.iter().any(|j| j.key == k) => {}
        Some(k) => actions.cancel_running = Some(k),
        None => {}
    }
    actions.dropped = busy
        .queued
        .iter()
        .filter(|k| !stale.contains(k))
        .copied()
        .collect();
    let before: HashSet<Key> = busy.queued.iter().chain(&busy.running).copied().collect();
    let is_new = |j: &Wanted| !before.contains(&j.key);
    let mut placed: HashSet<Key> = actions.keep_running.into_iter().collect();
    let order = jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.stale && is_new(j))
        .chain(
            jobs.iter()
                .enumerate()
                .filter(|(_, j)| j.stale && !is_new(j)),
        )
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    for i in order {
        place(jobs, i, &mut placed, &mut actions.queue);
    }
    actions.newly_stale = actions.queue.iter().filter(|&&i| is_new(&jobs[i])).count();
    actions
}

/// Queues job `i` after the stale jobs it starts from, unless placed already.
fn place(jobs: &[Wanted], i: usize, placed: &mut HashSet<Key>, queue: &mut Vec<usize>) {
    // a chain is walked back iteratively: animations run to thousands of frames
    let mut chain = vec![i];
    let mut at = i;
    while let Some(p) = jobs[at].prev {
        if !jobs[p].stale || placed.contains(&jobs[p].key) {
            break;
        }
        chain.push(p);
        at = p;
    }
    for &j in chain.iter().rev() {
        if placed.insert(jobs[j].key) {
            queue.push(j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key([n; 32])
    }

    /// An animation of `n` frames keyed `base + f`, stale from frame `from`, plus stills
    /// after it.
    fn film(keys: &[u8], stale_from: usize) -> Vec<Wanted> {
        keys.iter()
            .enumerate()
            .map(|(f, &k)| Wanted {
                key: key(k),
                prev: f.checked_sub(1),
                stale: f >= stale_from,
            })
            .collect()
    }

    fn keys(jobs: &[Wanted], queue: &[usize]) -> Vec<Key> {
        queue.iter().map(|&i| jobs[i].key).collect()
    }

    #[test]
    fn an_unchanged_key_keeps_running() {
        // frame 2 renders; an edit that changes nothing it depends on
        let jobs = film(&[1, 2, 3, 4], 2);
        let busy = Busy {
            running: Some(key(3)),
            queued: vec![key(4)],
        };
        let a = decide(&jobs, &busy);
        assert_eq!(a.keep_running, Some(key(3)));
        assert_eq!(a.cancel_running, None);
        assert_eq!(keys(&jobs, &a.queue), [key(4)]);
        assert_eq!(a.newly_stale, 0);
        assert!(a.is_noop(&busy, &jobs));
    }

    #[test]
    fn a_changed_key_cancels_the_running_job_and_queues_the_new_one() {
        // frame 2 renders under key 3; its prompt changes: frames 2 and 3 get new keys
        let busy = Busy {
            running: Some(key(3)),
            queued: vec![key(4)],
        };
        let jobs = film(&[1, 2, 30, 40], 2);
        let a = decide(&jobs, &busy);
        assert_eq!(a.cancel_running, Some(key(3)));
        assert_eq!(a.keep_running, None);
        assert_eq!(a.dropped, [key(4)]);
        assert_eq!(keys(&jobs, &a.queue), [key(30), key(40)]);
        assert_eq!(a.newly_stale, 2);
    }

    #[test]
    fn a_new_job_is_queued_before_the_work_already_waiting() {
        // stills 0..3 queued behind image 0; a new sweep cell (key 9) appears at the end
        let mut jobs: Vec<Wanted> = (1..=4)
            .map(|k| Wanted {
                key: key(k),
                prev: None,
                stale: true,
            })
            .collect();
        jobs.push(Wanted {
            key: key(9),
            prev: None,
            stale: true,
        });
        let busy = Busy {
            running: Some(key(1)),
            queued: vec![key(2), key(3), key(4)],
        };
        let a = decide(&jobs, &busy);
        assert_eq!(a.keep_running, Some(key(1)));
        assert_eq!(keys(&jobs, &a.queue), [key(9), key(2), key(3), key(4)]);
        assert_eq!(a.newly_stale, 1);
        assert!(!a.is_noop(&busy, &jobs));
    }

    #[test]
    fn a_newly_stale_frame_waits_for_the_stale_frame_it_starts_from() {
        // frames 1.. were waiting; an edit at frame 3 comes first, but after frames 1, 2
        let busy = Busy {
            running: None,
            queued: vec![key(2), key(3), key(4), key(5)],
        };
        let jobs = film(&[1, 2, 3, 40, 50], 1);
        let a = decide(&jobs, &busy);
        assert_eq!(
            keys(&jobs, &a.queue),
            [key(2), key(3), key(40), key(50)],
            "frame 3 starts from frame 2's image"
        );
        assert_eq!(a.dropped, [key(4), key(5)]);
    }

    #[test]
    fn a_reverted_edit_queues_the_cancelled_key_again() {
        // frame 2 (key 3) was cancelled for key 30; the edit is reverted while 30 renders.
        // Key 3 is wanted again: the store kept its checkpoint, so the render resumes.
        let busy = Busy {
            running: Some(key(30)),
            queued: vec![key(40)],
        };
        let jobs = film(&[1, 2, 3, 4], 2);
        let a = decide(&jobs, &busy);
        assert_eq!(a.cancel_running, Some(key(30)));
        assert_eq!(a.dropped, [key(40)]);
        assert_eq!(keys(&jobs, &a.queue), [key(3), key(4)]);
        assert_eq!(a.newly_stale, 2);
    }

    #[test]
    fn several_saves_planning_the_same_jobs_act_once() {
        // the first save queues work; a second save within the window plans the same
        // keys, and deciding again changes nothing
        let jobs = film(&[1, 2, 3], 0);
        let first = decide(&jobs, &Busy::default());
        assert_eq!(keys(&jobs, &first.queue), [key(1), key(2), key(3)]);
        let busy = Busy {
            running: Some(key(1)),
            queued: vec![key(2), key(3)],
        };
        let again = decide(&jobs, &busy);
        assert!(again.is_noop(&busy, &jobs));
        assert_eq!(again.keep_running, Some(key(1)));
        assert_eq!(again.newly_stale, 0);
    }

    #[test]
    fn a_running_job_that_finished_meanwhile_is_not_cancelled() {
        // frame 1 (key 2) finished between the store read of planning and this decision
        let jobs = film(&[1, 2, 3], 2);
        let busy = Busy {
            running: Some(key(2)),
            queued: vec![key(3)],
        };
        let a = decide(&jobs, &busy);
        assert_eq!(a.cancel_running, None);
        assert_eq!(a.keep_running, None);
        assert_eq!(keys(&jobs, &a.queue), [key(3)]);
    }

    #[test]
    fn nothing_stale_cancels_everything_and_queues_nothing() {
        let jobs = film(&[1, 2], 9);
        let busy = Busy {
            running: Some(key(7)),
            queued: vec![key(8)],
        };
        let a = decide(&jobs, &busy);
        assert_eq!(a.cancel_running, Some(key(7)));
        assert_eq!(a.dropped, [key(8)]);
        assert!(a.queue.is_empty());
    }
}
