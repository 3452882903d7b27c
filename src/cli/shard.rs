//! `restore --shard K/N`: a deterministic share of the inputs, so that an outside scheduler
//! (a Slurm job array, a Kubernetes Indexed Job) can spread one photo archive over many
//! machines, each running the same command with its own K. The shares depend only on the
//! set of input paths: every machine that lists the same archive gets the same partition,
//! whatever order the files were listed in and whatever outputs exist already.

use super::{CliResult, Fatal, InputFile};

/// The `K/N` of `--shard`: share `index` (0-based, as `SLURM_ARRAY_TASK_ID` with
/// `--array=0-...` and `JOB_COMPLETION_INDEX` are) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `K/N` with 0 <= K < N; a wrong value is a usage error (exit 2).
pub fn parse_shard(s: &str) -> CliResult<Shard> {
    let bad = |why: &str| Fatal::usage(format!("--shard {s}: {why}"));
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| bad("expected K/N, e.g. 0/4 (share K of N, K from 0 to N-1)"))?;
    let num = |v: &str| v.trim().parse::<usize>().ok();
    let (Some(index), Some(count)) = (num(k), num(n)) else {
        return Err(bad(
            "expected K/N with whole numbers, e.g. 0/4 (share K of N, K from 0 to N-1)",
        ));
    };
    if count == 0 {
        return Err(bad("N must be at least 1"));
    }
    if index >= count {
        return Err(bad(&format!(
            "K must be below N (shares are numbered 0 to {})",
            count - 1
        )));
    }
    Ok(Shard { index, count })
}

/// This shard's inputs and how many inputs there are in all. The inputs are sorted by path
/// (the same path named twice counts once) and dealt out in turn: input i goes to shard
/// i mod N, so the shares differ in size by at most one and together hold every input
/// exactly once.
pub fn take(shard: Shard, mut files: Vec<InputFile>) -> (Vec<InputFile>, usize) {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    let total = files.len();
    let mine = files
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % shard.count == shard.index)
        .map(|(_, f)| f)
        .collect();
    (mine, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn files(names: &[&str]) -> Vec<InputFile> {
        names
            .iter()
            .map(|n| InputFile {
                path: PathBuf::from(n),
                rel: PathBuf::from(n),
            })
            .collect()
    }

    #[test]
    fn shards_partition_the_inputs_in_balanced_shares_whatever_their_order() {
        let names: Vec<String> = (0..23).map(|i| format!("d/{i:03}.png")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut reversed = refs.clone();
        reversed.reverse();
        let mut seen = Vec::new();
        for k in 0..5 {
            let s = Shard { index: k, count: 5 };
            let (a, total) = take(s, files(&refs));
            let (b, _) = take(s, files(&reversed));
            assert_eq!(total, 23);
            let a: Vec<PathBuf> = a.into_iter().map(|f| f.path).collect();
            let b: Vec<PathBuf> = b.into_iter().map(|f| f.path).collect();
            assert_eq!(a, b, "the listing order does not matter");
            assert!(a.len() == 4 || a.len() == 5, "balanced: {}", a.len());
            seen.extend(a);
        }
        seen.sort();
        let all: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
        assert_eq!(seen, all, "every input in exactly one shard");
    }

    #[test]
    fn a_path_named_twice_is_one_input() {
        let (a, total) = take(Shard { index: 0, count: 2 }, files(&["b", "a", "b"]));
        assert_eq!(total, 2);
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn shard_values() {
        assert_eq!(parse_shard("0/1").unwrap(), Shard { index: 0, count: 1 });
        assert_eq!(parse_shard("3/8").unwrap(), Shard { index: 3, count: 8 });
        for bad in [
            "0/0", "3/2", "2/2", "x", "1/", "/2", "-1/2", "a/b", "1/2/3", "",
        ] {
            let e = parse_shard(bad).unwrap_err();
            assert!(e.usage && e.msg.starts_with("--shard "), "{bad}: {}", e.msg);
        }
    }
}
