//! Writes PyTorch-style checkpoints (torch.save's zip layout, a protocol-2 pickle) for the
//! importer's refusal tests: `{"params": OrderedDict(name -> f32 tensor)}`, or any
//! hand-written `data.pkl`.
#![allow(dead_code)]

use std::io::Write;
use wgpu_restore::model::HostTensor;

fn text(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn int(out: &mut Vec<u8>, v: usize) {
    out.push(b'J');
    out.extend_from_slice(&(v as i32).to_le_bytes());
}

fn tuple(out: &mut Vec<u8>, items: &[usize]) {
    out.push(b'(');
    for &i in items {
        int(out, i);
    }
    out.push(b't');
}

/// The pickle of `{"params": OrderedDict(...)}`, storage keys "0", "1", ... in order.
pub fn params_pickle(tensors: &[(String, Vec<usize>)]) -> Vec<u8> {
    let mut p = b"\x80\x02}".to_vec();
    text(&mut p, "params");
    p.extend_from_slice(b"ccollections\nOrderedDict\n)R(");
    for (i, (name, shape)) in tensors.iter().enumerate() {
        text(&mut p, name);
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        // Persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel).
        p.push(b'(');
        text(&mut p, "storage");
        p.extend_from_slice(b"ctorch\nFloatStorage\n");
        text(&mut p, &i.to_string());
        text(&mut p, "cpu");
        int(&mut p, shape.iter().product());
        p.extend_from_slice(b"tQ");
        int(&mut p, 0);
        tuple(&mut p, shape);
        let mut stride = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        tuple(&mut p, &stride);
        p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtR");
    }
    p.extend_from_slice(b"us.");
    p
}

/// The pickle of `{name: tensor}` whose tensor views `size` with `stride` over a float
/// storage "0" of `storage_numel` elements (a transposed, sliced or expanded view).
pub fn view_pickle(name: &str, storage_numel: usize, size: &[usize], stride: &[usize]) -> Vec<u8> {
    let mut p = b"\x80\x02}".to_vec();
    text(&mut p, name);
    p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
    p.push(b'(');
    text(&mut p, "storage");
    p.extend_from_slice(b"ctorch\nFloatStorage\n");
    text(&mut p, "0");
    text(&mut p, "cpu");
    int(&mut p, storage_numel);
    p.extend_from_slice(b"tQ");
    int(&mut p, 0);
    tuple(&mut p, size);
    tuple(&mut p, stride);
    p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtRs.");
    p
}

/// A zip as torch.save writes it: `<root>/data.pkl`, `<root>/byteorder`, `<root>/data/<i>`.
pub fn archive(root: &str, pickle: &[u8], storages: &[Vec<u8>]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file(format!("{root}/data.pkl"), opts).unwrap();
        z.write_all(pickle).unwrap();
        z.start_file(format!("{root}/byteorder"), opts).unwrap();
        z.write_all(b"little").unwrap();
        for (i, s) in storages.iter().enumerate() {
            z.start_file(format!("{root}/data/{i}"), opts).unwrap();
            z.write_all(s).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// A Restormer-style `.pth` holding these tensors.
pub fn params_checkpoint(tensors: &[(String, HostTensor)]) -> Vec<u8> {
    let shapes: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.shape.clone()))
        .collect();
    let storages: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, t)| t.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    archive("archive", &params_pickle(&shapes), &storages)
}
