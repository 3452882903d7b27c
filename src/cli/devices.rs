//! `--adapter` as a list: the devices a `restore` runs on. `--adapter 0,1` opens one
//! runtime on each adapter named, `--adapter all` one on every GPU, and `--adapter 0,0` two
//! on the same adapter (two devices, each with its own queue, weights and buffers). The
//! other commands run on one device and refuse a list.

use super::{gpu_options_for, problem, CliResult, DeviceArgs, Fatal};
use wgpu_restore::{list_adapters, AdapterChoice, AdapterSummary, BackendChoice, Error, Runtime};

/// The most devices one run opens (a longer list is a usage error).
pub const MAX_DEVICES: usize = 64;

/// Whether `--adapter` names more than one device (a list or `all`).
pub fn is_several(value: &str) -> bool {
    value.contains(',') || value.trim().eq_ignore_ascii_case("all")
}

/// The devices `--adapter` names, read without looking at the adapters: one entry per
/// device, or `None` for `all`. A malformed list is a usage error.
pub fn parse_list(value: &str) -> CliResult<Option<Vec<AdapterChoice>>> {
    if value.trim().eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    if !value.contains(',') {
        let one = value.parse::<AdapterChoice>();
        return Ok(Some(vec![one.map_err(|e: Error| Fatal::new(problem(&e)))?]));
    }
    let parts: Vec<&str> = value.split(',').collect();
    if parts.len() > MAX_DEVICES {
        return Err(Fatal::usage(format!(
            "--adapter lists {} devices; at most {MAX_DEVICES} are opened",
            parts.len()
        )));
    }
    parts
        .into_iter()
        .map(|part| {
            let part = part.trim();
            if part.is_empty()
                || part.eq_ignore_ascii_case("all")
                || part.eq_ignore_ascii_case("auto")
            {
                return Err(Fatal::usage(format!(
                    "--adapter {value}: a list names adapters by index or name, e.g. 0,1 (or `all` alone)"
                )));
            }
            part.parse::<AdapterChoice>()
                .map_err(|e: Error| Fatal::usage(format!("--adapter {value}: {}", problem(&e))))
        })
        .collect::<CliResult<Vec<_>>>()
        .map(Some)
}

/// The adapter choices of `--adapter` (one entry per device to open), without opening
/// anything; `all` is expanded against the adapters of `backend` ([`every_gpu`]).
pub fn adapter_choices(
    value: Option<&str>,
    backend: BackendChoice,
) -> CliResult<Vec<AdapterChoice>> {
    let Some(value) = value else {
        return Ok(vec![AdapterChoice::Auto]);
    };
    if let Some(list) = parse_list(value)? {
        return Ok(list);
    }
    let gpus = every_gpu(&list_adapters(backend));
    Ok(if gpus.is_empty() {
        // No GPU: the automatic choice (a software adapter, or the error that there is
        // none). One worker: several on one CPU adapter would share the same cores.
        vec![AdapterChoice::Auto]
    } else {
        gpus.into_iter().map(AdapterChoice::Index).collect()
    })
}

/// The indices `--adapter all` uses: every adapter that runs compute shaders and is not a
/// software one, leaving out GL adapters where another API lists GPUs too (a GPU is often
/// listed twice, through Vulkan and through GL, and would otherwise get two workers).
pub fn every_gpu(adapters: &[AdapterSummary]) -> Vec<usize> {
    let gpus: Vec<&AdapterSummary> = adapters
        .iter()
        .filter(|a| a.compute && !a.software)
        .collect();
    let native = gpus.iter().any(|a| a.backend != "gl");
    gpus.into_iter()
        .filter(|a| !native || a.backend != "gl")
        .map(|a| a.index)
        .collect()
}

/// Opens one runtime per device of `--adapter`, in its order, before any file is read, so
/// that a device that cannot be opened ends the run at once; at most `most` of them (the
/// number of images: a device with nothing to restore is not opened). Only the first
/// prints the software-adapter note (each would print the same).
pub fn open_runtimes(dev: &DeviceArgs, quiet: bool, most: usize) -> CliResult<Vec<Runtime>> {
    let probe = gpu_options_for(dev, AdapterChoice::Auto, quiet, false)?;
    let mut choices = adapter_choices(dev.adapter.as_deref(), probe.backend)?;
    choices.truncate(most.max(1));
    choices
        .into_iter()
        .enumerate()
        .map(|(i, choice)| {
            let opts = gpu_options_for(dev, choice, quiet || i > 0, false)?;
            Runtime::new(opts).map_err(|e| Fatal::new(problem(&e)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(index: usize, backend: &str, software: bool) -> AdapterSummary {
        AdapterSummary {
            index,
            name: format!("adapter {index}"),
            backend: backend.into(),
            device_type: if software { "Cpu" } else { "DiscreteGpu" }.into(),
            driver: String::new(),
            software,
            compute: true,
        }
    }

    #[test]
    fn all_is_every_gpu_once() {
        // Two GPUs through Vulkan and again through GL, and lavapipe.
        let list = [
            adapter(0, "vulkan", false),
            adapter(1, "vulkan", false),
            adapter(2, "vulkan", true),
            adapter(3, "gl", false),
            adapter(4, "gl", false),
        ];
        assert_eq!(every_gpu(&list), vec![0, 1]);
        // GL alone: its GPUs count.
        assert_eq!(every_gpu(&list[3..]), vec![3, 4]);
        // Software only: no GPU.
        assert_eq!(every_gpu(&list[2..3]), Vec::<usize>::new());
        let mut no_compute = adapter(5, "vulkan", false);
        no_compute.compute = false;
        assert_eq!(every_gpu(&[no_compute]), Vec::<usize>::new());
    }

    #[test]
    fn adapter_lists() {
        let b = BackendChoice::Auto;
        assert_eq!(adapter_choices(None, b).unwrap(), vec![AdapterChoice::Auto]);
        assert_eq!(
            adapter_choices(Some("0,0"), b).unwrap(),
            vec![AdapterChoice::Index(0), AdapterChoice::Index(0)]
        );
        assert_eq!(
            adapter_choices(Some("1, nvidia"), b).unwrap(),
            vec![
                AdapterChoice::Index(1),
                AdapterChoice::Name("nvidia".into())
            ]
        );
        assert_eq!(
            adapter_choices(Some("2"), b).unwrap(),
            vec![AdapterChoice::Index(2)]
        );
        assert_eq!(
            adapter_choices(Some("auto"), b).unwrap(),
            vec![AdapterChoice::Auto]
        );
        let many = vec!["0"; MAX_DEVICES + 1].join(",");
        for bad in ["0,", ",1", "0,,1", "0,all", "auto,1", many.as_str()] {
            let e = adapter_choices(Some(bad), b).unwrap_err();
            assert!(
                e.usage && e.msg.starts_with("--adapter "),
                "{bad}: {}",
                e.msg
            );
        }
        assert!(
            is_several("0,1") && is_several("ALL") && !is_several("0") && !is_several("nvidia")
        );
    }
}
