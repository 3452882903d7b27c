//! `import`: a published PyTorch checkpoint (PromptIR, Restormer) to a model file.

use super::{CliResult, Fatal};
use clap::Args;
use std::path::PathBuf;
use wgpu_restore::image_io::{self, Replace};
use wgpu_restore::import::{self, Arch, ImportOptions};

pub const EXAMPLES: &str = "\
Examples:
  wgpu-restore import promptir model.ckpt -o promptir.safetensors
  wgpu-restore import restormer deraining.pth -o restormer-derain.safetensors
  wgpu-restore import restormer net_g_latest.pth -o denoise.safetensors --variant gaussian-denoising
  wgpu-restore restore rainy.png -o out/ --model restormer-derain.safetensors

Supported checkpoints and where the authors publish them: docs/import.md.";

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Architecture: promptir or restormer.
    #[arg(value_name = "ARCH", value_parser = ["promptir", "restormer"])]
    pub arch: String,
    /// The PyTorch checkpoint (.ckpt, .pth). It is read without running any of its code.
    #[arg(value_name = "CHECKPOINT")]
    pub checkpoint: PathBuf,
    /// The model file to write (.safetensors).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Which published model this is (Restormer: deraining, motion-deblurring,
    /// defocus-deblurring, real-denoising, gaussian-denoising[-sigma15|25|50]); by default
    /// from the authors' file name.
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    /// Store f32 weights (twice the size; default f16, as the runtime computes in f32 either way).
    #[arg(long)]
    pub f32: bool,
    /// Replace an existing output file.
    #[arg(long)]
    pub overwrite: bool,
    /// Print only errors.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(a: ImportArgs) -> CliResult<i32> {
    let arch = Arch::parse(&a.arch).expect("clap restricts ARCH");
    let src = a.checkpoint.display();
    if !a.checkpoint.is_file() {
        return Err(Fatal::new(format!("{src}: no such file")));
    }
    if image_io::same_file(&a.checkpoint, &a.output) {
        return Err(Fatal::new(format!(
            "{}: the output would replace the checkpoint",
            a.output.display()
        )));
    }
    if a.output.exists() && !a.overwrite {
        return Err(Fatal::new(format!(
            "{}: the output exists (use --overwrite)",
            a.output.display()
        )));
    }
    let opts = ImportOptions {
        arch,
        variant: a.variant.clone(),
        f32: a.f32,
    };
    let imported =
        import::import_file(&a.checkpoint, &opts).map_err(|e| Fatal::new(format!("{src}: {e}")))?;
    let replace = if a.overwrite {
        Replace::Always
    } else {
        Replace::Never
    };
    image_io::write_atomic(&a.output, &imported.bytes, replace)
        .map_err(|e| Fatal::new(format!("{}: {e}", a.output.display())))?;
    if !a.quiet {
        println!(
            "{}: {} {} ({}), {:.1}M parameters, {} -> {} ({:.1} MB)",
            src,
            arch.display(),
            imported.variant.id,
            imported.variant.tasks.join(", "),
            imported.parameters as f64 / 1e6,
            if a.f32 { "f32" } else { "f16" },
            a.output.display(),
            imported.bytes.len() as f64 / 1e6
        );
    }
    Ok(0)
}
