//! Host-side tensors: batch-1 `C x H x W` f32 arrays in row-major (CHW) order.

/// A `C x H x W` shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    pub const fn new(c: usize, h: usize, w: usize) -> Self {
        Shape { c, h, w }
    }
    /// Number of elements.
    pub const fn numel(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Size in bytes as f32.
    pub const fn bytes(&self) -> u64 {
        (self.numel() * 4) as u64
    }
    /// Pixels per channel.
    pub const fn plane(&self) -> usize {
        self.h * self.w
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.c, self.h, self.w)
    }
}

/// A batch-1 f32 tensor in CHW order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Shape,
    pub data: Vec<f32>,
}

impl Tensor {
    /// Wraps `data`; panics if the length does not match the shape (a programming error).
    pub fn new(shape: Shape, data: Vec<f32>) -> Self {
        assert_eq!(
            shape.numel(),
            data.len(),
            "tensor data does not match shape {shape}"
        );
        Tensor { shape, data }
    }
    pub fn zeros(shape: Shape) -> Self {
        Tensor {
            shape,
            data: vec![0.0; shape.numel()],
        }
    }
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.shape.h + y) * self.shape.w + x]
    }
    /// Largest absolute elementwise difference; `f32::INFINITY` when shapes differ.
    pub fn max_abs_diff(&self, other: &Tensor) -> f32 {
        if self.shape != other.shape {
            return f32::INFINITY;
        }
        self.data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| {
                let d = (a - b).abs();
                if d.is_nan() {
                    f32::INFINITY
                } else {
                    d
                }
            })
            .fold(0.0, f32::max)
    }
}

/// The reflect index rule of the model format: periodic reflection, any padding size.
pub fn reflect_index(i: usize, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let p = 2 * (n - 1);
    let j = i % p;
    if j < n {
        j
    } else {
        p - j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_rule() {
        // n = 4: 0 1 2 3 2 1 0 1 2 3 ...
        let v: Vec<usize> = (0..10).map(|i| reflect_index(i, 4)).collect();
        assert_eq!(v, [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]);
        assert_eq!(reflect_index(7, 1), 0);
        assert_eq!(reflect_index(5, 2), 1);
    }
}
