"""PyTorch reference of the wgpu-restore model: model, file format, training."""
