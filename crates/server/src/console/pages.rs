//! The console's pages, as maud templates.

use maud::{html, Markup, DOCTYPE};

use crate::api::Api;

/// The frame every page shares: header with navigation, main content.
fn layout(title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Kumo" }
                link rel="stylesheet" href="/console/console.css";
                link rel="icon" href="/console/favicon.svg" type="image/svg+xml";
            }
            body {
                header.top {
                    a.brand href="/console" { span.logo aria-hidden="true" { "☁" } " Kumo" }
                    @if let Some(csrf) = csrf {
                        nav aria-label="Main" {
                            a href="/console" aria-current=[(title == "Overview").then_some("page")] { "Overview" }
                        }
                        form.logout method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn login(error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.card.narrow {
                h1 { "Sign in to Kumo" }
                p.hint {
                    "Use the admin credentials Kumo printed at its first start. They are also in "
                    code { "kumo-data/credentials" } " (" code { "kumo admin keys" } " makes new ones)."
                }
                @if let Some(e) = error {
                    p.error role="alert" { (e) }
                }
                form method="post" action="/console/login" {
                    label for="access_key_id" { "Access key ID" }
                    input id="access_key_id" name="access_key_id" autocomplete="username"
                        required autofocus spellcheck="false";
                    label for="secret" { "Secret access key" }
                    input id="secret" name="secret" type="password" autocomplete="current-password" required;
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub fn overview(api: &Api, csrf: &str) -> Markup {
    let stats = api.broker.stats();
    let counts = api.registry.read(|r| r.counts());
    let shadows = api.shadows.count();
    let tile = |label: &str, value: String, note: Option<String>| {
        html! {
            div.tile {
                div.value { (value) }
                div.label { (label) }
                @if let Some(n) = note { div.note { (n) } }
            }
        }
    };
    layout(
        "Overview",
        Some(csrf),
        html! {
            h1 { "Overview" }
            section aria-label="Connections" {
                h2 { "Broker" }
                div.tiles {
                    (tile("Connected clients", stats.connections.to_string(), None))
                    (tile("Sessions", stats.sessions.to_string(), Some("incl. persistent, offline".into())))
                    (tile("Subscriptions", stats.subscriptions.to_string(), None))
                    (tile("Retained messages", stats.retained.to_string(), None))
                }
            }
            section aria-label="Registry" {
                h2 { "Registry" }
                div.tiles {
                    (tile("Things", counts.things.to_string(), None))
                    (tile("Certificates", counts.certificates.to_string(),
                        Some(format!("{} active", counts.active_certificates))))
                    (tile("CA certificates", counts.ca_certificates.to_string(), None))
                    (tile("Policies", counts.policies.to_string(), None))
                    (tile("Shadows", shadows.to_string(), None))
                }
            }
            section aria-label="Endpoint" {
                h2 { "Endpoint" }
                p {
                    "Devices connect to " code { (api.endpoint) } " (MQTT over mutual TLS on 8883, or 443 with ALPN "
                    code { "x-amzn-mqtt-ca" } "); the AWS-compatible API is on this port."
                }
            }
        },
    )
}

pub fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        None,
        html! { section.card.narrow { h1 { (title) } p { (text) } } },
    )
}

pub fn not_found(csrf: &str, path: &str) -> Markup {
    layout(
        "Not found",
        Some(csrf),
        html! {
            h1 { "Not found" }
            p { "There is no console page at " code { (path) } ". " a href="/console" { "Back to the overview" } "." }
        },
    )
}
