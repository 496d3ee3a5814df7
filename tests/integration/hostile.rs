//! Hostile project files that the invalid corpus cannot hold: FIFOs, devices and symlinks
//! to them, include graphs built at run time, and inputs that used to hang or abort. Each
//! must end quickly in diagnostics (exit 2 from the CLI), never hang, abort or panic.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use disco::project::{self, LoadResult};

use crate::support::{disco_command, text};

/// Generous: each case finishes in well under a second once fixed; before, they hung.
const PATIENCE: Duration = Duration::from_secs(20);

/// Loads `path` on a thread and fails the test if it takes longer than [`PATIENCE`].
fn load_within(path: &Path) -> LoadResult {
    let (tx, rx) = mpsc::channel();
    let p = path.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(project::load(&p));
    });
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("loading {} took over {PATIENCE:?}", path.display()))
}

fn errors(r: &LoadResult) -> Vec<String> {
    r.diagnostics
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} @ {}", d.message, d.location().unwrap_or_default()))
        .collect()
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Runs `disco args` in `dir`, killing it after [`PATIENCE`]; `None` if it had to be killed.
fn disco_within(dir: &Path, args: &[&str]) -> Option<std::process::Output> {
    let child = disco_command(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run disco");
    wait_within(child, PATIENCE)
}

/// Waits for `child` up to `limit`, then kills it; its output, and whether it ended by itself.
fn run_for(mut child: Child, limit: Duration) -> (std::process::Output, bool) {
    let start = Instant::now();
    let mut ended = false;
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !ended {
        let _ = child.kill();
    }
    (child.wait_with_output().unwrap(), ended)
}

fn wait_within(child: Child, limit: Duration) -> Option<std::process::Output> {
    let (out, ended) = run_for(child, limit);
    ended.then_some(out)
}

fn deep_project(dir: &Path) -> PathBuf {
    let depth = 400;
    let text = "n {\n".repeat(depth) + &"}\n".repeat(depth);
    let p = dir.join("disco.kdl");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn deep_nesting_fails_check_and_build_with_a_location_instead_of_aborting() {
    let tmp = tempfile::tempdir().unwrap();
    deep_project(tmp.path());
    for cmd in [&["check"][..], &["build"], &["plan"]] {
        let out = disco_within(tmp.path(), cmd).expect("finishes");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains("nests blocks more than 64 levels")
                && stderr.contains("disco.kdl:65:3"),
            "{cmd:?}: {stderr}"
        );
    }
}

#[test]
fn deep_nesting_leaves_watch_running_with_the_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    deep_project(tmp.path());
    let child = Command::new(env!("CARGO_BIN_EXE_disco"))
        .args(["watch", "--message-format", "json"])
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .env_remove("ORT_DYLIB_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Watch waits for a fix after a bad project; the abort ended it at once.
    let (out, ended) = run_for(child, Duration::from_secs(3));
    let (stdout, stderr) = text(&out);
    if ended {
        assert_eq!(
            out.status.code(),
            Some(2),
            "watch ended without an exit code (a signal?)\n{stdout}\n{stderr}"
        );
    }
    assert!(
        (stdout + &stderr).contains("nests blocks more than 64 levels"),
        "no diagnostic"
    );
}

#[cfg(unix)]
#[test]
fn an_included_fifo_is_refused_without_waiting_for_a_writer() {
    let tmp = tempfile::tempdir().unwrap();
    mkfifo(&tmp.path().join("pipe.kdl"));
    let main = tmp.path().join("disco.kdl");
    std::fs::write(&main, "include \"pipe.kdl\"\n").unwrap();
    let r = load_within(&main);
    let errs = errors(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("not a regular file (a FIFO)") && errs[0].contains("disco.kdl:1:9"),
        "{errs:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_project_file_that_is_a_fifo_or_a_device_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    mkfifo(&tmp.path().join("pipe.kdl"));
    std::os::unix::fs::symlink("/dev/zero", tmp.path().join("zero.kdl")).unwrap();
    for name in ["pipe.kdl", "zero.kdl", "/dev/zero"] {
        let out = disco_within(tmp.path(), &["check", name]).expect("finishes");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{name}: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn an_include_through_a_symlink_to_dev_zero_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", tmp.path().join("settings.kdl")).unwrap();
    let main = tmp.path().join("disco.kdl");
    std::fs::write(&main, "steps 50\ninclude \"settings.kdl\"\n").unwrap();
    let errs = errors(&load_within(&main));
    assert!(
        errs.len() == 1 && errs[0].contains("a character device") && errs[0].contains(":2:9"),
        "{errs:?}"
    );
}

#[test]
fn a_diamond_of_includes_reads_the_shared_file_once_and_layers_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| std::fs::write(tmp.path().join(name), text).unwrap();
    w("base.kdl", "steps 60\n");
    w("left.kdl", "include \"base.kdl\"\ntv-scale 3\n");
    w("right.kdl", "steps 70\ninclude \"base.kdl\"\n");
    w("disco.kdl", "include \"left.kdl\"\ninclude \"right.kdl\"\n");
    let r = load_within(&tmp.path().join("disco.kdl"));
    let p = r.project.unwrap_or_else(|| panic!("{:?}", r.diagnostics));
    let names: Vec<_> = p
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["disco.kdl", "left.kdl", "base.kdl", "right.kdl"]);
    let s = &p.targets[0].settings;
    // base (60), left, right's 70, base again (60): the last include wins.
    assert_eq!((s.steps.value, s.tv_scale.value.first()), (60, 3.0));
}

#[test]
fn an_exponential_include_chain_stops_at_the_expansion_limit() {
    // Each of 40 files includes the next twice: 2^40 expansions hung the loader.
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..40 {
        let body = format!("include \"f{}.kdl\"\ninclude \"f{}.kdl\"\n", i + 1, i + 1);
        std::fs::write(tmp.path().join(format!("f{i}.kdl")), body).unwrap();
    }
    std::fs::write(tmp.path().join("f40.kdl"), "steps 60\n").unwrap();
    let r = load_within(&tmp.path().join("f0.kdl"));
    let errs = errors(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("expands more than 256 includes"),
        "{errs:?}"
    );
}

#[test]
fn too_many_included_files_is_an_error_at_the_include() {
    let tmp = tempfile::tempdir().unwrap();
    let mut main = String::new();
    for i in 0..70 {
        std::fs::write(tmp.path().join(format!("part{i}.kdl")), "steps 60\n").unwrap();
        main.push_str(&format!("include \"part{i}.kdl\"\n"));
    }
    std::fs::write(tmp.path().join("disco.kdl"), main).unwrap();
    let errs = errors(&load_within(&tmp.path().join("disco.kdl")));
    // The main file and 63 includes make 64 files: the 64th include is one too many.
    assert!(
        errs.len() == 1
            && errs[0].contains("reads more than 64 files")
            && errs[0].contains("disco.kdl:64:9"),
        "{errs:?}"
    );
}

#[test]
fn included_bytes_are_capped_across_files() {
    let tmp = tempfile::tempdir().unwrap();
    // Five files of ~900 KB of comments: each under the 1 MiB file limit, 4.5 MB in all.
    let filler = "// ".to_owned() + &"x".repeat(96) + "\n";
    let big = filler.repeat(9_000);
    let mut main = String::new();
    for i in 0..5 {
        std::fs::write(tmp.path().join(format!("big{i}.kdl")), &big).unwrap();
        main.push_str(&format!("include \"big{i}.kdl\"\n"));
    }
    std::fs::write(tmp.path().join("disco.kdl"), main).unwrap();
    let errs = errors(&load_within(&tmp.path().join("disco.kdl")));
    assert!(
        errs.len() == 1
            && errs[0].contains("more than 4194304 bytes together")
            && errs[0].contains(":5:9"),
        "{errs:?}"
    );
}

#[test]
fn an_oversized_include_is_refused_without_reading_it_whole() {
    let tmp = tempfile::tempdir().unwrap();
    // 64 MB of zeros as a sparse file: reading it whole then checking took its size in memory.
    let f = std::fs::File::create(tmp.path().join("huge.kdl")).unwrap();
    f.set_len(64 << 20).unwrap();
    std::fs::write(tmp.path().join("disco.kdl"), "include \"huge.kdl\"\n").unwrap();
    let errs = errors(&load_within(&tmp.path().join("disco.kdl")));
    assert!(
        errs.len() == 1 && errs[0].contains("larger than the limit of 1048576 bytes"),
        "{errs:?}"
    );
}

#[test]
fn an_axis_of_100k_values_is_refused_quickly() {
    // The repeat check compared every value with every earlier one: minutes for 100k values.
    let tmp = tempfile::tempdir().unwrap();
    let values: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let text = format!(
        "sweep \"s\" {{\n    axis \"seed\" {}\n}}\n",
        values.join(" ")
    );
    std::fs::write(tmp.path().join("disco.kdl"), text).unwrap();
    let start = Instant::now();
    let errs = errors(&load_within(&tmp.path().join("disco.kdl")));
    assert!(
        errs.len() == 1 && errs[0].contains("has 100000 values"),
        "{errs:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_sweep_axis_repeat_is_found_among_many_values() {
    let mut values: Vec<String> = (0..9_000).map(|i| i.to_string()).collect();
    values.push("17".into());
    let text = format!(
        "clip-guidance-scale 0\nsweep \"s\" {{\n    axis \"seed\" {}\n}}\n",
        values.join(" ")
    );
    let r = project::load_str(Path::new("mem/disco.kdl"), &text);
    let errs = errors(&r);
    assert!(
        errs.len() == 1 && errs[0].contains("repeats the value 17"),
        "{errs:?}"
    );
}

#[test]
fn sweep_cells_are_counted_without_wrapping() {
    // 2^64 cells wrapped to 0 (release) or panicked (debug).
    let values: Vec<String> = (0..256).map(|i| i.to_string()).collect();
    let axes: String = [
        "seed",
        "steps",
        "tv-scale",
        "sat-scale",
        "range-scale",
        "init-scale",
        "clamp-max",
        "rand-mag",
    ]
    .iter()
    .map(|a| format!("    axis \"{a}\" {}\n", values.join(" ")))
    .collect();
    let r = project::load_str(
        Path::new("mem/disco.kdl"),
        &format!("sweep \"grid\" {{\n{axes}}}\n"),
    );
    let errs = errors(&r);
    assert!(
        errs.len() == 1
            && errs[0].contains("the limit is 10000")
            && errs[0].contains("mem/disco.kdl:1:1"),
        "{errs:?}"
    );
}

#[test]
fn an_output_path_past_path_max_is_an_error_in_check() {
    // 17 folders of 250 bytes: the project directory alone is over 4,096 bytes.
    let dir: PathBuf = std::iter::once("/".to_owned())
        .chain((0..17).map(|i| format!("{i:0>250}")))
        .collect();
    let r = project::load_str(&dir.join("disco.kdl"), "clip-guidance-scale 0\n");
    let errs = errors(&r);
    assert!(
        errs.len() == 1 && errs[0].contains("paths are limited to 4096"),
        "{errs:?}"
    );
    // The same project in a short directory is fine.
    let r = project::load_str(Path::new("/p/disco.kdl"), "clip-guidance-scale 0\n");
    assert!(errors(&r).is_empty(), "{:?}", errors(&r));
}

#[test]
fn a_sweep_cell_folder_name_past_name_max_is_an_error_in_check() {
    let long = "w".repeat(250);
    let text = format!("sweep \"s\" {{\n    axis \"text-prompts\" \"{long}\" \"short\"\n}}\n");
    let errs = errors(&project::load_str(Path::new("mem/disco.kdl"), &text));
    assert!(
        errs.len() == 1
            && errs[0].contains("the sweep cell's folder name would be 263 bytes")
            && errs[0].contains("mem/disco.kdl:1:7"),
        "{errs:?}"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_instead_of_panicking() {
    // `disco check | head -0`: the reader is gone before disco prints its summary.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disco.kdl"), "steps 20\n").unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = disco_command(dir.path())
        .arg("check")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
    }
}

#[test]
fn an_init_image_or_image_prompt_that_is_a_fifo_is_refused_by_check_without_waiting() {
    // `check` reads the images a build reads: a FIFO with no writer must not hang it.
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("init.png"));
    mkfifo(&dir.path().join("prompt.png"));
    std::fs::write(
        dir.path().join("disco.kdl"),
        "init-image \"init.png\"\nimage-prompts \"prompt.png\"\n",
    )
    .unwrap();
    let out = disco_within(dir.path(), &["check"]).expect("check hung on a FIFO");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot use init image") && stderr.contains("cannot use image prompt"),
        "{stderr}"
    );
    assert!(stderr.contains("not a regular file"), "{stderr}");
}
