//! What a build leaves for people to look at: a contact sheet per sweep.
//!
//! - [`layout`]: a sweep as rows and columns; [`sheet`]: the contact sheet and its key;
//! - [`text`]: label text in the bundled DejaVu Sans; [`thumbs`]: one thumbnail per key.

pub mod layout;
pub mod sheet;
pub mod text;
pub mod thumbs;
