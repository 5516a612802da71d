//! Helpers shared by the chaos tests.
#![allow(dead_code, clippy::expect_used)]

/// A `usize` knob from the environment (underscores allowed), or `default`.
pub(crate) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().replace('_', "").parse().expect(name))
        .unwrap_or(default)
}

/// xorshift64*: a chaos schedule only needs to be reproducible from the printed seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
