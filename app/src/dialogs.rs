//! File dialogs behind a trait, so that tests can answer them.

use std::path::{Path, PathBuf};

/// Image extensions offered when opening.
pub const OPEN_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "webp"];

pub trait Dialogs {
    /// Images to open (empty when cancelled).
    fn open_images(&mut self, folder: Option<&Path>) -> Vec<PathBuf>;
    /// Where to save (`None` when cancelled); `name` is the suggested file name.
    fn save_image(&mut self, folder: Option<&Path>, name: &str) -> Option<PathBuf>;
}

/// Native dialogs (rfd: the XDG desktop portal on Linux, system dialogs elsewhere).
pub struct NativeDialogs;

impl Dialogs for NativeDialogs {
    fn open_images(&mut self, folder: Option<&Path>) -> Vec<PathBuf> {
        let mut d = rfd::FileDialog::new()
            .set_title("Open images")
            .add_filter("Images", OPEN_EXTENSIONS);
        if let Some(f) = folder {
            d = d.set_directory(f);
        }
        d.pick_files().unwrap_or_default()
    }

    fn save_image(&mut self, folder: Option<&Path>, name: &str) -> Option<PathBuf> {
        let mut d = rfd::FileDialog::new()
            .set_title("Save the restored image")
            .add_filter("PNG", &["png"])
            .add_filter("JPEG", &["jpg", "jpeg"])
            .add_filter("TIFF", &["tif", "tiff"])
            .set_file_name(name);
        if let Some(f) = folder {
            d = d.set_directory(f);
        }
        d.save_file()
    }
}

/// Dialogs that answer with fixed paths (tests, scripted runs).
#[derive(Clone, Debug, Default)]
pub struct FixedDialogs {
    pub open: Vec<PathBuf>,
    pub save: Option<PathBuf>,
    /// The folders the dialogs were started in, in call order.
    pub asked_in: Vec<Option<PathBuf>>,
}

impl Dialogs for FixedDialogs {
    fn open_images(&mut self, folder: Option<&Path>) -> Vec<PathBuf> {
        self.asked_in.push(folder.map(Path::to_path_buf));
        std::mem::take(&mut self.open)
    }
    fn save_image(&mut self, folder: Option<&Path>, _name: &str) -> Option<PathBuf> {
        self.asked_in.push(folder.map(Path::to_path_buf));
        self.save.clone()
    }
}
