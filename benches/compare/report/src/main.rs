//! `compare-report RESULTS.jsonl OUT_DIR < machine.txt`: medians per (cell, target, client),
//! ratios to rust-rdkafka's BaseProducer, as `OUT_DIR/results.md` and `OUT_DIR/chart.png`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;

use plotters::prelude::*;

type Error = Box<dyn std::error::Error>;

/// The baseline every ratio is taken against.
const BASELINE: &str = "rdkafka:base";

#[derive(Default)]
struct Samples {
    msgs: Vec<f64>,
    cpu: Vec<f64>,
    p99_us: Vec<f64>,
    rss_kib: Vec<f64>,
    batch: Vec<f64>,
    failed: u64,
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn spread(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(out)) = (args.first(), args.get(1)) else {
        return Err("usage: compare-report RESULTS.jsonl OUT_DIR < machine.txt".into());
    };
    let mut machine = String::new();
    let _ = std::io::stdin().read_to_string(&mut machine);
    // (cell, target) -> series -> samples; insertion order of cells kept via BTreeMap on index.
    let mut groups: BTreeMap<(String, String), BTreeMap<String, Samples>> = BTreeMap::new();
    for line in std::fs::read_to_string(input)?.lines() {
        let Ok(d) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let s = |k: &str| d[k].as_str().unwrap_or("").to_owned();
        let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        let target = d["extra"]["target"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| s("target"));
        let series = if s("client") == "java" {
            "java".to_owned()
        } else {
            format!("{}:{}", s("client"), s("producer"))
        };
        let e = groups
            .entry((s("label"), target))
            .or_default()
            .entry(series)
            .or_default();
        if d["delivered"].as_u64().unwrap_or(0) == 0 {
            e.failed += 1;
            continue;
        }
        // A run with failed deliveries measured something else (msgs/s counts delivered
        // ones only): count it as failed, keep it out of the medians.
        if d["failed"].as_u64().unwrap_or(0) > 0 {
            e.failed += 1;
            continue;
        }
        e.msgs.push(f(&d["msgs_per_s"]));
        e.cpu.push(f(&d["cpu_s_per_million"]));
        e.p99_us.push(f(&d["lat_us_p99"]));
        e.rss_kib.push(f(&d["peak_rss_kib"]));
        if let Some(b) = d["extra"]["avg_batch_records"].as_f64() {
            e.batch.push(b);
        }
    }

    let mut md = String::new();
    let _ = writeln!(md, "# Producer comparison\n");
    for l in machine.lines() {
        let _ = writeln!(md, "{l}  ");
    }
    let _ = writeln!(
        md,
        "\nMedian over runs, [min..max]. Ratios are to `{BASELINE}` (rust-rdkafka BaseProducer) in the same cell: \
         msgs/s ratio > 1 = faster, CPU ratio < 1 = cheaper. CPU-s/M = client process CPU seconds \
         (user+sys) per 10^6 delivered messages. Latency p99 from the intended send time to the \
         delivery report (closed loop: the actual send time of one message in 16, the Rust tools; \
         every message, Java). MB = 10^6 bytes.\n"
    );
    summary(&mut md, &groups);
    for ((cell, target), series) in &groups {
        let base = series.get(BASELINE);
        let base_msgs = base.map_or(f64::NAN, |b| median(&b.msgs));
        let base_cpu = base.map_or(f64::NAN, |b| median(&b.cpu));
        let _ = writeln!(md, "## {cell} — {target}\n");
        let _ = writeln!(
            md,
            "| client | runs | msgs/s | ×rdkafka | CPU-s/M | ×rdkafka | p99 ms | peak RSS MiB | records/batch |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for (name, s) in series {
            let (lo, hi) = spread(&s.msgs);
            let (clo, chi) = spread(&s.cpu);
            let m = median(&s.msgs);
            let c = median(&s.cpu);
            let _ = writeln!(
                md,
                "| {name} | {}{} | {:.0} [{:.0}..{:.0}] | {:.2} | {:.3} [{:.3}..{:.3}] | {:.2} | {:.1} | {:.0} | {} |",
                s.msgs.len(),
                if s.failed > 0 {
                    format!(" ({} failed)", s.failed)
                } else {
                    String::new()
                },
                m,
                lo,
                hi,
                m / base_msgs,
                c,
                clo,
                chi,
                c / base_cpu,
                median(&s.p99_us) / 1000.0,
                median(&s.rss_kib) / 1024.0,
                if s.batch.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.0}", median(&s.batch))
                },
            );
        }
        let _ = writeln!(md);
    }
    std::fs::write(format!("{out}/results.md"), md)?;
    chart(&groups, &format!("{out}/chart.png"))?;
    Ok(())
}

/// One line per (cell, target): purekafka's BaseProducer against each other client, and
/// each FutureProducer against its own BaseProducer; the targets at a glance.
fn summary(md: &mut String, groups: &BTreeMap<(String, String), BTreeMap<String, Samples>>) {
    let med = |series: &BTreeMap<String, Samples>, name: &str, f: fn(&Samples) -> f64| {
        series.get(name).map_or(f64::NAN, f)
    };
    let msgs: fn(&Samples) -> f64 = |s| median(&s.msgs);
    let cpu: fn(&Samples) -> f64 = |s| median(&s.cpu);
    let rss: fn(&Samples) -> f64 = |s| median(&s.rss_kib);
    let p99: fn(&Samples) -> f64 = |s| median(&s.p99_us);
    let fmt = |v: f64| {
        if v.is_finite() {
            format!("{v:.2}")
        } else {
            "-".to_owned()
        }
    };
    let _ = writeln!(
        md,
        "## Summary\n\nPer cell and target, medians. msgs/s = purekafka BaseProducer. \
         Throughput ratios: purekafka BaseProducer over rdkafka's BaseProducer, the Java \
         producer, rskafka; FutureProducer over the same client's BaseProducer. CPU and peak \
         RSS: purekafka BaseProducer over rdkafka BaseProducer (< 1 = less). p99 in ms, \
         purekafka / rdkafka BaseProducer (closed loop: queueing, not a latency target).\n"
    );
    let _ = writeln!(
        md,
        "| cell | target | msgs/s | ×rdkafka | ×java | ×rskafka | pk future/base | rd future/base | CPU ×rd | RSS ×rd | p99 ms pk / rd |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for ((cell, target), series) in groups {
        let pk = med(series, "purekafka:base", msgs);
        let rd = med(series, "rdkafka:base", msgs);
        let _ = writeln!(
            md,
            "| {cell} | {target} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {:.1} / {:.1} |",
            pk,
            fmt(pk / rd),
            fmt(pk / med(series, "java", msgs)),
            fmt(pk / med(series, "rskafka:batch", msgs)),
            fmt(med(series, "purekafka:future", msgs) / pk),
            fmt(med(series, "rdkafka:future", msgs) / rd),
            fmt(med(series, "purekafka:base", cpu) / med(series, "rdkafka:base", cpu)),
            fmt(med(series, "purekafka:base", rss) / med(series, "rdkafka:base", rss)),
            med(series, "purekafka:base", p99) / 1000.0,
            med(series, "rdkafka:base", p99) / 1000.0,
        );
    }
    let _ = writeln!(md);
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(174, 199, 232),
    RGBColor(214, 39, 40),
    RGBColor(255, 152, 150),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(127, 127, 127),
];

fn chart(
    groups: &BTreeMap<(String, String), BTreeMap<String, Samples>>,
    path: &str,
) -> Result<(), Error> {
    let font = std::env::var("COMPARE_FONT")
        .unwrap_or_else(|_| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into());
    let bytes: &'static [u8] = Box::leak(std::fs::read(&font)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| "bad font")?;

    let names: Vec<String> = {
        let mut v: Vec<String> = groups.values().flat_map(|s| s.keys().cloned()).collect();
        v.sort();
        v.dedup();
        v
    };
    let cells: Vec<String> = groups.keys().map(|(c, t)| format!("{c} / {t}")).collect();
    // Wide enough for every cell's bars and label, however many cells the run had.
    let width = u32::try_from(cells.len() * 90)
        .unwrap_or(u32::MAX)
        .max(1200);
    let root = BitMapBackend::new(path, (width, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 1));
    type Metric = fn(&Samples) -> f64;
    let metrics: [(&str, Metric); 2] = [
        ("throughput, msgs/s (median)", |s| median(&s.msgs)),
        ("client CPU-seconds per million messages (median)", |s| {
            median(&s.cpu)
        }),
    ];
    for (panel, (title, metric)) in panels.iter().zip(metrics) {
        let max = groups
            .values()
            .flat_map(|s| s.values().map(metric))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            * 1.15;
        let n = cells.len().max(1);
        let mut ch = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(140)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..n as f64, 0f64..max.max(1e-9))?;
        let labels = cells.clone();
        ch.configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.01 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 14))
            .x_label_style(
                ("sans-serif", 12)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .draw()?;
        let w = 0.8 / names.len().max(1) as f64;
        for (si, name) in names.iter().enumerate() {
            let color = COLORS[si % COLORS.len()];
            let bars: Vec<Rectangle<(f64, f64)>> = groups
                .values()
                .enumerate()
                .filter_map(|(ci, s)| {
                    let v = s.get(name).map(metric)?;
                    v.is_finite().then(|| {
                        let x0 = ci as f64 + 0.1 + si as f64 * w;
                        Rectangle::new([(x0, 0.0), (x0 + w * 0.9, v)], color.filled())
                    })
                })
                .collect();
            ch.draw_series(bars)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        ch.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
