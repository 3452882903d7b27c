//! The `wgpu-restore` command line: argument parsing, progress and orchestration only (the
//! work is done by the library: image_io, tiling, metrics, exec).

#[path = "../cli/mod.rs"]
mod cli;

fn main() {
    // First, while this is the only thread: no false alarm from Mesa's Vulkan layer on a
    // headless machine (no Wayland or X display to ask).
    wgpu_restore::skip_device_select_layer_without_wayland();
    std::process::exit(cli::main());
}
