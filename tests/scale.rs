//! Scaling out `restore`, end to end on the tiny model: several devices in one process
//! (`--adapter 0,0`: two runtimes on one adapter, as two GPUs would be used) and shares of
//! the inputs for many machines (`--shard K/N`), and their usage errors.

use std::path::Path;

mod common;
use common::cli::{run, s, stderr, tiny};

/// A folder of `n` different small PNGs named 00.png, 01.png, ...
fn folder(dir: &Path, n: u32, w: u32, h: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for k in 0..n {
        let px: Vec<u8> = (0..w * h * 3)
            .map(|i| ((i * 7 + k * 29 + (i / 3) % w * 3) % 256) as u8)
            .collect();
        let p = dir.join(format!("{k:02}.png"));
        image::save_buffer(&p, &px, w, h, image::ExtendedColorType::Rgb8).unwrap();
    }
}

/// The files of a folder, sorted, with their bytes.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().to_string();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The numbers after `by device:` in the summary line, e.g. `by device: #1 3, #2 4`.
fn per_device(err: &str) -> Vec<usize> {
    let line = err
        .lines()
        .find(|l| l.starts_with("restored "))
        .expect("a summary line");
    let Some((_, counts)) = line.split_once("; by device: ") else {
        return Vec::new();
    };
    counts
        .split(", ")
        .enumerate()
        .map(|(k, c)| {
            let (label, n) = c.split_once(' ').unwrap();
            assert_eq!(label, format!("#{}", k + 1));
            n.parse().unwrap()
        })
        .collect()
}

/// The failure lines at the end of a run.
fn failures(err: &str) -> Vec<&str> {
    err.lines()
        .skip_while(|l| *l != "failures:")
        .skip(1)
        .collect()
}

#[test]
fn two_devices_on_one_adapter_share_a_folder_and_write_the_same_bytes() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    folder(&input, 7, 40, 28);
    // A file that fails: reported once, at the end, by either device.
    std::fs::write(input.join("broken.png"), b"not a png").unwrap();
    let (one, two) = (t.path().join("one"), t.path().join("two"));
    let model = tiny();
    let m = s(&model);
    let o1 = run(&[
        "restore",
        s(&input),
        "-o",
        s(&one),
        "--model",
        m,
        "--adapter",
        "0",
    ]);
    let o2 = run(&[
        "restore",
        s(&input),
        "-o",
        s(&two),
        "--model",
        m,
        "--adapter",
        "0,0",
    ]);
    let (e1, e2) = (stderr(&o1), stderr(&o2));
    assert_eq!(o1.status.code(), Some(1), "one file failed");
    assert_eq!(o2.status.code(), Some(1), "one file failed");
    assert_eq!(failures(&e1), failures(&e2));
    assert_eq!(failures(&e2).len(), 1);
    assert!(failures(&e2)[0].contains("broken.png"));

    let (a, b) = (contents(&one), contents(&two));
    assert_eq!(a.len(), 7);
    assert!(
        a == b,
        "byte-identical outputs from one device and from two"
    );

    // Two runtimes were opened, and both restored images.
    assert!(e2.contains("devices: #1 ") && e2.contains(", #2 "), "{e2}");
    let counts = per_device(&e2);
    assert_eq!(counts.len(), 2, "{e2}");
    assert_eq!(counts.iter().sum::<usize>(), 7);
    assert!(
        counts.iter().all(|&n| n > 0),
        "each device took work: {counts:?}"
    );
    assert!(e2.contains("; device #1") && e2.contains("; device #2"));
    // One device: no per-device note.
    assert!(per_device(&e1).is_empty() && e1.contains("device: "));
}

#[test]
fn no_more_devices_are_opened_than_there_are_images() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    folder(&input, 1, 24, 20);
    let out = t.path().join("out");
    let o = run(&[
        "restore",
        s(&input),
        "-o",
        s(&out),
        "--model",
        s(&tiny()),
        "--adapter",
        "0,0,0",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains("device: ") && !err.contains("devices: "),
        "{err}"
    );
    assert!(per_device(&err).is_empty(), "{err}");
    assert_eq!(contents(&out).len(), 1);
}

#[test]
fn adapter_all_without_a_gpu_is_one_device() {
    // On a machine with GPUs this opens one runtime per GPU; on the CI machine there are
    // only software adapters, and `all` is the automatic choice, once.
    if wgpu_restore::list_adapters(Default::default())
        .iter()
        .any(|a| !a.software && a.compute)
    {
        eprintln!("skipped: this machine has a GPU");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    folder(&input, 2, 24, 20);
    let out = t.path().join("out");
    let o = run(&[
        "restore",
        s(&input),
        "-o",
        s(&out),
        "--model",
        s(&tiny()),
        "--adapter",
        "all",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains("device: ") && !err.contains("devices: "),
        "{err}"
    );
    assert_eq!(contents(&out).len(), 2);
}

#[test]
fn shards_partition_a_folder() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    folder(&input, 7, 20, 16);
    let model = tiny();
    let m = s(&model);
    let mut all: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    for k in 0..3 {
        let out = t.path().join(format!("out{k}"));
        let shard = format!("{k}/3");
        let o = run(&[
            "restore",
            s(&input),
            "-o",
            s(&out),
            "--model",
            m,
            "--shard",
            &shard,
        ]);
        assert_eq!(o.status.code(), Some(0));
        let names: Vec<String> = contents(&out).into_iter().map(|(n, _)| n).collect();
        assert!(
            stderr(&o).contains(&format!("shard {k}/3: {} of 7 input(s)", names.len())),
            "{}",
            stderr(&o)
        );
        sizes.push(names.len());
        all.extend(names);
    }
    assert_eq!(sizes, vec![3, 2, 2], "balanced");
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(n, all.len(), "disjoint");
    let want: Vec<String> = (0..7).map(|k| format!("{k:02}.png")).collect();
    assert_eq!(all, want, "every input in one shard");

    // More shards than inputs: a share with nothing in it succeeds and writes nothing.
    let out = t.path().join("out-empty");
    let o = run(&[
        "restore",
        s(&input),
        "-o",
        s(&out),
        "--model",
        m,
        "--shard",
        "7/8",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("shard 7/8: 0 of 7 input(s)"));
    assert!(!out.exists());
}

#[test]
fn shard_and_adapter_usage_errors_exit_2_with_one_line() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    folder(&input, 1, 16, 16);
    let out = t.path().join("out");
    let model = tiny();
    let m = s(&model);
    let x = input.join("00.png");
    let many = vec!["0"; 65].join(",");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["restore", s(&input), "-o", s(&out), "--shard", "0/0"],
            "--shard 0/0: N must be at least 1",
        ),
        (
            vec!["restore", s(&input), "-o", s(&out), "--shard", "3/2"],
            "--shard 3/2: K must be below N",
        ),
        (
            vec!["restore", s(&input), "-o", s(&out), "--shard", "2/2"],
            "--shard 2/2: K must be below N",
        ),
        (
            vec!["restore", s(&input), "-o", s(&out), "--shard", "garbage"],
            "--shard garbage: expected K/N",
        ),
        (
            vec!["restore", s(&input), "-o", s(&out), "--shard", "a/4"],
            "--shard a/4: expected K/N",
        ),
        (
            vec!["restore", s(&input), "-o", s(&out), "--adapter", "0,,1"],
            "--adapter 0,,1: a list names adapters",
        ),
        (
            vec!["restore", s(&input), "-o", s(&out), "--adapter", &many],
            "--adapter lists 65 devices; at most 64 are opened",
        ),
        (
            vec!["classify", s(&x), "--adapter", "0,1"],
            "--adapter 0,1: this command runs on one device",
        ),
        (
            vec!["bench", "--size", "16x16", "--adapter", "all"],
            "--adapter all: this command runs on one device",
        ),
        (
            vec!["info", "--adapter", "0,0"],
            "--adapter 0,0: this command runs on one device",
        ),
    ];
    for (mut args, needle) in cases {
        args.extend(["--model", m]);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with(&format!("error: {needle}")), "{err}");
    }
    assert!(!out.exists(), "nothing written by the refused runs");
}
