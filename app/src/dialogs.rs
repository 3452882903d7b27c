//! File dialogs behind a trait, so that tests can answer them, and files handed over as
//! bytes (a browser's file picker, tests).

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Image extensions offered when opening.
pub const OPEN_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "webp"];

pub trait Dialogs {
    /// Images to open (empty when cancelled).
    fn open_images(&mut self, folder: Option<&Path>) -> Vec<PathBuf>;
    /// Where to save (`None` when cancelled); `name` is the suggested file name.
    fn save_image(&mut self, folder: Option<&Path>, name: &str) -> Option<PathBuf>;
    /// Files that an asynchronous picker (a browser's) has delivered since the last call;
    /// its `open_images` only starts it and returns nothing.
    fn take_opened(&mut self) -> Vec<egui::DroppedFileHandle> {
        Vec::new()
    }
}

/// A file held in memory, opened like a dropped one: the browser's picker delivers these
/// (a page never sees paths), and tests.
#[derive(Debug)]
pub struct MemoryFile {
    /// The file name (a page knows no folder): shown in the queue, and its extension
    /// hints at the format.
    pub path: PathBuf,
    pub bytes: Arc<[u8]>,
}

impl MemoryFile {
    pub fn handle(name: &str, bytes: impl Into<Arc<[u8]>>) -> egui::DroppedFileHandle {
        Arc::new(MemoryFile {
            path: PathBuf::from(name),
            bytes: bytes.into(),
        })
    }
}

impl egui::DroppedFile for MemoryFile {
    fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(target_arch = "wasm32")]
    fn bytes_async(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, String>> + '_>> {
        Box::pin(std::future::ready(Ok(self.bytes.to_vec())))
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Ok(self.bytes.to_vec())
    }
}

/// Native dialogs (rfd: the XDG desktop portal on Linux, system dialogs elsewhere).
#[cfg(not(target_arch = "wasm32"))]
pub struct NativeDialogs;

#[cfg(not(target_arch = "wasm32"))]
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
    /// Files "picked" as a browser's picker delivers them (later, as bytes).
    pub delivered: Vec<egui::DroppedFileHandle>,
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
    fn take_opened(&mut self) -> Vec<egui::DroppedFileHandle> {
        std::mem::take(&mut self.delivered)
    }
}
