//! `disco watch` end to end on the tiny model set: a child process edited the ways editors
//! save (in place, write-then-rename, delete-then-create), followed through its
//! `--message-format json` events.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::models::tiny_set;
use crate::support::{disco, disco_command, text};

/// Longest any one wait may take (a frame is a few seconds on a busy CPU).
const PATIENCE: Duration = Duration::from_secs(120);

/// 64×64, `steps` steps from `skip`, one still target and a 3-frame animation.
fn project(models: &Path, steps: u32, skip: u32) -> String {
    format!(
        r#"
model-set "{}"
width-height 64 64
steps {steps}
skip-steps {skip}
seed 11
cutn-batches 1
clip-models "RN50"
text-prompts {{
    frame 0 "a red circle on a blue background"
    frame 2 "a yellow star"
}}
animation "film" {{
    max-frames 3
    frames-skip-steps "60%"
    zoom "0: (1.05)"
}}
stills "still" {{
    n-batches 1
    clip-guidance-scale 5000
}}
"#,
        models.display()
    )
}

/// A running `disco watch` and its events.
struct Watcher {
    child: Child,
    events: Receiver<(Instant, Value)>,
    stderr: Arc<Mutex<String>>,
    /// Every event read so far.
    seen: Vec<Value>,
}

impl Watcher {
    fn start(dir: &Path, extra: &[&str]) -> Watcher {
        let mut child = disco_command(dir)
            .args([
                "watch",
                "--message-format",
                "json",
                "--debounce",
                "50",
                "--checkpoint-every",
                "1",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run disco watch");
        let (tx, events) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
                if tx.send((Instant::now(), v)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watcher {
            child,
            events,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Events up to and including the first that `until` accepts, with their arrival.
    fn until(&mut self, what: &str, until: impl Fn(&Value) -> bool) -> Vec<(Instant, Value)> {
        let deadline = Instant::now() + PATIENCE;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((t, v)) => {
                    self.seen.push(v.clone());
                    let done = until(&v);
                    out.push((t, v));
                    if done {
                        return out;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "no {what} event; events:\n{}\nstderr:\n{}",
                    self.seen
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Events up to the next `watch-idle` (every wanted job built).
    fn idle(&mut self) -> Vec<Value> {
        self.until("watch-idle", |e| e["event"] == "watch-idle")
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// Events that arrive within `d`.
    fn quiet_for(&mut self, d: Duration) -> Vec<Value> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Ok((_, v)) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v.clone());
            out.push(v);
        }
        out
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit code.
    fn interrupt(mut self) -> (i32, Vec<Value>) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        let rest = self.quiet_for(Duration::from_millis(500));
        (status.code().unwrap_or(-1), rest)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

fn finished(events: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = of_kind(events, "job-finished")
        .iter()
        .map(|e| e["job"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

/// Replaces `from` with `to` in `path` the way `how` saves.
fn save(path: &Path, from: &str, to: &str, how: Save) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in the project");
    let text = text.replacen(from, to, 1);
    match how {
        Save::InPlace => std::fs::write(path, text).unwrap(),
        Save::Rename => {
            let tmp: PathBuf = path.with_file_name(".disco.kdl.swp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        Save::DeleteCreate => {
            std::fs::remove_file(path).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Save {
    InPlace,
    Rename,
    DeleteCreate,
}

/// Waits for the reload a save caused (one naming a changed file), then for idle.
fn after_save(w: &mut Watcher) -> Vec<Value> {
    let mut events: Vec<Value> = w
        .until("watch-reload after a save", |e| {
            e["event"] == "watch-reload" && !e["changed"].as_array().unwrap().is_empty()
        })
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    events.extend(w.idle());
    events
}

#[test]
fn each_way_of_saving_rerenders_exactly_the_jobs_whose_keys_changed() {
    let Some(models) = tiny_set().map(|s| s.dir) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(&kdl, project(&models, 8, 5)).unwrap();
    let mut w = Watcher::start(dir.path(), &[]);
    let first = w.idle();
    assert_eq!(
        finished(&first),
        [
            "film frame 0",
            "film frame 1",
            "film frame 2",
            "still image 0"
        ]
    );
    // its own outputs (images, previews, settings, the store) never re-trigger it
    let after = w.quiet_for(Duration::from_millis(1500));
    assert!(of_kind(&after, "watch-reload").is_empty(), "{after:?}");

    // in place: the prompt keyframe at frame 2 changes frame 2 only
    save(&kdl, "a yellow star", "a green square", Save::InPlace);
    let events = after_save(&mut w);
    assert_eq!(finished(&events), ["film frame 2"], "{events:?}");

    // write-then-rename: a still's setting changes the still only
    save(
        &kdl,
        "clip-guidance-scale 5000",
        "clip-guidance-scale 6000",
        Save::Rename,
    );
    let events = after_save(&mut w);
    assert_eq!(finished(&events), ["still image 0"], "{events:?}");

    // delete-then-create: a second still is a new job; nothing else renders
    save(
        &kdl,
        "    n-batches 1",
        "    n-batches 2",
        Save::DeleteCreate,
    );
    let events = after_save(&mut w);
    assert_eq!(finished(&events), ["still image 1"], "{events:?}");
    let after = w.quiet_for(Duration::from_millis(1000));
    assert!(of_kind(&after, "watch-reload").is_empty(), "{after:?}");

    // what watch built is what build would: nothing left to render
    drop(w);
    let (stdout, stderr) = text(&disco(dir.path(), &["plan"]));
    assert!(
        stdout.contains("0 to render, 5 up to date"),
        "{stdout}{stderr}"
    );
}

#[test]
fn a_prompt_edit_cancels_the_frame_rendering_within_one_step_and_a_revert_resumes_it() {
    let Some(models) = tiny_set().map(|s| s.dir) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    let text0 = project(&models, 14, 0).replace("max-frames 3", "max-frames 1");
    std::fs::write(&kdl, text0).unwrap();
    let mut w = Watcher::start(dir.path(), &["film"]);
    // frame 0 is rendering: three steps in
    let started = w.until("job-started", |e| e["event"] == "job-started");
    let old_key = started.last().unwrap().1["key"].clone();
    w.until("step 2", |e| e["event"] == "step" && e["j"] == 2);
    save(&kdl, "a red circle", "a red square", Save::InPlace);
    let events: Vec<Value> = w
        .until("job-started of the new key", |e| {
            e["event"] == "job-started"
        })
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let cancel = events
        .iter()
        .position(|e| e["event"] == "watch-cancel")
        .unwrap_or_else(|| panic!("no watch-cancel: {events:?}"));
    assert_eq!(events[cancel]["key"], old_key);
    let late_steps = events[cancel..]
        .iter()
        .filter(|e| e["event"] == "step")
        .count();
    assert!(
        late_steps <= 1,
        "{late_steps} steps after the cancel: {events:?}"
    );
    assert!(finished(&events).is_empty(), "the cancelled frame finished");
    let new_start = events.last().unwrap();
    assert_ne!(new_start["key"], old_key);
    assert_eq!(new_start["resumed_at"], 0);

    // revert while the new key renders: the old key resumes from its checkpoint
    w.until("a step of the new key", |e| e["event"] == "step");
    save(&kdl, "a red square", "a red circle", Save::Rename);
    let events: Vec<Value> = w
        .until("job-started of the old key", |e| {
            e["event"] == "job-started"
        })
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let resumed = events.last().unwrap();
    assert_eq!(resumed["key"], old_key, "{events:?}");
    assert!(resumed["resumed_at"].as_u64().unwrap() >= 2, "{resumed}");
    let events = w.idle();
    assert_eq!(finished(&events), ["film frame 0"]);
}

#[test]
fn an_invalid_edit_prints_a_span_diagnostic_and_the_watcher_goes_on() {
    let Some(models) = tiny_set().map(|s| s.dir) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    let text0 = project(&models, 8, 5).replace("max-frames 3", "max-frames 1");
    std::fs::write(&kdl, &text0).unwrap();
    let mut w = Watcher::start(dir.path(), &[]);
    assert_eq!(finished(&w.idle()), ["film frame 0", "still image 0"]);

    save(&kdl, "steps 8", "steps \"many\"", Save::InPlace);
    let events = w.until("watch-error", |e| e["event"] == "watch-error");
    let error = &events.last().unwrap().1;
    let location = error["diagnostics"][0]["location"]
        .as_str()
        .unwrap_or_default();
    assert!(location.contains("disco.kdl:4:"), "{error}");
    std::thread::sleep(Duration::from_millis(300));
    let stderr = w.stderr.lock().unwrap().clone();
    assert!(stderr.contains("disco.kdl:4:"), "{stderr}");

    // the next good save goes on from the last good plan: only the still changes
    std::fs::write(
        &kdl,
        text0.replace("clip-guidance-scale 5000", "clip-guidance-scale 5500"),
    )
    .unwrap();
    let events = after_save(&mut w);
    assert_eq!(finished(&events), ["still image 0"], "{events:?}");
}

#[test]
fn sigint_leaves_a_store_the_next_build_accepts_without_rerendering_finished_frames() {
    let Some(models) = tiny_set().map(|s| s.dir) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), project(&models, 10, 4)).unwrap();
    let mut w = Watcher::start(dir.path(), &[]);
    // frame 0 finished, frame 1 two steps in
    let events: Vec<Value> = w
        .until("a step of frame 1", |e| {
            e["event"] == "step" && e["job"] == "film frame 1" && e["j"] == 1
        })
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(finished(&events), ["film frame 0"]);
    let (code, rest) = w.interrupt();
    assert_eq!(code, 130, "{rest:?}");
    assert!(of_kind(&rest, "watch-stopped").len() == 1, "{rest:?}");

    let out = disco(
        dir.path(),
        &[
            "build",
            "--message-format",
            "json",
            "--checkpoint-every",
            "1",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        finished(&events),
        ["film frame 1", "film frame 2", "still image 0"],
        "frame 0 is not rendered again"
    );
    let frame1 = of_kind(&events, "job-started")
        .into_iter()
        .find(|e| e["job"] == "film frame 1")
        .unwrap();
    assert!(frame1["resumed_at"].as_u64().unwrap() >= 1, "{frame1}");
}

/// Save → first step of the re-render, median over 20 edits (printed, not asserted:
/// timing depends on the machine).
#[test]
fn latency_from_save_to_the_first_step_of_the_rerender() {
    let Some(models) = tiny_set().map(|s| s.dir) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kdl = dir.path().join("disco.kdl");
    let text0 = project(&models, 8, 5).replace("max-frames 3", "max-frames 1");
    std::fs::write(&kdl, &text0).unwrap();
    let mut w = Watcher::start(dir.path(), &["film"]);
    w.idle();
    let (mut latencies, mut to_start) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let saved = Instant::now();
        let how = [Save::InPlace, Save::Rename, Save::DeleteCreate][i % 3];
        let prompt = format!("a red circle {i}");
        let text = std::fs::read_to_string(&kdl).unwrap();
        let from = text
            .lines()
            .find(|l| l.contains("frame 0 \""))
            .unwrap()
            .to_owned();
        save(&kdl, &from, &format!("    frame 0 \"{prompt}\""), how);
        let events = w.until("the re-render's first step", |e| e["event"] == "step");
        let (t, _) = events.last().unwrap();
        latencies.push(t.duration_since(saved));
        let (started, _) = events
            .iter()
            .find(|(_, e)| e["event"] == "job-started")
            .expect("the re-render starts before its first step");
        to_start.push(started.duration_since(saved));
        w.idle();
    }
    latencies.sort();
    to_start.sort();
    let ms: Vec<u128> = latencies.iter().map(|d| d.as_millis()).collect();
    eprintln!(
        "save → first step of the re-render over 20 edits (debounce 50 ms): median {} ms (min {} ms, max {} ms); save → job-started: median {} ms",
        ms[10],
        ms[0],
        ms[19],
        to_start[10].as_millis()
    );
}

/// The watcher plans what `disco build` plans: a 3D animation (depth graphs) and its files.
/// (Its facts are a recording wrapper: one that forwarded only some facts refused 3D.)
#[test]
fn the_watcher_plans_a_3d_animation_and_watches_its_model_set() {
    use disco::watch::{OrtSeams, Scope, reload::reload};
    let dir = tempfile::tempdir().unwrap();
    let toy = crate::support::root().join("models/toy");
    let kdl = dir.path().join("disco.kdl");
    std::fs::write(
        &kdl,
        format!(
            "model-set \"{}\"\nwidth-height 64 64\nsteps 4\nskip-steps 0\nclip-models \"ViT-B/32\"\n\
             animation \"cam\" {{\n    animation-mode \"3D\"\n    max-frames 3\n}}\n",
            toy.display()
        ),
    )
    .unwrap();
    let seams = OrtSeams {
        device: disco::render::session::Device::Cpu,
        ort_lib: None,
        threads: Some(1),
    };
    let loaded = match reload(&kdl, &Scope::default(), &seams) {
        Ok(l) => l,
        Err(e) => panic!("{:?}", e.diagnostics),
    };
    assert_eq!(loaded.plan.jobs.len(), 3);
    assert!(loaded.reasons.iter().all(Option::is_some), "all stale");
    let toy = toy.canonicalize().unwrap();
    assert!(
        loaded.deps.dirs.iter().any(|d| d == &toy),
        "{:?}",
        loaded.deps
    );
}
