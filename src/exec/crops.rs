//! The crops the Prompt Net classifies: where they lie in an image, and how one is cut
//! (reflect-padded where the image ends).

use crate::tensor::{reflect_index, Shape, Tensor};

/// Crop origins (y, x) for an image, crop side `s`, at most `max_crops`.
pub fn crop_origins(image: Shape, s: usize, max_crops: usize) -> Vec<(usize, usize)> {
    let axis = |side: usize| -> Vec<usize> {
        if side <= s {
            vec![0]
        } else {
            let mut v: Vec<usize> = [0.25f64, 0.75]
                .iter()
                .map(|q| {
                    let o = (side as f64 * q).round() as i64 - (s / 2) as i64;
                    o.clamp(0, (side - s) as i64) as usize
                })
                .collect();
            v.dedup();
            v
        }
    };
    let ys = axis(image.h);
    let xs = axis(image.w);
    let mut out = Vec::new();
    for &y in &ys {
        for &x in &xs {
            out.push((y, x));
        }
    }
    out.truncate(max_crops.max(1));
    out
}

/// An `s x s` crop at (oy, ox), reflect-padded at the bottom/right where the image ends.
pub fn extract_crop(image: &Tensor, oy: usize, ox: usize, s: usize) -> Tensor {
    let sh = image.shape;
    let mut data = Vec::with_capacity(sh.c * s * s);
    for c in 0..sh.c {
        for y in 0..s {
            let sy = reflect_index(oy + y, sh.h);
            for x in 0..s {
                let sx = reflect_index(ox + x, sh.w);
                data.push(image.at(c, sy, sx));
            }
        }
    }
    Tensor::new(Shape::new(sh.c, s, s), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_origins_follow_the_format() {
        // Small sides: one origin 0 (the crop is reflect-padded).
        assert_eq!(crop_origins(Shape::new(3, 20, 32), 32, 4), vec![(0, 0)]);
        // side 70, S 32: round(17.5) - 16 = 2, round(52.5) - 16 = 37 (<= 38).
        assert_eq!(
            crop_origins(Shape::new(3, 24, 70), 32, 4),
            vec![(0, 2), (0, 37)]
        );
        // side 33: round(8.25) - 16 < 0 -> 0; round(24.75) - 16 = 9 -> clamped to 1.
        assert_eq!(
            crop_origins(Shape::new(3, 33, 33), 32, 4),
            vec![(0, 0), (0, 1), (1, 0), (1, 1)]
        );
        assert_eq!(crop_origins(Shape::new(3, 100, 100), 32, 2).len(), 2);
    }

    #[test]
    fn crops_are_reflect_padded() {
        let img = Tensor::new(Shape::new(1, 2, 3), vec![0., 1., 2., 3., 4., 5.]);
        let c = extract_crop(&img, 0, 0, 4);
        // Rows 0,1,0,1; columns 0,1,2,1.
        assert_eq!(
            c.data,
            vec![0., 1., 2., 1., 3., 4., 5., 4., 0., 1., 2., 1., 3., 4., 5., 4.]
        );
    }
}
