//! Values between host and device: a `C x H x W` tensor as the device stores it (planes of
//! [`pitch`] elements in the storage precision) and back.

use crate::ops::{pitch, Precision};
use crate::tensor::{Shape, Tensor};

/// Channels `c0..c1` of `t` (a C x H x W tensor) as the device stores them: planes of
/// [`pitch`] elements in the storage precision.
pub(super) fn to_device_bytes(
    t: &Tensor,
    (c0, c1): (usize, usize),
    precision: Precision,
) -> Vec<u8> {
    let (plane, pitch) = (t.shape.plane(), pitch(t.shape));
    let mut padded = vec![0f32; (c1 - c0) * pitch];
    for (dst, src) in padded
        .chunks_exact_mut(pitch)
        .zip(t.data[c0 * plane..c1 * plane].chunks_exact(plane.max(1)))
    {
        dst[..plane].copy_from_slice(src);
    }
    weights_to_bytes(&padded, precision)
}

/// Dense data (weights, or padded planes) in the storage precision.
pub(super) fn weights_to_bytes(data: &[f32], precision: Precision) -> Vec<u8> {
    match precision {
        Precision::F32 => bytemuck::cast_slice(data).to_vec(),
        Precision::F16 => data
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
    }
}

/// The inverse of [`to_device_bytes`].
pub(super) fn from_device_bytes(bytes: &[u8], shape: Shape, precision: Precision) -> Tensor {
    let values: Vec<f32> = match precision {
        Precision::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Precision::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
    };
    let (plane, pitch) = (shape.plane(), pitch(shape));
    let mut data = Vec::with_capacity(shape.numel());
    for c in 0..shape.c {
        data.extend_from_slice(&values[c * pitch..c * pitch + plane]);
    }
    Tensor::new(shape, data)
}
