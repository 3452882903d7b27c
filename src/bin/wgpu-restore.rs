//! The `wgpu-restore` command line: argument parsing, progress and orchestration only (the
//! work is done by the library: image_io, tiling, metrics, exec).

#[path = "../cli/mod.rs"]
mod cli;

fn main() {
    std::process::exit(cli::main());
}
