//! The safetensors container: tensors (F32 / F16 widened to f32) and `__metadata__`.

use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};

/// A weight (or fixture) tensor of any rank, f32.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The contents of a safetensors file.
#[derive(Clone, Debug, Default)]
pub struct SafetensorsFile {
    pub metadata: HashMap<String, String>,
    pub tensors: BTreeMap<String, HostTensor>,
}

/// Parses a safetensors file; a truncated or corrupt container or an unsupported dtype is
/// an error naming the problem (and the tensor, where there is one).
pub fn read_safetensors(bytes: &[u8]) -> Result<SafetensorsFile> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let mut tensors = BTreeMap::new();
    for (name, view) in st.iter() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(Error::Tensor {
                    tensor: name.to_string(),
                    msg: format!("dtype {other:?} is not supported (F32 or F16 only)"),
                })
            }
        };
        let shape = view.shape().to_vec();
        if data.len() != shape.iter().product::<usize>() {
            return Err(Error::Tensor {
                tensor: name.to_string(),
                msg: format!("data length does not match shape {shape:?}"),
            });
        }
        tensors.insert(name.to_string(), HostTensor { shape, data });
    }
    Ok(SafetensorsFile { metadata, tensors })
}

struct F32View<'a>(&'a HostTensor);

impl safetensors::View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Owned(self.0.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// Serializes tensors (as F32) and metadata into safetensors bytes.
pub fn write_safetensors(file: &SafetensorsFile) -> Result<Vec<u8>> {
    let views = file.tensors.iter().map(|(n, t)| (n.as_str(), F32View(t)));
    safetensors::serialize(views, Some(file.metadata.clone()))
        .map_err(|e| Error::Corrupt(format!("cannot serialize: {e}")))
}
