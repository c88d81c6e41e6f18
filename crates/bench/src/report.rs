//! The report (a table for people, JSON for scripts) and the progress bar.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::Opts;
use crate::hist::Histogram;
use crate::run::Ctx;
use crate::sys::ProcSample;

/// Share of the usable cores above which the generator may be the bottleneck.
const SATURATION: f64 = 0.85;

pub struct BrokerInputs {
    pub pid: u32,
    /// At the start and end of the measured window.
    pub before: ProcSample,
    pub after: ProcSample,
    /// Before the first connection, and once all clients were connected.
    pub at_start: ProcSample,
    pub connected: ProcSample,
}

pub struct Inputs<'a> {
    pub scenario: &'static str,
    pub opts: &'a Opts,
    pub warmup: f64,
    pub window_secs: f64,
    pub tls_setup_secs: f64,
    pub clients_planned: u64,
    pub connected: u64,
    pub connect_secs: f64,
    pub connect_lat: &'a Histogram,
    pub sent: u64,
    pub sent_total: u64,
    pub acked: u64,
    pub unacked: u64,
    pub expected_total: Option<u64>,
    pub received: u64,
    pub received_total: u64,
    pub delivered_window: u64,
    pub latency: &'a Histogram,
    pub lost: Option<u64>,
    pub duplicates: u64,
    pub foreign: u64,
    pub errors: BTreeMap<String, (u64, String)>,
    pub cpu_secs: f64,
    pub cpu_wall_secs: f64,
    pub threads: usize,
    pub broker: Option<BrokerInputs>,
}

#[derive(Serialize, Debug)]
pub struct Report {
    pub scenario: String,
    pub config: Config,
    /// Seconds of the measured window (conn: the hold).
    pub window_secs: f64,
    pub connections: Connections,
    pub messages: Messages,
    /// Publish → deliver latency of messages sent in the window, µs.
    pub latency_us: Latency,
    /// kind → {count, example}.
    pub errors: BTreeMap<String, ErrorCount>,
    pub generator: Generator,
    pub generator_saturated: bool,
    pub broker: Option<Broker>,
}

#[derive(Serialize, Debug)]
pub struct Config {
    pub mqtt: String,
    pub qos: u8,
    pub clients: usize,
    pub publishers: usize,
    pub subscribers: usize,
    pub payload_size: usize,
    pub rate_per_client: f64,
    pub inflight: u16,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    pub count: Option<u64>,
    pub host: String,
    pub port: Option<u16>,
    pub tls: bool,
    pub mtls: Option<String>,
    pub alpn: Option<String>,
    pub source_ips: usize,
    pub threads: usize,
}

#[derive(Serialize, Debug)]
pub struct Connections {
    pub planned: u64,
    pub connected: u64,
    pub failed: u64,
    /// From the first connect to the last CONNACK (or SUBACK), seconds.
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    /// TCP connect → CONNACK, µs.
    pub latency_us: Latency,
    /// Loading or generating client certificates (not timed), seconds.
    pub tls_setup_secs: f64,
}

#[derive(Serialize, Debug)]
pub struct Messages {
    /// Sent inside the measured window.
    pub sent: u64,
    /// Sent in the whole run (warm-up included).
    pub sent_total: u64,
    pub acked: u64,
    pub unacked: u64,
    /// Deliveries the whole run should make (sent_total × fan-out).
    pub expected_total: Option<u64>,
    /// Received messages that were sent inside the window (duplicates excluded).
    pub received: u64,
    /// Every PUBLISH received, warm-up and duplicates included.
    pub received_total: u64,
    /// Received while the window was open (by arrival time).
    pub delivered_in_window: u64,
    pub sent_per_sec: f64,
    /// delivered_in_window / window_secs.
    pub received_per_sec: f64,
    /// Sequence numbers never received, over the whole run (null: not applicable).
    pub lost: Option<u64>,
    pub duplicates: u64,
    /// Payloads without a kumo-bench header.
    pub foreign: u64,
}

#[derive(Serialize, Debug, Default)]
pub struct Latency {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    fn of(h: &Histogram) -> Latency {
        let us = |ns: u64| (ns as f64 / 1000.0 * 10.0).round() / 10.0;
        Latency {
            count: h.count(),
            min: us(h.min()),
            mean: us(h.mean() as u64),
            p50: us(h.quantile(0.5)),
            p90: us(h.quantile(0.9)),
            p99: us(h.quantile(0.99)),
            p999: us(h.quantile(0.999)),
            max: us(h.max()),
        }
    }
}

#[derive(Serialize, Debug)]
pub struct ErrorCount {
    pub count: u64,
    pub example: String,
}

#[derive(Serialize, Debug)]
pub struct Generator {
    /// User + system CPU of kumo-bench over the window (conn: from the
    /// first connect to the end of the hold; broker CPU likewise).
    pub cpu_secs: f64,
    pub wall_secs: f64,
    pub cpu_pct_one_core: f64,
    pub cpu_pct_all_cores: f64,
    /// Cores it could use: min(--threads, available cores).
    pub cores: usize,
}

#[derive(Serialize, Debug)]
pub struct Broker {
    pub pid: u32,
    /// utime + stime over the window, seconds.
    pub cpu_secs: f64,
    pub cpu_pct_one_core: f64,
    /// Broker CPU seconds per million messages delivered in the window.
    pub cpu_secs_per_million_delivered: Option<f64>,
    pub rss_kb: u64,
    pub hwm_kb: u64,
    pub rss_before_connect_kb: u64,
    pub rss_connected_kb: u64,
    /// (RSS once connected − RSS before) / connections.
    pub rss_per_connection_bytes: Option<f64>,
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (n as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    pub fn build(i: Inputs<'_>) -> Report {
        let o = i.opts;
        let cores = i.threads.min(crate::sys::available_cores()).max(1);
        let one = if i.cpu_wall_secs > 0.0 {
            i.cpu_secs / i.cpu_wall_secs * 100.0
        } else {
            0.0
        };
        let all = one / cores as f64;
        let saturated = all / 100.0 > SATURATION;
        let mtls = if o.gen_certs {
            Some("generated".into())
        } else if o.certs_dir.is_some() {
            Some("certs-dir".into())
        } else if o.cert.is_some() {
            Some("one-cert".into())
        } else {
            None
        };
        let broker = i.broker.map(|b| {
            let cpu = b.after.cpu.saturating_sub(b.before.cpu).as_secs_f64();
            Broker {
                pid: b.pid,
                cpu_secs: r3(cpu),
                cpu_pct_one_core: if i.cpu_wall_secs > 0.0 {
                    (cpu / i.cpu_wall_secs * 1000.0).round() / 10.0
                } else {
                    0.0
                },
                cpu_secs_per_million_delivered: (i.delivered_window > 0)
                    .then(|| r3(cpu / (i.delivered_window as f64 / 1e6))),
                rss_kb: b.after.rss_kb,
                hwm_kb: b.after.hwm_kb,
                rss_before_connect_kb: b.at_start.rss_kb,
                rss_connected_kb: b.connected.rss_kb,
                rss_per_connection_bytes: (i.connected > 0).then(|| {
                    ((b.connected.rss_kb as f64 - b.at_start.rss_kb as f64) * 1024.0
                        / i.connected as f64)
                        .round()
                }),
            }
        });
        Report {
            scenario: i.scenario.into(),
            config: Config {
                mqtt: match o.mqtt {
                    crate::cli::MqttVersion::V3 => "3.1.1".into(),
                    crate::cli::MqttVersion::V5 => "5".into(),
                },
                qos: o.qos,
                clients: o.clients,
                publishers: o.publishers,
                subscribers: o.subscribers,
                payload_size: o.payload_size,
                rate_per_client: o.rate,
                inflight: o.inflight,
                duration_secs: o.duration,
                warmup_secs: i.warmup,
                count: o.count,
                host: o.host.clone(),
                port: o.port,
                tls: o.tls,
                mtls,
                alpn: o.alpn.clone(),
                source_ips: o.source_ips.as_ref().map(|l| l.0.len()).unwrap_or(0),
                threads: i.threads,
            },
            window_secs: r3(i.window_secs),
            connections: Connections {
                planned: i.clients_planned,
                connected: i.connected,
                failed: i.clients_planned - i.connected,
                connect_secs: r3(i.connect_secs),
                connects_per_sec: rate(i.connected, i.connect_secs),
                latency_us: Latency::of(i.connect_lat),
                tls_setup_secs: r3(i.tls_setup_secs),
            },
            messages: Messages {
                sent: i.sent,
                sent_total: i.sent_total,
                acked: i.acked,
                unacked: i.unacked,
                expected_total: i.expected_total,
                received: i.received,
                received_total: i.received_total,
                delivered_in_window: i.delivered_window,
                sent_per_sec: rate(i.sent, i.window_secs),
                received_per_sec: rate(i.delivered_window, i.window_secs),
                lost: i.lost,
                duplicates: i.duplicates,
                foreign: i.foreign,
            },
            latency_us: Latency::of(i.latency),
            errors: i
                .errors
                .into_iter()
                .map(|(k, (count, example))| (k, ErrorCount { count, example }))
                .collect(),
            generator: Generator {
                cpu_secs: r3(i.cpu_secs),
                wall_secs: r3(i.cpu_wall_secs),
                cpu_pct_one_core: (one * 10.0).round() / 10.0,
                cpu_pct_all_cores: (all * 10.0).round() / 10.0,
                cores,
            },
            generator_saturated: saturated,
            broker,
        }
    }

    /// The human table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let c = &self.config;
        let m = &self.messages;
        let _ = writeln!(
            s,
            "kumo-bench {}  mqtt {}  qos {}  payload {} B  {}{}",
            self.scenario,
            c.mqtt,
            c.qos,
            c.payload_size,
            if c.tls { "tls" } else { "tcp" },
            c.mtls
                .as_deref()
                .map(|m| format!(" mtls({m})"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "window        {:.2} s (warm-up {:.1} s excluded)",
            self.window_secs, c.warmup_secs
        );
        let k = &self.connections;
        let _ = writeln!(
            s,
            "connections   {}/{} connected, {} failed, {:.1}/s over {:.1} ms",
            k.connected,
            k.planned,
            k.failed,
            k.connects_per_sec,
            k.connect_secs * 1000.0
        );
        let _ = writeln!(s, "  connect µs  {}", lat_line(&k.latency_us));
        if m.sent_total > 0 || m.received_total > 0 {
            let _ = writeln!(
                s,
                "sent          {:>12}  {:>12.1}/s   (whole run {}, acked {}, unacked {})",
                m.sent, m.sent_per_sec, m.sent_total, m.acked, m.unacked
            );
            let _ = writeln!(
                s,
                "received      {:>12}  {:>12.1}/s   (delivered in window {}, whole run {})",
                m.received, m.received_per_sec, m.delivered_in_window, m.received_total
            );
            let _ = writeln!(
                s,
                "lost          {:>12}   duplicates {}{}",
                m.lost
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| "n/a".into()),
                m.duplicates,
                if m.foreign > 0 {
                    format!("   foreign {}", m.foreign)
                } else {
                    String::new()
                }
            );
            let _ = writeln!(s, "latency µs    {}", lat_line(&self.latency_us));
        }
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors        none");
        } else {
            for (kind, e) in &self.errors {
                let _ = writeln!(s, "error         {kind}: {} (e.g. {})", e.count, e.example);
            }
        }
        let g = &self.generator;
        let _ = writeln!(
            s,
            "generator cpu {:.2} s = {:.1}% of one core, {:.1}% of {} core(s)",
            g.cpu_secs, g.cpu_pct_one_core, g.cpu_pct_all_cores, g.cores
        );
        if let Some(b) = &self.broker {
            let _ = writeln!(
                s,
                "broker pid {}  cpu {:.3} s ({:.1}% of one core){}  rss {} KB (peak {} KB){}",
                b.pid,
                b.cpu_secs,
                b.cpu_pct_one_core,
                b.cpu_secs_per_million_delivered
                    .map(|x| format!(", {x:.3} s per million delivered"))
                    .unwrap_or_default(),
                b.rss_kb,
                b.hwm_kb,
                b.rss_per_connection_bytes
                    .map(|x| format!(", {x:.0} B per connection"))
                    .unwrap_or_default()
            );
        }
        if self.generator_saturated {
            let _ = writeln!(
                s,
                "WARNING: kumo-bench used {:.0}% of the {} core(s) it could use: the generator, not the broker, may be the bottleneck",
                g.cpu_pct_all_cores, g.cores
            );
        }
        s
    }
}

fn lat_line(l: &Latency) -> String {
    if l.count == 0 {
        return "-".into();
    }
    format!(
        "p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  (n={})",
        l.p50, l.p90, l.p99, l.p999, l.max, l.count
    )
}

/// A progress bar on stderr for runs longer than a few seconds.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(o: &Opts, scenario: &str, secs: f64) -> Progress {
        let show = !o.quiet && std::io::stderr().is_terminal() && (secs > 3.0 || o.count.is_some());
        let bar = show.then(|| {
            let b = ProgressBar::new((secs * 10.0) as u64);
            b.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {elapsed_precise} {msg}")
                    .unwrap()
                    .progress_chars("=> "),
            );
            b.set_prefix(scenario.to_owned());
            b.set_message("connecting");
            b
        });
        Progress { bar }
    }

    pub fn connected(&self, n: u64) {
        if let Some(b) = &self.bar {
            if n == 1 || n.trailing_zeros() >= 6 {
                b.set_message(format!("{n} connected"));
            }
        }
    }

    pub fn start_load(&self) {
        if let Some(b) = &self.bar {
            b.reset_elapsed();
        }
    }

    pub fn spawn_ticker(&self, ctx: Arc<Ctx>) -> tokio::task::JoinHandle<()> {
        let bar = self.bar.clone();
        tokio::spawn(async move {
            let Some(bar) = bar else { return };
            let mut last = (ctx.sent.load(Relaxed), ctx.received.load(Relaxed));
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = (ctx.sent.load(Relaxed), ctx.received.load(Relaxed));
                bar.set_message(format!(
                    "sent {}/s  recv {}/s",
                    (now.0 - last.0) * 2,
                    (now.1 - last.1) * 2
                ));
                bar.inc(5);
                last = now;
            }
        })
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
