//! The watcher's seams to the world: the facts planning reads and the renderer that makes
//! the pixels. [`OrtSeams`] is the real pair; tests substitute fakes (STYLE.md rule 17).

use std::path::PathBuf;

use crate::build::{OrtRenderer, Renderer, StoreFacts};
use crate::plan::Facts;
use crate::render::session::{Device, SessionOptions};
use crate::store::Store;

/// Where the watcher's facts and renderer come from. Shared by its threads.
pub trait Seams: Send + Sync + 'static {
    /// Calls `f` with the facts for one planning in `store`, then keeps what they learned
    /// (the stat cache).
    fn with_facts(&self, store: &Store, f: &mut dyn FnMut(&mut dyn Facts));
    /// The renderer, made once on the render thread (sessions are reused by every job).
    fn renderer(&self) -> Box<dyn Renderer>;
}

/// The real seams: the store's stat cache and ONNX Runtime.
#[derive(Debug, Clone)]
pub struct OrtSeams {
    /// Where to render.
    pub device: Device,
    /// libonnxruntime.so, if given.
    pub ort_lib: Option<PathBuf>,
    /// Threads per ONNX Runtime operator.
    pub threads: Option<usize>,
}

impl Seams for OrtSeams {
    fn with_facts(&self, store: &Store, f: &mut dyn FnMut(&mut dyn Facts)) {
        let mut facts = StoreFacts::new(store.stat_cache(), self.device, self.ort_lib.clone())
            .with_frames(store.root().join("frames"));
        f(&mut facts);
        // a hash computed is worth keeping even when planning failed further on; the
        // watcher must not die of a full disk
        let _ = facts.stat.save();
    }

    fn renderer(&self) -> Box<dyn Renderer> {
        Box::new(OrtRenderer::new(
            SessionOptions {
                device: self.device,
                intra_threads: self.threads,
                // planning has checked every graph file against its manifest
                verify_hashes: false,
            },
            self.ort_lib.clone(),
        ))
    }
}
