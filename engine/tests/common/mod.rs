//! What the engine's integration tests share.

#![allow(dead_code)]

/// A small xorshift generator: random sequences that a seed reproduces.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `of`.
    pub fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.below(of.len() as u64) as usize]
    }
}

/// A command written as space-separated words, as arguments.
pub fn args(text: &str) -> Vec<bytes::Bytes> {
    text.split(' ')
        .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

/// Runs the command written as space-separated words; its reply as a tree.
pub fn line(s: &mut rill_engine::Session, text: &str) -> rill_engine::Reply {
    s.execute(&args(text)).into_tree()
}

/// Runs the command given as byte strings (arguments with spaces or any bytes in them).
pub fn words(s: &mut rill_engine::Session, words: &[&[u8]]) -> rill_engine::Reply {
    let args: Vec<bytes::Bytes> = words
        .iter()
        .map(|w| bytes::Bytes::copy_from_slice(w))
        .collect();
    s.execute(&args).into_tree()
}
