//! The topology fingerprint: SHA-256 over one canonical description of a graph, computed by
//! `const fn`s so that `pipeline!` can have the compiler evaluate it while `OperatorGraph`
//! computes the same bytes at run time, through the same code.
//!
//! The canonical description is documented on [`Fingerprinter`].

/// The SHA-256 fingerprint of a topology's canonical description (see [`Fingerprinter`]).
/// Written as 64 lowercase hexadecimal digits.
///
/// # Examples
///
/// ```
/// use sda_orchestrator_topology::Fingerprinter;
///
/// let a = Fingerprinter::new()
///     .vertex("radar", "source")
///     .vertex("archive", "sink")
///     .edge("radar", "archive", 1024, "plain", false)
///     .finish();
/// let b = Fingerprinter::new()
///     .vertex("radar", "source")
///     .vertex("archive", "sink")
///     .edge("radar", "archive", 64, "plain", false)
///     .finish();
/// assert_ne!(a, b);
/// assert_eq!(a.to_string().len(), 64);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The 32 bytes of the digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A fingerprint from the 32 bytes of a digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    /// The digest as 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Builds a [`Fingerprint`] one vertex and one edge at a time, in declaration order. Every
/// method is a `const fn`, so a fingerprint can be a constant.
///
/// # Canonical description (version 1)
///
/// The hashed bytes are, in order:
///
/// ```text
/// sda-orchestrator topology v1\n
/// vertex <role> <len>:<name>\n                                  one per vertex, in declaration order
/// edge <len>:<from> <len>:<to> <capacity> <kind> <filter>\n     one per edge, in declaration order
/// ```
///
/// `<role>` is `source`, `operator` or `sink`; `<len>` is the name's length in bytes (so that
/// no name can forge a field); `<capacity>` is the edge's capacity in decimal (per lane on a
/// priority edge, the ring's size on a broadcast edge); `<kind>` is `plain`, `priority` or
/// `broadcast`; `<filter>` is `1` when the edge has a filter, else `0`. Restart policies and
/// item types are not part of it: a policy is tuning, not topology, and `std::any::type_name`
/// is neither available to `const fn`s nor promised to be stable across compiler versions (the
/// typed `connect` already guarantees that every edge's ends agree on the type).
///
/// # Examples
///
/// ```
/// use sda_orchestrator_topology::{Fingerprint, Fingerprinter};
///
/// const TOPOLOGY: Fingerprint = Fingerprinter::new()
///     .vertex("radar", "source")
///     .vertex("archive", "sink")
///     .edge("radar", "archive", 1024, "plain", false)
///     .finish();
/// assert_eq!(TOPOLOGY.to_hex().len(), 64);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Fingerprinter {
    sha: Sha256,
}

/// The first line of the canonical description.
const HEADER: &[u8] = b"sda-orchestrator topology v1\n";

impl Default for Fingerprinter {
    fn default() -> Self {
        Fingerprinter::new()
    }
}

impl Fingerprinter {
    /// The description's header, with no vertex or edge yet.
    pub const fn new() -> Self {
        Fingerprinter {
            sha: Sha256::new().update(HEADER),
        }
    }

    /// Adds a vertex: its `name` and its role's noun (`source`, `operator` or `sink`).
    #[inline]
    pub const fn vertex(self, name: &str, role: &str) -> Self {
        let sha = self
            .sha
            .update(b"vertex ")
            .update(role.as_bytes())
            .update(b" ");
        let sha = name_field(sha, name).update(b"\n");
        Fingerprinter { sha }
    }

    /// Adds an edge: its ends' names, capacity, kind (`plain`, `priority` or `broadcast`) and
    /// whether it has a filter.
    #[inline]
    pub const fn edge(
        self,
        from: &str,
        to: &str,
        capacity: usize,
        kind: &str,
        filtered: bool,
    ) -> Self {
        let sha = name_field(self.sha.update(b"edge "), from).update(b" ");
        let sha = name_field(sha, to).update(b" ");
        let sha = decimal(sha, capacity as u64)
            .update(b" ")
            .update(kind.as_bytes())
            .update(if filtered { b" 1\n" } else { b" 0\n" });
        Fingerprinter { sha }
    }

    /// The fingerprint of what was added.
    pub const fn finish(self) -> Fingerprint {
        Fingerprint(self.sha.finish())
    }
}

/// `<len>:<name>`.
#[inline]
const fn name_field(sha: Sha256, name: &str) -> Sha256 {
    decimal(sha, name.len() as u64)
        .update(b":")
        .update(name.as_bytes())
}

/// `n` in decimal.
#[inline]
const fn decimal(sha: Sha256, mut n: u64) -> Sha256 {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let (_, used) = digits.split_at(start);
    sha.update(used)
}

/// SHA-256 (FIPS 180-4) in `const fn`s: small, allocation-free, and fast enough for the few
/// hundred bytes of a topology description.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sha256 {
    state: [u32; 8],
    block: [u8; 64],
    /// Bytes in `block`.
    filled: usize,
    /// Bytes hashed so far.
    length: u64,
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

impl Sha256 {
    pub(crate) const fn new() -> Self {
        Sha256 {
            state: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            block: [0; 64],
            filled: 0,
            length: 0,
        }
    }

    /// Hashes `data`: a block at a time where it can (whole blocks straight from `data`, no
    /// copy), the rest through the partial block.
    #[inline]
    pub(crate) const fn update(mut self, data: &[u8]) -> Self {
        let mut i = 0;
        while i < data.len() {
            if self.filled == 0 && data.len() - i >= 64 {
                let (_, rest) = data.split_at(i);
                if let Some(block) = rest.first_chunk::<64>() {
                    self.state = compress(self.state, block);
                }
                i += 64;
                continue;
            }
            // As much as fits in the partial block.
            let room = 64 - self.filled;
            let left = data.len() - i;
            let take = if left < room { left } else { room };
            let mut j = 0;
            while j < take {
                self.block[self.filled + j] = data[i + j];
                j += 1;
            }
            self.filled += take;
            i += take;
            if self.filled == 64 {
                self.state = compress(self.state, &self.block);
                self.filled = 0;
            }
        }
        self.length += data.len() as u64;
        self
    }

    pub(crate) const fn finish(self) -> [u8; 32] {
        let bits = self.length.wrapping_mul(8);
        let mut sha = self.update(&[0x80]);
        while sha.filled != 56 {
            sha = sha.update(&[0]);
        }
        let sha = sha.update(&bits.to_be_bytes());
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 8 {
            let word = sha.state[i].to_be_bytes();
            out[4 * i] = word[0];
            out[4 * i + 1] = word[1];
            out[4 * i + 2] = word[2];
            out[4 * i + 3] = word[3];
            i += 1;
        }
        out
    }
}

const fn compress(mut state: [u32; 8], block: &[u8; 64]) -> [u32; 8] {
    let mut w = [0u32; 64];
    let mut t = 0;
    while t < 16 {
        w[t] = u32::from_be_bytes([
            block[4 * t],
            block[4 * t + 1],
            block[4 * t + 2],
            block[4 * t + 3],
        ]);
        t += 1;
    }
    while t < 64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
        t += 1;
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
    t = 0;
    while t < 64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[t])
            .wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
        t += 1;
    }
    let add = [a, b, c, d, e, f, g, h];
    let mut i = 0;
    while i < 8 {
        state[i] = state[i].wrapping_add(add[i]);
        i += 1;
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: [u8; 32]) -> String {
        Fingerprint(bytes).to_hex()
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            hex(Sha256::new().finish()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(Sha256::new().update(b"abc").finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Two blocks, and split updates give the same digest as one.
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            hex(Sha256::new().update(long).finish()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(Sha256::new().update(&long[..7]).update(&long[7..]).finish()),
            hex(Sha256::new().update(long).finish())
        );
        let million_a = {
            let mut sha = Sha256::new();
            for _ in 0..1000 {
                sha = sha.update(&[b'a'; 1000]);
            }
            sha.finish()
        };
        assert_eq!(
            hex(million_a),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn the_fingerprint_hashes_the_canonical_description() {
        let fingerprint = Fingerprinter::new()
            .vertex("radar", "source")
            .vertex("out", "sink")
            .edge("radar", "out", 1024, "plain", true)
            .finish();
        let text = "sda-orchestrator topology v1\nvertex source 5:radar\nvertex sink 3:out\n\
                    edge 5:radar 3:out 1024 plain 1\n";
        assert_eq!(
            fingerprint,
            Fingerprint(Sha256::new().update(text.as_bytes()).finish())
        );
    }

    #[test]
    fn every_part_of_an_edge_counts() {
        let base = |capacity, kind, filtered| {
            Fingerprinter::new()
                .vertex("a", "source")
                .vertex("b", "sink")
                .edge("a", "b", capacity, kind, filtered)
                .finish()
        };
        let reference = base(8, "plain", false);
        assert_eq!(reference, base(8, "plain", false));
        assert_ne!(reference, base(9, "plain", false));
        assert_ne!(reference, base(8, "priority", false));
        assert_ne!(reference, base(8, "plain", true));
        // Names cannot run into each other: `ab`+`c` is not `a`+`bc`.
        let names = |from: &str, to: &str| {
            Fingerprinter::new()
                .edge(from, to, 1, "plain", false)
                .finish()
        };
        assert_ne!(names("ab", "c"), names("a", "bc"));
    }
}
