//! The small settings file: the last folder used to open or save images, and whether to
//! restore with the self-ensemble. In a browser the "file" is an entry of the page's
//! localStorage, named by the same path.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The folder of the last image opened or saved.
    #[serde(default)]
    pub last_folder: Option<PathBuf>,
    /// Restore with the self-ensemble (`wgpu_restore::ensemble`): up to 8 times slower.
    #[serde(default)]
    pub self_ensemble: bool,
}

impl Config {
    /// The settings file: `$WGPU_RESTORE_APP_CONFIG` when set, else `app.json` in the
    /// platform's config folder (`$XDG_CONFIG_HOME/wgpu-restore` on Linux).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn default_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("WGPU_RESTORE_APP_CONFIG") {
            return Some(PathBuf::from(p));
        }
        directories::ProjectDirs::from("", "", "wgpu-restore")
            .map(|d| d.config_dir().join("app.json"))
    }

    /// The localStorage entry that holds the settings in a browser.
    #[cfg(target_arch = "wasm32")]
    pub fn default_path() -> Option<PathBuf> {
        Some(PathBuf::from("wgpu-restore/app.json"))
    }

    /// Reads the file; a missing or unreadable file gives the defaults.
    pub fn load(path: &Path) -> Config {
        #[cfg(target_arch = "wasm32")]
        let bytes = local_storage()
            .and_then(|s| s.get_item(&path.to_string_lossy()).ok().flatten())
            .map(String::into_bytes);
        #[cfg(not(target_arch = "wasm32"))]
        let bytes = std::fs::read(path).ok();
        bytes
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the settings to the page's localStorage.
    #[cfg(target_arch = "wasm32")]
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let json = serde_json::to_string(self).expect("config serializes");
        local_storage()
            .ok_or("the browser keeps no settings for this page (localStorage is off)")?
            .set_item(&path.to_string_lossy(), &json)
            .map_err(|_| "the browser refused to store the settings".to_string())
    }

    /// Writes the file (creating its folder).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let json = serde_json::to_vec_pretty(self).expect("config serializes");
        // A settings file that is a symlink (dotfiles kept in a repository) is written
        // through: the rename below would otherwise replace the link with a plain file.
        let target = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)
                .map_err(|e| format!("cannot follow the link {}: {e}", path.display()))?,
            _ => path.to_path_buf(),
        };
        let path = target.as_path();
        // Atomic, so a crash or a full disk mid-write never leaves a truncated settings file.
        wgpu_restore::image_io::write_atomic(path, &json, wgpu_restore::image_io::Replace::Always)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// The page's localStorage, where the browser allows one.
#[cfg(target_arch = "wasm32")]
fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/app.json");
        assert_eq!(Config::load(&p), Config::default());
        let c = Config {
            last_folder: Some("/tmp/photos".into()),
            self_ensemble: true,
        };
        c.save(&p).unwrap();
        assert_eq!(Config::load(&p), c);
        // Files written before a setting existed keep their other settings.
        std::fs::write(&p, br#"{"last_folder": "/x"}"#).unwrap();
        assert_eq!(
            Config::load(&p).last_folder.as_deref(),
            Some(Path::new("/x"))
        );
        assert!(!Config::load(&p).self_ensemble);
        std::fs::write(&p, b"not json").unwrap();
        assert_eq!(Config::load(&p), Config::default());
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/app.json");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, b"{}").unwrap();
        let link = dir.path().join("config/app.json");
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let c = Config {
            last_folder: Some("/tmp/photos".into()),
            self_ensemble: true,
        };
        c.save(&link).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(Config::load(&real), c);
        // A dangling link is an error naming it, not a crash or a silent new file.
        std::fs::remove_file(&real).unwrap();
        let e = c.save(&link).unwrap_err();
        assert!(e.contains("cannot follow the link"), "{e}");
    }
}
