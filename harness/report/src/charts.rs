//! SVG charts for the HTML report, drawn with plotters' SVG backend.
//!
//! Each chart is returned as an `<svg>` element ready to inline; the
//! namespace attribute is dropped because inline SVG in HTML5 does not need
//! it and the report promises to contain no URLs of its own.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ReportError;
use crate::stats::Summary;

const W: u32 = 760;
const H: u32 = 280;
const ACCENT: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const MEAN: RGBColor = RGBColor(0xd6, 0x27, 0x28);

fn render_err(what: &str) -> impl Fn(String) -> ReportError + '_ {
    move |message| ReportError::Render {
        what: format!("chart for {what}"),
        message,
    }
}

fn inline(svg: String) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// Value range covering `lo..hi` with some headroom; never empty.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.1
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

/// Samples as a scatter with the mean and its CI band (left), and a box
/// plot next to the mean's CI bar (right).
pub(super) fn metric_chart(
    metric: &str,
    unit: &str,
    samples: &[f64],
    s: &Summary,
) -> Result<String, ReportError> {
    let e = render_err(metric);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let (left, right) = root.split_horizontally(W * 62 / 100);
        let (y0, y1) = padded(s.min.min(s.ci_low), s.max.max(s.ci_high));
        draw_scatter(&left, unit, samples, s, (y0, y1)).map_err(&e)?;
        draw_box(&right, s, (y0, y1)).map_err(&e)?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(inline(svg))
}

fn draw_scatter(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    unit: &str,
    samples: &[f64],
    s: &Summary,
    (y0, y1): (f64, f64),
) -> Result<(), String> {
    let n = samples.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption("samples, mean and 95% CI", ("sans-serif", 14))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(64)
        .build_cartesian_2d(0.5f64..n + 0.5, y0..y1)
        .map_err(|x| x.to_string())?;
    chart
        .configure_mesh()
        .x_desc("sample")
        .y_desc(unit)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|x| x.to_string())?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.5, s.ci_low), (n + 0.5, s.ci_high)],
            MEAN.mix(0.15).filled(),
        )))
        .map_err(|x| x.to_string())?;
    chart
        .draw_series(LineSeries::new(
            [(0.5, s.mean), (n + 0.5, s.mean)],
            MEAN.stroke_width(2),
        ))
        .map_err(|x| x.to_string())?;
    chart
        .draw_series(
            samples
                .iter()
                .enumerate()
                .map(|(i, v)| Circle::new((i as f64 + 1.0, *v), 3, ACCENT.filled())),
        )
        .map_err(|x| x.to_string())?;
    Ok(())
}

fn draw_box(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    s: &Summary,
    (y0, y1): (f64, f64),
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .caption("distribution", ("sans-serif", 14))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(0)
        .build_cartesian_2d(0.4f64..2.6, y0..y1)
        .map_err(|x| x.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_labels(3)
        .x_label_formatter(&|x| {
            if (x - 1.0).abs() < 0.26 {
                "box (p25-p75)".into()
            } else if (x - 2.0).abs() < 0.26 {
                "mean ± CI".into()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(|x| x.to_string())?;
    let line =
        |a: (f64, f64), b: (f64, f64), c: RGBColor| PathElement::new(vec![a, b], c.stroke_width(2));
    let mut shapes: Vec<PathElement<(f64, f64)>> = vec![
        line((1.0, s.p75), (1.0, s.max), ACCENT),
        line((1.0, s.p25), (1.0, s.min), ACCENT),
        line((0.85, s.max), (1.15, s.max), ACCENT),
        line((0.85, s.min), (1.15, s.min), ACCENT),
        line((0.7, s.p50), (1.3, s.p50), ACCENT),
        line((2.0, s.ci_low), (2.0, s.ci_high), MEAN),
        line((1.85, s.ci_low), (2.15, s.ci_low), MEAN),
        line((1.85, s.ci_high), (2.15, s.ci_high), MEAN),
    ];
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.7, s.p25), (1.3, s.p75)],
            ACCENT.mix(0.25).filled(),
        )))
        .map_err(|x| x.to_string())?;
    chart
        .draw_series(shapes.drain(..))
        .map_err(|x| x.to_string())?;
    chart
        .draw_series(std::iter::once(Circle::new(
            (2.0, s.mean),
            4,
            MEAN.filled(),
        )))
        .map_err(|x| x.to_string())?;
    Ok(())
}

/// Mean and CI of a metric over runs, oldest first; the last point is the
/// run being reported.
pub(super) fn trend_chart(
    metric: &str,
    unit: &str,
    points: &[(String, Summary)],
) -> Result<String, ReportError> {
    let e = render_err(metric);
    let lo = points
        .iter()
        .map(|(_, s)| s.ci_low)
        .fold(f64::INFINITY, f64::min);
    let hi = points
        .iter()
        .map(|(_, s)| s.ci_high)
        .fold(f64::NEG_INFINITY, f64::max);
    let (y0, y1) = padded(lo, hi);
    let k = points.len() as f64;
    // Run ids are `<UTC timestamp>-<hex>`; the timestamp alone labels the axis.
    let labels: Vec<String> = points
        .iter()
        .map(|(id, _)| id.split('-').next().unwrap_or(id).to_owned())
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("history: mean and 95% CI per run", ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5f64..k - 0.5, y0..y1)
            .map_err(|x| e(x.to_string()))?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_labels(points.len().clamp(2, 8))
            .x_label_formatter(&label)
            .y_desc(unit)
            .draw()
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                points
                    .iter()
                    .enumerate()
                    .map(|(i, (_, s))| (i as f64, s.mean)),
                ACCENT.stroke_width(1),
            ))
            .map_err(|x| e(x.to_string()))?;
        for (i, (_, s)) in points.iter().enumerate() {
            let x = i as f64;
            let c = if i + 1 == points.len() { MEAN } else { ACCENT };
            chart
                .draw_series([
                    PathElement::new(vec![(x, s.ci_low), (x, s.ci_high)], c.stroke_width(2)),
                    PathElement::new(
                        vec![(x - 0.1, s.ci_low), (x + 0.1, s.ci_low)],
                        c.stroke_width(2),
                    ),
                    PathElement::new(
                        vec![(x - 0.1, s.ci_high), (x + 0.1, s.ci_high)],
                        c.stroke_width(2),
                    ),
                ])
                .map_err(|x| e(x.to_string()))?;
            chart
                .draw_series(std::iter::once(Circle::new((x, s.mean), 4, c.filled())))
                .map_err(|x| e(x.to_string()))?;
        }
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(inline(svg))
}
