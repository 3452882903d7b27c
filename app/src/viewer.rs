//! The before/after view: a draggable split line or two halves side by side, one zoom and
//! pan shared by both images, fit to the window and 1:1 pixels.

use egui::{Color32, CornerRadius, Pos2, Rect, Sense, Stroke, TextureHandle, Vec2};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// One image, the original left of the split line and the result right of it.
    Split,
    /// The original and the result next to each other.
    SideBySide,
}

/// Zoom, pan and split position; shared by both images.
#[derive(Clone, Debug)]
pub struct View {
    pub compare: Compare,
    /// Screen points per image pixel.
    pub zoom: f32,
    /// The image point (in pixels) shown at the centre of each pane.
    pub center: Vec2,
    /// Keep fitting the image to the pane until the user zooms or pans.
    pub fit: bool,
    /// Split line position as a fraction of the pane width.
    pub split: f32,
    /// Request: set 1:1 pixels on the next frame (needs the pixels-per-point).
    one_to_one: bool,
    /// Where the view was drawn last (screen points).
    pub last_rect: Option<Rect>,
}

impl Default for View {
    fn default() -> Self {
        View {
            compare: Compare::Split,
            zoom: 1.0,
            center: Vec2::ZERO,
            fit: true,
            split: 0.5,
            one_to_one: false,
            last_rect: None,
        }
    }
}

impl View {
    pub fn fit_to_window(&mut self) {
        self.fit = true;
    }
    pub fn one_to_one(&mut self) {
        self.fit = false;
        self.one_to_one = true;
    }
    /// Zoom in percent of image pixels per physical pixel.
    pub fn percent(&self, pixels_per_point: f32) -> f32 {
        self.zoom * pixels_per_point * 100.0
    }

    fn fit_zoom(pane: Rect, size: Vec2) -> f32 {
        let z = (pane.width() / size.x).min(pane.height() / size.y);
        if z.is_finite() && z > 0.0 {
            z
        } else {
            1.0
        }
    }

    fn image_rect(&self, pane: Rect, size: Vec2) -> Rect {
        let min = pane.center() - self.center * self.zoom;
        Rect::from_min_size(min, size * self.zoom)
    }

    /// Zooms by `factor` keeping the image point under `at` (in `pane`) fixed.
    fn zoom_about(&mut self, pane: Rect, at: Pos2, factor: f32) {
        let new = (self.zoom * factor).clamp(0.01, 64.0);
        let d = at - pane.center();
        let p = self.center + d / self.zoom;
        self.center = p - d / new;
        self.zoom = new;
        self.fit = false;
    }

    /// Shows the images in `ui`'s remaining space. `after` may be missing (not restored
    /// yet): the original fills the view then. `size` is the image size in pixels.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        size: Vec2,
        before: &TextureHandle,
        after: Option<&TextureHandle>,
    ) -> egui::Response {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        self.last_rect = Some(rect);
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, CornerRadius::ZERO, Color32::from_gray(24));
        let side_by_side = self.compare == Compare::SideBySide && after.is_some();
        let gap = 4.0;
        let panes: Vec<Rect> = if side_by_side {
            let w = (rect.width() - gap) / 2.0;
            vec![
                Rect::from_min_size(rect.min, Vec2::new(w, rect.height())),
                Rect::from_min_size(
                    rect.min + Vec2::new(w + gap, 0.0),
                    Vec2::new(w, rect.height()),
                ),
            ]
        } else {
            vec![rect]
        };
        let pane0 = panes[0];
        if self.one_to_one {
            self.one_to_one = false;
            self.zoom = 1.0 / ui.ctx().pixels_per_point();
        }
        if self.fit {
            self.zoom = Self::fit_zoom(pane0.shrink(4.0), size);
            self.center = size / 2.0;
        }

        // Wheel zoom about the pointer, drag to pan; the same view in both panes.
        if let Some(pos) = response.hover_pos() {
            let pane = panes
                .iter()
                .copied()
                .find(|p| p.contains(pos))
                .unwrap_or(pane0);
            let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta()));
            let mut factor = zoom;
            if scroll.y != 0.0 {
                factor *= (scroll.y * 0.0025).exp();
            }
            if factor != 1.0 {
                self.zoom_about(pane, pos, factor);
            }
        }

        // The split handle (over the view, so it takes the drag when grabbed).
        let mut split_x = None;
        let mut handle_dragged = false;
        if !side_by_side && after.is_some() {
            let x = rect.left() + self.split * rect.width();
            let hit = Rect::from_x_y_ranges(x - 6.0..=x + 6.0, rect.y_range());
            let h = ui.interact(hit, ui.scope_id().with("split handle"), Sense::drag());
            if h.dragged() {
                if let Some(p) = h.interact_pointer_pos() {
                    self.split = ((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
                }
                handle_dragged = true;
            }
            if h.hovered() || h.dragged() {
                ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeHorizontal);
            }
            split_x = Some(rect.left() + self.split * rect.width());
        }
        if response.dragged() && !handle_dragged {
            self.center -= response.drag_delta() / self.zoom;
            self.fit = false;
        }

        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        let label = |p: &egui::Painter, at: Pos2, text: &str, align: egui::Align2| {
            let galley = p.layout_no_wrap(
                text.to_string(),
                egui::FontId::proportional(13.0),
                Color32::WHITE,
            );
            let r = align.anchor_size(at, galley.size() + Vec2::splat(8.0));
            p.rect_filled(r, CornerRadius::same(3), Color32::from_black_alpha(160));
            p.galley(r.min + Vec2::splat(4.0), galley, Color32::WHITE);
        };
        match (after, split_x) {
            (Some(after), None) => {
                // Side by side.
                for (pane, tex, name) in [
                    (panes[0], before, "Original"),
                    (panes[1], after, "Restored"),
                ] {
                    let p = ui.painter_at(pane);
                    p.image(tex.id(), self.image_rect(pane, size), uv, Color32::WHITE);
                    label(
                        &p,
                        pane.left_top() + Vec2::splat(6.0),
                        name,
                        egui::Align2::LEFT_TOP,
                    );
                }
            }
            (Some(after), Some(x)) => {
                let img = self.image_rect(rect, size);
                let left = Rect::from_min_max(rect.min, Pos2::new(x, rect.bottom()));
                let right = Rect::from_min_max(Pos2::new(x, rect.top()), rect.max);
                ui.painter_at(left)
                    .image(before.id(), img, uv, Color32::WHITE);
                ui.painter_at(right)
                    .image(after.id(), img, uv, Color32::WHITE);
                painter.line_segment(
                    [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
                    Stroke::new(2.0, Color32::WHITE),
                );
                let grip = Pos2::new(x, rect.center().y);
                painter.circle(
                    grip,
                    9.0,
                    Color32::from_black_alpha(180),
                    Stroke::new(2.0, Color32::WHITE),
                );
                label(
                    &painter,
                    rect.left_top() + Vec2::splat(6.0),
                    "Original",
                    egui::Align2::LEFT_TOP,
                );
                label(
                    &painter,
                    rect.right_top() + Vec2::new(-6.0, 6.0),
                    "Restored",
                    egui::Align2::RIGHT_TOP,
                );
            }
            (None, _) => {
                painter.image(before.id(), self.image_rect(rect, size), uv, Color32::WHITE);
                label(
                    &painter,
                    rect.left_top() + Vec2::splat(6.0),
                    "Original",
                    egui::Align2::LEFT_TOP,
                );
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_keeps_the_point_under_the_pointer() {
        let pane = Rect::from_min_size(Pos2::ZERO, Vec2::new(400.0, 300.0));
        let mut v = View {
            fit: false,
            zoom: 1.0,
            center: Vec2::new(100.0, 100.0),
            ..Default::default()
        };
        let at = Pos2::new(300.0, 50.0);
        let before = v.center + (at - pane.center()) / v.zoom;
        v.zoom_about(pane, at, 2.0);
        let after = v.center + (at - pane.center()) / v.zoom;
        assert!((before - after).length() < 1e-4);
        assert_eq!(v.zoom, 2.0);
    }

    #[test]
    fn fit_zoom_fits_the_longer_side() {
        let pane = Rect::from_min_size(Pos2::ZERO, Vec2::new(400.0, 300.0));
        assert_eq!(View::fit_zoom(pane, Vec2::new(800.0, 300.0)), 0.5);
        assert_eq!(View::fit_zoom(pane, Vec2::new(100.0, 150.0)), 2.0);
    }
}
