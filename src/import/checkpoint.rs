//! PyTorch checkpoint files, read without Python: torch.save's zip container
//! (`<root>/data.pkl`, `<root>/data/<key>` storages, `<root>/byteorder`), its pickle
//! through the restricted reader (`pickle.rs`), and the state dict inside (Lightning's
//! `state_dict`, BasicSR's `params`, or a bare dict of tensors). Storages are read only
//! for the tensors asked for, so an optimizer state beside the weights costs nothing.

use super::pickle::{self, DType, TensorRef, Value};
use crate::model::HostTensor;
use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::Path;

/// The largest `data.pkl` read (a checkpoint's pickle is kilobytes to a few megabytes).
const MAX_PICKLE_BYTES: u64 = 256 << 20;
/// The most elements one tensor may have.
const MAX_NUMEL: u64 = 1 << 31;

/// How the weights were packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// PyTorch Lightning: `{"state_dict": {"net.<name>": tensor, ...}, "optimizer_states": ...}`.
    Lightning,
    /// BasicSR (Restormer): `{"params": {...}}`.
    Params,
    /// A bare state dict.
    StateDict,
}

impl Container {
    pub fn name(self) -> &'static str {
        match self {
            Container::Lightning => "lightning",
            Container::Params => "params",
            Container::StateDict => "state_dict",
        }
    }
}

/// An opened checkpoint: its state dict (names to unread tensors) and the archive.
pub struct Checkpoint<R: Read + Seek> {
    archive: zip::ZipArchive<R>,
    root: String,
    pub container: Container,
    pub tensors: BTreeMap<String, TensorRef>,
}

fn storage_err(e: impl std::fmt::Display) -> String {
    format!("not a readable PyTorch zip archive ({e})")
}

impl Checkpoint<std::io::BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        Checkpoint::from_reader(std::io::BufReader::new(file))
    }
}

impl<R: Read + Seek> Checkpoint<R> {
    pub fn from_reader(mut reader: R) -> Result<Self, String> {
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut reader, &mut magic)?;
        reader
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| e.to_string())?;
        if n >= 2 && magic[0] == 0x80 && magic[1] <= 5 {
            return Err(
                "a PyTorch checkpoint in the legacy format of PyTorch before 1.6, \
                        which is not supported (load and save it again with torch.save)"
                    .into(),
            );
        }
        if n < 4 || &magic != b"PK\x03\x04" {
            return Err("not a PyTorch checkpoint (not a zip archive)".into());
        }
        let mut archive = zip::ZipArchive::new(reader).map_err(storage_err)?;
        let root = archive
            .file_names()
            .filter_map(|n| n.ok())
            .filter_map(|n| n.strip_suffix("/data.pkl").map(str::to_string))
            .filter(|r| !r.is_empty() && !r.contains('/'))
            .min()
            .ok_or("no data.pkl in the archive: not a PyTorch checkpoint")?;
        if let Ok(order) = read_entry(&mut archive, &format!("{root}/byteorder"), 16) {
            if order != b"little" {
                return Err(format!(
                    "the checkpoint's byte order is {:?}; only little-endian is supported",
                    String::from_utf8_lossy(&order)
                ));
            }
        }
        let pkl = read_entry(&mut archive, &format!("{root}/data.pkl"), MAX_PICKLE_BYTES)?;
        let value = pickle::unpickle(&pkl).map_err(|e| format!("data.pkl: {e}"))?;
        let (container, dict) = find_state_dict(&value)?;
        let tensors = tensors_of(&dict)?;
        Ok(Checkpoint {
            archive,
            root,
            container,
            tensors,
        })
    }

    /// The tensor `name` as f32, read from its storage.
    pub fn load(&mut self, name: &str) -> Result<HostTensor, String> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| format!("tensor `{name}` is missing"))?
            .clone();
        self.read_tensor(&t)
            .map_err(|e| format!("tensor `{name}`: {e}"))
    }

    fn read_tensor(&mut self, t: &TensorRef) -> Result<HostTensor, String> {
        let dtype = t.storage.dtype;
        if matches!(dtype, DType::Other(..)) {
            return Err(format!("is {}, not floating point", dtype.name()));
        }
        let numel = t
            .size
            .iter()
            .try_fold(1u64, |a, &s| a.checked_mul(s as u64))
            .filter(|&n| n <= MAX_NUMEL)
            .ok_or("is too large")?;
        // A view of more elements than its storage holds repeats elements (stride 0, as
        // `expand` makes): no saved weight is one, and a 4-byte storage could otherwise ask
        // for 2^31 elements, 8 GB and as many steps, from a file of a few hundred bytes.
        if numel > t.storage.numel {
            return Err(format!(
                "views {numel} elements of a storage of {} (an expanded tensor, not a weight)",
                t.storage.numel
            ));
        }
        let mut last = t.offset;
        if numel > 0 {
            for (&s, &st) in t.size.iter().zip(&t.stride) {
                last = (s as u64 - 1)
                    .checked_mul(st as u64)
                    .and_then(|x| x.checked_add(last))
                    .ok_or("has an impossible stride")?;
            }
            if last >= t.storage.numel {
                return Err(format!(
                    "reads element {last} of a storage of {}",
                    t.storage.numel
                ));
            }
        }
        let esize = dtype.size() as u64;
        let want = t.storage.numel.checked_mul(esize).ok_or("is too large")?;
        let bytes = read_entry(
            &mut self.archive,
            &format!("{}/data/{}", self.root, t.storage.key),
            want,
        )?;
        if (bytes.len() as u64) < want {
            return Err(format!(
                "its storage `data/{}` holds {} bytes, {} expected",
                t.storage.key,
                bytes.len(),
                want
            ));
        }
        let at = |i: u64| -> f32 {
            let b = &bytes[(i * esize) as usize..((i + 1) * esize) as usize];
            match dtype {
                DType::F32 => f32::from_le_bytes(b.try_into().unwrap()),
                DType::F16 => half::f16::from_le_bytes(b.try_into().unwrap()).to_f32(),
                DType::BF16 => half::bf16::from_le_bytes(b.try_into().unwrap()).to_f32(),
                DType::F64 => f64::from_le_bytes(b.try_into().unwrap()) as f32,
                DType::Other(..) => unreachable!(),
            }
        };
        let mut data = Vec::with_capacity(numel as usize);
        if numel > 0 {
            // Walk the strided view in row-major order (state dicts are contiguous, but a
            // transposed or sliced weight is a view too).
            let rank = t.size.len();
            let mut index = vec![0usize; rank];
            loop {
                let off = t.offset
                    + index
                        .iter()
                        .zip(&t.stride)
                        .map(|(&i, &st)| (i * st) as u64)
                        .sum::<u64>();
                data.push(at(off));
                let mut d = rank;
                loop {
                    if d == 0 {
                        break;
                    }
                    d -= 1;
                    index[d] += 1;
                    if index[d] < t.size[d] {
                        break;
                    }
                    index[d] = 0;
                }
                if index.iter().all(|&i| i == 0) {
                    break;
                }
            }
        }
        Ok(HostTensor {
            shape: t.size.clone(),
            data,
        })
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, String> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(n)
}

fn read_entry<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let mut f = archive
        .by_name(name)
        .map_err(|e| format!("`{name}`: {}", storage_err(e)))?;
    if f.size() > limit {
        return Err(format!("`{name}` is {} bytes, over {limit}", f.size()));
    }
    let mut out = Vec::with_capacity(f.size() as usize);
    f.by_ref()
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| format!("`{name}`: {}", storage_err(e)))?;
    Ok(out)
}

fn is_tensor_dict(v: &Value) -> bool {
    v.str_entries()
        .is_some_and(|e| !e.is_empty() && e.iter().all(|(_, v)| matches!(v, Value::Tensor(_))))
}

/// Where the weights are, in the order training/import_checkpoint.py looks: BasicSR's
/// `params` (Restormer), a `state_dict` (Lightning when every key has PromptIR's module
/// prefix `net.`), or the root itself; then, beyond what the Python importer takes,
/// `params_ema`, `model` and `net` of other trainers.
fn find_state_dict(root: &Value) -> Result<(Container, Value), String> {
    if root.str_entries().is_none() {
        return Err(format!(
            "the checkpoint holds a {}, not a dict of weights",
            root.kind()
        ));
    }
    if let Some(sd) = root.get("params").filter(|v| v.str_entries().is_some()) {
        return Ok((Container::Params, sd));
    }
    if let Some(sd) = root.get("state_dict").filter(|v| v.str_entries().is_some()) {
        let keys = sd.str_entries().unwrap_or_default();
        let lightning = !keys.is_empty() && keys.iter().all(|(k, _)| k.starts_with("net."));
        let container = if lightning {
            Container::Lightning
        } else {
            Container::StateDict
        };
        return Ok((container, sd));
    }
    if is_tensor_dict(root) {
        return Ok((Container::StateDict, root.clone()));
    }
    for key in ["params_ema", "model", "net"] {
        if let Some(sd) = root.get(key).filter(is_tensor_dict) {
            return Ok((Container::StateDict, sd));
        }
    }
    let keys: Vec<String> = root
        .str_entries()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k)
        .take(8)
        .collect();
    Err(format!(
        "no weights found: the checkpoint's keys are {}",
        keys.join(", ")
    ))
}

/// The tensors of a state dict, with the prefix a wrapper added (`net.` of PromptIR's
/// Lightning module, `module.` of DataParallel) removed.
fn tensors_of(dict: &Value) -> Result<BTreeMap<String, TensorRef>, String> {
    let entries = dict.str_entries().ok_or("the state dict is not a dict")?;
    let mut out = BTreeMap::new();
    for (k, v) in &entries {
        if let Value::Tensor(t) = v {
            out.insert(k.clone(), (**t).clone());
        }
    }
    if out.is_empty() {
        return Err("the state dict holds no tensors".into());
    }
    for prefix in ["net.", "module."] {
        if out.keys().all(|k| k.starts_with(prefix)) {
            out = out
                .into_iter()
                .map(|(k, v)| (k[prefix.len()..].to_string(), v))
                .collect();
        }
    }
    Ok(out)
}
