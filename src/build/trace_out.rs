//! Writing a render trace (docs/trace.md) to disk: the renderer records it in memory
//! ([`Trace`](crate::render::trace::Trace)) and writes no files; its two files are written
//! here, beside the other bytes a build writes.

use std::io;
use std::path::Path;

use crate::fsutil::write_atomic;
use crate::render::trace::TraceFiles;

/// Writes `trace.json` and `tensors.bin` into `dir` (created if needed), each atomically.
pub fn write_trace(dir: &Path, files: &TraceFiles) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_atomic(&dir.join("tensors.bin"), &files.tensors_bin)?;
    write_atomic(&dir.join("trace.json"), files.trace_json.as_bytes())
}
