//! The side panel: the degradations (bars, or sliders in Manual mode) or, for a model
//! without a Prompt Net, what it restores; the shown result's details; self-ensemble; the
//! device and the model.

use crate::{tiling_text, RestoreApp};
use egui::{Color32, RichText};

impl RestoreApp {
    pub(crate) fn controls(&mut self, ui: &mut egui::Ui) {
        let names = self.degradations();
        let runtime_ok = self.engine.runtime.is_ok() && self.engine.model.is_ok();
        // A model without a Prompt Net (an imported Restormer) detects nothing and takes no
        // probabilities: the panel says what it restores instead.
        let fixed_task = match &self.engine.model {
            Ok(m) if !m.has_prompt_net() => Some(m.tasks().join(", ")),
            _ => None,
        };
        ui.heading(if fixed_task.is_some() {
            "Restoration"
        } else {
            "Degradations"
        });
        match self
            .selected
            .and_then(|id| self.items.iter().position(|i| i.id == id))
        {
            None => {
                ui.label(match &fixed_task {
                    Some(t) => format!("This model restores {t}. Open an image."),
                    None => "Open an image to see its degradations.".into(),
                });
            }
            Some(idx) if fixed_task.is_some() => {
                ui.label(format!(
                    "This model restores {}; it detects no degradations.",
                    fixed_task.as_deref().unwrap_or_default()
                ));
                self.result_details(ui, idx, runtime_ok);
            }
            Some(idx) => {
                let item = &mut self.items[idx];
                let mut manual = item.manual_mode;
                ui.horizontal(|ui| {
                    ui.radio_value(&mut manual, false, "Automatic");
                    ui.radio_value(&mut manual, true, "Manual");
                });
                if manual != item.manual_mode {
                    if manual && !item.manual_mode {
                        if let Some(a) = &item.auto_probs {
                            item.manual = a.clone();
                        }
                    }
                    item.manual_mode = manual;
                }
                egui::Grid::new("probabilities")
                    .num_columns(2)
                    .spacing([8.0, 6.0])
                    .show(ui, |ui| {
                        for (k, name) in names.iter().enumerate() {
                            let label = ui.label(name);
                            if item.manual_mode {
                                if let Some(v) = item.manual.get_mut(k) {
                                    ui.horizontal(|ui| {
                                        ui.add(
                                            egui::Slider::new(v, 0.0..=1.0)
                                                .show_value(false)
                                                .fixed_decimals(2),
                                        )
                                        .labelled_by(label.id);
                                        ui.label(format!("{:.2}", *v));
                                    });
                                }
                            } else {
                                match item.auto_probs.as_ref().and_then(|p| p.get(k)) {
                                    Some(&p) => {
                                        ui.add(
                                            egui::ProgressBar::new(p)
                                                .desired_width(150.0)
                                                .text(format!("{name} {p:.2}")),
                                        );
                                    }
                                    None => {
                                        ui.label("–");
                                    }
                                }
                            }
                            ui.end_row();
                        }
                    });
                if item.manual_mode {
                    if let Some(a) = &item.auto_probs {
                        let auto: Vec<String> = names
                            .iter()
                            .zip(a)
                            .map(|(n, p)| format!("{n} {p:.2}"))
                            .collect();
                        ui.label(RichText::new(format!("automatic: {}", auto.join(", "))).small());
                    }
                }
                self.result_details(ui, idx, runtime_ok);
            }
        }
        // Outside the item's panel: it can be set before the first image is opened.
        let mut ensemble = self.config.self_ensemble;
        if ui
            .checkbox(&mut ensemble, "Self-ensemble")
            .on_hover_text(
                "Average the restorations of the flips and rotations that suit the \
                 degradations (noise 8, rain 4, haze 2): cleaner, that many times slower",
            )
            .changed()
        {
            self.set_self_ensemble(ensemble);
        }
        ui.separator();
        ui.heading("Device");
        match &self.engine.runtime {
            Ok(rt) => {
                let a = &rt.gpu().adapter;
                egui::Grid::new("device").num_columns(2).show(ui, |ui| {
                    ui.label("Adapter");
                    ui.label(&a.name);
                    ui.end_row();
                    ui.label("Backend");
                    ui.label(&a.backend);
                    ui.end_row();
                    ui.label("Type");
                    ui.label(&a.device_type);
                    ui.end_row();
                });
                ui.label(
                    RichText::new(if self.engine.shared_device {
                        "One device for the window and the restoration"
                    } else {
                        "Restoration on its own device"
                    })
                    .small(),
                );
                if a.software {
                    ui.label(
                        RichText::new("Software adapter: expect restoration to be slow").small(),
                    );
                }
            }
            Err(e) => {
                ui.colored_label(Color32::from_rgb(230, 80, 70), format!("Unavailable: {e}"));
            }
        }
        ui.separator();
        ui.heading("Model");
        ui.label(&self.engine.model_name);
        if let Ok(m) = &self.engine.model {
            let source = m
                .doc
                .provenance
                .get("source")
                .and_then(|s| s.as_str())
                .unwrap_or("");
            if !m.has_prompt_net() {
                ui.label(format!("{}: {}", m.architecture(), m.tasks().join(", ")));
            }
            ui.label(
                RichText::new(format!(
                    "{} parameters{}{}",
                    m.parameter_count(),
                    if source.is_empty() { "" } else { "; " },
                    source
                ))
                .small(),
            );
        }
    }

    /// Restore again, the time and tiling of the shown result, and the image's size.
    fn result_details(&mut self, ui: &mut egui::Ui, idx: usize, runtime_ok: bool) {
        let item = &self.items[idx];
        let can = runtime_ok && !item.status.busy() && item.source.is_some();
        if ui
            .add_enabled(can, egui::Button::new("Restore again"))
            .clicked()
        {
            self.restore_again();
        }
        let item = &self.items[idx];
        if let Some(s) = item.seconds {
            let mut t = format!(
                "Restored in {s:.2} s ({})",
                item.tiling
                    .map(|(t, n)| tiling_text(t, n, item.passes))
                    .unwrap_or_default()
            );
            if let Some(p) = item.used_probs.as_ref().filter(|p| !p.is_empty()) {
                let v: Vec<String> = p.iter().map(|x| format!("{x:.2}")).collect();
                t.push_str(&format!("\nwith probabilities {}", v.join(" / ")));
            }
            ui.label(t);
        }
        if let Some(src) = &item.source {
            ui.label(format!(
                "{} × {} px{}",
                src.width(),
                src.height(),
                if src.meta.exif.is_some() || src.meta.icc.is_some() {
                    ", metadata kept on save"
                } else {
                    ""
                }
            ));
        }
    }
}
