//! Issue 17's "done when": a real single-node Slurm renders the shard project as a 3-task
//! array (`disco build --shard $SLURM_ARRAY_TASK_ID/3`) through a real nginx WebDAV cache
//! (Bazel's HTTP layout, writes behind basic auth), an `afterok` job assembles it with
//! `--render never`, and the result is what one build on one machine gives. Before that, a
//! worker killed with SIGKILL while it renders leaves the cache consistent. The services
//! come from `scripts/setup.sh`; without them this test fails naming it, unless
//! `DISCO_SKIP_FARM_TEST=1`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::farm_services::{self as svc, Nginx, Slurm};
use crate::models::tiny_set;
use crate::shard::{images, project};
use crate::support::{copy_dir, disco, disco_command, text};

/// Stills, an animation and a sweep, as small as they come: 3 film frames, 2 stills, 2 sweep
/// cells, 2 sampler steps each (7 jobs, 5 units: a farm of 3 has work for every worker).
const PROJECT: &str = r#"
model-set "models"
width-height 64 64
steps 6
skip-steps 4
seed 11
text-prompts {
    frame 0 "a red circle"
    frame 2 "a blue square"
}
animation "film" {
    max-frames 3
}
stills "still" {
    n-batches 2
}
sweep "grid" {
    axis "clip-guidance-scale" 6000 9000
    n-batches 1
}
"#;
/// Its jobs.
const JOBS: usize = 7;

/// Whether the farm test runs here; panics (naming scripts/setup.sh) where it cannot.
fn farm_ready() -> bool {
    let Some(why) = svc::missing_prerequisites() else {
        return true;
    };
    if std::env::var(svc::SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("skipping the farm test ({}=1): {why}", svc::SKIP_ENV);
        return false;
    }
    panic!(
        "the farm test cannot run: {why}. Run scripts/setup.sh as root (it installs Slurm, \
         munge and nginx), or set {}=1 to skip it",
        svc::SKIP_ENV
    );
}

/// The JSON events of a `--message-format json` run.
fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn named<'a>(events: &'a [serde_json::Value], event: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == event).collect()
}

#[test]
fn a_slurm_array_over_an_nginx_cache_equals_one_build() {
    if !farm_ready() {
        return;
    }
    let Some(set) = tiny_set() else { return };
    let text_of = PROJECT.replace("\"models\"", &format!("{:?}", set.dir));
    let services = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(&services.path().join("nginx"));
    let slurm = Slurm::start(&services.path().join("slurm"));

    // one machine, no cache: what the farm must give
    let single = project(&text_of);
    let out = disco(single.path(), &["build"]);
    assert!(out.status.success(), "{}", text(&out).1);

    let pushed = killed_worker_leaves_the_cache_consistent(&text_of, &nginx);

    let farm = tempfile::tempdir().unwrap();
    for i in 0..3 {
        copy_dir(single.path(), &farm.path().join(format!("worker-{i}")));
        clean(&farm.path().join(format!("worker-{i}")));
    }
    let assemble = farm.path().join("assemble");
    copy_dir(single.path(), &assemble);
    clean(&assemble);

    let (array, assemble_job) = submit(&slurm, farm.path(), &nginx);
    let states = slurm.wait(&array, Duration::from_secs(150));
    let logs = || {
        (0..3)
            .map(|i| read(&farm.path().join(format!("worker-{i}.out"))))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        states.iter().all(|s| s == "COMPLETED"),
        "{states:?}\n{}",
        logs()
    );
    let states = slurm.wait(&assemble_job, Duration::from_secs(60));
    let assembled = read(&farm.path().join("assemble.out"));
    assert_eq!(states, ["COMPLETED"], "{assembled}");

    // the workers rendered every job the killed worker had not pushed, each once, and
    // failed none; the assemble step rendered nothing
    let mut rendered = 0;
    for i in 0..3 {
        let ev = events(&read(&farm.path().join(format!("worker-{i}.out"))));
        assert!(named(&ev, "job-failed").is_empty(), "{}", logs());
        rendered += named(&ev, "job-finished").len();
    }
    assert_eq!(rendered + pushed, JOBS, "{}", logs());
    let ev = events(&assembled);
    assert!(named(&ev, "job-started").is_empty(), "{assembled}");
    assert!(!named(&ev, "finished").is_empty(), "{assembled}");
    assert_eq!(
        read(&assemble.join("disco.lock")),
        read(&single.path().join("disco.lock"))
    );
    // every image the same (`progress.png`, the live preview a render writes, is not the
    // assemble step's: it renders nothing)
    let finals = |dir: &Path| {
        let mut all = images(dir);
        all.retain(|(p, _)| !p.ends_with("progress.png"));
        all
    };
    assert_eq!(finals(&assemble), finals(single.path()));
    assert_cache_consistent(&nginx.root, None);
}

/// Submits the 3-task worker array and, after it, the assemble job; returns their ids.
fn submit(slurm: &Slurm, farm: &Path, nginx: &Nginx) -> (String, String) {
    let disco_bin = env!("CARGO_BIN_EXE_disco");
    let worker_script = farm.join("worker.sh");
    std::fs::write(&worker_script, WORKER).unwrap();
    let env = [
        ("FARM", farm.to_str().unwrap()),
        ("DISCO", disco_bin),
        ("CACHE", nginx.url.as_str()),
        ("DISCO_CACHE_USER", svc::USER),
        ("DISCO_CACHE_PASSWORD", svc::PASSWORD),
        ("NO_COLOR", "1"),
    ];
    let log = farm.join("%x-%a.out");
    let array = slurm.sbatch(
        &[
            "--array=0-2",
            "--job-name=worker",
            "-o",
            log.to_str().unwrap(),
            worker_script.to_str().unwrap(),
        ],
        &env,
    );
    let after = format!("--dependency=afterok:{array}");
    let assemble_log = farm.join("assemble.out");
    let assemble_job = slurm.sbatch(
        &[
            &after,
            "--job-name=assemble",
            "-o",
            assemble_log.to_str().unwrap(),
            worker_script.to_str().unwrap(),
        ],
        &env,
    );
    (array, assemble_job)
}

/// A worker's and the assemble step's command: the array's tasks render their shard and
/// push with the writer's credentials; the assemble step only reads, anonymously.
const WORKER: &str = r#"#!/bin/bash
set -eu
if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    cd "$FARM/worker-$SLURM_ARRAY_TASK_ID"
    exec "$DISCO" build --shard "$SLURM_ARRAY_TASK_ID/3" --cache "$CACHE" --message-format json
fi
cd "$FARM/assemble"
unset DISCO_CACHE_USER DISCO_CACHE_PASSWORD
exec "$DISCO" build --cache "$CACHE" --cache-mode read --render never --message-format json
"#;

/// A copy of a built project without what the build left (its store, outputs, lock).
fn clean(dir: &Path) {
    for d in [".disco", "images_out"] {
        let _ = std::fs::remove_dir_all(dir.join(d));
    }
    let _ = std::fs::remove_file(dir.join("disco.lock"));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// Starts a plain build that pushes to the cache, kills it (SIGKILL) once its second job
/// is rendering — the first is pushed by then — and checks what it left. Returns how many
/// jobs it pushed.
fn killed_worker_leaves_the_cache_consistent(text_of: &str, nginx: &Nginx) -> usize {
    let dir = project(text_of);
    let mut child = disco_command(dir.path())
        .args(["build", "--cache", &nginx.url, "--message-format", "json"])
        .env("DISCO_CACHE_USER", svc::USER)
        .env("DISCO_CACHE_PASSWORD", svc::PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut started = Vec::new();
    let mut finished = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(&line.unwrap()) else {
            continue;
        };
        let key = e["key"].as_str().unwrap_or_default().to_owned();
        match e["event"].as_str() {
            Some("job-started") => started.push(key),
            Some("job-finished") => finished.push(key),
            _ => {}
        }
        if started.len() == 2 {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: killing our own child by its id
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(status.code().is_none(), "killed, not finished: {status:?}");
    assert_eq!(started.len(), 2, "{started:?}");
    // the first job was pushed whole; the one it was rendering is absent or whole
    let held = assert_cache_consistent(&nginx.root, Some(&started[1]));
    assert!(held.contains(&started[0]), "{held:?} lacks {}", started[0]);
    held.len()
}

/// Checks every `ac/` entry under `root` names blobs that are there and hash to their
/// names, and that its record names its key; returns the job keys held. With `absent_or_whole`
/// the key must be absent or whole (it is, if it is held and checked).
fn assert_cache_consistent(root: &Path, absent_or_whole: Option<&str>) -> Vec<String> {
    let mut jobs = Vec::new();
    for e in std::fs::read_dir(root.join("ac")).unwrap().flatten() {
        let key = e.file_name().to_string_lossy().into_owned();
        let entry: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        assert_eq!(entry["format"], "disco-ac/1", "{key}");
        let mut blobs: Vec<&str> = ["record", "image", "inputs"]
            .iter()
            .filter_map(|f| entry[f].as_str())
            .collect();
        if let Some(p) = entry["partials"].as_object() {
            blobs.extend(p.values().filter_map(|v| v.as_str()));
        }
        assert!(!blobs.is_empty(), "{key}: {entry}");
        for sha in blobs {
            let bytes = std::fs::read(root.join("cas").join(sha))
                .unwrap_or_else(|err| panic!("{key}: blob {sha}: {err}"));
            assert_eq!(sha256_hex(&bytes), sha, "{key}");
        }
        if let Some(sha) = entry["record"].as_str() {
            let record: serde_json::Value =
                serde_json::from_slice(&std::fs::read(root.join("cas").join(sha)).unwrap())
                    .unwrap();
            assert_eq!(record["key"], key.as_str());
            jobs.push(key);
        }
    }
    if let Some(key) = absent_or_whole {
        // whole if listed (every listed entry was checked above), else absent: nothing else
        let named = std::fs::read_dir(root.join("ac"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy() == key)
            .count();
        assert!(named == 0 || jobs.iter().any(|j| j == key));
    }
    jobs
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
