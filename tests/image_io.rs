//! Image I/O without a GPU: bit depths, alpha, metadata, orientation, atomic writes.

use image::{ImageEncoder, ImageFormat};
use std::path::Path;
use wgpu_restore::image_io::{
    decode_image, decode_image_limited, decode_image_within, encode_image, read_image,
    write_atomic, EncodeOptions, ErrorKind, Format, Replace,
};

/// A minimal big-endian EXIF block with one Orientation tag.
pub fn exif_with_orientation(o: u16) -> Vec<u8> {
    let mut v = b"MM\0\x2a\0\0\0\x08".to_vec();
    v.extend_from_slice(&[0, 1]); // one entry
    v.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    v.extend_from_slice(&o.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    v
}

fn fake_icc() -> Vec<u8> {
    (0..300u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn rgb16(w: u32, h: u32) -> Vec<u16> {
    (0..w * h * 3).map(|i| (i * 977 % 65536) as u16).collect()
}

fn png16_bytes(
    w: u32,
    h: u32,
    data: &[u16],
    icc: Option<Vec<u8>>,
    exif: Option<Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut out);
    if let Some(i) = icc {
        enc.set_icc_profile(i).unwrap();
    }
    if let Some(e) = exif {
        enc.set_exif_metadata(e).unwrap();
    }
    enc.write_image(
        bytemuck::cast_slice(data),
        w,
        h,
        image::ExtendedColorType::Rgb16,
    )
    .unwrap();
    out
}

#[test]
fn png16_round_trip_is_exact_with_metadata() {
    let (w, h) = (13, 7);
    let data = rgb16(w, h);
    let bytes = png16_bytes(
        w,
        h,
        &data,
        Some(fake_icc()),
        Some(exif_with_orientation(1)),
    );
    let img = decode_image(&bytes, Some(Format::Png)).unwrap();
    assert_eq!(img.depth, wgpu_restore::image_io::Depth::Sixteen);
    assert_eq!((img.width(), img.height()), (13, 7));
    assert_eq!(img.meta.icc.as_deref(), Some(&fake_icc()[..]));
    assert_eq!(
        img.meta.exif.as_deref(),
        Some(&exif_with_orientation(1)[..])
    );
    // Encode the decoded pixels unchanged: every 16-bit sample survives.
    let out = encode_image(&img.rgb, &img, Format::Png, &EncodeOptions::default()).unwrap();
    let back = image::load_from_memory_with_format(&out, ImageFormat::Png).unwrap();
    assert_eq!(back.as_rgb16().unwrap().as_raw(), &data);
    let again = decode_image(&out, None).unwrap();
    assert_eq!(again.meta, img.meta);
}

#[test]
fn tiff16_round_trip_is_exact() {
    let (w, h) = (9, 11);
    let data = rgb16(w, h);
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::tiff::TiffEncoder::new(&mut out)
        .write_image(
            bytemuck::cast_slice(&data),
            w,
            h,
            image::ExtendedColorType::Rgb16,
        )
        .unwrap();
    let img = decode_image(out.get_ref(), Some(Format::Tiff)).unwrap();
    assert_eq!(img.format, Format::Tiff);
    let enc = encode_image(&img.rgb, &img, Format::Tiff, &EncodeOptions::default()).unwrap();
    let back = image::load_from_memory_with_format(&enc, ImageFormat::Tiff).unwrap();
    assert_eq!(back.as_rgb16().unwrap().as_raw(), &data);
    // 16-bit to an 8-bit-only format: rounded to 8 bits.
    let jpg = encode_image(&img.rgb, &img, Format::WebP, &EncodeOptions::default()).unwrap();
    let back = image::load_from_memory(&jpg).unwrap();
    let expect: Vec<u8> = data
        .iter()
        .map(|&v| ((v as f32 / 65535.0) * 255.0).round() as u8)
        .collect();
    assert_eq!(back.as_rgb8().unwrap().as_raw(), &expect);
}

#[test]
fn alpha_passes_through_untouched() {
    let (w, h) = (8, 5);
    let px: Vec<u8> = (0..w * h * 4).map(|i| (i * 37 % 256) as u8).collect();
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&px, w, h, image::ExtendedColorType::Rgba8)
        .unwrap();
    let img = decode_image(&bytes, None).unwrap();
    let alpha: Vec<u16> = px.chunks(4).map(|p| p[3] as u16).collect();
    assert_eq!(img.alpha.as_ref().unwrap(), &alpha);
    // A "restored" image that is completely different: alpha must not change.
    let mut other = img.rgb.clone();
    other.data.iter_mut().for_each(|v| *v = 1.0 - *v);
    for fmt in [Format::Png, Format::WebP, Format::Tiff] {
        let out = encode_image(&other, &img, fmt, &EncodeOptions::default()).unwrap();
        let back = image::load_from_memory(&out).unwrap().to_rgba8();
        let a: Vec<u16> = back.pixels().map(|p| p[3] as u16).collect();
        assert_eq!(a, alpha, "{fmt:?}");
    }
    // JPEG cannot hold alpha: a clear error, not a silent drop.
    let e = encode_image(&other, &img, Format::Jpeg, &EncodeOptions::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Incompatible);
    assert!(e.message.contains("alpha"), "{e}");
}

#[test]
fn orientation_is_applied_for_the_network_and_restored_on_write() {
    // Stored 6 wide x 4 high, orientation 6 (rotate 90 cw to display): upright is 4 x 6.
    let (w, h) = (6u32, 4u32);
    let data: Vec<u16> = (0..w * h * 3).map(|i| (i * 1000) as u16).collect();
    let exif = exif_with_orientation(6);
    let bytes = png16_bytes(w, h, &data, None, Some(exif.clone()));
    let img = decode_image(&bytes, None).unwrap();
    assert_eq!(img.meta.orientation, 6);
    assert_eq!(
        (img.width(), img.height()),
        (4, 6),
        "the network sees the upright image"
    );
    // PNG keeps the EXIF block: pixels go back to the stored layout, byte-identical.
    let out = encode_image(&img.rgb, &img, Format::Png, &EncodeOptions::default()).unwrap();
    let back = image::load_from_memory(&out).unwrap();
    assert_eq!((back.width(), back.height()), (6, 4));
    assert_eq!(back.as_rgb16().unwrap().as_raw(), &data);
    assert_eq!(decode_image(&out, None).unwrap().meta.exif.unwrap(), exif);
    // TIFF output (no EXIF block): written upright.
    let out = encode_image(&img.rgb, &img, Format::Tiff, &EncodeOptions::default()).unwrap();
    let back = image::load_from_memory(&out).unwrap();
    assert_eq!((back.width(), back.height()), (4, 6));
}

#[test]
fn jpeg_keeps_icc_and_exif() {
    let (w, h) = (16u32, 16u32);
    let px: Vec<u8> = (0..w * h * 3).map(|i| (i % 200) as u8).collect();
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90);
    enc.set_icc_profile(fake_icc()).unwrap();
    enc.set_exif_metadata(exif_with_orientation(3)).unwrap();
    enc.write_image(&px, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    let img = decode_image(&bytes, None).unwrap();
    assert_eq!(img.format, Format::Jpeg);
    assert_eq!(img.meta.orientation, 3);
    for fmt in [Format::Jpeg, Format::Png, Format::WebP] {
        let out = encode_image(&img.rgb, &img, fmt, &EncodeOptions::default()).unwrap();
        let back = decode_image(&out, None).unwrap();
        assert_eq!(back.meta.icc.as_deref(), Some(&fake_icc()[..]), "{fmt:?}");
        assert_eq!(
            back.meta.exif.as_deref(),
            Some(&exif_with_orientation(3)[..]),
            "{fmt:?}"
        );
    }
}

/// A JPEG cut short decodes without an error in the decoder (the missing rows come out
/// gray), so it used to be restored and written with exit 0; it is a corrupt file. The
/// marker search skips the APP1 segment, which here holds an end-of-image marker of its own
/// (as an EXIF thumbnail does).
#[test]
fn truncated_jpeg_is_refused() {
    let (w, h) = (64u32, 48u32);
    let px: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mut exif = exif_with_orientation(1);
    exif.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xD9]);
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(&px, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    assert!(decode_image(&bytes, None).is_ok());
    // Bytes after the end-of-image marker are harmless.
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(b"trailing bytes");
    assert!(decode_image(&trailing, None).is_ok());
    for cut in [bytes.len() / 2, bytes.len() - 2, 30] {
        let e = decode_image(&bytes[..cut], None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt, "cut at {cut}: {e}");
        assert!(
            e.message.starts_with("corrupt JPG file: truncated"),
            "cut at {cut}: {e}"
        );
    }
}

#[test]
fn grayscale_stays_grayscale() {
    let (w, h) = (5u32, 3u32);
    let px: Vec<u8> = (0..w * h).map(|i| (i * 17) as u8).collect();
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&px, w, h, image::ExtendedColorType::L8)
        .unwrap();
    let img = decode_image(&bytes, None).unwrap();
    assert!(img.gray);
    let out = encode_image(&img.rgb, &img, Format::Png, &EncodeOptions::default()).unwrap();
    let back = image::load_from_memory(&out).unwrap();
    assert_eq!(back.color(), image::ColorType::L8);
    assert_eq!(back.as_luma8().unwrap().as_raw(), &px);
}

#[test]
fn bad_files_give_clear_errors() {
    let e = decode_image(b"this is not an image at all", Some(Format::Png)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    let e = decode_image(b"this is not an image at all", None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    // A truncated PNG.
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&[7u8; 300], 10, 10, image::ExtendedColorType::Rgb8)
        .unwrap();
    let e = decode_image(&bytes[..bytes.len() / 2], None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    // A GIF: recognized, not supported.
    let e = decode_image(b"GIF89a\x01\0\x01\0\0\0\0;", None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    assert!(e.message.contains("GIF"), "{e}");
    let e = read_image(Path::new("/nonexistent/x.png")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    // A header claiming 20000 x 20000 pixels: refused from the header, before any decoding
    // (the tiny IDAT behind it would be a corrupt-file error if decoding began).
    let e = decode_image(&png_header_only(20000, 20000), None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::OverPixelLimit, "{e}");
    assert!(
        e.message.contains("20000x20000") && e.message.contains("limit"),
        "{e}"
    );
    // One within the limit gets as far as decoding.
    let e = decode_image(&png_header_only(100, 100), None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
}

/// A PNG signature, an IHDR for `w` x `h` RGB8, a 2-byte IDAT and IEND, all with valid CRCs.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    png_header_with(w, h, 8, 2)
}

/// [`png_header_only`] with another bit depth and colour type (6: RGBA).
fn png_header_with(w: u32, h: u32, depth: u8, color: u8) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([depth, color, 0, 0, 0]); // deflate, no filter change, not interlaced
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c]);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// Whatever the pixel limit, a header whose image would not fit the memory is a per-file
/// error from the header: a 60000 x 60000 RGBA16 PNG of 80 bytes made the decoder allocate
/// 28.8 GB, and the failed allocation ended the process (exit 134) and the rest of the
/// batch with it.
#[test]
fn headers_beyond_the_memory_are_refused_whatever_the_pixel_limit() {
    let huge = png_header_with(60000, 60000, 16, 6);
    // With 8 GB available: about 230 GB would be needed.
    let e = decode_image_within(&huge, None, u64::MAX, Some(8 << 30)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::OverMemory, "{e}");
    assert!(
        e.message
            .starts_with("60000x60000 pixels would need about 230.4 GB of memory")
            && e.message.contains("more than the 8.6 GB available"),
        "{e}"
    );
    // With this machine's memory (no machine has the 640 GB that 100000 x 100000 needs).
    let e =
        decode_image_limited(&png_header_with(100000, 100000, 16, 6), None, u64::MAX).unwrap_err();
    assert_eq!(e.kind, ErrorKind::OverMemory, "{e}");
    // An image that fits gets as far as decoding (and the tiny IDAT is then corrupt).
    let e = decode_image_within(
        &png_header_with(300, 200, 16, 6),
        None,
        u64::MAX,
        Some(8 << 30),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(wgpu_restore::image_io::available_memory().is_some_and(|m| m > 0));
}

#[test]
fn atomic_writes_respect_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.png");
    write_atomic(&p, b"one", Replace::Never).unwrap();
    let e = write_atomic(&p, b"two", Replace::Never).unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&p).unwrap(), b"one");
    write_atomic(&p, b"three", Replace::Always).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"three");
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn same_file_sees_through_links_and_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.png");
    let b = dir.path().join("b.png");
    std::fs::write(&a, b"a").unwrap();
    std::fs::write(&b, b"a").unwrap();
    assert!(wgpu_restore::image_io::same_file(
        &a,
        &dir.path().join("./a.png")
    ));
    assert!(
        !wgpu_restore::image_io::same_file(&a, &b),
        "equal bytes, two files"
    );
    assert!(!wgpu_restore::image_io::same_file(
        &a,
        &dir.path().join("missing.png")
    ));
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&a, dir.path().join("sym.png")).unwrap();
        std::fs::hard_link(&a, dir.path().join("hard.png")).unwrap();
        assert!(wgpu_restore::image_io::same_file(
            &a,
            &dir.path().join("sym.png")
        ));
        assert!(wgpu_restore::image_io::same_file(
            &a,
            &dir.path().join("hard.png")
        ));
    }
}
