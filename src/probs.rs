//! The `--probs` override: degradation probabilities given by name (`noise=0.9,rain=0`),
//! parsed against a model's degradation names. In the library so that the CLI and the
//! fuzzer (`fuzz/`) run the same parser.

/// Parses `noise=0.9,rain=0,haze=0.2` into a probability vector in the model's order.
/// Names not given are 0.
pub fn parse_probs(s: &str, names: &[String]) -> Result<Vec<f32>, String> {
    let mut probs = vec![0.0f32; names.len()];
    let mut seen = vec![false; names.len()];
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("--probs: `{part}` is not NAME=VALUE"))?;
        let k = k.trim();
        let i = names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(k))
            .ok_or_else(|| {
                format!(
                    "--probs: unknown degradation `{k}` (this model knows: {})",
                    names.join(", ")
                )
            })?;
        if seen[i] {
            return Err(format!("--probs: `{k}` is given twice"));
        }
        seen[i] = true;
        let v: f32 = v
            .trim()
            .parse()
            .map_err(|_| format!("--probs: `{v}` is not a number"))?;
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("--probs: {k}={v} is outside 0..=1"));
        }
        probs[i] = v;
    }
    if !seen.iter().any(|&s| s) {
        return Err("--probs: no NAME=VALUE given".into());
    }
    Ok(probs)
}

pub fn format_probs(names: &[String], probs: &[f32]) -> String {
    names
        .iter()
        .zip(probs)
        .map(|(n, p)| format!("{n} {p:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}
