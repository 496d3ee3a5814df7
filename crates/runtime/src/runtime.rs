//! Finding and loading the ONNX Runtime shared library (`ort` with `load-dynamic`).
//!
//! Discovery order (DESIGN.md §5): an explicit path, then `ORT_DYLIB_PATH`, then the
//! `onnxruntime` Python wheel in a `.venv` beside the executable or the working directory
//! (what `scripts/setup.sh` installs), then `$VIRTUAL_ENV`, user and system site-packages,
//! then system library directories. ort panics when used without a library, so nothing
//! touches ort before [`init`] succeeded.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// How the library was found, for `disco doctor`.
#[derive(Debug, Clone)]
pub struct Found {
    /// Path of the shared library.
    pub path: PathBuf,
    /// Which rule found it.
    pub via: &'static str,
}

/// Why no usable library was found or loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Nothing found anywhere.
    #[error("ONNX Runtime library not found (looked in: {looked})")]
    NotFound {
        /// The places searched.
        looked: String,
    },
    /// A path was named but does not exist.
    #[error("ONNX Runtime library {path} (from {via}) does not exist")]
    Missing {
        /// The path.
        path: PathBuf,
        /// Where the path came from.
        via: &'static str,
    },
    /// The library exists but could not be loaded.
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    Load {
        /// The path.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
}

impl RuntimeError {
    /// What the user can do about it.
    pub fn help(&self) -> &'static str {
        "run `scripts/setup.sh` (installs the onnxruntime wheel into .venv), or set ORT_DYLIB_PATH \
         to libonnxruntime.so; `disco doctor` shows what was searched"
    }
}

fn lib_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    // prefer the fully versioned name (the real file, not a symlink)
    found.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    found.into_iter().next()
}

fn wheel_in_site_packages(lib_root: &Path) -> Option<PathBuf> {
    // <root>/lib/python3.X/site-packages/onnxruntime/capi/
    for entry in std::fs::read_dir(lib_root).ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("python3") {
            continue;
        }
        for pkgs in ["site-packages", "dist-packages"] {
            if let Some(p) = lib_in(&entry.path().join(pkgs).join("onnxruntime/capi")) {
                return Some(p);
            }
        }
    }
    None
}

/// Looks for the library without loading it.
pub fn discover(explicit: Option<&Path>) -> Result<Found, RuntimeError> {
    if let Some(p) = explicit {
        return if p.exists() {
            Ok(Found {
                path: p.into(),
                via: "--ort-lib",
            })
        } else {
            Err(RuntimeError::Missing {
                path: p.into(),
                via: "--ort-lib",
            })
        };
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(Found {
                path: p,
                via: "ORT_DYLIB_PATH",
            })
        } else {
            Err(RuntimeError::Missing {
                path: p,
                via: "ORT_DYLIB_PATH",
            })
        };
    }
    let mut looked = Vec::new();
    let mut roots: Vec<(PathBuf, &'static str)> = Vec::new();
    let exe = std::env::current_exe().ok();
    for start in exe
        .iter()
        .filter_map(|e| e.parent().map(Path::to_path_buf))
        .chain(std::env::current_dir().ok())
    {
        for dir in start.ancestors() {
            roots.push((dir.join(".venv/lib"), ".venv"));
        }
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        roots.push((PathBuf::from(v).join("lib"), "$VIRTUAL_ENV"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        roots.push((PathBuf::from(home).join(".local/lib"), "user site-packages"));
    }
    roots.push(("/usr/local/lib".into(), "system site-packages"));
    roots.push(("/usr/lib".into(), "system site-packages"));
    for (root, via) in &roots {
        if root.exists()
            && let Some(p) = wheel_in_site_packages(root)
        {
            return Ok(Found { path: p, via });
        }
    }
    looked.push(".venv, $VIRTUAL_ENV, user and system site-packages".to_owned());
    for dir in ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu"] {
        if let Some(p) = lib_in(Path::new(dir)) {
            return Ok(Found {
                path: p,
                via: "system library directory",
            });
        }
        looked.push(dir.to_owned());
    }
    Err(RuntimeError::NotFound {
        looked: looked.join(", "),
    })
}

static LOADED: OnceLock<Result<(Found, ort::environment::Environment), String>> = OnceLock::new();

/// Finds and loads the library and builds the process's one ORT environment (ORT allows a
/// single environment per process, so the first call decides).
pub fn init(explicit: Option<&Path>) -> Result<Found, RuntimeError> {
    let r = LOADED.get_or_init(|| {
        let found = discover(explicit).map_err(|e| e.to_string())?;
        let env = ort::init_from(&found.path)
            .map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {}: {e}",
                    found.path.display()
                )
            })?
            .with_name("disco")
            .build()
            .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))?;
        register_shared_cpu_arena(&env);
        Ok((found, env))
    });
    match r {
        Ok((found, _)) => Ok(found.clone()),
        Err(reason) => Err(RuntimeError::Load {
            path: explicit.map(Path::to_path_buf).unwrap_or_default(),
            reason: reason.clone(),
        }),
    }
}

/// Whether the environment holds the CPU arena every session shares ([`register_shared_cpu_arena`]).
static SHARED_ARENA: OnceLock<bool> = OnceLock::new();

/// Registers one CPU arena allocator in the environment, for sessions built with
/// `session.use_env_allocators` ([`shared_cpu_arena`]). Each session's own arena keeps that
/// session's peak for good, so a render's sessions together held the sum of their peaks
/// (19 GiB at 384×256 with DD's default models, docs/bench-render-step.md); they run one at a
/// time, so one shared arena holds about the largest. If ORT refuses, sessions keep their own.
fn register_shared_cpu_arena(env: &ort::environment::Environment) {
    use ort::AsPointer;
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    let ok = MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Arena,
        MemoryType::Default,
    )
    .is_ok_and(|info| {
        // SAFETY: both pointers are live ORT objects (the environment outlives the process's
        // sessions; ORT copies what it needs from the memory info); a null arena config asks
        // for ORT's default arena. A returned status is owned by us and released here.
        unsafe {
            let api = ort::api();
            let status = (api.CreateAndRegisterAllocator)(
                env.ptr().cast_mut(),
                info.ptr(),
                std::ptr::null(),
            );
            if status.0.is_null() {
                true
            } else {
                (api.ReleaseStatus)(status.0);
                false
            }
        }
    });
    let _ = SHARED_ARENA.set(ok);
}

/// Whether sessions should use the environment's shared CPU arena.
pub fn shared_cpu_arena() -> bool {
    SHARED_ARENA.get().copied().unwrap_or(false)
}

/// The environment built by [`init`] (which is called with no explicit path if needed).
pub fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    init(None)?;
    match LOADED.get() {
        Some(Ok((_, env))) => Ok(env),
        _ => unreachable!("init succeeded"),
    }
}

/// Why [`library_version`] could not ask a library its version.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// The file cannot be loaded as a shared library.
    #[error("{0}")]
    Load(#[source] libloading::Error),
    /// It has no `OrtGetApiBase`: not ONNX Runtime.
    #[error("{0}")]
    Symbol(#[source] libloading::Error),
    /// `OrtGetApiBase` returned null.
    #[error("OrtGetApiBase returned null")]
    Null,
}

/// The library's own version string (`OrtGetApiBase()->GetVersionString()`), read without
/// initialising ort, so it also works for a library ort would refuse.
pub fn library_version(path: &Path) -> Result<String, VersionError> {
    // SAFETY: loading ONNX Runtime runs no initialisers with preconditions; the symbol has
    // the C signature of the ONNX Runtime C API (`const OrtApiBase* OrtGetApiBase(void)`),
    // and GetVersionString returns a static NUL-terminated string.
    unsafe {
        let lib = libloading::Library::new(path).map_err(VersionError::Load)?;
        let get: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
            lib.get(b"OrtGetApiBase").map_err(VersionError::Symbol)?;
        let base = get();
        if base.is_null() {
            return Err(VersionError::Null);
        }
        let v = ((*base).GetVersionString)();
        let version = std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned();
        // keep the library loaded: ort will load the same file again
        std::mem::forget(lib);
        Ok(version)
    }
}

/// Facts about the loaded library, for `disco doctor`.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// ORT's build string (version, commit).
    pub build: String,
    /// Execution providers and whether this library offers them.
    pub providers: Vec<(&'static str, bool)>,
}

/// Asks the loaded library about itself. Call after [`init`].
pub fn info() -> RuntimeInfo {
    use ort::ep::ExecutionProvider;
    let providers = vec![
        ("CPU", ort::ep::CPU::is_available().unwrap_or(false)),
        ("CUDA", ort::ep::CUDA::is_available().unwrap_or(false)),
    ];
    RuntimeInfo {
        build: ort::info().to_owned(),
        providers,
    }
}
