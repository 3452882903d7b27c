#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wgpu_restore_fuzz::checkpoint(data));
