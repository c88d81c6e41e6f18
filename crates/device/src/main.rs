//! `kumo-device`: a device's MQTT tool and (later) agent, for Kumo and AWS
//! IoT Core alike.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kumo_device::shadow::{Delta, Shadow};
use kumo_device::{Client, Credentials, DeviceError, Event, Options};

#[derive(Parser)]
#[command(
    name = "kumo-device",
    version,
    about = "Connect a device to Kumo or AWS IoT Core: publish, subscribe, convert credentials"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Subscribe to a topic and publish to it, like the AWS IoT Device SDK's
    /// pubsub sample (same flags, same output): drops into start.sh.
    Pubsub(PubsubArgs),
    /// Publish one message (payload from --message, --file or stdin).
    Publish(PublishArgs),
    /// Subscribe and print the messages that arrive.
    Subscribe(SubscribeArgs),
    /// A device shadow: get, update, delete, watch its deltas, or keep a
    /// local JSON file in sync with it.
    Shadow {
        #[command(subcommand)]
        command: ShadowCommand,
    },
    /// The agent: one persistent connection, lines from a local socket
    /// published through an on-disk queue, a heartbeat; stops on SIGTERM.
    Run {
        /// The agent's configuration (see device.example.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Convert a certificate or private key between PEM and DER (for
    /// MicroPython boards), the direction taken from the input.
    Convert {
        /// The PEM or DER file to read.
        input: PathBuf,
        /// The file to write (not overwritten).
        output: PathBuf,
    },
}

/// Where and as whom to connect (the AWS samples' flag names), or a
/// connect kit's directory (its device.toml); flags override the kit.
#[derive(Args, Clone)]
struct ConnectArgs {
    /// A connect kit's directory: endpoint, port, files and client ID from
    /// its device.toml.
    #[arg(long)]
    kit: Option<PathBuf>,
    /// The endpoint: Kumo's host name, or your AWS IoT Core endpoint.
    #[arg(long, required_unless_present = "kit")]
    endpoint: Option<String>,
    /// 8883 (mutual TLS), or 443 (ALPN x-amzn-mqtt-ca).
    #[arg(long)]
    port: Option<u16>,
    /// The root CA that signed the server's certificate (the kit's root-CA.crt).
    #[arg(long = "ca_file", alias = "ca-file", required_unless_present = "kit")]
    ca_file: Option<PathBuf>,
    /// The device certificate (PEM or DER).
    #[arg(long, required_unless_present = "kit")]
    cert: Option<PathBuf>,
    /// The device's private key (PEM or DER).
    #[arg(long, required_unless_present = "kit")]
    key: Option<PathBuf>,
    /// MQTT client ID (default: the kit's, else "test-" and random digits,
    /// as the AWS samples).
    #[arg(long = "client_id", alias = "client-id")]
    client_id: Option<String>,
    /// Speak MQTT 5 (default: 3.1.1, as the AWS samples' MQTT 3 client).
    #[arg(long)]
    mqtt5: bool,
    /// Offer ALPN x-amzn-mqtt-ca although the port is not 443 (443
    /// forwarded to another port).
    #[arg(long)]
    alpn: bool,
}

impl ConnectArgs {
    fn options(&self, clean_session: bool) -> Result<Options, DeviceError> {
        let kit = match &self.kit {
            Some(dir) => Some(kumo_device::agent::load(&dir.join("device.toml"))?),
            None => None,
        };
        let pick = |flag: &Option<PathBuf>, from_kit: Option<&PathBuf>| {
            flag.clone()
                .or_else(|| from_kit.cloned())
                .unwrap_or_default()
        };
        Ok(Options {
            endpoint: self
                .endpoint
                .clone()
                .or_else(|| kit.as_ref().map(|k| k.endpoint.clone()))
                .unwrap_or_default(),
            port: self.port.or(kit.as_ref().map(|k| k.port)).unwrap_or(8883),
            credentials: Credentials {
                ca_file: pick(&self.ca_file, kit.as_ref().map(|k| &k.ca_file)),
                cert: pick(&self.cert, kit.as_ref().map(|k| &k.cert)),
                key: pick(&self.key, kit.as_ref().map(|k| &k.key)),
            },
            client_id: self
                .client_id
                .clone()
                .or_else(|| kit.as_ref().map(|k| k.client_id.clone()))
                .unwrap_or_else(|| {
                    format!("test-{}", (kumo_device::backoff::jitter() * 1e9) as u64)
                }),
            keep_alive: Duration::from_secs(30),
            clean_session,
            mqtt5: self.mqtt5,
            alpn: self.alpn,
        })
    }
}

#[derive(Subcommand)]
enum ShadowCommand {
    /// Print the shadow document (exit 1 if there is none).
    Get(ShadowArgs),
    /// Send an update request ({"state": {...}, "version"?: N}) from
    /// --payload, --file or stdin; print the accepted document.
    Update {
        #[command(flatten)]
        shadow: ShadowArgs,
        #[arg(long, conflicts_with = "file")]
        payload: Option<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Delete the shadow.
    Delete(ShadowArgs),
    /// Print each delta as a JSON line until stopped.
    Watch(ShadowArgs),
    /// Keep FILE (a JSON object) as the shadow's reported state: report it
    /// at start and whenever it changes; apply each delta to it (after
    /// HOOK, if given, accepted the delta on stdin with exit status 0) and
    /// report the result.
    Sync {
        #[command(flatten)]
        shadow: ShadowArgs,
        /// The local state file (created as {} if missing).
        file: PathBuf,
        /// A shell command run with each delta (JSON on stdin, also in
        /// $KUMO_SHADOW_DELTA); a non-zero exit leaves the delta unapplied.
        #[arg(long)]
        hook: Option<String>,
    },
}

#[derive(Args)]
struct ShadowArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The thing whose shadow it is (also the default client ID).
    #[arg(long)]
    thing: String,
    /// A named shadow (default: the classic shadow).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args)]
struct PubsubArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Topic to subscribe to and publish to.
    #[arg(long, default_value = "test/topic")]
    topic: String,
    /// Messages to publish; 0 = until stopped.
    #[arg(long, default_value_t = 10)]
    count: u64,
    /// The message text ([n] is appended).
    #[arg(long, default_value = "Hello World!")]
    message: String,
}

#[derive(Args)]
struct PublishArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[arg(long)]
    topic: String,
    /// The payload; without it --file, without that stdin.
    #[arg(long, conflicts_with = "file")]
    message: Option<String>,
    /// Read the payload from this file.
    #[arg(long)]
    file: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    qos: u8,
    #[arg(long)]
    retain: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SubscribeArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Topic filter (repeat for several).
    #[arg(long, required = true)]
    topic: Vec<String>,
    #[arg(long, default_value_t = 1)]
    qos: u8,
    /// Stop after this many messages (0 = until stopped).
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// One JSON object per message: {"topic","payload","qos","retain"}.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kumo-device: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kumo-device: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(command: Command) -> Result<(), DeviceError> {
    match command {
        Command::Pubsub(a) => pubsub(a).await,
        Command::Publish(a) => publish(a).await,
        Command::Subscribe(a) => subscribe(a).await,
        Command::Shadow { command } => shadow_command(command).await,
        Command::Run { config } => {
            kumo_device::agent::run(kumo_device::agent::load(&config)?).await
        }
        Command::Convert { input, output } => {
            let c = kumo_device::convert::convert(&input, &output)?;
            let form = if c.to_der { "DER" } else { "PEM" };
            println!(
                "{} → {} ({}, {form})",
                input.display(),
                output.display(),
                c.label
            );
            Ok(())
        }
    }
}

/// Python's repr of bytes, as the SDK sample prints payloads: b'...'.
fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c == quote as u8 => {
                s.push('\\');
                s.push(c as char);
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote);
    s
}

async fn pubsub(a: PubsubArgs) -> Result<(), DeviceError> {
    let opts = a.connect.options(false)?;
    println!(
        "Connecting to {} with client ID '{}'...",
        opts.endpoint, opts.client_id
    );
    let (client, mut events) = Client::connect(&opts).await?;
    println!("Connected!");
    println!("Subscribing to topic '{}'...", a.topic);
    client.subscribe(&a.topic, 1).await?;
    println!("Subscribed with QoS.AT_LEAST_ONCE");
    if a.count == 0 {
        println!("Sending messages until program killed");
    } else {
        println!("Sending {} message(s)", a.count);
    }
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (all_tx, mut all_rx) = tokio::sync::watch::channel(false);
    let topic = a.topic.clone();
    let count = a.count;
    let seen = received.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                Event::Message {
                    topic: t, payload, ..
                } if t == topic => {
                    println!(
                        "Received message from topic '{t}': {}",
                        bytes_repr(&payload)
                    );
                    let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if count > 0 && n >= count {
                        let _ = all_tx.send(true);
                    }
                }
                Event::Message { .. } => {}
                Event::Interrupted(why) => println!("Connection interrupted. error: {why}"),
                Event::Connected { session_present } => println!(
                    "Connection resumed. return_code: 0 session_present: {}",
                    if session_present { "True" } else { "False" }
                ),
                Event::Failed { reason, retry_in } => {
                    println!("Reconnect failed ({reason}); next attempt in {retry_in:.1?}")
                }
            }
        }
    });
    let mut n = 1;
    while a.count == 0 || n <= a.count {
        let text = format!("{} [{n}]", a.message);
        println!("Publishing message to topic '{}': {text}", a.topic);
        let payload = serde_json::to_vec(&text).unwrap_or_default();
        client.publish(&a.topic, 1, false, payload).await?;
        n += 1;
        if a.count == 0 || n <= a.count {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let all = tokio::time::timeout(Duration::from_secs(30), all_rx.wait_for(|d| *d)).await;
    let got = received.load(std::sync::atomic::Ordering::SeqCst);
    if all.is_err() {
        println!("Disconnecting...");
        let _ = client.disconnect().await;
        return Err(DeviceError::Connection(format!(
            "only {got} of {} messages came back on {}: does the policy allow iot:Receive on it?",
            a.count, a.topic
        )));
    }
    println!("{got} message(s) received.");
    println!("Disconnecting...");
    client.disconnect().await?;
    println!("Disconnected!");
    Ok(())
}

fn payload_of(message: Option<String>, file: Option<PathBuf>) -> Result<Vec<u8>, DeviceError> {
    match (message, file) {
        (Some(m), _) => Ok(m.into_bytes()),
        (None, Some(f)) => std::fs::read(&f).map_err(|e| {
            DeviceError::Invalid(format!("cannot read the payload file {}: {e}", f.display()))
        }),
        (None, None) => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                DeviceError::Invalid(format!("cannot read the payload from stdin: {e}"))
            })?;
            Ok(buf)
        }
    }
}

async fn publish(a: PublishArgs) -> Result<(), DeviceError> {
    let payload = payload_of(a.message, a.file)?;
    let opts = a.connect.options(true)?;
    let (client, _events) = Client::connect(&opts).await?;
    let bytes = payload.len();
    client.publish(&a.topic, a.qos, a.retain, payload).await?;
    client.disconnect().await?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"topic": a.topic, "qos": a.qos, "retain": a.retain, "bytes": bytes, "acknowledged": a.qos == 1})
        );
    }
    Ok(())
}

async fn subscribe(a: SubscribeArgs) -> Result<(), DeviceError> {
    let opts = a.connect.options(true)?;
    let (client, mut events) = Client::connect(&opts).await?;
    for t in &a.topic {
        client.subscribe(t, a.qos).await?;
    }
    eprintln!("Subscribed to {}; waiting for messages", a.topic.join(", "));
    let mut n = 0;
    while let Some(e) = events.recv().await {
        match e {
            Event::Message {
                topic,
                payload,
                qos,
                retain,
            } => {
                if a.json {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    println!(
                        "{}",
                        serde_json::json!({"topic": topic, "payload": text, "qos": qos, "retain": retain})
                    );
                } else {
                    println!("{topic} {}", String::from_utf8_lossy(&payload));
                }
                n += 1;
                if a.count > 0 && n >= a.count {
                    break;
                }
            }
            Event::Interrupted(why) => eprintln!("Connection interrupted: {why}"),
            Event::Connected { .. } => eprintln!("Connection resumed"),
            Event::Failed { reason, retry_in } => {
                eprintln!("Reconnect failed ({reason}); next attempt in {retry_in:.1?}")
            }
        }
    }
    client.disconnect().await
}

async fn open_shadow(
    a: &ShadowArgs,
) -> Result<
    (
        Shadow,
        tokio::sync::mpsc::Receiver<Delta>,
        tokio::sync::mpsc::Receiver<Event>,
    ),
    DeviceError,
> {
    let mut connect = a.connect.clone();
    connect.client_id.get_or_insert_with(|| a.thing.clone());
    let opts = connect.options(true)?;
    let (client, events) = Client::connect(&opts).await?;
    Shadow::open(client, events, &opts.client_id, &a.thing, a.name.as_deref()).await
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

async fn shadow_command(command: ShadowCommand) -> Result<(), DeviceError> {
    match command {
        ShadowCommand::Get(a) => {
            let (shadow, _, _) = open_shadow(&a).await?;
            match shadow.get().await? {
                Some(doc) => println!("{}", pretty(&doc)),
                None => {
                    return Err(DeviceError::Invalid(format!(
                        "{} has no shadow{}",
                        a.thing,
                        a.name.map(|n| format!(" named {n}")).unwrap_or_default()
                    )))
                }
            }
        }
        ShadowCommand::Update {
            shadow: a,
            payload,
            file,
        } => {
            let bytes = payload_of(payload, file)?;
            let request: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                DeviceError::Invalid(format!(
                    "the update is not JSON ({e}): send e.g. {{\"state\": {{\"reported\": {{\"led\": \"on\"}}}}}}"
                ))
            })?;
            let (shadow, _, _) = open_shadow(&a).await?;
            println!("{}", pretty(&shadow.update(request).await?));
        }
        ShadowCommand::Delete(a) => {
            let (shadow, _, _) = open_shadow(&a).await?;
            if !shadow.delete().await? {
                return Err(DeviceError::Invalid(format!(
                    "{} has no shadow to delete",
                    a.thing
                )));
            }
        }
        ShadowCommand::Watch(a) => {
            let (_shadow, mut deltas, _) = open_shadow(&a).await?;
            eprintln!("Watching the shadow of {} for deltas", a.thing);
            while let Some(d) = deltas.recv().await {
                println!(
                    "{}",
                    serde_json::json!({"version": d.version, "state": d.state})
                );
            }
        }
        ShadowCommand::Sync {
            shadow: a,
            file,
            hook,
        } => {
            let (shadow, deltas, mut other) = open_shadow(&a).await?;
            let (again_tx, again_rx) = tokio::sync::mpsc::channel(4);
            tokio::spawn(async move {
                while let Some(e) = other.recv().await {
                    if matches!(e, Event::Connected { .. }) && again_tx.send(()).await.is_err() {
                        break;
                    }
                }
            });
            let print = |v: serde_json::Value| println!("{v}");
            eprintln!(
                "Keeping {} in sync with the shadow of {}",
                file.display(),
                a.thing
            );
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .map_err(|e| DeviceError::Invalid(format!("cannot handle signals: {e}")))?;
            tokio::select! {
                r = kumo_device::shadow_sync::run(shadow, deltas, again_rx, &file, hook.as_deref(), &print, true) => r?,
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn payloads_print_as_python_bytes() {
        assert_eq!(
            super::bytes_repr(b"\"Hello World! [1]\""),
            "b'\"Hello World! [1]\"'"
        );
        assert_eq!(super::bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(super::bytes_repr(b"\x00\n"), "b'\\x00\\n'");
    }
}
