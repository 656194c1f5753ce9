//! Line charts as PNG files (loss curves, accuracies, validation AUC per epoch), labelled with
//! an embedded font so that they render on machines without system fonts.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");

/// One named series of `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
}

fn ensure_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The embedded bytes are a valid TrueType font; registration cannot fail on them.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A series' legend label, saying how many of its points are not finite (NaN or infinite, so
/// not drawn) when any are.
fn legend_label(series: &Series) -> String {
    match series.points.iter().filter(|p| !p.1.is_finite()).count() {
        0 => series.name.clone(),
        n => format!("{} ({n} not finite, not drawn)", series.name),
    }
}

/// Draws `series` into a 900 × 500 PNG at `path` (written to a temporary file, then renamed).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), String> {
    ensure_font();
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| p.1.is_finite())
        .collect();
    if points.is_empty() {
        return Err(format!("{}: nothing to plot", path.display()));
    }
    let (x0, x1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let draw = |tmp: &Path| -> Result<(), String> {
        let root = BitMapBackend::new(tmp, (900, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1.max(x0 + 1e-9), (y0 - pad)..(y1 + pad))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied().filter(|p| p.1.is_finite()),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(legend_label(s))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    };
    crate::atomic::persist_with(path, |tmp| draw(tmp).map_err(std::io::Error::other))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let series = vec![
            Series {
                name: "icl".into(),
                points: (0..50)
                    .map(|i| (i as f64, 3.0 / (1.0 + i as f64)))
                    .collect(),
            },
            Series {
                name: "mlm".into(),
                points: (0..50).map(|i| (i as f64, 5.0 - i as f64 * 0.05)).collect(),
            },
        ];
        line_chart(&path, "pretraining", "step", "loss", &series).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(line_chart(&path, "empty", "x", "y", &[]).is_err());
    }

    #[test]
    fn points_that_are_not_finite_are_counted_in_the_legend() {
        let series = Series {
            name: "valid AUC".into(),
            points: vec![(1.0, 0.7), (2.0, f64::NAN), (3.0, f64::INFINITY)],
        };
        assert_eq!(legend_label(&series), "valid AUC (2 not finite, not drawn)");
        let finite = Series {
            points: vec![(1.0, 0.7)],
            ..series
        };
        assert_eq!(legend_label(&finite), "valid AUC");
    }
}
