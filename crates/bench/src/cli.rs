//! Command line: one subcommand per scenario, the connection and load
//! options shared by all of them.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "kumo-bench",
    version,
    about = "MQTT load generator: connection storms and publish/subscribe scenarios over TCP, TLS and mutual TLS",
    after_help = "Scenarios: conn, pub, sub, p2p, fan-in, fan-out, shadow. See `kumo-bench SCENARIO --help`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Scenario {
    /// Connect N clients at a target rate and hold them for --duration.
    Conn(Opts),
    /// N publishers, one topic each (--topic, `%i` = client index); no subscribers.
    Pub(Opts),
    /// N subscribers of one filter (--topic); counts what arrives.
    Sub(Opts),
    /// N publishers → N subscribers, one topic per pair.
    P2p(Opts),
    /// N publishers → one shared subscription group ($share/bench/...) of M subscribers.
    FanIn(Opts),
    /// 1 publisher → N subscribers of one topic.
    FanOut(Opts),
    /// Device shadow updates: N connections (-P) update --things shadows
    /// ($aws/things/.../shadow/update), each with --inflight requests
    /// outstanding; "received" counts update/accepted answers.
    Shadow(Opts),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Conn(_) => "conn",
            Scenario::Pub(_) => "pub",
            Scenario::Sub(_) => "sub",
            Scenario::P2p(_) => "p2p",
            Scenario::FanIn(_) => "fan-in",
            Scenario::FanOut(_) => "fan-out",
            Scenario::Shadow(_) => "shadow",
        }
    }
    pub fn opts(&self) -> &Opts {
        match self {
            Scenario::Conn(o)
            | Scenario::Pub(o)
            | Scenario::Sub(o)
            | Scenario::P2p(o)
            | Scenario::FanIn(o)
            | Scenario::FanOut(o)
            | Scenario::Shadow(o) => o,
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 3.1.1
    #[value(name = "3")]
    V3,
    /// MQTT 5.0
    #[value(name = "5")]
    V5,
}

#[derive(Args, Debug, Clone)]
pub struct Opts {
    // --- target ---
    /// Broker host name or IP address.
    #[arg(long, short = 'H', default_value = "127.0.0.1")]
    pub host: String,
    /// Broker port (default 1883, or 8883 with --tls).
    #[arg(long, short = 'p')]
    pub port: Option<u16>,
    /// MQTT protocol version: 3 (= 3.1.1) or 5.
    #[arg(long, value_enum, default_value = "5")]
    pub mqtt: MqttVersion,

    // --- load ---
    /// Clients for `conn`, `pub` and `sub`.
    #[arg(long, short = 'c', default_value_t = 10)]
    pub clients: usize,
    /// Publishers (p2p: also the number of subscribers; fan-in: N; fan-out: always 1).
    #[arg(long, short = 'P', default_value_t = 10)]
    pub publishers: usize,
    /// Subscribers (fan-in: group size M; fan-out: N).
    #[arg(long, short = 'S', default_value_t = 10)]
    pub subscribers: usize,
    /// Things whose shadows `shadow` updates, spread over the connections.
    #[arg(long, default_value_t = 1000)]
    pub things: usize,
    /// QoS of publishes and subscriptions.
    #[arg(long, short = 'q', default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// Payload bytes (at least 20: the sequence/timestamp/publisher header).
    #[arg(long, short = 's', default_value_t = 64)]
    pub payload_size: usize,
    /// Messages per second per publisher; 0 = as fast as the window allows.
    #[arg(long, short = 'r', default_value_t = 0.0)]
    pub rate: f64,
    /// QoS 1/2 messages a publisher may have unacknowledged (also the
    /// Receive Maximum subscribers announce with MQTT 5).
    #[arg(long, default_value_t = 100)]
    pub inflight: u16,
    /// Seconds of measured load (conn: seconds to hold the connections).
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before the measured window (excluded from the stats).
    /// Default: 1 for throughput runs, 0 with --count.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Stop each publisher after N messages (instead of --duration) and wait
    /// for subscribers to receive everything (or --drain-timeout).
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// Seconds to wait after publishing stops for messages still on their way.
    #[arg(long, default_value_t = 10.0)]
    pub drain_timeout: f64,
    /// Topic: `pub` publishes to it (`%i` = publisher index, default
    /// "bench/pub/%i"); `sub` subscribes to it (default "bench/#").
    #[arg(long, short = 't')]
    pub topic: Option<String>,
    /// Prefix of topics (p2p, fan-in, fan-out) and client ids, so two runs on
    /// one broker do not collide. Default: "kb<pid>".
    #[arg(long)]
    pub prefix: Option<String>,
    /// New connections per second over all clients; 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    pub connect_rate: f64,
    /// Connection attempts in progress at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Seconds a connection (TCP + TLS + CONNACK) may take.
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout: f64,
    /// MQTT keep-alive, seconds.
    #[arg(long, default_value_t = 60)]
    pub keepalive: u16,
    /// Persistent sessions: MQTT 5 Session Expiry Interval (seconds) in
    /// CONNECT; for MQTT 3.1.1 any value > 0 means Clean Session = 0. With
    /// Kumo's store this measures QoS 1/2 to persistent sessions, which are
    /// acknowledged only once on disk (durability = "sync").
    #[arg(long, default_value_t = 0)]
    pub session_expiry: u32,

    // --- transport ---
    /// Use TLS.
    #[arg(long)]
    pub tls: bool,
    /// PEM CA bundle that signs the server certificate (default: system
    /// roots are NOT loaded; give this with --tls).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, one for all connections.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key of --cert (PEM).
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Folder of kits, NAME.cert.pem + NAME.private.key, one per connection
    /// (reused round-robin when there are fewer kits than connections).
    #[arg(long, conflicts_with_all = ["cert", "gen_certs"])]
    pub certs_dir: Option<PathBuf>,
    /// Generate an ECDSA P-256 client certificate per connection, signed by
    /// --ca-cert/--ca-key, before the run (not timed).
    #[arg(long, requires_all = ["ca_cert", "ca_key"], conflicts_with = "cert")]
    pub gen_certs: bool,
    /// CA certificate (PEM) for --gen-certs.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// CA private key (PEM) for --gen-certs.
    #[arg(long)]
    pub ca_key: Option<PathBuf>,
    /// ALPN protocol to offer, e.g. x-amzn-mqtt-ca.
    #[arg(long)]
    pub alpn: Option<String>,
    /// Server name for SNI and certificate checks (default: --host).
    #[arg(long)]
    pub sni: Option<String>,
    /// Resume TLS sessions (off by default: every connection does a full handshake).
    #[arg(long)]
    pub tls_resume: bool,
    /// Source addresses to bind, round-robin: "127.0.0.2-127.0.0.20" or a
    /// comma-separated list. Goes beyond one address's ephemeral ports.
    #[arg(long, value_parser = parse_ips)]
    pub source_ips: Option<IpList>,

    // --- runtime and output ---
    /// Tokio worker threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the report as JSON to FILE ("-" = stdout, replacing the table).
    #[arg(long)]
    pub json: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Broker process id: report its CPU time and RSS over the measured window.
    #[arg(long)]
    pub broker_pid: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct IpList(pub Vec<Ipv4Addr>);

fn parse_ips(s: &str) -> Result<IpList, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: Ipv4Addr = a.trim().parse().map_err(|e| format!("{a}: {e}"))?;
            let b: Ipv4Addr = b.trim().parse().map_err(|e| format!("{b}: {e}"))?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a > 1 << 20 {
                return Err(format!("bad range {part}"));
            }
            out.extend((a..=b).map(Ipv4Addr::from));
        } else {
            out.push(part.parse().map_err(|e| format!("{part}: {e}"))?);
        }
    }
    if out.is_empty() {
        return Err("no addresses".into());
    }
    Ok(IpList(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_ranges() {
        let l = parse_ips("127.0.0.2-127.0.0.4,127.0.1.1").unwrap().0;
        assert_eq!(l.len(), 4);
        assert_eq!(l[2], Ipv4Addr::new(127, 0, 0, 4));
        assert!(parse_ips("127.0.0.4-127.0.0.2").is_err());
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let c = Cli::try_parse_from(["kumo-bench", "p2p", "-P", "4", "--qos", "1", "--mqtt", "3"])
            .unwrap();
        assert_eq!(c.scenario.opts().publishers, 4);
        assert_eq!(c.scenario.opts().mqtt, MqttVersion::V3);
    }
}
