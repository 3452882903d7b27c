//! Adapter enumeration and selection.

use crate::error::{Error, Result};

/// Which graphics API to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// Every backend compiled in (Vulkan, Metal, DX12, GL).
    #[default]
    Auto,
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendChoice {
    pub fn backends(self) -> wgpu::Backends {
        match self {
            // In a browser the page's WebGPU is the only backend there is.
            BackendChoice::Auto if cfg!(target_arch = "wasm32") => wgpu::Backends::BROWSER_WEBGPU,
            BackendChoice::Auto => {
                wgpu::Backends::VULKAN
                    | wgpu::Backends::METAL
                    | wgpu::Backends::DX12
                    | wgpu::Backends::GL
            }
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(BackendChoice::Auto),
            "vulkan" | "vk" => Ok(BackendChoice::Vulkan),
            "metal" | "mtl" => Ok(BackendChoice::Metal),
            "dx12" | "d3d12" => Ok(BackendChoice::Dx12),
            "gl" | "gles" | "opengl" => Ok(BackendChoice::Gl),
            other => Err(Error::Input(format!(
                "unknown backend `{other}` (expected vulkan, metal, dx12, gl or auto)"
            ))),
        }
    }
}

/// Which adapter to use among those of the chosen backends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AdapterChoice {
    /// Prefer a hardware GPU, fall back to a software adapter.
    #[default]
    Auto,
    /// The first adapter whose name contains this (case-insensitive).
    Name(String),
    /// The adapter at this index of [`list_adapters`].
    Index(usize),
}

impl std::str::FromStr for AdapterChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.is_empty() || s.eq_ignore_ascii_case("auto") {
            Ok(AdapterChoice::Auto)
        } else if let Ok(i) = s.parse::<usize>() {
            Ok(AdapterChoice::Index(i))
        } else {
            Ok(AdapterChoice::Name(s.to_string()))
        }
    }
}

/// A summary of one adapter, as listed to users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// True for CPU (software) adapters such as lavapipe, llvmpipe or WARP.
    pub software: bool,
    /// Whether the adapter can run compute shaders.
    pub compute: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {} ({}, {}{}{})",
            self.index,
            self.name,
            self.backend,
            self.device_type,
            if self.driver.is_empty() { "" } else { ", " },
            self.driver
        )?;
        if !self.compute {
            write!(f, " - no compute shaders")?;
        }
        Ok(())
    }
}

/// Whether libwayland's `wl_display_connect(NULL)` fails before it looks for a socket, which
/// it reports by printing `error: XDG_RUNTIME_DIR is invalid or not set in the environment.`
/// to stderr: no `WAYLAND_SOCKET`, no absolute `WAYLAND_DISPLAY`, and no absolute
/// `XDG_RUNTIME_DIR` to find the socket in. `var` reads one environment variable.
fn wayland_connect_fails_loudly(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    let absolute = |name: &str| var(name).is_some_and(|v| std::path::Path::new(&v).is_absolute());
    var("WAYLAND_SOCKET").is_none() && !absolute("WAYLAND_DISPLAY") && !absolute("XDG_RUNTIME_DIR")
}

/// Whether [`skip_device_select_layer_without_wayland`] leaves Mesa's device-select layer
/// out, given the environment: when its Wayland lookup could only fail, and fail loudly,
/// and the user has not configured the layer (`NODEVICE_SELECT`, `MESA_VK_DEVICE_SELECT`).
fn should_skip_device_select(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    var("NODEVICE_SELECT").is_none()
        && var("MESA_VK_DEVICE_SELECT").is_none()
        && wayland_connect_fails_loudly(var)
}

/// Keeps a successful run on a headless machine (a server, a container, CI)
/// free of a false alarm, and returns whether it changed anything.
///
/// Mesa's Vulkan drivers (lavapipe among them) install an implicit layer,
/// `VK_LAYER_MESA_device_select`, that reorders the adapters so the display's GPU comes
/// first. To find that GPU it connects to the Wayland compositor, and where there is none to
/// find because `XDG_RUNTIME_DIR` is not set, libwayland prints
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` (measured with lavapipe
/// on Debian 12: twice for a `restore`, four times for `info`); the run then goes on and
/// succeeds. In exactly that case this sets `NODEVICE_SELECT=1`, which the Vulkan loader
/// reads to leave the layer out. Little is lost: without a compositor the layer could only
/// ask an X server (`DISPLAY`) for its GPU, which matters only between two adapters of the
/// same kind, since adapters are ranked here anyway (discrete, integrated, virtual, then
/// software). A user's own `NODEVICE_SELECT` or `MESA_VK_DEVICE_SELECT` is left alone, and
/// real errors print as before.
///
/// It changes the process environment, so call it at the start of `main`, before any other
/// thread exists and before the first adapter is asked for.
pub fn skip_device_select_layer_without_wayland() -> bool {
    if cfg!(not(all(unix, not(target_vendor = "apple")))) {
        return false; // the layer is Mesa's, on Linux and the BSDs
    }
    let skip = should_skip_device_select(|name: &str| std::env::var_os(name));
    if skip {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    skip
}

pub(crate) fn new_instance(backend: BackendChoice) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backend.backends();
    wgpu::Instance::new(desc)
}

pub(crate) fn summarize(index: usize, a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let compute = a
        .get_downlevel_capabilities()
        .flags
        .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
    AdapterSummary {
        index,
        // Browsers may keep the adapter's name to themselves.
        name: if info.name.is_empty() {
            "unnamed WebGPU adapter".to_string()
        } else {
            info.name.clone()
        },
        backend: format!("{:?}", info.backend).to_lowercase(),
        device_type: format!("{:?}", info.device_type),
        driver: [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        software: info.device_type == wgpu::DeviceType::Cpu,
        compute,
    }
}

/// The adapters of the backend(s); in a browser, the one adapter the page is given.
pub(crate) async fn enumerate(
    instance: &wgpu::Instance,
    backend: BackendChoice,
) -> Vec<wgpu::Adapter> {
    let adapters = instance.enumerate_adapters(backend.backends()).await;
    if !adapters.is_empty() || !cfg!(target_arch = "wasm32") {
        return adapters;
    }
    // Chrome on a software adapter (SwiftShader) answers a plain request only the first
    // time; later requests (a reopened device) get it when they ask for the fallback.
    let fallback = wgpu::RequestAdapterOptions {
        force_fallback_adapter: true,
        ..Default::default()
    };
    instance
        .request_adapter(&fallback)
        .await
        .into_iter()
        .collect()
}

/// Lists the adapters of the given backend(s), in the order [`AdapterChoice::Index`] uses.
#[cfg(not(target_arch = "wasm32"))]
pub fn list_adapters(backend: BackendChoice) -> Vec<AdapterSummary> {
    let instance = new_instance(backend);
    pollster::block_on(enumerate(&instance, backend))
        .iter()
        .enumerate()
        .map(|(i, a)| summarize(i, a))
        .collect()
}

fn rank(s: &AdapterSummary) -> u32 {
    let ty = match s.device_type.as_str() {
        "DiscreteGpu" => 0,
        "IntegratedGpu" => 1,
        "VirtualGpu" => 2,
        "Other" => 3,
        _ => 4, // Cpu
    };
    // Prefer Vulkan/Metal/DX12 over GL at equal type.
    ty * 2 + u32::from(s.backend == "gl")
}

/// Picks an adapter. Returns it with its summary and a note when it is a software one.
pub(crate) async fn select(
    instance: &wgpu::Instance,
    backend: BackendChoice,
    choice: &AdapterChoice,
) -> Result<(wgpu::Adapter, AdapterSummary, Option<String>)> {
    let adapters = enumerate(instance, backend).await;
    let summaries: Vec<AdapterSummary> = adapters
        .iter()
        .enumerate()
        .map(|(i, a)| summarize(i, a))
        .collect();
    let listing = || {
        if summaries.is_empty() {
            "none".to_string()
        } else {
            summaries
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    if summaries.is_empty() && cfg!(target_arch = "wasm32") {
        return Err(Error::NoAdapter(
            "the browser offers no WebGPU adapter (WebGPU disabled, or the GPU blocklisted): \
             try a current Chrome, Edge or Firefox, or enable WebGPU in the browser's flags"
                .into(),
        ));
    }
    if summaries.is_empty() {
        return Err(Error::NoAdapter(format!(
            "no adapter for backend {backend:?}. Install a GPU driver, or a software Vulkan \
             driver such as lavapipe (Debian/Ubuntu: apt-get install mesa-vulkan-drivers)"
        )));
    }
    let index = match choice {
        AdapterChoice::Index(i) => {
            if *i >= summaries.len() {
                return Err(Error::NoAdapter(format!(
                    "adapter index {i} is out of range; adapters: {}",
                    listing()
                )));
            }
            *i
        }
        AdapterChoice::Name(n) => {
            let needle = n.to_lowercase();
            summaries
                .iter()
                .filter(|s| s.name.to_lowercase().contains(&needle))
                .min_by_key(|s| rank(s))
                .map(|s| s.index)
                .ok_or_else(|| {
                    Error::NoAdapter(format!(
                        "no adapter name contains `{n}`; adapters: {}",
                        listing()
                    ))
                })?
        }
        AdapterChoice::Auto => summaries
            .iter()
            .filter(|s| s.compute)
            .min_by_key(|s| rank(s))
            .map(|s| s.index)
            .ok_or_else(|| {
                Error::NoAdapter(format!(
                    "no adapter can run compute shaders; adapters: {}",
                    listing()
                ))
            })?,
    };
    let s = summaries[index].clone();
    if !s.compute {
        return Err(Error::NoAdapter(format!(
            "adapter {s} cannot run compute shaders"
        )));
    }
    let note = s.software.then(|| {
        format!(
            "note: using the software adapter `{}` ({}); no hardware GPU was {}. Expect it to be slow.",
            s.name,
            s.backend,
            if *choice == AdapterChoice::Auto { "found" } else { "chosen" }
        )
    });
    let adapter = adapters.into_iter().nth(index).expect("index checked");
    Ok((adapter, s, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_device_select_layer_is_skipped_only_where_wayland_would_fail_loudly() {
        // A server or container: nothing set. The case that printed the false alarm.
        assert!(should_skip_device_select(env(&[])));
        assert!(should_skip_device_select(env(&[("DISPLAY", ":0")])));
        // A relative runtime directory is as invalid to libwayland as none.
        assert!(should_skip_device_select(env(&[(
            "XDG_RUNTIME_DIR",
            "run/user"
        )])));
        // A desktop login: the layer can find the compositor, keep it.
        assert!(!should_skip_device_select(env(&[(
            "XDG_RUNTIME_DIR",
            "/run/user/1000"
        )])));
        assert!(!should_skip_device_select(env(&[(
            "WAYLAND_DISPLAY",
            "/run/user/1000/wayland-0"
        )])));
        assert!(!should_skip_device_select(env(&[("WAYLAND_SOCKET", "5")])));
        // The user configured the layer: their choice stands.
        assert!(!should_skip_device_select(env(&[("NODEVICE_SELECT", "0")])));
        assert!(!should_skip_device_select(env(&[(
            "MESA_VK_DEVICE_SELECT",
            "1002:73bf"
        )])));
    }
}
