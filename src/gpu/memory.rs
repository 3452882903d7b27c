//! How much memory the device has: the budget of one forward's buffers, above which an image
//! is tiled. A CPU adapter (lavapipe) allocates in host memory, so its budget is what the
//! host has available; a Vulkan GPU reports its device-local heaps. Elsewhere the size is
//! not known, and a fixed budget applies (out-of-memory errors then shrink the tiles).

/// Bytes of memory for buffers on this adapter, when known.
pub fn device_memory(adapter: &wgpu::Adapter, software: bool) -> Option<u64> {
    if software {
        return host_available();
    }
    vulkan_device_local(adapter)
}

/// Host memory available to this process: `MemAvailable`, lowered to what the control
/// groups the process is in still allow; `None` where neither is known.
pub fn host_available() -> Option<u64> {
    crate::image_io::available_memory()
}

#[cfg(any(target_os = "linux", target_os = "windows"))]
fn vulkan_device_local(adapter: &wgpu::Adapter) -> Option<u64> {
    use ash::vk;
    // SAFETY: only read from the adapter's own physical device and instance, which the
    // adapter keeps alive for the duration of the call.
    unsafe {
        let hal = adapter.as_hal::<wgpu::hal::api::Vulkan>()?;
        let instance = hal.shared_instance().raw_instance();
        let props = instance.get_physical_device_memory_properties(hal.raw_physical_device());
        let heaps = &props.memory_heaps[..props.memory_heap_count as usize];
        let local: u64 = heaps
            .iter()
            .filter(|h| h.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
            .map(|h| h.size)
            .sum();
        (local > 0).then_some(local)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "windows")))]
fn vulkan_device_local(_adapter: &wgpu::Adapter) -> Option<u64> {
    None
}
