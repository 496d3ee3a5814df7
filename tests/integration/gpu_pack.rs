//! scripts/gpu-pack.sh and scripts/gpu-bench.sh (docs/gpu.md) on a fake wheel: random bytes
//! under the three library names, so neither the real wheel, the internet nor a GPU is needed.
//! Packed into pieces of at most 1 MB, the pieces reassemble to the same bytes; a corrupt
//! piece, a missing piece and a wrong manifest each stop gpu-bench.sh with exit 3 and a message
//! naming the piece, the line or the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use crate::support::{root, text};

const LIBS: [(&str, usize); 3] = [
    ("libonnxruntime.so.1.31.1", 300_000),
    ("libonnxruntime_providers_shared.so", 1_000),
    ("libonnxruntime_providers_cuda.so", 2_500_000),
];

/// Incompressible bytes (xorshift64), so the CUDA library's 2.5 MB make three 1 MB pieces.
fn noise(n: usize, mut s: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

fn python() -> PathBuf {
    let venv = root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn script(name: &str, args: &[&str]) -> Output {
    Command::new(root().join("scripts").join(name))
        .args(args)
        .env_remove("DISCO_ORT_GPU_WHEEL")
        .output()
        .expect("run the script")
}

/// A temp dir with `fake.whl` (the three libraries under onnxruntime/capi/) and `pack/`, the
/// pieces of it at most `piece_mb` MB each. Returns the dir and each library's bytes.
fn packed(piece_mb: &str) -> (tempfile::TempDir, Vec<(&'static str, Vec<u8>)>) {
    packed_with(piece_mb, |_| Vec::new())
}

/// [`packed`], with more gpu-pack.sh arguments made by `extra` in the temp dir first.
fn packed_with(
    piece_mb: &str,
    extra: impl FnOnce(&Path) -> Vec<String>,
) -> (tempfile::TempDir, Vec<(&'static str, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    let extra = extra(dir.path());
    let libs: Vec<(&str, Vec<u8>)> = LIBS
        .iter()
        .enumerate()
        .map(|(i, &(name, n))| (name, noise(n, 0x9e37_79b9_7f4a_7c15 + i as u64)))
        .collect();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for (name, bytes) in &libs {
        std::fs::write(src.join(name), bytes).unwrap();
    }
    let wheel = dir.path().join("fake.whl");
    let made = Command::new(python())
        .arg("-c")
        .arg(
            "import os, sys, zipfile\n\
             src, whl = sys.argv[1:3]\n\
             with zipfile.ZipFile(whl, 'w') as z:\n\
             \x20   for n in sorted(os.listdir(src)):\n\
             \x20       z.write(os.path.join(src, n), 'onnxruntime/capi/' + n)\n",
        )
        .arg(&src)
        .arg(&wheel)
        .status()
        .unwrap();
    assert!(made.success(), "python could not write the fake wheel");
    let sum = hex(&std::fs::read(&wheel).unwrap());
    let p = |sub: &str| dir.path().join(sub).display().to_string();
    let mut args = vec![
        "--wheel".to_owned(),
        p("fake.whl"),
        "--wheel-sha256".to_owned(),
        sum,
        "--piece-mb".to_owned(),
        piece_mb.to_owned(),
        "--out".to_owned(),
        p("pack"),
        "--work".to_owned(),
        p("work"),
    ];
    args.extend(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = script("gpu-pack.sh", &args);
    let (_, err) = text(&o);
    assert!(o.status.success(), "gpu-pack.sh failed:\n{err}");
    (dir, libs)
}

fn pieces(pack: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(pack)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().contains(".zst.part-"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

fn bench(args: &[&str]) -> (i32, String) {
    let o = script("gpu-bench.sh", args);
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), format!("{out}{err}"))
}

#[test]
fn pieces_reassemble_to_the_same_bytes_and_respect_the_size_limit() {
    let (dir, libs) = packed("1");
    let pack = dir.path().join("pack");
    let ps = pieces(&pack);
    let names: Vec<&str> = ps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "libonnxruntime.so.1.31.1.zst.part-000",
            "libonnxruntime_providers_cuda.so.zst.part-000",
            "libonnxruntime_providers_cuda.so.zst.part-001",
            "libonnxruntime_providers_cuda.so.zst.part-002",
            "libonnxruntime_providers_shared.so.zst.part-000",
        ]
    );
    for (name, len) in &ps {
        assert!(*len <= 1_000_000, "{name} is {len} bytes, over 1 MB");
    }
    let manifest = std::fs::read_to_string(pack.join("MANIFEST")).unwrap();
    assert!(manifest.starts_with("disco-gpu-pack 1\nort 1.31.1\n"));
    assert!(manifest.contains("\npiece_bytes 1000000\n"));
    for (name, bytes) in &libs {
        let line = format!("file ort {name} 644 {} {} ", bytes.len(), hex(bytes));
        assert!(manifest.contains(&line), "no `{line}` in\n{manifest}");
    }

    // Once with the zstd on PATH, once with the copy the pack carries in tools/.
    for (out, how) in [("out", None), ("out-tool", Some("tool"))] {
        let out_dir = dir.path().join(out);
        let mut args = vec![
            "--pieces",
            pack.to_str().unwrap(),
            "--unpack-only",
            "--out",
            out_dir.to_str().unwrap(),
        ];
        if let Some(h) = how {
            args.extend(["--zstd", h]);
        }
        let (code, log) = bench(&args);
        assert_eq!(code, 0, "{log}");
        for (name, bytes) in &libs {
            let got = std::fs::read(out_dir.join("lib").join(name)).unwrap();
            assert!(
                got == *bytes,
                "{name} unpacked ({how:?}) differs from the packed one"
            );
        }
    }

    // Packing again gives the same manifest; --piece-mb 2 replaces the old pieces.
    let again = |mb: &str| {
        let p = |sub: &str| dir.path().join(sub).display().to_string();
        let sum = hex(&std::fs::read(dir.path().join("fake.whl")).unwrap());
        let o = script(
            "gpu-pack.sh",
            &[
                "--wheel",
                &p("fake.whl"),
                "--wheel-sha256",
                &sum,
                "--piece-mb",
                mb,
                "--out",
                &p("pack"),
                "--work",
                &p("work"),
            ],
        );
        assert!(o.status.success(), "{}", text(&o).1);
        std::fs::read_to_string(pack.join("MANIFEST")).unwrap()
    };
    assert_eq!(again("1"), manifest);
    again("2");
    let cuda: Vec<u64> = pieces(&pack)
        .into_iter()
        .filter(|(n, _)| n.starts_with("libonnxruntime_providers_cuda"))
        .map(|(_, l)| l)
        .collect();
    assert_eq!(cuda.len(), 2, "2.5 MB in pieces of at most 2 MB: {cuda:?}");
    assert!(cuda.iter().all(|&l| l <= 2_000_000), "{cuda:?}");
}

#[test]
fn a_corrupt_and_a_missing_piece_are_each_named() {
    let (dir, _) = packed("1");
    let pack = dir.path().join("pack");
    let corrupt = pack.join("libonnxruntime_providers_cuda.so.zst.part-001");
    let mut bytes = std::fs::read(&corrupt).unwrap();
    bytes[500] ^= 1;
    std::fs::write(&corrupt, bytes).unwrap();
    std::fs::remove_file(pack.join("libonnxruntime_providers_cuda.so.zst.part-002")).unwrap();
    let out = dir.path().join("out");
    let (code, log) = bench(&[
        "--pieces",
        pack.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("CORRUPT piece libonnxruntime_providers_cuda.so.zst.part-001"),
        "{log}"
    );
    assert!(
        log.contains(
            "MISSING piece libonnxruntime_providers_cuda.so.zst.part-002 (piece 3 of 3 of libonnxruntime_providers_cuda.so"
        ),
        "{log}"
    );
    assert!(log.contains("2 piece(s) missing or corrupt"), "{log}");
    assert!(
        !log.contains("part-000"),
        "intact pieces are not named:\n{log}"
    );
    assert!(!out.join("lib").exists(), "nothing is unpacked");

    // A size that differs is named too, before the hash is computed.
    std::fs::write(&corrupt, b"short").unwrap();
    let (code, log) = bench(&["--pieces", pack.to_str().unwrap(), "--check"]);
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("part-001 is 5 bytes, the manifest says 1000000"),
        "{log}"
    );
}

#[test]
fn a_wrong_manifest_is_refused_with_its_line_or_file() {
    let (dir, libs) = packed("1");
    let pack = dir.path().join("pack");
    let manifest = std::fs::read_to_string(pack.join("MANIFEST")).unwrap();
    let run = |text: &str, extra: &[&str]| {
        std::fs::write(pack.join("MANIFEST"), text).unwrap();
        let out = dir.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec![
            "--pieces",
            pack.to_str().unwrap(),
            "--unpack-only",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        bench(&args)
    };

    // The pieces are intact, but the library they make is not the one the manifest names.
    let (shared, bytes) = (&libs[1].0, &libs[1].1);
    let right = hex(bytes);
    let wrong = format!(
        "{}{}",
        if right.starts_with('0') { "1" } else { "0" },
        &right[1..]
    );
    let (code, log) = run(&manifest.replace(&right, &wrong), &[]);
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains(&format!(
            "{shared}: reassembled it is 1000 bytes with sha256 {right}, the manifest says 1000 bytes with {wrong}"
        )),
        "{log}"
    );
    assert!(
        !dir.path().join("out/lib").join(shared).exists(),
        "a file that fails its hash is not left in place"
    );

    // Not a manifest at all; a line that does not parse; a piece over the pack's piece size.
    let (code, log) = run("# something else\n", &[]);
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("does not start with `disco-gpu-pack 1`"),
        "{log}"
    );

    let (code, log) = run(
        &manifest.replace("piece_bytes 1000000", "piece_bytes lots"),
        &[],
    );
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains(
            "MANIFEST line 4 is not a gpu-pack manifest line (piece_bytes N): `piece_bytes lots`"
        ),
        "{log}"
    );

    let (code, log) = run(
        &manifest.replace("piece_bytes 1000000", "piece_bytes 999999"),
        &["--check"],
    );
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("is 1000000 bytes, over its piece_bytes 999999"),
        "{log}"
    );

    // A file line claiming more pieces than the manifest lists.
    let cuda_line = manifest
        .lines()
        .find(|l| l.starts_with("file ort libonnxruntime_providers_cuda.so "))
        .unwrap();
    let four = format!("{} 4", cuda_line.strip_suffix(" 3").unwrap());
    let (code, log) = run(&manifest.replace(cuda_line, &four), &["--check"]);
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("libonnxruntime_providers_cuda.so has 4 pieces but has no line for piece 3"),
        "{log}"
    );
}

#[test]
fn pieces_collected_over_several_calls_are_reported_until_complete() {
    let (dir, libs) = packed("1");
    let pack = dir.path().join("pack");
    let (first, second) = (dir.path().join("carry1"), dir.path().join("carry2"));
    for d in [&first, &second] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::copy(pack.join("MANIFEST"), first.join("MANIFEST")).unwrap();
    for (name, _) in pieces(&pack) {
        let to = if name.ends_with("part-000") {
            &first
        } else {
            &second
        };
        std::fs::copy(pack.join(&name), to.join(&name)).unwrap();
    }
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();

    let (code, log) = bench(&["--store", s, "--collect", first.to_str().unwrap()]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("MISSING piece libonnxruntime_providers_cuda.so.zst.part-001"),
        "{log}"
    );
    assert!(log.contains("still lacks 2 piece(s)"), "{log}");
    let (code, log) = bench(&["--pieces", s, "--check"]);
    assert_eq!(code, 3, "{log}");

    // A corrupt piece offered is refused, named, and not moved into the store.
    let bad = second.join("libonnxruntime_providers_cuda.so.zst.part-002");
    let good = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &good[..100]).unwrap();
    let (code, log) = bench(&["--store", s, "--collect", second.to_str().unwrap()]);
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains(&format!("CORRUPT piece {}", bad.display())),
        "{log}"
    );
    assert!(
        log.contains("still lacks 1 piece(s)")
            || log.contains("MISSING piece libonnxruntime_providers_cuda.so.zst.part-002"),
        "{log}"
    );
    assert!(
        !store
            .join("libonnxruntime_providers_cuda.so.zst.part-002")
            .exists()
    );

    std::fs::write(&bad, &good).unwrap();
    let (code, log) = bench(&["--store", s, "--collect", second.to_str().unwrap()]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("holds every piece"), "{log}");
    let out = dir.path().join("out");
    let (code, log) = bench(&[
        "--pieces",
        s,
        "--unpack-only",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{log}");
    let cuda = &libs[2];
    assert!(std::fs::read(out.join("lib").join(cuda.0)).unwrap() == cuda.1);
}

#[test]
fn the_dry_run_stops_at_doctor_when_the_library_does_not_load() {
    // The fake library is random bytes: every step before doctor passes on the CPU (no CUDA
    // libraries needed in a dry run), then disco cannot load it.
    let (dir, _) = packed("60");
    let pack = dir.path().join("pack");
    let out = dir.path().join("out");
    let (code, log) = bench(&[
        "--pieces",
        pack.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--dry-run",
        "--disco",
        env!("CARGO_BIN_EXE_disco"),
    ]);
    assert_eq!(code, 5, "{log}");
    assert!(log.contains("all 3 pieces present and intact"), "{log}");
    assert!(log.contains("disco doctor --ort-lib"), "{log}");
    assert!(log.contains("could not load"), "{log}");
}

#[test]
fn gpu_pack_refuses_a_wheel_that_is_not_the_pinned_one_and_a_bad_piece_size() {
    let dir = tempfile::tempdir().unwrap();
    let whl = dir.path().join("other.whl");
    std::fs::write(&whl, b"not the wheel").unwrap();
    let o = script(
        "gpu-pack.sh",
        &[
            "--wheel",
            whl.to_str().unwrap(),
            "--out",
            dir.path().join("pack").to_str().unwrap(),
            "--work",
            dir.path().join("work").to_str().unwrap(),
        ],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!("has sha256 {}", hex(b"not the wheel"))),
        "{err}"
    );
    assert!(err.contains("not the pinned e26c475f"), "{err}");
    assert!(!dir.path().join("pack/MANIFEST").exists());

    for bad in ["0", "1.5", "-3"] {
        let o = script("gpu-pack.sh", &["--piece-mb", bad]);
        assert!(!o.status.success());
        assert!(
            text(&o).1.contains("--piece-mb must be a whole number"),
            "{bad}"
        );
    }
}

#[test]
fn added_files_come_back_with_their_mode_and_a_tar_is_unpacked() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _) = packed_with("1", |d| {
        let bin = d.join("disco-like");
        std::fs::write(&bin, noise(1_500_000, 7)).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(d.join("sets/tiny")).unwrap();
        std::fs::write(d.join("sets/tiny/manifest.json"), b"{\"graphs\": {}}").unwrap();
        let tar = Command::new("tar")
            .arg("-C")
            .arg(d.join("sets"))
            .arg("-cf")
            .arg(d.join("tiny.tar"))
            .arg("tiny")
            .status()
            .unwrap();
        assert!(tar.success());
        vec![
            "--add".into(),
            bin.display().to_string(),
            "--add".into(),
            d.join("tiny.tar").display().to_string(),
        ]
    });
    let pack = dir.path().join("pack");
    let manifest = std::fs::read_to_string(pack.join("MANIFEST")).unwrap();
    assert!(
        manifest.contains("\nfile extra disco-like 755 1500000 "),
        "{manifest}"
    );
    assert!(
        manifest.contains("\npiece disco-like 1 disco-like.zst.part-001 "),
        "{manifest}"
    );
    let out = dir.path().join("out");
    let (code, log) = bench(&[
        "--pieces",
        pack.to_str().unwrap(),
        "--unpack-only",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{log}");
    let bin = out.join("files/disco-like");
    assert!(std::fs::read(&bin).unwrap() == noise(1_500_000, 7));
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read(out.join("files/tiny/manifest.json")).unwrap(),
        b"{\"graphs\": {}}"
    );
}

#[test]
fn a_packed_tar_that_climbs_out_is_not_unpacked() {
    let (dir, _) = packed_with("60", |d| {
        let made = Command::new(python())
            .arg("-c")
            .arg(
                "import io, sys, tarfile\n\
                 with tarfile.open(sys.argv[1], 'w') as t:\n\
                 \x20   i = tarfile.TarInfo('../escaped'); i.size = 2\n\
                 \x20   t.addfile(i, io.BytesIO(b'hi'))\n",
            )
            .arg(d.join("evil.tar"))
            .status()
            .unwrap();
        assert!(made.success());
        vec!["--add".into(), d.join("evil.tar").display().to_string()]
    });
    let out = dir.path().join("out");
    let (code, log) = bench(&[
        "--pieces",
        dir.path().join("pack").to_str().unwrap(),
        "--unpack-only",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("evil.tar holds absolute paths or ..: not unpacked"),
        "{log}"
    );
    assert!(!out.join("escaped").exists() && !dir.path().join("escaped").exists());
}

#[test]
fn carry_folders_stay_within_their_limit_and_collect_into_the_whole_pack() {
    let (dir, libs) = packed_with("1", |_| vec!["--carry-mb".into(), "2".into()]);
    let pack = dir.path().join("pack");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&pack)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("carry-")
        })
        .collect();
    folders.sort();
    let names: Vec<String> = folders
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["carry-01", "carry-02", "carry-03"],
        "5 pieces (2.8 MB) and MANIFEST + tools/zstd (1.3 MB) in 2 MB folders"
    );
    let mut carried: Vec<String> = Vec::new();
    for f in &folders {
        let total: u64 = crate::support::tree(f)
            .iter()
            .map(|(_, bytes)| bytes.len() as u64)
            .sum();
        assert!(total <= 2_000_000, "{} holds {total} bytes", f.display());
        for (path, _) in crate::support::tree(f) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains(".zst.part-") {
                carried.push(name);
            }
        }
    }
    carried.sort();
    let all: Vec<String> = pieces(&pack).into_iter().map(|(n, _)| n).collect();
    assert_eq!(carried, all, "every piece in exactly one carry folder");
    assert!(folders[0].join("MANIFEST").exists() && folders[0].join("tools/zstd").exists());

    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    for (i, f) in folders.iter().enumerate() {
        let (code, log) = bench(&["--store", s, "--collect", f.to_str().unwrap()]);
        assert_eq!(code, 0, "{log}");
        assert_eq!(
            log.contains("holds every piece"),
            i == folders.len() - 1,
            "{log}"
        );
    }
    let out = dir.path().join("out");
    let (code, log) = bench(&[
        "--pieces",
        s,
        "--unpack-only",
        "--zstd",
        "tool",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{log}");
    for (name, bytes) in &libs {
        assert!(
            std::fs::read(out.join("lib").join(name)).unwrap() == *bytes,
            "{name}"
        );
    }

    // A piece larger than a carry folder is refused before anything is packed.
    let o = script("gpu-pack.sh", &["--piece-mb", "3", "--carry-mb", "2"]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("--carry-mb 2 is below --piece-mb 3"),
        "{}",
        text(&o).1
    );
}
