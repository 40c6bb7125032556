//! The end of a run: a summary table for people, JSON for machines, an SVG chart of rate and
//! latency over time.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::Totals;

/// The unit of `hold` runs, whose chart shows open connections rather than a rate.
pub(crate) const HELD: &str = "connection";

/// A finished (or interrupted) run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The mode (`handshake`, `throughput`, `hold`, `redis`, `latency`).
    pub mode: String,
    /// `HOST:PORT` as given.
    pub target: String,
    /// Ctrl-C ended the run early; the figures cover the part that ran.
    pub interrupted: bool,
    /// The settings that shaped the run, for the record.
    pub settings: BTreeMap<String, String>,
    /// One entry per phase (redis runs one per command; the other modes have one).
    pub phases: Vec<Phase>,
}

/// The figures of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// What was measured (`handshake`, `PING`, `SET`, ...).
    pub name: String,
    /// What one operation is (`handshake`, `request`, `round trip`, `connection`, `16 KiB`).
    pub unit: String,
    /// The figures.
    #[serde(flatten)]
    pub totals: Totals,
}

impl Report {
    /// Operations per second of the phase named `name`.
    pub fn rate(&self, name: &str) -> Option<f64> {
        self.phases
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.totals.rate)
    }

    /// Errors of every phase added up.
    pub fn error_total(&self) -> u64 {
        self.phases
            .iter()
            .map(|p| p.totals.errors.values().sum::<u64>())
            .sum()
    }

    /// JSON for machines.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The summary table for a terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "tlswire bench {} -> {}{}",
            self.mode,
            self.target,
            if self.interrupted {
                "  (interrupted: partial figures)"
            } else {
                ""
            }
        );
        if !settings.is_empty() {
            let _ = writeln!(out, "  {}", settings.join("  "));
        }
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>8} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "phase",
            "ops",
            "secs",
            "rate/s",
            "MB/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "errors"
        );
        for phase in &self.phases {
            let t = &phase.totals;
            let lat = |f: fn(&crate::stats::Percentiles) -> f64| {
                t.latency_ms
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |p| format!("{:.3}", f(p)))
            };
            let _ = writeln!(
                out,
                "{:<12} {:>10} {:>8.2} {:>12.1} {:>9.2} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
                phase.name,
                t.ops,
                t.elapsed_secs,
                t.rate,
                t.mb_per_s,
                lat(|p| p.p50),
                lat(|p| p.p90),
                lat(|p| p.p99),
                lat(|p| p.p999),
                lat(|p| p.max),
                t.errors.values().sum::<u64>()
            );
        }
        for phase in &self.phases {
            let t = &phase.totals;
            if !t.counters.is_empty() {
                let counters: Vec<String> =
                    t.counters.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(out, "{}: {}", phase.name, counters.join(", "));
            }
            if !t.errors.is_empty() {
                let _ = writeln!(out, "{}: errors by cause:", phase.name);
                for (cause, n) in &t.errors {
                    let _ = writeln!(out, "  {n:>8}  {cause}");
                }
            }
        }
        out
    }

    /// An SVG chart: operations per second (top) and p50/p99 latency (bottom) over time, one
    /// colour per phase.
    pub fn to_svg(&self) -> String {
        const W: f64 = 900.0;
        const PANEL_H: f64 = 220.0;
        const LEFT: f64 = 80.0;
        const RIGHT: f64 = 20.0;
        const TOP: f64 = 40.0;
        const GAP: f64 = 60.0;
        const COLOURS: [&str; 6] = [
            "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
        ];
        // Phases run one after another: lay their timelines end to end.
        let mut series = Vec::new();
        let mut offset = 0.0;
        for phase in &self.phases {
            let points: Vec<(f64, f64, f64, f64)> = phase
                .totals
                .timeline
                .iter()
                .map(|s| {
                    let rate = if phase.unit.ends_with("bytes") {
                        s.mb_per_s
                    } else if phase.unit == HELD {
                        s.open as f64
                    } else {
                        s.rate
                    };
                    (offset + s.t, rate, s.p50_ms, s.p99_ms)
                })
                .collect();
            offset += phase.totals.elapsed_secs;
            series.push((phase.name.clone(), points));
        }
        let t_max = offset.max(1.0);
        let rate_max = nice_max(
            series
                .iter()
                .flat_map(|(_, p)| p.iter().map(|x| x.1))
                .fold(0.0, f64::max),
        );
        let lat_max = nice_max(
            series
                .iter()
                .flat_map(|(_, p)| p.iter().map(|x| x.3))
                .fold(0.0, f64::max),
        );
        let plot_w = W - LEFT - RIGHT;
        let height = TOP + 2.0 * PANEL_H + GAP + 40.0;
        let x = |t: f64| LEFT + t / t_max * plot_w;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="20" font-size="14">tlswire bench {} → {}</text>"#,
            xml(&self.mode),
            xml(&self.target)
        );
        let rate_label = if self.phases.iter().all(|p| p.unit.ends_with("bytes")) {
            "MB/s"
        } else if self.phases.iter().all(|p| p.unit == HELD) {
            "connections open"
        } else {
            "operations/s"
        };
        for (panel, (label, max)) in [
            (rate_label, rate_max),
            ("latency ms (p50 solid, p99 dashed)", lat_max),
        ]
        .into_iter()
        .enumerate()
        {
            let top = TOP + panel as f64 * (PANEL_H + GAP);
            let bottom = top + PANEL_H;
            let _ = writeln!(
                svg,
                "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{plot_w}\" height=\"{PANEL_H}\" fill=\"none\" stroke=\"#999\"/>"
            );
            let _ = writeln!(svg, r#"<text x="{LEFT}" y="{}">{label}</text>"#, top - 6.0);
            for i in 0..=4 {
                let v = max * f64::from(i) / 4.0;
                let y = bottom - f64::from(i) / 4.0 * PANEL_H;
                let _ = writeln!(
                    svg,
                    "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                    LEFT + plot_w,
                    LEFT - 6.0,
                    y + 4.0,
                    short(v)
                );
            }
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{:.0} s</text><text x="{LEFT}" y="{}">0 s</text>"#,
                LEFT + plot_w,
                bottom + 16.0,
                t_max,
                bottom + 16.0
            );
            let y = |v: f64| bottom - (v / max.max(1e-12)).min(1.0) * PANEL_H;
            for (i, (_, points)) in series.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                let lines: Vec<(Vec<String>, &str)> = if panel == 0 {
                    vec![(
                        points
                            .iter()
                            .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1)))
                            .collect(),
                        "",
                    )]
                } else {
                    vec![
                        (
                            points
                                .iter()
                                .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.2)))
                                .collect(),
                            "",
                        ),
                        (
                            points
                                .iter()
                                .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.3)))
                                .collect(),
                            r#" stroke-dasharray="5,3""#,
                        ),
                    ]
                };
                for (coords, dash) in lines {
                    let _ = writeln!(
                        svg,
                        r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{}"/>"#,
                        coords.join(" ")
                    );
                }
            }
        }
        let legend_y = TOP + 2.0 * PANEL_H + GAP + 30.0;
        for (i, (name, _)) in series.iter().enumerate() {
            let lx = LEFT + i as f64 * 120.0;
            let colour = COLOURS[i % COLOURS.len()];
            let _ = writeln!(
                svg,
                r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{legend_y}">{}</text>"#,
                legend_y - 10.0,
                lx + 16.0,
                xml(name)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// A round upper bound for an axis.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stats;
    use std::time::Duration;

    fn sample_report() -> Report {
        let stats = Stats::new();
        let mut local = stats.local();
        local.ops(5, Duration::from_micros(800));
        local.error("connect: connection refused");
        drop(local);
        stats.tick();
        Report {
            mode: "handshake".into(),
            target: "127.0.0.1:1".into(),
            interrupted: true,
            settings: BTreeMap::from([("concurrency".into(), "4".into())]),
            phases: vec![Phase {
                name: "handshake".into(),
                unit: "handshake".into(),
                totals: stats.totals(),
            }],
        }
    }

    #[test]
    fn table_names_errors_and_interruption() {
        let table = sample_report().to_table();
        assert!(table.contains("interrupted"), "{table}");
        assert!(table.contains("connect: connection refused"), "{table}");
        assert!(table.contains("p99.9 ms"), "{table}");
    }

    #[test]
    fn json_and_svg_are_well_formed() {
        let report = sample_report();
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["phases"][0]["ops"], 5);
        assert_eq!(
            json["phases"][0]["errors"]["connect: connection refused"],
            1
        );
        let svg = report.to_svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(1234.0), 2000.0);
    }
}
