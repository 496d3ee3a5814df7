//! Sampler checkpoints as bytes (`.disco/partial/<key>.ckpt`), so a killed build resumes a
//! frame mid-way instead of from step 0.
//!
//! Layout, version 3, little-endian, read whole:
//! `b"disco-ckpt/3\n"`, the job key (32 bytes), `k: u64`, the shape of x (`4 × u64`),
//! x (`f32` × len), `has_eps: u8` then ε_prev (`f32` × len) if 1, the noise stream
//! (`seed: u64`, `word_pos: u128`), the guidance stream (same), the lazy guidance's count
//! (`u64`) and `has_grad: u8` then its kept gradient (`f32` × len) if 1, `has_tone: u8` then
//! the tone correction's image (`f32` × len) if 1, and blake3 of everything before it
//! (32 bytes). Anything that does not parse, or is for another key, size or version (version 1
//! had no lazy guidance, version 2 no tone correction), is ignored: the frame restarts from
//! step 0.

use ndarray::Array4;

use crate::plan::Key;
use crate::render::job::{Checkpoint, LazyGuidance};
use crate::render::noise::RngPosition;
use crate::render::sampler::SamplerState;

const MAGIC: &[u8] = b"disco-ckpt/3\n";

/// Encodes `cp` for job `key`.
pub fn encode(key: &Key, cp: &Checkpoint) -> Vec<u8> {
    let x = &cp.state.x;
    let mut out = Vec::with_capacity(MAGIC.len() + 128 + 8 * x.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&(cp.state.k as u64).to_le_bytes());
    for d in x.shape() {
        out.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    let floats = |out: &mut Vec<u8>, a: &Array4<f32>| {
        for v in a.iter() {
            out.extend_from_slice(&v.to_le_bytes());
        }
    };
    floats(&mut out, x);
    let optional = |out: &mut Vec<u8>, a: &Option<Array4<f32>>| match a {
        Some(a) => {
            out.push(1);
            floats(out, a);
        }
        None => out.push(0),
    };
    optional(&mut out, &cp.state.eps_prev);
    for p in [cp.noise, cp.guidance] {
        out.extend_from_slice(&p.seed.to_le_bytes());
        out.extend_from_slice(&p.word_pos.to_le_bytes());
    }
    out.extend_from_slice(&cp.lazy.calls.to_le_bytes());
    optional(&mut out, &cp.lazy.grad);
    optional(&mut out, &cp.tone_init);
    let hash = blake3::hash(&out);
    out.extend_from_slice(hash.as_bytes());
    out
}

/// Decodes a checkpoint of job `key` with `shape`; `None` if it is anything else.
pub fn decode(bytes: &[u8], key: &Key, shape: [usize; 4]) -> Option<Checkpoint> {
    let body = bytes.get(..bytes.len().checked_sub(32)?)?;
    if blake3::hash(body).as_bytes() != &bytes[body.len()..] {
        return None;
    }
    let mut r = Reader(body);
    if r.take(MAGIC.len())? != MAGIC || r.take(32)? != key.0 {
        return None;
    }
    let k = r.u64()? as usize;
    let mut got = [0usize; 4];
    for d in &mut got {
        *d = r.u64()? as usize;
    }
    if got != shape {
        return None;
    }
    let x = r.array(shape)?;
    let eps_prev = r.optional(shape)?;
    let noise = RngPosition {
        seed: r.u64()?,
        word_pos: r.u128()?,
    };
    let guidance = RngPosition {
        seed: r.u64()?,
        word_pos: r.u128()?,
    };
    let lazy = LazyGuidance {
        calls: r.u64()?,
        grad: r.optional(shape)?,
    };
    let tone_init = r.optional(shape)?;
    r.0.is_empty().then_some(Checkpoint {
        state: SamplerState { k, x, eps_prev },
        noise,
        guidance,
        lazy,
        tone_init,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    /// A presence byte, then the array if it is 1; `None` (no parse) for any other byte.
    fn optional(&mut self, shape: [usize; 4]) -> Option<Option<Array4<f32>>> {
        match self.take(1)?[0] {
            0 => Some(None),
            1 => Some(Some(self.array(shape)?)),
            _ => None,
        }
    }
    fn array(&mut self, shape: [usize; 4]) -> Option<Array4<f32>> {
        let n: usize = shape.iter().product();
        let raw = self.take(n.checked_mul(4)?)?;
        let v: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Array4::from_shape_vec(shape, v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Key, Checkpoint) {
        let key = Key([7; 32]);
        let x = Array4::from_shape_fn((1, 3, 2, 4), |(_, c, y, x)| {
            (c * 8 + y * 4 + x) as f32 * 0.25 - 1.0
        });
        let cp = Checkpoint {
            state: SamplerState {
                k: 5,
                x: x.clone(),
                eps_prev: Some(&x * 2.0),
            },
            noise: RngPosition {
                seed: 1,
                word_pos: 99,
            },
            guidance: RngPosition {
                seed: 2,
                word_pos: 1 << 70,
            },
            lazy: LazyGuidance {
                calls: 3,
                grad: Some(x.mapv(|v| v - 0.5)),
            },
            tone_init: Some(x.mapv(|v| v * 0.5)),
        };
        (key, cp)
    }

    #[test]
    fn round_trips() {
        let (key, cp) = sample();
        let bytes = encode(&key, &cp);
        assert_eq!(decode(&bytes, &key, [1, 3, 2, 4]), Some(cp));
    }

    // Break files on purpose (STYLE.md rule 19): every truncation and any flipped byte is
    // refused, never half-read.
    #[test]
    fn truncated_or_corrupt_checkpoints_are_refused() {
        let (key, cp) = sample();
        let bytes = encode(&key, &cp);
        for n in 0..bytes.len() {
            assert!(
                decode(&bytes[..n], &key, [1, 3, 2, 4]).is_none(),
                "length {n}"
            );
        }
        for i in [0, 20, 60, bytes.len() - 40, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(decode(&b, &key, [1, 3, 2, 4]).is_none(), "flip at {i}");
        }
        assert!(
            decode(&bytes, &Key([8; 32]), [1, 3, 2, 4]).is_none(),
            "other key"
        );
        assert!(decode(&bytes, &key, [1, 3, 4, 2]).is_none(), "other size");
    }
}
