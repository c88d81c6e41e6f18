//! The "connect a device" wizard: name and platform, then the kit, the
//! commands for that platform and the live wait for the device (console.js
//! watches `$aws/events/presence/connected/+` for the new certificate).

use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use maud::{html, Markup};
use tracing::info;

use super::pages::{self, layout};
use super::{html as page, redirect, Form, Kit, Session, KIT_TTL};
use crate::api::Api;

/// A device platform the wizard knows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Python,
    MicroPython,
    Rust,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Python, Platform::MicroPython, Platform::Rust];

    pub fn id(self) -> &'static str {
        match self {
            Platform::Python => "python",
            Platform::MicroPython => "micropython",
            Platform::Rust => "rust",
        }
    }

    pub fn from_id(id: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.id() == id)
    }

    fn label(self) -> &'static str {
        match self {
            Platform::Python => "Linux / Python (AWS IoT Device SDK v2)",
            Platform::MicroPython => "MicroPython (Raspberry Pi Pico W, ESP32)",
            Platform::Rust => "Rust (kumo-device)",
        }
    }

    fn note(self) -> &'static str {
        match self {
            Platform::Python => "A Raspberry Pi or any Linux machine with Python 3: start.sh installs the SDK and runs a pub/sub sample.",
            Platform::MicroPython => "A board running MicroPython with umqtt.simple: the kit carries the certificate and key in DER, no OpenSSL step.",
            Platform::Rust => "One small binary that speaks to Kumo and to AWS IoT Core alike.",
        }
    }

    /// The topic the kit's program for this platform publishes to.
    pub fn topic(self, thing: &str) -> String {
        match self {
            Platform::MicroPython => format!("{thing}/hello"),
            Platform::Python | Platform::Rust => "sdk/test/python".to_owned(),
        }
    }
}

/// Step 1: name the thing, choose the platform.
pub fn connect_form(csrf: &str, error: Option<&str>, thing: &str) -> Markup {
    layout(
        "Connect a device",
        Some(csrf),
        html! {
            h1 { "Connect a device" }
            (steps(0))
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.card method="post" action="/console/connect" {
                input type="hidden" name="csrf" value=(csrf);
                label for="thing" { "Thing name" }
                input #thing name="thing" required value=(thing) pattern="[a-zA-Z0-9:_-]{1,128}"
                    spellcheck="false" autocomplete="off" aria-describedby="thing-hint" placeholder="raspi2";
                p.hint #thing-hint { "Letters, digits, " code { ":" } ", " code { "_" } " and " code { "-" }
                    ". An existing thing gets one more certificate." }
                fieldset {
                    legend { "Device platform" }
                    @for (i, p) in Platform::ALL.into_iter().enumerate() {
                        div.choice {
                            input type="radio" name="platform" id={ "platform-" (p.id()) } value=(p.id()) checked[i == 0];
                            label for={ "platform-" (p.id()) } { strong { (p.label()) } span.hint { (p.note()) } }
                        }
                    }
                }
                p.hint { "Next, Kumo creates the thing, an ACTIVE certificate with its key pair, and the policy "
                    code { "NAME-Policy" } " (the thing's own topics, its shadows and " code { "sdk/test/*" } "), and attaches them." }
                button.primary type="submit" { "Create thing and kit" }
            }
        },
    )
}

/// The wizard's progress: steps before `current` are done.
fn steps(current: usize) -> Markup {
    let names = [
        "Name and platform",
        "Download the kit",
        "Run it on the device",
        "See it connect",
    ];
    html! {
        ol.steps #steps aria-label="Progress" {
            @for (i, n) in names.iter().enumerate() {
                @if i < current { li.done { (n) } }
                @else if i == current { li.current aria-current="step" { (n) } }
                @else { li { (n) } }
            }
        }
    }
}

/// What the wizard made, for its steps page.
pub struct KitView<'a> {
    pub id: &'a str,
    pub thing: &'a str,
    pub certificate_id: &'a str,
    pub platform: Platform,
    pub endpoint: &'a str,
    pub port: u16,
    pub connected: Vec<String>,
}

/// Steps 2 and 3: download, the commands, and the live wait.
pub fn connect_steps(csrf: &str, k: &KitView<'_>) -> Markup {
    let thing = k.thing;
    let commands = match k.platform {
        Platform::Python => format!(
            "unzip connect_device_package.zip -d {thing}\ncd {thing}\nchmod +x start.sh\n./start.sh"
        ),
        Platform::MicroPython => format!(
            "unzip connect_device_package.zip -d {thing}\ncd {thing}\npip install mpremote\n\
             mpremote mip install umqtt.simple\nmpremote mkdir :cert\n\
             mpremote cp {thing}.cert.der {thing}.private.key.der :cert/\n\
             mpremote cp main.py :main.py\nmpremote reset"
        ),
        Platform::Rust => format!(
            "unzip connect_device_package.zip -d {thing}\ncd {thing}\n\
             chmod +x start-kumo-device.sh\n./start-kumo-device.sh"
        ),
    };
    let topic = k.platform.topic(thing);
    layout(
        "Connect a device: run the kit",
        Some(csrf),
        html! {
            h1 { "Connect " (thing) }
            (steps(if k.connected.is_empty() { 1 } else { 3 }))
            section.card aria-labelledby="dl-h" {
                h2 #dl-h { "2. Download the connect kit" }
                p { "Thing " strong { (thing) } ", certificate " code title=(k.certificate_id) { (k.certificate_id.get(..16).unwrap_or(k.certificate_id)) "…" }
                    " (ACTIVE), policy " code { (thing) "-Policy" } ". The kit holds the certificate, its private key, Kumo's root CA and the scripts." }
                p { a.button.primary #download href={ "/console/connect/" (k.id) "/connect_device_package.zip" } download="connect_device_package.zip" { "Download connect_device_package.zip" } }
                p.hint { "Kumo keeps no copy of the private key: this download works for this session for an hour. Keep the file private." }
            }
            section.card aria-labelledby="run-h" {
                h2 #run-h { "3. Run it on the device" }
                p { "Platform: " strong { (k.platform.label()) } ". " a href="/console/connect" { "Choose another" } " (a new certificate)." }
                @if k.platform == Platform::MicroPython {
                    p.hint { "On a Wi-Fi board, set " code { "WIFI_SSID" } " and " code { "WIFI_PASSWORD" } " in main.py first." }
                }
                @if k.platform == Platform::Rust {
                    p.hint { "kumo-device comes with Kumo: " code { "cargo install --path crates/device" } " from the source, or copy the binary to the device." }
                }
                div.code {
                    pre #commands { (commands) }
                    button.small type="button" data-copy="commands" { "Copy" }
                }
                p.hint { "The device connects to " code { (k.endpoint) ":" (k.port) } ". If that name does not resolve on the device, add it to " code { "tls.endpoint_names" } " or " code { "/etc/hosts" } "." }
            }
            section.card #wait-device data-certificate=(k.certificate_id) data-topic=(topic) aria-labelledby="wait-h" {
                h2 #wait-h { "4. See it connect" }
                @if k.connected.is_empty() {
                    p #wait-status.live.waiting role="status" aria-live="polite" { "Waiting for your device to connect…" }
                } @else {
                    p #wait-status.live.good role="status" aria-live="polite" { "Connected! Your device is online as client ID " (k.connected.join(", ")) "." }
                }
                h3 #first-heading hidden[k.connected.is_empty()] { "First messages on " code { (topic) } }
                p.hint #first-hint hidden { "More in the " a href={ "/console/test?filter=" (topic.replace('#', "%23")) } { "MQTT test client" } "." }
                ol #first-messages.plain aria-live="polite" {}
                p { a href={ "/console/things/" (thing) } { "Go to thing " (thing) } }
            }
        },
    )
}

pub fn kit_gone(csrf: &str) -> Markup {
    layout(
        "Connect a device",
        Some(csrf),
        html! {
            h1 { "This kit is no longer here" }
            p { "A kit stays downloadable for an hour, in the session that made it (Kumo keeps no copy of the private key). "
                a href="/console/connect" { "Make a new one" } ": the thing keeps its other certificates." }
        },
    )
}

/// The wizard's POST: provision the thing and keep its kit for download.
pub(super) async fn connect_device(
    api: &Api,
    s: &Session,
    token: &str,
    form: &Form,
) -> Response<Full<Bytes>> {
    let thing = form.get("thing").unwrap_or_default().trim().to_owned();
    let platform = form
        .get("platform")
        .and_then(|p| Platform::from_id(&p))
        .unwrap_or(Platform::Python);
    if let Err(e) = kumo_model::ThingName::new(&thing) {
        return page(400, connect_form(&s.csrf, Some(&e.to_string()), &thing));
    }
    let made = match crate::kit::provision(&api.registry, &api.broker, &thing).await {
        Ok(m) => m,
        Err(e) => {
            let text = format!("{}: {}", e.aws_type(), e.message());
            return page(e.http_status(), connect_form(&s.csrf, Some(&text), &thing));
        }
    };
    let target = crate::kit::Target {
        endpoint: &api.endpoint,
        port: api.device_port,
        root_ca: &api.root_ca,
    };
    let kit = crate::kit::package(&made, &target).and_then(|zip| {
        api.console
            .add_kit(Kit {
                session: token.to_owned(),
                expires: Instant::now() + KIT_TTL,
                thing: made.thing_name.clone(),
                certificate_id: made.certificate_id.clone(),
                platform,
                zip,
            })
            .map_err(|e| e.to_string())
    });
    match kit {
        Ok(id) => {
            info!(thing = %made.thing_name, certificate_id = %made.certificate_id,
                "console: connect kit made");
            redirect(&format!("/console/connect/{id}"), &[])
        }
        Err(e) => page(500, pages::message("Cannot make the kit", &e)),
    }
}
