//! The content key: a 32-byte blake3 digest naming a job (or a target's shared inputs).
//! The store files objects under it; how a key is computed from a job's inputs is
//! planning's business (`plan::key`), so the store needs nothing from planning.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A 32-byte blake3 digest naming a job (or a target's shared inputs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

/// Why text is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// Not 64 ASCII characters.
    #[error("not a 64-digit hex key: {0:?}")]
    Length(String),
    /// A character that is not a hex digit.
    #[error("not a hex key: {0:?}")]
    Digit(String),
}

impl Key {
    /// The first two hex digits (the object's fan-out directory).
    pub fn fanout(&self) -> String {
        format!("{:02x}", self.0[0])
    }

    /// A short form for people (12 hex digits).
    pub fn short(&self) -> String {
        self.to_string()[..12].to_owned()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.short())
    }
}

impl FromStr for Key {
    type Err = KeyParseError;
    fn from_str(s: &str) -> Result<Key, KeyParseError> {
        if s.len() != 64 || !s.is_ascii() {
            return Err(KeyParseError::Length(s.to_owned()));
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
                .map_err(|_| KeyParseError::Digit(s.to_owned()))?;
        }
        Ok(Key(out))
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
