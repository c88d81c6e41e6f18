//! The run, in phases: build TLS identities (not timed) → connect and
//! SUBACK every subscriber → connect every publisher → start publishing
//! (warm-up, then the measured window) → stop → drain → disconnect →
//! merge what each client measured into a [`Report`].

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use kumo_mqtt::{ProtocolVersion, QoS};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::cli::{MqttVersion, Opts, Scenario};
use crate::conn::{connect, Client, Failure};
use crate::hist::Histogram;
use crate::report::{self, Report};
use crate::roles::{self, PubResult, SeqSet, SubResult, HEADER};
use crate::shadow;
use crate::sys;
use crate::tls::{self, Tls};

/// The measured window, in ns since [`Ctx::base`].
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start_ns: u64,
    /// u64::MAX while unknown (runs with --count).
    pub end_ns: u64,
}

/// A publisher's result, and what it received when it also receives (shadow).
type PublisherOutcome = (PubResult, Option<SubResult>);

/// What every client task shares.
pub struct Ctx {
    pub opts: Opts,
    pub version: ProtocolVersion,
    pub addr: SocketAddr,
    pub tls: Option<Tls>,
    pub source_ips: Vec<Ipv4Addr>,
    pub prefix: String,
    /// Time zero of every timestamp in payloads.
    pub base: tokio::time::Instant,
    /// Messages sent / PUBLISHes received so far (progress and drain).
    pub sent: AtomicU64,
    pub received: AtomicU64,
    errors: Mutex<BTreeMap<String, (u64, String)>>,
}

impl Ctx {
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Count an error under `kind`, keeping the first detail as an example.
    pub fn error(&self, kind: &str, detail: impl std::fmt::Display) {
        let mut e = self.errors.lock().unwrap();
        let entry = e
            .entry(kind.to_owned())
            .or_insert_with(|| (0, detail.to_string()));
        entry.0 += 1;
    }
}

/// Who connects, in which role, to which topic.
struct Plan {
    subscribers: Vec<String>,
    publishers: Vec<String>,
    idle: usize,
    /// Deliveries each message should make (fan-out: N subscribers).
    fanout: u64,
    /// For loss: the group each subscriber counts into and which publishers
    /// that group expects every message of.
    groups: Groups,
}

enum Groups {
    /// Subscriber i expects publisher i only.
    PerPair,
    /// All subscribers form one group expecting every publisher.
    Shared,
    /// Every subscriber expects every publisher.
    Each,
    /// Nothing is expected (pub, sub, conn).
    None,
}

fn plan(s: &Scenario, prefix: &str) -> Result<Plan> {
    let o = s.opts();
    let p = match s {
        Scenario::Conn(_) => Plan {
            subscribers: vec![],
            publishers: vec![],
            idle: o.clients,
            fanout: 0,
            groups: Groups::None,
        },
        Scenario::Pub(_) => {
            let t = o.topic.clone().unwrap_or_else(|| "bench/pub/%i".into());
            Plan {
                subscribers: vec![],
                publishers: (0..o.clients)
                    .map(|i| t.replace("%i", &i.to_string()))
                    .collect(),
                idle: 0,
                fanout: 0,
                groups: Groups::None,
            }
        }
        Scenario::Sub(_) => {
            let t = o.topic.clone().unwrap_or_else(|| "bench/#".into());
            Plan {
                subscribers: vec![t; o.clients],
                publishers: vec![],
                idle: 0,
                fanout: 0,
                groups: Groups::None,
            }
        }
        Scenario::P2p(_) => Plan {
            subscribers: (0..o.publishers)
                .map(|i| format!("{prefix}/p2p/{i}"))
                .collect(),
            publishers: (0..o.publishers)
                .map(|i| format!("{prefix}/p2p/{i}"))
                .collect(),
            idle: 0,
            fanout: 1,
            groups: Groups::PerPair,
        },
        Scenario::FanIn(_) => Plan {
            subscribers: vec![format!("$share/bench/{prefix}/fanin/+"); o.subscribers],
            publishers: (0..o.publishers)
                .map(|i| format!("{prefix}/fanin/{i}"))
                .collect(),
            idle: 0,
            fanout: 1,
            groups: Groups::Shared,
        },
        Scenario::FanOut(_) => Plan {
            subscribers: vec![format!("{prefix}/fanout"); o.subscribers],
            publishers: vec![format!("{prefix}/fanout")],
            idle: 0,
            fanout: o.subscribers as u64,
            groups: Groups::Each,
        },
        // One "publisher" per connection; its topic is the prefix of its
        // things' names (`{prefix}-{connection}-{k}`).
        Scenario::Shadow(_) => {
            if o.things < o.publishers.max(1) {
                bail!("--things must be at least the number of connections (-P)");
            }
            Plan {
                subscribers: vec![],
                publishers: (0..o.publishers).map(|i| format!("{prefix}-{i}")).collect(),
                idle: 0,
                fanout: 0,
                groups: Groups::None,
            }
        }
    };
    Ok(p)
}

/// Connects started at a target rate with a bounded number in progress.
struct Pacer {
    rate: f64,
    started: u64,
    t0: tokio::time::Instant,
    gate: Arc<Semaphore>,
}

impl Pacer {
    fn new(o: &Opts) -> Pacer {
        Pacer {
            rate: o.connect_rate,
            started: 0,
            t0: tokio::time::Instant::now(),
            gate: Arc::new(Semaphore::new(o.connect_concurrency.max(1))),
        }
    }
    async fn next(&mut self) -> tokio::sync::OwnedSemaphorePermit {
        if self.rate > 0.0 {
            tokio::time::sleep_until(
                self.t0 + Duration::from_secs_f64(self.started as f64 / self.rate),
            )
            .await;
        }
        self.started += 1;
        self.gate.clone().acquire_owned().await.unwrap()
    }
}

/// Outcome of one connection attempt: Ok(connect latency in ns).
type ConnEvent = Result<u64, Failure>;

async fn connect_timed(ctx: &Ctx, index: usize, id: String) -> (Result<Client, Failure>, u64) {
    let t = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs_f64(ctx.opts.connect_timeout),
        connect(ctx, index, id),
    )
    .await;
    let ns = t.elapsed().as_nanos() as u64;
    (
        r.unwrap_or_else(|_| Err(Failure::new("connect_timeout", "no CONNACK in time"))),
        ns,
    )
}

/// Run the scenario; the caller prints the report.
pub async fn run(scenario: Scenario) -> Result<Report> {
    let o = scenario.opts().clone();
    if o.payload_size < HEADER {
        bail!("--payload-size must be at least {HEADER} (the sequence/timestamp/publisher header)");
    }
    if o.qos > 0 && o.inflight == 0 {
        bail!("--inflight must be at least 1");
    }
    let prefix = o
        .prefix
        .clone()
        .unwrap_or_else(|| format!("kb{}", std::process::id()));
    let plan = plan(&scenario, &prefix)?;
    let n_conn = plan.subscribers.len() + plan.publishers.len() + plan.idle;
    let port = o.port.unwrap_or(if o.tls { 8883 } else { 1883 });
    let addr = (o.host.as_str(), port)
        .to_socket_addrs()?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| anyhow!("{} has no IPv4 address", o.host))?;
    let t_tls = Instant::now();
    let tls = tls::build(&o, n_conn)?;
    let tls_setup_secs = t_tls.elapsed().as_secs_f64();
    let warmup = o.warmup.unwrap_or(
        if o.count.is_some() || matches!(scenario, Scenario::Conn(_)) {
            0.0
        } else {
            1.0
        },
    );
    let ctx = Arc::new(Ctx {
        version: match o.mqtt {
            MqttVersion::V3 => ProtocolVersion::V311,
            MqttVersion::V5 => ProtocolVersion::V5,
        },
        addr,
        tls,
        source_ips: o.source_ips.clone().map(|l| l.0).unwrap_or_default(),
        prefix: prefix.clone(),
        base: tokio::time::Instant::now(),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
        opts: o.clone(),
    });
    let qos = QoS::from_u8(o.qos).unwrap();
    let progress = report::Progress::new(&o, scenario.name(), warmup + o.duration);

    let (start_tx, start_rx) = watch::channel::<Option<Window>>(None);
    let (done_tx, done_rx) = watch::channel(false);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<ConnEvent>();
    let mut connect_lat = Histogram::new();
    let mut connected = 0u64;
    let mut pacer = Pacer::new(&o);
    let cpu0 = sys::self_cpu();
    let broker0 = o.broker_pid.map(sys::proc_sample).transpose()?;
    let conn_t0 = Instant::now();
    let conn_start_ns = ctx.now_ns();
    let mut next_index = 0usize;

    // Phase 1: subscribers, each SUBACKed.
    let mut subs: Vec<JoinHandle<Option<SubResult>>> = Vec::new();
    for filter in &plan.subscribers {
        let filter = filter.clone();
        let permit = pacer.next().await;
        let (ctx2, ev, st, dn) = (
            ctx.clone(),
            ev_tx.clone(),
            start_rx.clone(),
            done_rx.clone(),
        );
        let i = next_index;
        next_index += 1;
        subs.push(tokio::spawn(async move {
            let id = format!("{}-s{i}", ctx2.prefix);
            let (res, ns) = connect_timed(&ctx2, i, id).await;
            let mut client = match res {
                Ok(c) => c,
                Err(f) => {
                    drop(permit);
                    let _ = ev.send(Err(f));
                    return None;
                }
            };
            drop(permit);
            if let Err(f) = client.subscribe(&filter, qos).await {
                let _ = ev.send(Err(f));
                return None;
            }
            let _ = ev.send(Ok(ns));
            roles::subscriber(ctx2, client, st, dn).await.ok()
        }));
    }
    wait_events(
        &ctx,
        &mut ev_rx,
        plan.subscribers.len(),
        &mut connect_lat,
        &mut connected,
        &progress,
    )
    .await;
    let subs_ready = connected;

    // Phase 2: publishers and idle clients.
    // A shadow client is a publisher that also receives (its answers).
    let mut pubs: Vec<JoinHandle<Option<PublisherOutcome>>> = Vec::new();
    let is_shadow = matches!(scenario, Scenario::Shadow(_));
    for (pi, topic) in plan.publishers.iter().cloned().enumerate() {
        let permit = pacer.next().await;
        let (ctx2, ev, st) = (ctx.clone(), ev_tx.clone(), start_rx.clone());
        let i = next_index;
        next_index += 1;
        let things: Vec<String> = if is_shadow {
            // Thing k goes to connection k mod P.
            (pi..o.things)
                .step_by(plan.publishers.len())
                .map(|k| format!("{topic}-{k}"))
                .collect()
        } else {
            Vec::new()
        };
        pubs.push(tokio::spawn(async move {
            let id = format!("{}-p{pi}", ctx2.prefix);
            let (res, ns) = connect_timed(&ctx2, i, id).await;
            drop(permit);
            match res {
                Ok(mut c) if is_shadow => {
                    if let Err(f) = shadow::subscribe(&mut c, &things, qos).await {
                        let _ = ev.send(Err(f));
                        return None;
                    }
                    let _ = ev.send(Ok(ns));
                    match shadow::client(ctx2.clone(), pi as u32, things, c, st).await {
                        Ok((p, s)) => Some((p, Some(s))),
                        Err(f) => {
                            ctx2.error(&f.kind, &f.detail);
                            None
                        }
                    }
                }
                Ok(c) => {
                    let _ = ev.send(Ok(ns));
                    match roles::publisher(ctx2.clone(), pi as u32, topic, c, st).await {
                        Ok(r) => Some((r, None)),
                        Err(f) => {
                            ctx2.error(&f.kind, &f.detail);
                            None
                        }
                    }
                }
                Err(f) => {
                    let _ = ev.send(Err(f));
                    None
                }
            }
        }));
    }
    let mut idles = Vec::new();
    for k in 0..plan.idle {
        let permit = pacer.next().await;
        let (ctx2, ev, dn) = (ctx.clone(), ev_tx.clone(), done_rx.clone());
        let i = next_index;
        next_index += 1;
        idles.push(tokio::spawn(async move {
            let id = format!("{}-c{k}", ctx2.prefix);
            let (res, ns) = connect_timed(&ctx2, i, id).await;
            drop(permit);
            match res {
                Ok(c) => {
                    let _ = ev.send(Ok(ns));
                    roles::idle(ctx2, c, dn).await;
                }
                Err(f) => {
                    let _ = ev.send(Err(f));
                }
            }
        }));
    }
    wait_events(
        &ctx,
        &mut ev_rx,
        plan.publishers.len() + plan.idle,
        &mut connect_lat,
        &mut connected,
        &progress,
    )
    .await;
    let connect_secs = conn_t0.elapsed().as_secs_f64();
    let broker_connected = o.broker_pid.map(sys::proc_sample).transpose()?;

    // Phase 3: load. The measured window starts after the warm-up.
    let is_conn = matches!(scenario, Scenario::Conn(_));
    let t0 = ctx.now_ns();
    let ws = if is_conn {
        0
    } else {
        t0 + (warmup * 1e9) as u64
    };
    let we = if o.count.is_some() {
        u64::MAX
    } else {
        t0 + ((warmup + o.duration) * 1e9) as u64
    };
    let _ = start_tx.send(Some(Window {
        start_ns: ws,
        end_ns: we,
    }));
    progress.start_load();
    let ticker = progress.spawn_ticker(ctx.clone());
    let at = |ns: u64| ctx.base + Duration::from_nanos(ns);
    let (mut cpu_ws, mut broker_ws) = (cpu0, broker0);
    if !is_conn {
        tokio::time::sleep_until(at(ws)).await;
        cpu_ws = sys::self_cpu();
        broker_ws = o.broker_pid.map(sys::proc_sample).transpose()?;
    }
    let mut end_samples = None;
    if we != u64::MAX {
        tokio::time::sleep_until(at(we)).await;
        end_samples = Some((
            ctx.now_ns(),
            sys::self_cpu(),
            o.broker_pid.map(sys::proc_sample).transpose()?,
        ));
    }
    // Publishers stop by themselves (window end or --count) and wait for their acks.
    let mut pub_results = Vec::new();
    let mut shadow_results = Vec::new();
    for h in pubs {
        if let Ok(Some((r, s))) = h.await {
            pub_results.push(r);
            shadow_results.extend(s);
        }
    }
    // Drain: wait for every expected delivery (or the timeout, or QoS 0 silence).
    let sent_total: u64 = pub_results.iter().map(|r| r.sent_total).sum();
    let expected_total = sent_total * plan.fanout.min(subs_ready);
    let drain_deadline = Instant::now() + Duration::from_secs_f64(o.drain_timeout);
    if !plan.publishers.is_empty() && !plan.subscribers.is_empty() {
        let mut last = (ctx.received.load(Relaxed), Instant::now());
        while ctx.received.load(Relaxed) < expected_total && Instant::now() < drain_deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let r = ctx.received.load(Relaxed);
            if r != last.0 {
                last = (r, Instant::now());
            } else if qos == QoS::AtMostOnce && last.1.elapsed() > Duration::from_secs(1) {
                break; // QoS 0: what has not come by now was dropped
            }
        }
    }
    let (end_ns, cpu_we, broker_we) = match end_samples {
        Some(s) => s,
        None => (
            ctx.now_ns(),
            sys::self_cpu(),
            o.broker_pid.map(sys::proc_sample).transpose()?,
        ),
    };
    let _ = done_tx.send(true);
    ticker.abort();
    progress.finish();
    let mut sub_results = shadow_results;
    for h in subs {
        if let Ok(Some(r)) = h.await {
            sub_results.push(r);
        }
    }
    for h in idles {
        let _ = h.await;
    }
    drop(ev_tx);

    // Merge.
    let window_secs = if is_conn {
        (end_ns as f64 - t0 as f64) / 1e9
    } else if o.count.is_some() {
        let last_recv = sub_results
            .iter()
            .map(|r| r.last_recv_ns)
            .max()
            .unwrap_or(0);
        let last_send = pub_results
            .iter()
            .map(|r| r.last_send_ns)
            .max()
            .unwrap_or(0);
        (last_recv.max(last_send).max(ws + 1) - ws) as f64 / 1e9
    } else {
        (we - ws) as f64 / 1e9
    };
    let mut latency = Histogram::new();
    let (mut received, mut delivered_window, mut duplicates, mut foreign, mut received_total) =
        (0, 0, 0, 0, 0);
    for r in &sub_results {
        latency.merge(&r.latency);
        received += r.received;
        delivered_window += r.delivered_window;
        duplicates += r.duplicates;
        foreign += r.foreign;
        received_total += r.total;
    }
    let per_pub: BTreeMap<u32, u64> = pub_results
        .iter()
        .map(|r| (r.index, r.sent_total))
        .collect();
    let mut lost = 0u64;
    let mut lost_applies = true;
    match plan.groups {
        Groups::None => lost_applies = false,
        Groups::PerPair => {
            // Subscriber i is spawned i-th; a failed one shows as all lost.
            let by_pub: Vec<&SubResult> = sub_results.iter().collect();
            let mut seen: BTreeMap<u32, u64> = BTreeMap::new();
            for r in by_pub {
                for (p, s) in &r.seqs {
                    if let Some(&n) = per_pub.get(p) {
                        *seen.entry(*p).or_default() += s.count_below(n);
                    }
                }
            }
            for (p, n) in &per_pub {
                lost += n.saturating_sub(seen.get(p).copied().unwrap_or(0));
            }
        }
        Groups::Shared => {
            let mut merged: BTreeMap<u32, SeqSet> = BTreeMap::new();
            for r in &sub_results {
                for (p, s) in &r.seqs {
                    duplicates += merged.entry(*p).or_default().merge(s);
                }
            }
            for (p, n) in &per_pub {
                lost += n - merged.get(p).map(|s| s.count_below(*n)).unwrap_or(0);
            }
        }
        Groups::Each => {
            for r in &sub_results {
                for (p, n) in &per_pub {
                    lost += n - r.seqs.get(p).map(|s| s.count_below(*n)).unwrap_or(0);
                }
            }
            // Subscribers that never connected expected everything too.
            let missing = (o.subscribers as u64).saturating_sub(sub_results.len() as u64);
            lost += missing * sent_total;
        }
    }

    let cpu = cpu_we.saturating_sub(cpu_ws).as_secs_f64();
    // conn: CPU is counted from the first connect (the storm is the load).
    let wall = (end_ns.saturating_sub(if is_conn { conn_start_ns } else { ws })) as f64 / 1e9;
    let errors = ctx.errors.lock().unwrap().clone();
    Ok(Report::build(report::Inputs {
        scenario: scenario.name(),
        opts: &o,
        warmup,
        window_secs,
        tls_setup_secs,
        clients_planned: n_conn as u64,
        connected,
        connect_secs,
        connect_lat: &connect_lat,
        sent: pub_results.iter().map(|r| r.sent_window).sum(),
        sent_total,
        acked: pub_results.iter().map(|r| r.acked).sum(),
        unacked: pub_results.iter().map(|r| r.unacked).sum(),
        expected_total: if plan.fanout > 0 {
            Some(expected_total)
        } else {
            None
        },
        received,
        received_total,
        delivered_window,
        latency: &latency,
        lost: lost_applies.then_some(lost),
        duplicates,
        foreign,
        errors,
        cpu_secs: cpu,
        cpu_wall_secs: wall,
        threads: o.threads.unwrap_or_else(sys::available_cores),
        broker: o.broker_pid.map(|pid| report::BrokerInputs {
            pid,
            before: broker_ws.unwrap_or_default(),
            after: broker_we.unwrap_or_default(),
            at_start: broker0.unwrap_or_default(),
            connected: broker_connected.unwrap_or_default(),
        }),
    }))
}

async fn wait_events(
    ctx: &Ctx,
    rx: &mut mpsc::UnboundedReceiver<ConnEvent>,
    n: usize,
    lat: &mut Histogram,
    connected: &mut u64,
    progress: &report::Progress,
) {
    for _ in 0..n {
        match rx.recv().await {
            Some(Ok(ns)) => {
                lat.record(ns);
                *connected += 1;
                progress.connected(*connected);
            }
            Some(Err(f)) => ctx.error(&f.kind, &f.detail),
            None => return,
        }
    }
}
