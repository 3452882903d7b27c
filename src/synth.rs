//! Synthetic degradations for `eval --synth`: seeded, reproducible across runs and machines.
//!
//! `noise:SIGMA` follows the PromptIR test protocol `uint8(clip(clean + sigma * N(0, 1), 0, 255))`
//! on the 8-bit clean image (f64 arithmetic, `uint8()` truncating like numpy's `astype`).
//! The normal samples come from a SplitMix64 stream (Box-Muller), seeded from `seed` and the
//! image's name, so they are NOT numpy's samples: scores match `training/make_valsets.py`'s
//! noise sets statistically, not bit for bit. For exact agreement with the Python
//! evaluation, evaluate the folders that script writes (`eval --input noisy --target clean`).

use crate::metrics::Rgb8;

/// A synthetic degradation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Synth {
    /// Additive white Gaussian noise with this standard deviation (0..=255 scale).
    Noise(f64),
}

impl std::str::FromStr for Synth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        match kind.trim().to_ascii_lowercase().as_str() {
            "noise" => {
                let sigma: f64 = arg.trim().parse().map_err(|_| {
                    format!("`{s}`: expected noise:SIGMA with SIGMA a number, e.g. noise:25")
                })?;
                if !(0.0..=255.0).contains(&sigma) {
                    return Err(format!("`{s}`: sigma must be within 0..=255"));
                }
                Ok(Synth::Noise(sigma))
            }
            _ => Err(format!(
                "unknown synthetic degradation `{s}` (supported: noise:SIGMA)"
            )),
        }
    }
}

impl std::fmt::Display for Synth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Synth::Noise(s) => write!(f, "noise:{s}"),
        }
    }
}

/// SplitMix64: a tiny, well-mixed, seedable generator.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Standard normal samples, two at a time (Box-Muller).
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let (u1, u2) = (self.uniform(), self.uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        (r * t.cos(), r * t.sin())
    }
}

/// FNV-1a of a string: a stable per-image seed component.
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Applies `synth` to a clean image; the same (seed, name) always gives the same result.
pub fn apply(synth: Synth, clean: &Rgb8, seed: u64, name: &str) -> Rgb8 {
    match synth {
        Synth::Noise(sigma) => {
            let mut rng = SplitMix64::new(seed ^ name_hash(name));
            let mut out = Vec::with_capacity(clean.data.len());
            let mut spare: Option<f64> = None;
            for &v in &clean.data {
                let n = match spare.take() {
                    Some(n) => n,
                    None => {
                        let (a, b) = rng.normal_pair();
                        spare = Some(b);
                        a
                    }
                };
                let x = (v as f64 + sigma * n).clamp(0.0, 255.0);
                out.push(x as u8); // truncation, like numpy's astype(uint8)
            }
            Rgb8::new(clean.width, clean.height, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_statistics_and_determinism() {
        let clean = Rgb8::new(64, 64, vec![128; 64 * 64 * 3]);
        let a = apply(Synth::Noise(25.0), &clean, 1, "x.png");
        let b = apply(Synth::Noise(25.0), &clean, 1, "x.png");
        let c = apply(Synth::Noise(25.0), &clean, 1, "y.png");
        assert_eq!(a, b);
        assert_ne!(a, c);
        let n = a.data.len() as f64;
        // Truncation lowers the mean by ~0.5.
        let mean = a.data.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = a
            .data
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!((mean - 127.5).abs() < 1.0, "{mean}");
        assert!((var.sqrt() - 25.0).abs() < 1.0, "{}", var.sqrt());
        assert_eq!("noise:25".parse::<Synth>(), Ok(Synth::Noise(25.0)));
        assert!("rain:3".parse::<Synth>().is_err());
        assert!("noise:x".parse::<Synth>().is_err());
    }
}
