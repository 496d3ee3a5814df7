//! A no-op `disco build` of a 1000-frame animation whose model set holds a 2 GB file
//! (DESIGN.md §3: big files are hashed once, then known by their stat). Prints a table;
//! asserts nothing but that the rebuild rendered nothing.
//!
//!     DISCO_TINY_MODELS=target/models/tiny cargo bench --bench noop_build
//!
//! The first build's images come from a stand-in renderer (1000 real frames would take
//! hours on a CPU); its planning and hashing are the real ones. The no-op builds run the
//! release binary, as a user would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use disco::build::{
    self, BuildEvent, BuildOptions, Hooks, RenderOutcome, Renderer, Request, StoreFacts,
};
use disco::render::session::Device;
use disco::store::Store;
use ndarray::Array3;

const FRAMES: u32 = 1000;
const BIG: u64 = 2 << 30;
const RUNS: usize = 21;

struct StandIn;

impl Renderer for StandIn {
    fn render(
        &mut self,
        req: &Request<'_>,
        _: &mut dyn Hooks,
        _: &AtomicBool,
    ) -> Result<RenderOutcome, disco::build::RenderError> {
        let key = req.plan.jobs[req.job].key;
        Ok(RenderOutcome::Finished {
            image: Array3::from_shape_fn((64, 64, 3), |(y, x, c)| key.0[(y * 3 + x + c) % 32]),
            losses: serde_json::Value::Null,
            steps: 0,
            device: "stand-in".into(),
        })
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Writes `n` pseudo-random bytes (incompressible, so no file system shortcut) and
/// returns their blake3.
fn write_big(path: &Path, n: u64) -> String {
    let mut f = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(path).unwrap());
    let mut h = blake3::Hasher::new();
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..n / buf.len() as u64 {
        for c in buf.chunks_exact_mut(8) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            c.copy_from_slice(&s.to_le_bytes());
        }
        h.update(&buf);
        f.write_all(&buf).unwrap();
    }
    f.flush().unwrap();
    h.finalize().to_hex().to_string()
}

fn main() {
    let tiny = std::env::var_os("DISCO_TINY_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/models/tiny"));
    if !tiny.join("manifest.json").is_file() {
        eprintln!(
            "no tiny model set at {} (scripts/test.sh exports one)",
            tiny.display()
        );
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let set = dir.path().join("models");
    copy_dir(&tiny, &set);
    let t = Instant::now();
    let big_hash = write_big(&set.join("unet_fwd.data"), BIG);
    let write_s = t.elapsed().as_secs_f64();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    manifest["graphs"]["unet_fwd"]["external_data"] =
        serde_json::json!({"file": "unet_fwd.data", "blake3": big_hash});
    std::fs::write(
        set.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("disco.kdl"),
        format!(
            "model-set \"models\"\nwidth-height 64 64\nsteps 20\nseed 1\nclip-models \"ViT-B/32\" \"RN50\"\n\
             text-prompts {{\n    frame 0 \"a lighthouse\"\n    frame 500 \"a storm\"\n}}\n\
             animation \"film\" {{\n    max-frames {FRAMES}\n    zoom \"0: (1), 10: (1.05)\"\n}}\n"
        ),
    )
    .unwrap();

    // first build: real planning (hashes the 2 GB file once), stand-in pixels
    let project = disco::project::load(&dir.path().join("disco.kdl"))
        .project
        .expect("valid");
    let store = Store::new(dir.path());
    let mut facts = StoreFacts::new(store.stat_cache(), Device::Auto, None);
    let t = Instant::now();
    let plan = build::make_plan(&project, &[], None, &store, &mut facts).expect("plan");
    let first_plan_s = t.elapsed().as_secs_f64();
    let hashed = facts.stat.hashed_bytes;
    facts.stat.save().unwrap();
    let t = Instant::now();
    build::build(
        &plan,
        &BuildOptions::default(),
        &mut StandIn,
        &mut |_: &BuildEvent| {},
        &AtomicBool::new(false),
    )
    .expect("first build");
    let first_build_s = t.elapsed().as_secs_f64();

    // no-op builds through the binary
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_disco"))
            .args(["build", "--message-format", "json"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("\"rendered\":0,\"reused\":1000"),
            "{stdout}"
        );
    }
    times.sort_by(f64::total_cmp);
    println!("| measure ({FRAMES} frames, 2 GiB model file) | value |");
    println!("| --- | --- |");
    println!("| writing the 2 GiB file (setup) | {write_s:.2} s |");
    println!(
        "| first plan: hashing {:.2} GiB + keys | {first_plan_s:.2} s ({:.2} GiB/s) |",
        hashed as f64 / (1u64 << 30) as f64,
        hashed as f64 / (1u64 << 30) as f64 / first_plan_s
    );
    println!("| first build with stand-in pixels (store + materialise) | {first_build_s:.2} s |");
    println!(
        "| no-op `disco build`, median of {RUNS} | {:.1} ms |",
        times[RUNS / 2]
    );
    println!(
        "| no-op min / max | {:.1} / {:.1} ms |",
        times[0],
        times[RUNS - 1]
    );
}
