//! Legacy MakeCutouts (placeholder).
