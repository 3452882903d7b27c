//! The crate's error type. Every model-file error names the node or tensor at fault.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt or truncated model file: {0}")]
    Corrupt(String),
    #[error("model file metadata: {0}")]
    Metadata(String),
    #[error(
        "unsupported model format version {found:?} (this reader supports version {supported})"
    )]
    UnsupportedVersion { found: String, supported: u32 },
    #[error("invalid graph document: {0}")]
    GraphJson(String),
    #[error("tensor `{tensor}`: {msg}")]
    Tensor { tensor: String, msg: String },
    #[error("node `{node}`: unknown op `{op}`")]
    UnknownOp { node: String, op: String },
    #[error("node `{node}`: weight `{slot}` refers to tensor `{tensor}`, which is missing from the file")]
    MissingTensor {
        node: String,
        slot: String,
        tensor: String,
    },
    #[error("node `{node}`: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        node: String,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor `{tensor}` is not referenced by any node")]
    UnreferencedTensor { tensor: String },
    #[error("node `{node}`: {msg}")]
    Node { node: String, msg: String },
    #[error("function `{function}`: {msg}")]
    Function { function: String, msg: String },
    #[error("no function `{0}` in the model")]
    UnknownFunction(String),
    #[error("input: {0}")]
    Input(String),
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    #[error("cannot open the device: {0}")]
    Device(String),
    #[error(
        "value `{value}` needs a {bytes}-byte buffer but the device allows at most {limit} bytes per storage binding; use a smaller image or tiles"
    )]
    BufferTooLarge {
        value: String,
        bytes: u64,
        limit: u64,
    },
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A result with NaN or infinite values (see `crate::ensemble::check_finite`).
    #[error("{0}")]
    NonFinite(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn node_err(node: &str, msg: impl Into<String>) -> Error {
    Error::Node {
        node: node.to_string(),
        msg: msg.into(),
    }
}

/// wgpu's error text on one line: its validation errors span several ("Validation Error",
/// a blank line, "Caused by:", indented causes), and every error this tool prints is one
/// `error: <file>: <problem>` line. Causes are joined with ": ".
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Caused by:")
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn wgpu_validation_errors_become_one_line() {
        let text = "Validation Error\n\nCaused by:\n  In Device::create_compute_pipeline, label = 'x'\n    Error matching shader requirements\n";
        assert_eq!(
            super::one_line(text),
            "Validation Error: In Device::create_compute_pipeline, label = 'x': Error matching shader requirements"
        );
        assert_eq!(super::one_line("already one line"), "already one line");
    }
}
