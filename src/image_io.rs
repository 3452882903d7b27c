//! Image files <-> tensors: decode and encode PNG and TIFF (8 and 16 bit), JPEG and WebP;
//! alpha passed through untouched; EXIF, ICC profile and orientation kept where the output
//! format can hold them; atomic writes that never replace a file unless asked to.
//!
//! Orientation: the network sees the image upright (the EXIF / TIFF orientation applied).
//! When the output carries the original EXIF block (PNG, JPEG, WebP), the restored pixels
//! are turned back to the stored orientation, so the file is laid out exactly like the input
//! and its orientation tag stays true. Formats that cannot hold the EXIF block (TIFF here)
//! get upright pixels instead, so the picture always displays the same way.

use crate::metrics::Rgb8;
use crate::tensor::{Shape, Tensor};
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

/// What went wrong, without the file name (callers print `error: <file>: <problem>`).
#[derive(Debug)]
pub struct ImageIoError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file cannot be read or written.
    Io,
    /// Not an image format this build reads or writes.
    Unsupported,
    /// The file is an image of a supported format but cannot be decoded.
    Corrupt,
    /// The output exists and the policy forbids replacing it.
    AlreadyExists,
    /// The image cannot be stored in the requested format.
    Incompatible,
    /// The header declares more pixels than the caller's limit (`--max-megapixels`).
    OverPixelLimit,
    /// Decoding and restoring the image would need more memory than is available.
    OverMemory,
}

impl std::fmt::Display for ImageIoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImageIoError {}

fn err(kind: ErrorKind, message: impl Into<String>) -> ImageIoError {
    ImageIoError {
        kind,
        message: message.into(),
    }
}

pub type IoResult<T> = std::result::Result<T, ImageIoError>;

/// The largest image `read_image` reads, in pixels (200 megapixels: a 151-megapixel medium
/// format frame, a 16000 x 12500 panorama). A pixel costs some 40-50 bytes on its way
/// through decode, f32 planes, restoration and encode, and two images decode at once in a
/// folder run, so a 30000 x 30000 file (a few MB if flat) would otherwise take tens of GB
/// and end the process without a word. Checked from the header, before decoding, with the
/// memory available (`decode_image_within`); `read_image_limited` takes another limit (the
/// CLI's `--max-megapixels`).
pub const MAX_PIXELS: u64 = 200_000_000;

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Tiff,
    WebP,
}

impl Format {
    /// From a file extension (case-insensitive): png, jpg/jpeg, tif/tiff, webp.
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "png" => Some(Format::Png),
            "jpg" | "jpeg" => Some(Format::Jpeg),
            "tif" | "tiff" => Some(Format::Tiff),
            "webp" => Some(Format::WebP),
            _ => None,
        }
    }
    pub fn from_path(path: &Path) -> Option<Format> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension)
    }
    /// The usual extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::Tiff => "tif",
            Format::WebP => "webp",
        }
    }
    /// Whether the format stores 16-bit samples (in this build).
    pub fn has_16bit(self) -> bool {
        matches!(self, Format::Png | Format::Tiff)
    }
    pub fn has_alpha(self) -> bool {
        !matches!(self, Format::Jpeg)
    }
    /// Whether the encoder writes an EXIF block.
    pub fn has_exif(self) -> bool {
        matches!(self, Format::Png | Format::Jpeg | Format::WebP)
    }
    fn from_image(f: ImageFormat) -> Option<Format> {
        match f {
            ImageFormat::Png => Some(Format::Png),
            ImageFormat::Jpeg => Some(Format::Jpeg),
            ImageFormat::Tiff => Some(Format::Tiff),
            ImageFormat::WebP => Some(Format::WebP),
            _ => None,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::from_extension(s)
            .ok_or_else(|| format!("unknown image format `{s}` (expected png, jpg, tif or webp)"))
    }
}

/// Sample depth of an image file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    Eight,
    Sixteen,
}

impl Depth {
    fn max(self) -> f32 {
        match self {
            Depth::Eight => 255.0,
            Depth::Sixteen => 65535.0,
        }
    }
}

/// Metadata carried from the input to the output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The ICC profile, as stored.
    pub icc: Option<Vec<u8>>,
    /// The raw EXIF block (TIFF header onwards), as stored.
    pub exif: Option<Vec<u8>>,
    /// The EXIF / TIFF orientation (1..=8) of the stored pixels.
    pub orientation: u8,
}

/// A decoded image: upright RGB for the network, plus what passes through untouched.
#[derive(Clone, Debug)]
pub struct Image {
    /// `3 x H x W`, RGB in [0, 1], upright (orientation applied).
    pub rgb: Tensor,
    /// The alpha channel, upright, in the file's sample range (0..=255 or 0..=65535).
    pub alpha: Option<Vec<u16>>,
    pub depth: Depth,
    /// Grayscale source (written back as grayscale).
    pub gray: bool,
    /// The decoded file's format.
    pub format: Format,
    pub meta: Metadata,
}

impl Image {
    pub fn width(&self) -> usize {
        self.rgb.shape.w
    }
    pub fn height(&self) -> usize {
        self.rgb.shape.h
    }
    /// An 8-bit upright RGB image from a tensor (see [`rgb8_from_tensor`]).
    pub fn to_rgb8(&self) -> Rgb8 {
        rgb8_from_tensor(&self.rgb)
    }
    /// A plain 8-bit RGB image with no metadata.
    pub fn from_rgb(rgb: Tensor) -> Image {
        Image {
            rgb,
            alpha: None,
            depth: Depth::Eight,
            gray: false,
            format: Format::Png,
            meta: Metadata {
                orientation: 1,
                ..Default::default()
            },
        }
    }
}

/// Rounds `[0, 1]` values to 0..=255 (clamped, round half away from zero), interleaved RGB.
pub fn rgb8_from_tensor(t: &Tensor) -> Rgb8 {
    let (h, w) = (t.shape.h, t.shape.w);
    let plane = h * w;
    let mut data = Vec::with_capacity(plane * 3);
    for i in 0..plane {
        for c in 0..3 {
            data.push(quantize(t.data[c * plane + i], 255.0) as u8);
        }
    }
    Rgb8::new(w, h, data)
}

/// An interleaved 8-bit RGB image as a `3 x H x W` tensor in [0, 1].
pub fn tensor_from_rgb8(img: &Rgb8) -> Tensor {
    let plane = img.width * img.height;
    let mut data = vec![0.0f32; plane * 3];
    for (i, px) in img.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            data[c * plane + i] = px[c] as f32 / 255.0;
        }
    }
    Tensor::new(Shape::new(3, img.height, img.width), data)
}

fn quantize(v: f32, max: f32) -> u16 {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    (v * max).round() as u16
}

/// The inverse of an orientation transform.
fn inverse(o: Orientation) -> Orientation {
    match o {
        Orientation::Rotate90 => Orientation::Rotate270,
        Orientation::Rotate270 => Orientation::Rotate90,
        other => other, // flips, 180 and the two transposes are involutions
    }
}

/// Decodes an image file of at most `MAX_PIXELS` pixels.
pub fn read_image(path: &Path) -> IoResult<Image> {
    read_image_limited(path, MAX_PIXELS)
}

/// Decodes an image file of at most `max_pixels` pixels.
pub fn read_image_limited(path: &Path, max_pixels: u64) -> IoResult<Image> {
    let bytes = std::fs::read(path).map_err(|e| err(ErrorKind::Io, format!("cannot read: {e}")))?;
    decode_image_limited(&bytes, Format::from_path(path), max_pixels)
}

/// Decodes an image held in memory (at most `MAX_PIXELS` pixels); `hint` is the format the
/// file name suggests.
pub fn decode_image(bytes: &[u8], hint: Option<Format>) -> IoResult<Image> {
    decode_image_limited(bytes, hint, MAX_PIXELS)
}

/// Host memory one pixel takes on its way through, besides the decoder's buffer and one
/// copy of it (orientation, conversion to RGB): the f32 planes of the input (12 bytes),
/// the tile stitcher's sums and weights (16), the restored planes (12), the alpha channel
/// and the encoder's samples (8), counted from the buffers that path allocates.
pub const BYTES_PER_PIXEL: u64 = 48;

/// The memory this process may still allocate: the kernel's estimate of available memory
/// (`MemAvailable`), lowered to what the control groups the process is in still allow. `None`
/// where neither is known (not Linux), and only the pixel limit bounds a decode there.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    let mut avail = kib.saturating_mul(1024);
    // cgroup v2: "0::/path"; a limit may be set on any folder up to the root.
    if let Some(path) = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("0::"))
                .map(str::to_string)
        })
    {
        let mut dir = PathBuf::from("/sys/fs/cgroup").join(path.trim_start_matches('/'));
        loop {
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
            if let (Some(max), Some(cur)) = (read("memory.max"), read("memory.current")) {
                if let (Ok(max), Ok(cur)) = (max.trim().parse::<u64>(), cur.trim().parse::<u64>()) {
                    avail = avail.min(max.saturating_sub(cur));
                }
            }
            if dir == Path::new("/sys/fs/cgroup") || !dir.pop() {
                break;
            }
        }
    }
    Some(avail)
}

/// `decode_image` with another pixel limit, within the memory available now
/// ([`available_memory`]).
pub fn decode_image_limited(
    bytes: &[u8],
    hint: Option<Format>,
    max_pixels: u64,
) -> IoResult<Image> {
    decode_image_within(bytes, hint, max_pixels, available_memory())
}

/// Decodes an image of at most `max_pixels` pixels whose decoding and restoration fit in
/// `memory` bytes (`None`: only the pixel limit). Both are checked from the header before
/// any pixel buffer is allocated, so a file of a few bytes that declares a 60000 x 60000
/// image is a per-file error rather than an allocation failure that ends the process; the
/// decoder's own allocations are bounded too (`image::Limits::max_alloc`).
pub fn decode_image_within(
    bytes: &[u8],
    hint: Option<Format>,
    max_pixels: u64,
    memory: Option<u64>,
) -> IoResult<Image> {
    if bytes.is_empty() {
        return Err(err(ErrorKind::Corrupt, "empty file"));
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(ErrorKind::Io, format!("cannot read: {e}")))?;
    let guessed = reader.format();
    let format =
        match guessed {
            Some(f) => Format::from_image(f).ok_or_else(|| {
                err(
                    ErrorKind::Unsupported,
                    format!(
                        "unsupported image format {} (supported: PNG, JPEG, TIFF, WebP)",
                        f.extensions_str()
                            .first()
                            .copied()
                            .unwrap_or("?")
                            .to_uppercase()
                    ),
                )
            })?,
            None => return Err(match hint {
                Some(f) => err(
                    ErrorKind::Corrupt,
                    format!(
                        "not a valid {} file (unrecognized content)",
                        f.extension().to_uppercase()
                    ),
                ),
                None => err(
                    ErrorKind::Unsupported,
                    "unsupported or unrecognized image format (supported: PNG, JPEG, TIFF, WebP)",
                ),
            }),
        };
    if let Some(frames) = animation_frames(bytes, format).filter(|&n| n > 1) {
        return Err(err(
            ErrorKind::Unsupported,
            format!(
                "an animated {} of {frames} frames: only still images are restored (the decoder reads the first frame, and the others would be lost)",
                format.extension().to_uppercase()
            ),
        ));
    }
    if format == Format::Jpeg && !jpeg_is_complete(bytes) {
        return Err(err(
            ErrorKind::Corrupt,
            "corrupt JPG file: truncated, its data ends before the end-of-image marker (the decoder would fill the missing part with gray)",
        ));
    }
    // What a decoder may allocate before the size is known: the largest pixel buffer the
    // pixel limit allows (16 bytes a pixel: RGBA of f32, from a float TIFF) and room for
    // metadata, within the memory there is. The PNG decoder takes it at construction.
    let cap = max_pixels
        .saturating_mul(16)
        .saturating_add(256 << 20)
        .min(memory.unwrap_or(u64::MAX));
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(cap);
    reader.limits(limits);
    let corrupt = |e: image::ImageError| -> ImageIoError {
        match e {
            image::ImageError::Unsupported(u) => err(ErrorKind::Unsupported, u.to_string()),
            image::ImageError::Limits(l) => err(
                ErrorKind::OverMemory,
                format!("the decoder would need more memory than allowed ({l})"),
            ),
            other => err(
                ErrorKind::Corrupt,
                format!(
                    "corrupt {} file: {other}",
                    format.extension().to_uppercase()
                ),
            ),
        }
    };
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (w, h) = decoder.dimensions();
    let pixels = w as u64 * h as u64;
    if pixels > max_pixels {
        return Err(err(
            ErrorKind::OverPixelLimit,
            format!(
                "{w}x{h} pixels ({:.1} megapixels) is over the limit of {} megapixels",
                pixels as f64 / 1e6,
                max_pixels as f64 / 1e6
            ),
        ));
    }
    // `ImageReader::into_decoder` leaves the pixel buffer out of the limits (`decode` would
    // reserve it), so it is checked here, with the rest of the way through.
    let buffer = decoder.total_bytes();
    let need = buffer
        .saturating_mul(2)
        .saturating_add(pixels.saturating_mul(BYTES_PER_PIXEL));
    if buffer > cap || memory.is_some_and(|m| need > m) {
        let gb = |b: u64| b as f64 / 1e9;
        return Err(err(
            ErrorKind::OverMemory,
            format!(
                "{w}x{h} pixels would need about {:.1} GB of memory to decode and restore, more than the {:.1} GB available",
                gb(need),
                gb(memory.unwrap_or(cap))
            ),
        ));
    }
    let icc = decoder.icc_profile().unwrap_or(None);
    let exif = decoder.exif_metadata().unwrap_or(None);
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    use image::ColorType as C;
    let ct = img.color();
    let depth = match ct {
        C::L8 | C::La8 | C::Rgb8 | C::Rgba8 => Depth::Eight,
        _ => Depth::Sixteen,
    };
    let gray = matches!(ct, C::L8 | C::La8 | C::L16 | C::La16);
    let (w, h) = (img.width() as usize, img.height() as usize);
    let alpha = ct.has_alpha().then(|| match depth {
        Depth::Eight => img.to_rgba8().pixels().map(|p| p[3] as u16).collect(),
        Depth::Sixteen => img.to_rgba16().pixels().map(|p| p[3]).collect(),
    });
    let plane = w * h;
    let mut data = vec![0.0f32; plane * 3];
    match depth {
        Depth::Eight => {
            for (i, p) in img.to_rgb8().pixels().enumerate() {
                for c in 0..3 {
                    data[c * plane + i] = p[c] as f32 / 255.0;
                }
            }
        }
        Depth::Sixteen => {
            for (i, p) in img.to_rgb16().pixels().enumerate() {
                for c in 0..3 {
                    data[c * plane + i] = p[c] as f32 / 65535.0;
                }
            }
        }
    }
    Ok(Image {
        rgb: Tensor::new(Shape::new(3, h, w), data),
        alpha,
        depth,
        gray,
        format,
        meta: Metadata {
            icc,
            exif,
            orientation: orientation.to_exif(),
        },
    })
}

/// The frame count of an animated PNG (APNG: an `acTL` chunk before the image data) or
/// WebP (`ANMF` chunks), `None` for a still image. The decoders read the first frame only,
/// so an animation would be restored to a still image of its first frame without a word.
fn animation_frames(bytes: &[u8], format: Format) -> Option<u32> {
    let u32_at = |b: &[u8], i: usize, be: bool| -> Option<u32> {
        let a: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
        Some(if be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    };
    match format {
        Format::Png => {
            let mut i = 8;
            while let (Some(len), Some(kind)) = (u32_at(bytes, i, true), bytes.get(i + 4..i + 8)) {
                match kind {
                    b"acTL" => return u32_at(bytes, i + 8, true),
                    b"IDAT" | b"IEND" => return None,
                    _ => i = i.checked_add(12 + len as usize)?,
                }
            }
            None
        }
        Format::WebP => {
            let mut frames = 0u32;
            let mut i = 12;
            while let (Some(kind), Some(len)) = (bytes.get(i..i + 4), u32_at(bytes, i + 4, false)) {
                if kind == b"ANMF" {
                    frames += 1;
                }
                // Chunks are padded to an even size.
                i = i.checked_add(8 + len as usize + (len as usize & 1))?;
            }
            (frames > 0).then_some(frames)
        }
        Format::Jpeg | Format::Tiff => None,
    }
}

/// Whether a JPEG's data reaches its end-of-image marker. The decoder restores a file cut
/// short without an error (the missing rows come out gray), so a truncated download would be
/// restored as if it were whole. The header segments are walked by their lengths (an EXIF
/// thumbnail inside APP1 has markers of its own), then the marker is looked for after the
/// first scan: entropy-coded data never holds `FF D9` (a data byte 0xFF is followed by 0x00).
/// A header too malformed to walk is left to the decoder, which reports it.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    loop {
        let (Some(&ff), Some(&marker)) = (bytes.get(i), bytes.get(i + 1)) else {
            return false; // the header itself is cut short
        };
        if ff != 0xFF {
            return true;
        }
        match marker {
            0xFF => i += 1, // fill byte
            0x01 | 0xD0..=0xD7 => i += 2,
            0xD9 => return true,
            _ => {
                let Some(len) = bytes
                    .get(i + 2..i + 4)
                    .map(|l| u16::from_be_bytes([l[0], l[1]]))
                else {
                    return false;
                };
                let next = i + 2 + len as usize;
                if marker == 0xDA {
                    return bytes
                        .get(next..)
                        .is_some_and(|scan| scan.windows(2).any(|w| w == [0xFF, 0xD9]));
                }
                i = next;
            }
        }
    }
}

/// How to encode.
#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    /// JPEG quality, 1..=100.
    pub jpeg_quality: u8,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { jpeg_quality: 95 }
    }
}

/// Encodes `restored` (upright RGB, `3 x H x W` in [0, 1]) with everything else taken from
/// `source` (alpha, depth, grayscale, metadata), in `format`. 16-bit sources are written
/// as 16-bit where the format allows (PNG, TIFF), else as 8-bit.
pub fn encode_image(
    restored: &Tensor,
    source: &Image,
    format: Format,
    opts: &EncodeOptions,
) -> IoResult<Vec<u8>> {
    let (h, w) = (restored.shape.h, restored.shape.w);
    if restored.shape.c != 3 {
        return Err(err(ErrorKind::Incompatible, "the image is not RGB"));
    }
    if let Some(a) = &source.alpha {
        if a.len() != h * w {
            return Err(err(
                ErrorKind::Incompatible,
                "the alpha channel does not match the image size",
            ));
        }
        if !format.has_alpha() {
            return Err(err(
                ErrorKind::Incompatible,
                format!(
                    "the image has an alpha channel, which {} cannot hold; write PNG, TIFF or WebP",
                    format.extension().to_uppercase()
                ),
            ));
        }
    }
    let depth = if format.has_16bit() {
        source.depth
    } else {
        Depth::Eight
    };
    let max = depth.max();
    let plane = h * w;
    let alpha_scale = |a: u16| -> u16 {
        // Alpha is passed through untouched; only a 16 -> 8 bit format change rescales it.
        match (source.depth, depth) {
            (Depth::Sixteen, Depth::Eight) => ((a as u32 * 255 + 32767) / 65535) as u16,
            _ => a,
        }
    };
    // Samples, interleaved: gray or RGB, then alpha.
    let luma = |i: usize| -> f32 {
        // Rec. 709 weights, as the `image` crate converts RGB to gray.
        0.2126 * restored.data[i]
            + 0.7152 * restored.data[plane + i]
            + 0.0722 * restored.data[2 * plane + i]
    };
    let channels = if source.gray { 1 } else { 3 } + usize::from(source.alpha.is_some());
    let mut samples: Vec<u16> = Vec::with_capacity(plane * channels);
    for i in 0..plane {
        if source.gray {
            samples.push(quantize(luma(i), max));
        } else {
            for c in 0..3 {
                samples.push(quantize(restored.data[c * plane + i], max));
            }
        }
        if let Some(a) = &source.alpha {
            samples.push(alpha_scale(a[i]));
        }
    }
    let mut img: DynamicImage = match (depth, source.gray, source.alpha.is_some()) {
        (Depth::Eight, g, a) => {
            let b: Vec<u8> = samples.iter().map(|&v| v as u8).collect();
            let (w, h) = (w as u32, h as u32);
            match (g, a) {
                (true, false) => image::GrayImage::from_raw(w, h, b).map(DynamicImage::ImageLuma8),
                (true, true) => {
                    image::GrayAlphaImage::from_raw(w, h, b).map(DynamicImage::ImageLumaA8)
                }
                (false, false) => image::RgbImage::from_raw(w, h, b).map(DynamicImage::ImageRgb8),
                (false, true) => image::RgbaImage::from_raw(w, h, b).map(DynamicImage::ImageRgba8),
            }
        }
        (Depth::Sixteen, g, a) => {
            let (w, h) = (w as u32, h as u32);
            match (g, a) {
                (true, false) => {
                    image::ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageLuma16)
                }
                (true, true) => {
                    image::ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageLumaA16)
                }
                (false, false) => {
                    image::ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageRgb16)
                }
                (false, true) => {
                    image::ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageRgba16)
                }
            }
        }
    }
    .expect("sample count matches the size");
    // Back to the stored orientation when the EXIF block (with its orientation tag) is written.
    let exif = source.meta.exif.as_ref().filter(|_| format.has_exif());
    if exif.is_some() {
        let o =
            Orientation::from_exif(source.meta.orientation).unwrap_or(Orientation::NoTransforms);
        img.apply_orientation(inverse(o));
    }
    let (ow, oh) = (img.width(), img.height());
    let color: ExtendedColorType = img.color().into();
    let bytes = img.as_bytes();
    let mut out = Vec::new();
    let unsupported =
        |e: image::error::UnsupportedError| err(ErrorKind::Incompatible, e.to_string());
    let enc_err = |e: image::ImageError| err(ErrorKind::Io, format!("cannot encode: {e}"));
    match format {
        Format::Png => {
            let mut enc = image::codecs::png::PngEncoder::new(&mut out);
            if let Some(icc) = &source.meta.icc {
                enc.set_icc_profile(icc.clone()).map_err(unsupported)?;
            }
            if let Some(x) = exif {
                enc.set_exif_metadata(x.clone()).map_err(unsupported)?;
            }
            enc.write_image(bytes, ow, oh, color).map_err(enc_err)?;
        }
        Format::Jpeg => {
            let mut enc =
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, opts.jpeg_quality);
            if let Some(icc) = &source.meta.icc {
                enc.set_icc_profile(icc.clone()).map_err(unsupported)?;
            }
            if let Some(x) = exif {
                enc.set_exif_metadata(x.clone()).map_err(unsupported)?;
            }
            enc.write_image(bytes, ow, oh, color).map_err(enc_err)?;
        }
        Format::WebP => {
            let mut enc = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            if let Some(icc) = &source.meta.icc {
                enc.set_icc_profile(icc.clone()).map_err(unsupported)?;
            }
            if let Some(x) = exif {
                enc.set_exif_metadata(x.clone()).map_err(unsupported)?;
            }
            enc.write_image(bytes, ow, oh, color).map_err(enc_err)?;
        }
        Format::Tiff => {
            let mut cur = Cursor::new(&mut out);
            let mut enc = image::codecs::tiff::TiffEncoder::new(&mut cur);
            if let Some(icc) = &source.meta.icc {
                enc.set_icc_profile(icc.clone()).map_err(unsupported)?;
            }
            enc.write_image(bytes, ow, oh, color).map_err(enc_err)?;
        }
    }
    Ok(out)
}

/// Whether an existing output may be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// Fail with [`ErrorKind::AlreadyExists`] if the output exists (checked atomically
    /// where the file system has hard links).
    Never,
    /// Replace it atomically.
    Always,
}

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The identity of an existing file, the same through symbolic links, relative paths and
/// (on Unix, device + inode) hard links; `None` when there is no file. Computed once per
/// path, it lets a folder run check every output against every input with a set lookup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileId(#[cfg(unix)] (u64, u64), #[cfg(not(unix))] PathBuf);

pub fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        path.metadata().ok().map(|m| FileId((m.dev(), m.ino())))
    }
    #[cfg(not(unix))]
    path.canonicalize().ok().map(FileId)
}

/// Whether `a` and `b` name one existing file (see `FileId`): the check that keeps
/// outputs off inputs in the CLI and the app.
pub fn same_file(a: &Path, b: &Path) -> bool {
    matches!((file_id(a), file_id(b)), (Some(x), Some(y)) if x == y)
}

/// The shortest name length every file system allows (FAT's 8.3 aside): a temporary name
/// may be this long even when the final name is shorter.
const SHORT_NAME: usize = 64;

/// The temporary file's name for the final name `name`: `.{name}.{pid}-{n}.tmp`, with `name`
/// cut so that the whole is no longer than `name` itself (or [`SHORT_NAME`]): a final name
/// that the file system accepts then always has a temporary name it accepts too. (A
/// 250-byte name used to get a 270-byte temporary name, over Linux's 255, and could never
/// be written.)
fn temporary_name(name: &std::ffi::OsStr) -> std::ffi::OsString {
    let n = TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let suffix = format!(".{}-{n}.tmp", std::process::id());
    let room = name.len().max(SHORT_NAME).saturating_sub(1 + suffix.len());
    let mut out = std::ffi::OsString::from(".");
    match name.to_str() {
        Some(s) => {
            let mut cut = s.len().min(room);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(&s[..cut]);
        }
        None => {
            // Not UTF-8 (a Unix name of arbitrary bytes): cut the bytes.
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                let b = name.as_bytes();
                out.push(std::ffi::OsStr::from_bytes(&b[..b.len().min(room)]));
            }
            #[cfg(not(unix))]
            out.push("output");
        }
    }
    out.push(suffix);
    out
}

/// An output path checked before the work that fills it ([`prepare_output`]).
#[derive(Clone, Debug)]
pub struct PreparedOutput {
    path: PathBuf,
    dir: PathBuf,
    replace: Replace,
}

/// What the file system said, in words, for a path we are about to write.
fn describe_write_error(e: &std::io::Error, dir: &Path) -> String {
    use std::io::ErrorKind as K;
    let d = dir.display();
    match e.kind() {
        K::NotFound => format!("the folder {d} does not exist"),
        K::NotADirectory => format!("{d} is not a folder (a part of it is a file)"),
        K::PermissionDenied => format!(
            "cannot create files in the folder {d} (permission denied, or the folder is immutable): {e}"
        ),
        K::ReadOnlyFilesystem => format!("the folder {d} is on a read-only file system"),
        K::InvalidFilename => {
            format!("the name is too long or not allowed by the file system: {e}")
        }
        K::StorageFull => format!("no space left in {d}"),
        _ => e.to_string(),
    }
}

/// Checks, before any work is spent on it, that `path` can be written with `replace`: its
/// folder exists and takes new files (a temporary file is created there and removed), the
/// file name is one the file system accepts (and so is the temporary name, see
/// `temporary_name`), and nothing stands in the way (an existing file with
/// [`Replace::Never`], a folder of that name). The folder is not created here.
pub fn prepare_output(path: &Path, replace: Replace) -> IoResult<PreparedOutput> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(ErrorKind::Io, "the output path has no file name"))?;
    let io = |e: std::io::Error| err(ErrorKind::Io, describe_write_error(&e, &dir));
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(err(ErrorKind::Io, "a folder of this name exists"));
        }
        Ok(_) if replace == Replace::Never => {
            return Err(err(
                ErrorKind::AlreadyExists,
                "the output exists (use --overwrite or --skip-existing)",
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // A name over the file system's limit, a part of the path that is a file, ...
        Err(e) if e.kind() == std::io::ErrorKind::InvalidFilename => {
            return Err(err(
                ErrorKind::Io,
                format!(
                    "the file name is too long for the file system ({} bytes; most allow 255)",
                    name.len()
                ),
            ));
        }
        Err(e) => return Err(io(e)),
    }
    let probe = dir.join(temporary_name(name));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(io)?;
    let _ = std::fs::remove_file(&probe);
    Ok(PreparedOutput {
        path: path.to_path_buf(),
        dir,
        replace,
    })
}

impl PreparedOutput {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` atomically: a temporary file in the same folder, flushed to disk, then
    /// renamed (or hard-linked when existing files must not be replaced) into place. Readers
    /// see either no file / the old file, or the complete new one.
    pub fn commit(&self, bytes: &[u8]) -> IoResult<()> {
        let (path, replace) = (&self.path, self.replace);
        let name = path
            .file_name()
            .ok_or_else(|| err(ErrorKind::Io, "the output path has no file name"))?;
        if replace == Replace::Never && path.exists() {
            return Err(err(
                ErrorKind::AlreadyExists,
                "the output exists (use --overwrite or --skip-existing)",
            ));
        }
        let tmp = self.dir.join(temporary_name(name));
        let io = |what: &str, e: std::io::Error| err(ErrorKind::Io, format!("cannot {what}: {e}"));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| {
                    err(
                        ErrorKind::Io,
                        format!(
                            "cannot create a temporary file: {}",
                            describe_write_error(&e, &self.dir)
                        ),
                    )
                })?;
            f.write_all(bytes).map_err(|e| io("write", e))?;
            f.sync_all().map_err(|e| io("flush", e))?;
            drop(f);
            match replace {
                Replace::Always => {
                    std::fs::rename(&tmp, path).map_err(|e| io("rename into place", e))
                }
                Replace::Never => match std::fs::hard_link(&tmp, path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(err(
                        ErrorKind::AlreadyExists,
                        "the output exists (use --overwrite or --skip-existing)",
                    )),
                    // No hard links on this file system: check, then rename.
                    Err(_) if !path.exists() => {
                        std::fs::rename(&tmp, path).map_err(|e| io("rename into place", e))
                    }
                    Err(_) => Err(err(
                        ErrorKind::AlreadyExists,
                        "the output exists (use --overwrite or --skip-existing)",
                    )),
                },
            }
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    }
}

/// Writes `bytes` to `path` atomically ([`prepare_output`], then
/// [`PreparedOutput::commit`]).
pub fn write_atomic(path: &Path, bytes: &[u8], replace: Replace) -> IoResult<()> {
    prepare_output(path, replace)?.commit(bytes)
}

/// Encodes and writes atomically.
pub fn write_image(
    path: &Path,
    restored: &Tensor,
    source: &Image,
    format: Format,
    opts: &EncodeOptions,
    replace: Replace,
) -> IoResult<()> {
    let bytes = encode_image(restored, source, format, opts)?;
    write_atomic(path, &bytes, replace)
}
