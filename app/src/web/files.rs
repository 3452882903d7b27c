//! Files in and out of the page: the browser's file picker (behind the app's `Dialogs`), and
//! saving as a download. Everything stays in the page: nothing is uploaded.

use crate::dialogs::{Dialogs, MemoryFile, OPEN_EXTENSIONS};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The browser's file picker. `open_images` shows it and returns at once; the files the
/// visitor picks are read and handed to the app by `take_opened` on a later frame.
pub struct WebDialogs {
    picked: Rc<RefCell<Vec<egui::DroppedFileHandle>>>,
    ctx: egui::Context,
}

impl WebDialogs {
    pub fn new(ctx: egui::Context) -> Self {
        WebDialogs {
            picked: Rc::default(),
            ctx,
        }
    }

    fn pick(&self) -> Result<(), JsValue> {
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or("no document")?;
        let input: web_sys::HtmlInputElement = document.create_element("input")?.dyn_into()?;
        input.set_type("file");
        input.set_multiple(true);
        let accept: Vec<String> = OPEN_EXTENSIONS.iter().map(|e| format!(".{e}")).collect();
        input.set_accept(&accept.join(","));
        let picked = self.picked.clone();
        let ctx = self.ctx.clone();
        let chosen = input.clone();
        let on_change = Closure::once(move || {
            let Some(list) = chosen.files() else { return };
            let files: Vec<web_sys::File> =
                (0..list.length()).filter_map(|i| list.get(i)).collect();
            // Read in the order picked, then hand over together.
            wasm_bindgen_futures::spawn_local(async move {
                for f in files {
                    let bytes = match wasm_bindgen_futures::JsFuture::from(f.array_buffer()).await {
                        Ok(buf) => js_sys::Uint8Array::new(&buf).to_vec(),
                        // An unreadable file (removed meanwhile) is opened empty, which the
                        // worker reports as that file's one-line error.
                        Err(_) => Vec::new(),
                    };
                    picked
                        .borrow_mut()
                        .push(MemoryFile::handle(&f.name(), bytes));
                }
                ctx.request_repaint();
            });
        });
        input.set_onchange(Some(on_change.as_ref().unchecked_ref()));
        // The input lives until it fires (or the page goes): leak the one closure per click.
        on_change.forget();
        input.click();
        Ok(())
    }
}

impl Dialogs for WebDialogs {
    fn open_images(&mut self, _folder: Option<&Path>) -> Vec<PathBuf> {
        if let Err(e) = self.pick() {
            super::show_message(&format!(
                "The file picker did not open ({}); drop the images on the page instead.",
                string_from_js(&e)
            ));
        }
        Vec::new()
    }

    /// Not used in a page: results are downloaded (`RestoreApp::download_selected`).
    fn save_image(&mut self, _folder: Option<&Path>, _name: &str) -> Option<PathBuf> {
        None
    }

    fn take_opened(&mut self) -> Vec<egui::DroppedFileHandle> {
        std::mem::take(&mut *self.picked.borrow_mut())
    }
}

/// Saves `bytes` as the file `name` through the browser's download (a link to an object URL,
/// clicked); the browser puts it in the visitor's downloads folder or asks where.
pub fn download(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let run = || -> Result<(), JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let document = window.document().ok_or("no document")?;
        let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(mime);
        let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)?;
        let url = web_sys::Url::create_object_url_with_blob(&blob)?;
        let a: web_sys::HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
        a.set_href(&url);
        a.set_download(name);
        a.click();
        // The download has started reading the URL; free it a little later, not at once.
        let revoke = Closure::once_into_js(move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        });
        window.set_timeout_with_callback_and_timeout_and_arguments_0(
            revoke.unchecked_ref(),
            60_000,
        )?;
        Ok(())
    };
    run().map_err(|e| format!("cannot download {name}: {}", string_from_js(&e)))
}

fn string_from_js(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| {
            v.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{v:?}"))
}
