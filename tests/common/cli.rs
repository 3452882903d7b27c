//! Running the `wgpu-restore` binary from the integration tests: a private runtime folder
//! (no XDG warnings), the tiny model, and every run's command line and output in the log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wgpu-restore"));
    let xdg = std::env::temp_dir().join("xdg-wgpu-restore-tests");
    let _ = std::fs::create_dir_all(&xdg);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700));
    }
    c.env("XDG_RUNTIME_DIR", xdg);
    c
}

pub fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.safetensors")
}

pub fn run(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("run wgpu-restore");
    eprintln!(
        "$ wgpu-restore {}\n[exit {:?}]\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
