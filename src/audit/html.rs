//! `audit --out-html`: one self-contained page (inline CSS, inline SVG, a
//! few lines of inline script; nothing fetched) with the report's tables
//! and, per table, one scatter plot for each no-reference second opinion:
//! the full-reference value across, the second opinion up, each point
//! coloured by the target, rows flagged as disagreeing ringed in red.
//!
//! Every plot is an `<svg class="scatter">`; the inline script counts the
//! plots that have a laid-out size and writes the count to
//! `<body data-rendered-plots="N">`, so a headless browser test can tell
//! the page rendered them (`tests/browser/check_html.sh`).

use std::fmt::Write as _;

use super::report::{format_float, format_share, impact_verdict};
use super::second_opinion::Scatter;
use super::{AuditReport, TableAudit};

/// The target's colour scale (viridis, five stops).
const COLOURS: &[(u8, u8, u8)] = &[
    (0x44, 0x01, 0x54),
    (0x3b, 0x52, 0x8b),
    (0x21, 0x91, 0x8c),
    (0x5e, 0xc9, 0x62),
    (0xfd, 0xe7, 0x25),
];

const FLAG_COLOUR: &str = "#d62728";

const STYLE: &str = "
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 92%; }
th code { overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; }
.covered { background: #d9f2d9; }
.weak { background: #fff1c2; }
.missing { background: #f8d0d0; }
tr.disagree td { background: #fde3e3; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; }
figcaption { font-size: 90%; color: #444; max-width: 460px; }
svg.scatter text { font: 11px system-ui, sans-serif; fill: #333; }
.note { color: #555; }
";

const SCRIPT: &str = "
(function () {
  var plots = document.querySelectorAll('svg.scatter');
  var rendered = 0;
  for (var i = 0; i < plots.length; i++) {
    var box = plots[i].getBoundingClientRect();
    if (box.width > 0 && box.height > 0 && plots[i].querySelectorAll('circle').length > 0) {
      rendered++;
    }
  }
  document.body.setAttribute('data-rendered-plots', String(rendered));
})();
";

/// Escape text for HTML content and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The colour of `value` on the scale from `min` to `max`.
fn colour(value: f64, min: f64, max: f64) -> String {
    if !value.is_finite() {
        return "#999999".to_string();
    }
    let t = if max > min {
        ((value - min) / (max - min)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let scaled = t * (COLOURS.len() - 1) as f64;
    let low = (scaled.floor() as usize).min(COLOURS.len() - 2);
    let f = scaled - low as f64;
    let (a, b) = (COLOURS[low], COLOURS[low + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// Round tick values for an axis over `min..max`: steps of 1, 2, 2.5 or 5
/// times a power of ten, about five of them, labelled with as many
/// decimals as the step needs (exponent notation for extreme magnitudes).
fn nice_ticks(min: f64, max: f64) -> Vec<(f64, String)> {
    let span = max - min;
    if !(span.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let rough = span / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power);
    // 2.5 × 10^k needs one decimal more than 10^k below ten (2.5, 0.25).
    let decimals = (-step.log10().floor()).max(0.0) as usize
        + usize::from(step / power == 2.5 && power < 10.0);
    let extreme = |v: f64| v != 0.0 && !(1e-3..1e6).contains(&v.abs());
    let mut ticks = Vec::new();
    let mut k = (min / step).ceil();
    while k * step <= max + step * 1e-9 && ticks.len() < 12 {
        // k·step, not a running sum: no accumulated rounding in the labels.
        let value = k * step;
        let value = if value.abs() < step * 1e-9 {
            0.0
        } else {
            value
        };
        let label = if extreme(value) {
            format!("{value:.1e}")
        } else {
            format!("{value:.decimals$}")
        };
        ticks.push((value, label));
        k += 1.0;
    }
    ticks
}

/// The axis range of `values`, padded by 5% (a unit either side when flat).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if max > min {
        let pad = (max - min) * 0.05;
        (min - pad, max + pad)
    } else {
        (min - 1.0, max + 1.0)
    }
}

/// One scatter plot as inline SVG.
fn scatter_svg(plot: &Scatter, fr_column: &str, target: Option<&str>, threshold: f64) -> String {
    const W: f64 = 460.0;
    const H: f64 = 340.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 58.0;
    let (x_min, x_max) = range(plot.points.iter().map(|p| p.0));
    let (y_min, y_max) = range(plot.points.iter().map(|p| p.1));
    let targets = plot.points.iter().map(|p| p.2).filter(|t| t.is_finite());
    let (t_min, t_max) = targets
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let x = |v: f64| LEFT + (v - x_min) / (x_max - x_min) * (W - LEFT - RIGHT);
    let y = |v: f64| H - BOTTOM - (v - y_min) / (y_max - y_min) * (H - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"scatter\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{} against {}\">",
        escape(&plot.column),
        escape(fr_column)
    );
    let _ = write!(
        svg,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#bbb\"/>",
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    for (xv, label) in nice_ticks(x_min, x_max) {
        let _ = write!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#eee\"/>\
             <text x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
            x(xv),
            TOP,
            H - BOTTOM,
            H - BOTTOM + 14.0,
            escape(&label)
        );
    }
    for (yv, label) in nice_ticks(y_min, y_max) {
        let _ = write!(
            svg,
            "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1}\" y2=\"{2:.1}\" stroke=\"#eee\"/>\
             <text x=\"{3}\" y=\"{4:.1}\" text-anchor=\"end\">{5}</text>",
            LEFT,
            W - RIGHT,
            y(yv),
            LEFT - 4.0,
            y(yv) + 3.5,
            escape(&label)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - BOTTOM + 30.0,
        escape(fr_column),
        TOP + (H - TOP - BOTTOM) / 2.0,
        escape(&plot.scorer)
    );
    // Unflagged points first, flagged ones on top.
    for flagged in [false, true] {
        for point in plot.points.iter().filter(|p| p.3 == flagged) {
            let (r, stroke) = if flagged {
                (5.5, format!(" stroke=\"{FLAG_COLOUR}\" stroke-width=\"2\""))
            } else {
                (3.5, String::new())
            };
            let _ = write!(
                svg,
                "<circle cx=\"{:.2}\" cy=\"{:.2}\" r=\"{r}\" fill=\"{}\" fill-opacity=\"0.85\"{stroke}>\
                 <title>{}{}: {}, {}: {}{}</title></circle>",
                x(point.0),
                y(point.1),
                colour(point.2, t_min, t_max),
                point
                    .4
                    .as_deref()
                    .map_or(String::new(), |k| format!("{} · ", escape(k))),
                escape(fr_column),
                format_float(point.0),
                escape(&plot.column),
                format_float(point.1),
                // The target is the x axis already when the FR column is it.
                if target == Some(fr_column) {
                    String::new()
                } else {
                    format!(
                        ", {}: {}",
                        escape(target.unwrap_or("target")),
                        format_float(point.2)
                    )
                },
            );
        }
    }
    // Legend: the target's scale and the disagreement ring.
    let legend_y = H - 14.0;
    let _ = write!(
        svg,
        "<defs><linearGradient id=\"scale-{0}\">{1}</linearGradient></defs>\
         <text x=\"{2}\" y=\"{3}\">{4}</text>\
         <rect x=\"{5}\" y=\"{6}\" width=\"90\" height=\"8\" fill=\"url(#scale-{0})\"/>\
         <text x=\"{7}\" y=\"{3}\">{8} – {9}</text>",
        escape(&plot.column),
        COLOURS
            .iter()
            .enumerate()
            .map(|(i, c)| format!(
                "<stop offset=\"{}\" stop-color=\"#{:02x}{:02x}{:02x}\"/>",
                i as f64 / (COLOURS.len() - 1) as f64,
                c.0,
                c.1,
                c.2
            ))
            .collect::<String>(),
        LEFT,
        legend_y,
        escape(target.unwrap_or("no target")),
        LEFT + 52.0,
        legend_y - 8.0,
        LEFT + 148.0,
        format_float(if t_min.is_finite() { t_min } else { f64::NAN }),
        format_float(if t_max.is_finite() { t_max } else { f64::NAN }),
    );
    let _ = write!(
        svg,
        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"none\" stroke=\"{FLAG_COLOUR}\" stroke-width=\"2\"/>\
         <text x=\"{:.1}\" y=\"{}\">rank gap &gt; {:.2}</text></svg>",
        W - 150.0,
        legend_y - 4.0,
        W - 140.0,
        legend_y,
        threshold
    );
    svg
}

fn status_cell(status: &str, text: &str) -> String {
    format!("<td class=\"{status}\">{}</td>", escape(text))
}

fn num(value: f64) -> String {
    format!("<td class=\"num\">{}</td>", format_float(value))
}

/// The page.
pub fn to_html(report: &AuditReport) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Signal-mix audit</title><style>{STYLE}</style></head><body>\
         <h1>Signal-mix audit</h1><p class=\"note\">second-opinion {}: signal-family coverage, \
         target correlation, second opinions, disagreement and retrain impact.</p>",
        escape(crate::TOOL_VERSION)
    );
    page.push_str("<h2>Inputs</h2><table><tr><th>Table</th><th>Path</th><th>Rows</th><th>Columns</th><th>Target</th><th>Signal columns</th><th>sha256</th></tr>");
    for t in &report.tables {
        let _ = write!(
            page,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
            escape(&t.label),
            escape(&t.path),
            t.rows,
            t.columns.len(),
            escape(t.signals.target.as_deref().unwrap_or("none")),
            t.signals.signal_columns.len(),
            escape(&t.sha256[..12.min(t.sha256.len())])
        );
    }
    page.push_str("</table>");
    for t in &report.tables {
        let _ = write!(
            page,
            "<p>Target of <code>{}</code>: {}.</p>",
            escape(&t.label),
            escape(&t.signals.target_reason)
        );
        if let Some(hint) = &t.signals.target_hint {
            let _ = write!(page, "<p class=\"note\">Hint: {}.</p>", escape(hint));
        }
    }

    page.push_str("<h2>Coverage matrix</h2><table><tr><th>Signal family</th><th>Question</th>");
    for t in &report.tables {
        let _ = write!(page, "<th><code>{}</code></th>", escape(&t.label));
    }
    page.push_str("<th>Candidate metrics</th></tr>");
    for (index, family) in report.families.iter().enumerate() {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td>",
            escape(&family.label),
            escape(&family.question)
        );
        for t in &report.tables {
            let h = &t.signals.family_health[index];
            page.push_str(&status_cell(
                h.status.name(),
                &format!(
                    "{} ({}/{})",
                    h.status.name(),
                    h.healthy_columns.len(),
                    h.numeric_columns.len()
                ),
            ));
        }
        let _ = write!(
            page,
            "<td>{}</td></tr>",
            escape(&family.candidate_metrics.join(", "))
        );
    }
    page.push_str(
        "</table><p class=\"note\">Counts: healthy signal columns / signal columns the family \
         matches (the target and scorers' bookkeeping columns are not signals).</p>",
    );
    if !report.skipped_families.is_empty() {
        let labels: Vec<String> = report
            .skipped_families
            .iter()
            .map(|f| escape(&f.label))
            .collect();
        let _ = write!(
            page,
            "<p class=\"note\">Left out of this audit (<code>--families</code>, \
             <code>--skip-family</code>): {}.</p>",
            labels.join(", ")
        );
    }

    page.push_str("<h2>Recommended next actions</h2><ul>");
    let actions = super::report::recommended_actions(report);
    if !actions
        .iter()
        .any(|a| matches!(a, super::report::Action::Family { .. }))
    {
        page.push_str(
            "<li>No missing or weak signal families detected at the configured thresholds.</li>",
        );
    }
    for action in &actions {
        page.push_str(&action.to_html(escape));
    }
    page.push_str("</ul>");

    for table in &report.tables {
        table_section(report, table, &mut page);
    }
    let _ = writeln!(page, "<script>{SCRIPT}</script></body></html>");
    page
}

fn table_section(report: &AuditReport, table: &TableAudit, page: &mut String) {
    let top_k = report.options.top_k;
    let target = table.signals.target.as_deref();
    let _ = write!(page, "<h2>Table <code>{}</code></h2>", escape(&table.label));

    page.push_str("<h3>Strongest target signals</h3>");
    if target.is_none() {
        page.push_str("<p>No target column found; pass <code>--target</code>.</p>");
    } else if table.signals.target_correlations.is_empty() {
        page.push_str("<p>No usable numeric signal columns correlate with the target.</p>");
    } else {
        page.push_str(
            "<table><tr><th>Column</th><th>Family</th><th>Pearson</th><th>Spearman</th></tr>",
        );
        for c in table.signals.target_correlations.iter().take(super::listed(
            table.signals.target_correlations.len(),
            top_k,
        )) {
            let _ = write!(
                page,
                "<tr><td><code>{}</code></td><td>{}</td>{}{}</tr>",
                escape(&c.column),
                escape(report.family_label(&c.family)),
                num(c.pearson),
                num(c.spearman)
            );
        }
        page.push_str("</table>");
    }

    page.push_str("<h3>Complementary intersections</h3>");
    if table.signals.intersections.is_empty() {
        page.push_str(
            "<p>No cross-family low-correlation/high-target pairs met the current thresholds. \
             That usually means the table is too narrow, the target is missing, or the current \
             columns are mostly redundant.</p>",
        );
    } else {
        page.push_str(
            "<table><tr><th>Pair</th><th>Families</th><th>Pair r</th><th>Target |r| values</th></tr>",
        );
        for row in table
            .signals
            .intersections
            .iter()
            .take(super::listed(table.signals.intersections.len(), top_k))
        {
            let _ = write!(
                page,
                "<tr><td><code>{}</code> × <code>{}</code></td><td>{} × {}</td>{}<td class=\"num\">{} / {}</td></tr>",
                escape(&row.pair.left),
                escape(&row.pair.right),
                escape(report.family_label(&row.pair.left_family)),
                escape(report.family_label(&row.pair.right_family)),
                num(row.pair.pearson),
                format_float(row.left_target_abs_pearson),
                format_float(row.right_target_abs_pearson)
            );
        }
        page.push_str("</table>");
    }

    page.push_str("<h3>Redundant pairs</h3>");
    if table.signals.redundant_pairs.is_empty() {
        page.push_str("<p>No redundant pairs crossed the configured threshold.</p>");
    } else {
        page.push_str("<table><tr><th>Pair</th><th>Families</th><th>Pearson</th></tr>");
        for row in table
            .signals
            .redundant_pairs
            .iter()
            .take(super::listed(table.signals.redundant_pairs.len(), top_k))
        {
            let _ = write!(
                page,
                "<tr><td><code>{}</code> × <code>{}</code></td><td>{} × {}</td>{}</tr>",
                escape(&row.left),
                escape(&row.right),
                escape(report.family_label(&row.left_family)),
                escape(report.family_label(&row.right_family)),
                num(row.pearson)
            );
        }
        page.push_str("</table>");
    }

    let audit = &table.second_opinion;
    page.push_str("<h3>Second-opinion coverage</h3>");
    if audit.scorers.is_empty() {
        page.push_str("<p>No second-opinion columns in this table.</p>");
    } else {
        page.push_str("<table><tr><th>Scorer</th><th>Evidence</th><th>Score column</th><th>ok</th><th>bad</th><th>missing</th><th>other</th></tr>");
        for s in &audit.scorers {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&s.name),
                s.evidence.name().replace('_', "-"),
                escape(s.score_column.as_deref().unwrap_or("none")),
                format_share(s.share(s.ok)),
                format_share(s.share(s.bad)),
                format_share(s.share(s.missing)),
                format_share(s.share(s.other)),
            );
        }
        page.push_str("</table>");
    }

    page.push_str("<h3>Disagreement and saturation</h3>");
    match (&audit.fr_column, &audit.disagreement) {
        (None, _) => {
            let _ = write!(
                page,
                "<p>Not computed: {}.</p>",
                escape(
                    audit
                        .fr_note
                        .as_deref()
                        .unwrap_or("no full-reference column")
                )
            );
        }
        (Some(fr), Err(reason)) => {
            let _ = write!(
                page,
                "<p>Full-reference column <code>{}</code>. Disagreement not computed: {}.</p>",
                escape(fr),
                escape(reason)
            );
        }
        (Some(fr), Ok(d)) => {
            let _ = write!(
                page,
                "<p>Full-reference column <code>{}</code>; rank agreement with the no-reference/MOS \
                 evidence {} over {} rows; {} rows ({}) rank more than {:.2} apart.</p>",
                escape(fr),
                format_float(d.rank_agreement),
                d.rows_compared,
                d.rows_over_threshold,
                format_share(d.rows_over_threshold as f64 / d.rows_compared.max(1) as f64),
                d.threshold
            );
            if !d.top_rows.is_empty() {
                let _ = write!(
                    page,
                    "<div class=\"scroll\"><table><tr><th>Row</th><th>Key</th><th><code>{}</code></th><th>FR pct</th>\
                     <th>NR/MOS pct</th><th>Gap</th><th>Target</th>",
                    escape(fr)
                );
                for e in &d.evidence {
                    let _ = write!(page, "<th><code>{}</code></th>", escape(&e.column));
                }
                page.push_str("</tr>");
                for r in &d.top_rows {
                    let _ = write!(
                        page,
                        "<tr class=\"disagree\"><td class=\"num\">{}</td><td><code>{}</code></td>{}{}{}{}{}",
                        r.row,
                        escape(r.key.as_deref().unwrap_or("n/a")),
                        num(r.fr_value),
                        num(r.fr_percentile),
                        num(r.nr_percentile),
                        num(r.gap),
                        num(r.target)
                    );
                    for v in &r.values {
                        page.push_str(&num(*v));
                    }
                    page.push_str("</tr>");
                }
                page.push_str("</table></div>");
            }
        }
    }
    match &audit.saturation {
        Ok(s) => {
            let _ = write!(
                page,
                "<p>Saturation: <code>{}</code> ≥ {} ({}) on {} of {} rows ({}).</p>",
                escape(audit.fr_column.as_deref().unwrap_or("")),
                format_float(s.ceiling),
                escape(&s.ceiling_from),
                s.saturated_rows,
                s.rows_with_fr,
                format_share(s.share)
            );
            if s.saturated_rows > 0 && !s.spreads.is_empty() {
                page.push_str("<table><tr><th>Second opinion at the ceiling</th><th>Rows</th><th>Min</th><th>Max</th><th>Std</th><th>Spread kept</th></tr>");
                for x in &s.spreads {
                    let _ = write!(
                        page,
                        "<tr><td><code>{}</code></td><td class=\"num\">{}</td>{}{}{}<td class=\"num\">{}</td></tr>",
                        escape(&x.column),
                        x.finite,
                        num(x.min),
                        num(x.max),
                        num(x.std),
                        format_share(x.spread_ratio)
                    );
                }
                page.push_str("</table>");
            }
        }
        Err(reason) if audit.fr_column.is_some() => {
            let _ = write!(page, "<p>Saturation not computed: {}.</p>", escape(reason));
        }
        Err(_) => {}
    }

    if let Some(fr) = &audit.fr_column {
        if !audit.plots.is_empty() {
            let threshold = audit
                .disagreement
                .as_ref()
                .map_or(report.options.disagreement_threshold, |d| d.threshold);
            page.push_str("<div class=\"plots\">");
            for plot in &audit.plots {
                let _ = write!(
                    page,
                    "<figure>{}<figcaption><code>{}</code> against <code>{}</code>: {} rows{}; \
                     colour: {}; red rings: rank gap above {:.2}.</figcaption></figure>",
                    scatter_svg(plot, fr, target, threshold),
                    escape(&plot.column),
                    escape(fr),
                    plot.rows,
                    if plot.points.len() < plot.rows {
                        format!(", {} drawn", plot.points.len())
                    } else {
                        String::new()
                    },
                    escape(target.unwrap_or("no target")),
                    threshold
                );
            }
            page.push_str("</div>");
        }
    }

    page.push_str("<h3>Retrain impact estimate</h3>");
    match &table.impact {
        Err(no) => {
            let _ = write!(page, "<p>Not estimated: {}.</p>", escape(&no.reason));
        }
        Ok(i) => {
            let _ = write!(
                page,
                "<p>Ridge regression of <code>{}</code> (alpha {}), {}-fold cross-validation, seed {}, {} rows. {}.</p>\
                 <table><tr><th>Model</th><th>Columns</th><th>PLCC</th><th>SROCC</th><th>RMSE</th></tr>",
                escape(&i.target),
                i.alpha,
                i.folds,
                i.seed,
                i.rows,
                escape(&i.note)
            );
            let spread = |s: &super::impact::MetricSummary, signed: bool| {
                if s.mean.is_nan() {
                    "n/a".to_string()
                } else if signed {
                    format!("{:+.3} ± {:.3}", s.mean, s.std)
                } else {
                    format!("{:.3} ± {:.3}", s.mean, s.std)
                }
            };
            for (name, model) in [
                ("FR only", &i.baseline),
                ("FR + second opinions", &i.with_second_opinions),
            ] {
                let _ = write!(
                    page,
                    "<tr><td>{name}</td><td class=\"num\" title=\"{}\">{}</td><td class=\"num\">{}</td>\
                     <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    escape(&model.columns.join(", ")),
                    model.columns.len(),
                    spread(&model.plcc, false),
                    spread(&model.srocc, false),
                    spread(&model.rmse, false)
                );
            }
            let _ = write!(
                page,
                "<tr><td>Difference</td><td></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td></tr></table><p>{}</p>",
                spread(&i.plcc_gain, true),
                spread(&i.srocc_gain, true),
                spread(&i.rmse_gain, true),
                escape(&impact_verdict(i))
            );
        }
    }

    page.push_str("<h3>Blind spots</h3><ul>");
    for (what, keys) in [
        ("Missing", &table.signals.missing_families),
        ("Weak", &table.signals.weak_families),
    ] {
        let labels: Vec<String> = keys
            .iter()
            .map(|k| escape(report.family_label(k)))
            .collect();
        let _ = write!(
            page,
            "<li>{what} signal families: {}.</li>",
            if labels.is_empty() {
                "none".to_string()
            } else {
                labels.join(", ")
            }
        );
    }
    page.push_str("</ul>");

    if let Some(changes) = &table.changes {
        page.push_str("<h3>Changes since last audit</h3><ul>");
        for line in super::report::changes_lines(changes) {
            let _ = write!(
                page,
                "<li>{}</li>",
                escape(line.trim_start_matches("- ").replace('`', "").as_str())
            );
        }
        page.push_str("</ul>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_span_the_scale() {
        assert_eq!(colour(0.0, 0.0, 1.0), "#440154");
        assert_eq!(colour(1.0, 0.0, 1.0), "#fde725");
        assert_eq!(colour(5.0, 0.0, 1.0), "#fde725");
        assert_eq!(colour(f64::NAN, 0.0, 1.0), "#999999");
        assert_eq!(colour(3.0, 3.0, 3.0), "#21918c");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn ticks_are_round_numbers() {
        let labels = |min, max| -> Vec<String> {
            nice_ticks(min, max).into_iter().map(|(_, l)| l).collect()
        };
        assert_eq!(labels(37.3, 96.8), ["40", "60", "80"]);
        assert_eq!(labels(0.0, 100.0), ["0", "20", "40", "60", "80", "100"]);
        assert_eq!(labels(1.0, 5.0), ["1", "2", "3", "4", "5"]);
        assert_eq!(labels(0.0, 12.0), ["0.0", "2.5", "5.0", "7.5", "10.0"]);
        assert_eq!(labels(0.412, 0.837), ["0.5", "0.6", "0.7", "0.8"]);
        assert_eq!(
            labels(-0.05, 1.05),
            ["0.00", "0.25", "0.50", "0.75", "1.00"]
        );
        assert_eq!(labels(3.0, 3.0), Vec::<String>::new());
        assert_eq!(
            labels(1e-7, 5e-7),
            ["1.0e-7", "2.0e-7", "3.0e-7", "4.0e-7", "5.0e-7"]
        );
    }

    #[test]
    fn scatter_has_one_circle_per_point_and_a_legend() {
        let plot = Scatter {
            scorer: "DOVER".into(),
            column: "second_opinion_dover_score".into(),
            points: vec![
                (50.0, 60.0, 1.0, false, Some("a".into())),
                (60.0, 40.0, 2.0, true, Some("<b>".into())),
            ],
            rows: 2,
        };
        let svg = scatter_svg(&plot, "vmaf", Some("mos"), 0.5);
        assert!(svg.starts_with("<svg class=\"scatter\""));
        assert_eq!(
            svg.matches("<circle").count(),
            3,
            "two points and the legend ring"
        );
        assert!(svg.contains("&lt;b&gt;"));
        assert!(svg.contains(FLAG_COLOUR));
    }
}
