//! The console's pages, as maud templates.

use maud::{html, Markup, DOCTYPE};

use crate::api::Api;

/// The frame every page shares: header with navigation, main content.
pub(super) fn layout(title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Kumo" }
                link rel="stylesheet" href="/console/console.css";
                link rel="icon" href="/console/favicon.svg" type="image/svg+xml";
                @if csrf.is_some() {
                    script src="/console/console.js" defer {}
                }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console" { span.logo aria-hidden="true" { "☁" } " Kumo" }
                    @if let Some(csrf) = csrf {
                        nav aria-label="Main" {
                            a href="/console" aria-current=[(title == "Overview").then_some("page")] { "Overview" }
                            a href="/console/things" aria-current=[(title == "Things" || title.starts_with("Thing ")).then_some("page")] { "Things" }
                            a href="/console/certificates" aria-current=[(title == "Certificates").then_some("page")] { "Certificates" }
                            a href="/console/policies" aria-current=[(title == "Policies" || title.starts_with("Policy ")).then_some("page")] { "Policies" }
                            a href="/console/test" aria-current=[(title == "MQTT test client").then_some("page")] { "Test client" }
                            a.cta href="/console/connect" aria-current=[title.starts_with("Connect").then_some("page")] { "Connect a device" }
                        }
                        form.logout method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (body) }
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
                div.tiles #rates {
                    div.tile { div.value data-stat="connections" { (stats.connections) } div.label { "Connected clients" } }
                    div.tile { div.value data-stat="in" { "—" } div.label { "Messages in / s" } div.note { "published by clients, the API and Kumo" } }
                    div.tile { div.value data-stat="out" { "—" } div.label { "Messages out / s" } div.note { "delivered to subscribers" } }
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
            section aria-label="Get started" {
                h2 { "Get started" }
                p { a.button.primary href="/console/connect" { "Connect a device" } " "
                    a.button href="/console/test" { "Open the MQTT test client" } }
            }
            section aria-label="Endpoint" {
                h2 { "Endpoint" }
                p {
                    "Devices connect to " code { (api.endpoint) } " (MQTT over mutual TLS on port " (api.device_port) ", or 443 with ALPN "
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

pub fn things(api: &Api, csrf: &str, query: &str) -> Markup {
    let q = query.trim().to_lowercase();
    let rows: Vec<(String, Option<String>, Vec<String>)> = api.registry.read(|r| {
        r.things()
            .filter(|t| q.is_empty() || t.name.as_str().to_lowercase().contains(&q))
            .map(|t| {
                (
                    t.name.to_string(),
                    t.type_name.as_ref().map(ToString::to_string),
                    r.principals_of(&t.name).map(ToString::to_string).collect(),
                )
            })
            .collect()
    });
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(n, ty, certs)| {
            let clients = clients_of(api, &certs);
            (n, ty, certs.len(), clients)
        })
        .collect();
    layout(
        "Things",
        Some(csrf),
        html! {
            h1 { "Things" }
            form.search method="get" action="/console/things" role="search" {
                label for="q" { "Search things" }
                input id="q" name="q" type="search" value=(query) placeholder="Name contains…";
                button type="submit" { "Search" }
            }
            @if rows.is_empty() {
                p.hint { @if q.is_empty() { "No things yet. " a href="/console/connect" { "Connect a device" } " makes one with its certificate and policy (or " code { "kumo kit NAME" } ")." } @else { "No thing matches." } }
            } @else {
                table {
                    thead { tr { th { "Name" } th { "Type" } th { "Certificates" } th { "Connection" } } }
                    tbody {
                        @for (name, ty, certs, clients) in &rows {
                            tr {
                                td { a href={ "/console/things/" (name) } { (name) } }
                                td { (ty.as_deref().unwrap_or("—")) }
                                td { (certs) }
                                td { (connection_badge(clients)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn thing(api: &Api, csrf: &str, name: &str) -> Option<Markup> {
    struct Cert {
        id: String,
        status: &'static str,
        policies: Vec<String>,
    }
    let (attributes, type_name, version, certs) = api.registry.read(|r| {
        let t = r.thing(name)?;
        let certs: Vec<Cert> = r
            .principals_of(&t.name)
            .filter_map(|id| {
                let c = r.certificate(id)?;
                let arn = format!(
                    "arn:aws:iot:{}:{}:cert/{}",
                    r.arn().region,
                    r.arn().account,
                    id
                );
                Some(Cert {
                    id: id.to_string(),
                    status: c.status.as_str(),
                    policies: r.policies_of(&arn).map(|p| p.name.to_string()).collect(),
                })
            })
            .collect();
        Some((
            t.attributes.clone(),
            t.type_name.as_ref().map(ToString::to_string),
            t.version,
            certs,
        ))
    })?;
    let cert_ids: Vec<String> = certs.iter().map(|c| c.id.clone()).collect();
    let clients = clients_of(api, &cert_ids);
    let shadows = api.shadows.documents_of(name);
    let title = format!("Thing {name}");
    Some(layout(
        &title,
        Some(csrf),
        html! {
            p.crumbs { a href="/console/things" { "Things" } " / " (name) }
            h1 { (name) " " span data-certificates=(cert_ids.join(" ")) aria-live="polite"
                class=(if clients.is_empty() { "badge" } else { "badge good" }) {
                (if clients.is_empty() { "offline".to_owned() } else { format!("connected as {}", clients.join(", ")) }) } }
            p { a.button href={ "/console/test?filter=" (name) "/%23" } { "Watch its messages in the test client" } }
            dl.facts {
                dt { "Type" } dd { (type_name.as_deref().unwrap_or("—")) }
                dt { "Version" } dd { (version) }
            }
            h2 { "Attributes" }
            @if attributes.is_empty() { p.hint { "None." } } @else {
                table { thead { tr { th { "Name" } th { "Value" } } }
                    tbody { @for (k, v) in &attributes { tr { td { (k) } td { (v) } } } } }
            }
            h2 { "Certificates" }
            @if certs.is_empty() { p.hint { "No certificate is attached: the device cannot connect as this thing." } } @else {
                table { thead { tr { th { "Certificate ID" } th { "Status" } th { "Policies" } } }
                    tbody { @for c in &certs { tr {
                        td { code { (c.id.get(..16).unwrap_or(&c.id)) "…" } }
                        td { span.badge.good[c.status == "ACTIVE"] { (c.status) } }
                        td { @if c.policies.is_empty() { "—" } @else {
                            @for (i, p) in c.policies.iter().enumerate() {
                                @if i > 0 { ", " }
                                a href={ "/console/policies/" (p) } { (p) }
                            }
                        } }
                    } } } }
            }
            h2 { "Shadows" }
            @if shadows.is_empty() {
                p.hint { "No shadow yet. " a href=(shadow_href(name, None)) { "Create the classic shadow" } " by setting its desired state." }
            } @else {
                @for (shadow, doc) in &shadows {
                    section.shadow {
                        h3 { @match shadow { Some(n) => { "Named shadow " code { (n) } }, None => { "Classic shadow" } } }
                        p { a.button href=(shadow_href(name, shadow.as_deref())) { "View and edit" } }
                        pre { (state_summary(doc)) }
                    }
                }
            }
        },
    ))
}

/// The client IDs connected with any of these certificates.
pub fn clients_of(api: &Api, certificates: &[String]) -> Vec<String> {
    let mut all: Vec<String> = certificates
        .iter()
        .flat_map(|c| api.broker.clients_of(c))
        .collect();
    all.sort();
    all.dedup();
    all
}

fn connection_badge(clients: &[String]) -> Markup {
    html! {
        @if clients.is_empty() { span.badge { "offline" } }
        @else { span.badge.good title={ "client ID " (clients.join(", ")) } { "connected" } }
    }
}

/// A shadow document's state and version, without its metadata.
fn state_summary(doc: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(doc) {
        Ok(v) => serde_json::to_string_pretty(
            &serde_json::json!({"state": v["state"], "version": v["version"]}),
        )
        .unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(doc).into_owned(),
    }
}

fn pretty(doc: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(doc)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(doc).into_owned())
}

pub fn shadow_href(thing: &str, shadow: Option<&str>) -> String {
    match shadow {
        Some(n) => format!("/console/things/{thing}/shadow?name={n}"),
        None => format!("/console/things/{thing}/shadow"),
    }
}

/// One shadow: desired, reported and delta side by side, and a form to
/// edit desired (with the version it was read at).
pub fn shadow(
    api: &Api,
    csrf: &str,
    thing: &str,
    name: Option<&str>,
    message: Option<(&str, bool)>,
    draft: Option<&str>,
) -> Markup {
    let doc = api
        .shadows
        .documents_of(thing)
        .into_iter()
        .find(|(n, _)| n.as_deref() == name)
        .and_then(|(_, d)| serde_json::from_slice::<serde_json::Value>(&d).ok());
    let section = |k: &str| {
        doc.as_ref()
            .and_then(|d| d["state"].get(k))
            .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
    };
    let version = doc
        .as_ref()
        .and_then(|d| d["version"].as_u64())
        .unwrap_or(0);
    let desired = section("desired");
    let label = match name {
        Some(n) => format!("Named shadow {n}"),
        None => "Classic shadow".to_owned(),
    };
    let title = format!("Thing {thing} shadow");
    layout(
        &title,
        Some(csrf),
        html! {
            p.crumbs { a href="/console/things" { "Things" } " / " a href={ "/console/things/" (thing) } { (thing) } " / " (label) }
            h1 { (label) }
            @if let Some((text, ok)) = message {
                p.error[!ok].saved[ok] role="status" { (text) }
            }
            div #shadow-live data-thing=(thing) data-name=[name] aria-live="polite" {
                @if doc.is_none() {
                    p.hint { "This shadow does not exist yet: saving desired state below creates it." }
                } @else {
                    p.hint { "Version " strong #shadow-version { (version) } ". Devices get the delta on " code { "…/update/delta" } ". This view follows changes live." }
                }
                div.columns {
                    @for (k, heading, none) in [
                        ("desired", "Desired", "No desired state."),
                        ("reported", "Reported", "Nothing reported yet."),
                        ("delta", "Delta", "No delta: the device reports what is desired."),
                    ] {
                        section.column aria-label=(heading) {
                            h2 { (heading) }
                            @match section(k) {
                                Some(j) => pre data-section=(k) { (j) },
                                None => p.hint data-section=(k) { (none) },
                            }
                        }
                    }
                }
            }
            p.error #shadow-changed role="alert" hidden {
                "The shadow changed while you were editing. Saving now reports a version conflict and keeps your edit; reload to start from the new state."
            }
            h2 { "Edit desired state" }
            form.editor method="post" action=(shadow_href(thing, name)) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="version" value=(version);
                label for="desired" { "Desired (JSON object; keys you remove are deleted)" }
                textarea id="desired" name="desired" rows="10" spellcheck="false" {
                    (draft.map(str::to_owned).or(desired).unwrap_or_else(|| "{}".to_owned()))
                }
                button.primary type="submit" { "Save desired state" }
            }
        },
    )
}

pub fn certificates(api: &Api, csrf: &str, message: Option<(&str, bool)>) -> Markup {
    struct Row {
        id: String,
        status: &'static str,
        things: Vec<String>,
        policies: Vec<String>,
        not_after: i64,
    }
    let rows: Vec<Row> = api.registry.read(|r| {
        let mut rows: Vec<(u64, Row)> = r
            .certificates()
            .map(|c| {
                let arn = format!(
                    "arn:aws:iot:{}:{}:cert/{}",
                    r.arn().region,
                    r.arn().account,
                    c.id
                );
                (
                    c.created_at,
                    Row {
                        id: c.id.to_string(),
                        status: c.status.as_str(),
                        things: r.things_of(&c.id).map(ToString::to_string).collect(),
                        policies: r.policies_of(&arn).map(|p| p.name.to_string()).collect(),
                        not_after: c.not_after,
                    },
                )
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        rows.into_iter().map(|(_, r)| r).collect()
    });
    layout(
        "Certificates",
        Some(csrf),
        html! {
            h1 { "Certificates" }
            @if let Some((text, ok)) = message {
                p.error[!ok].saved[ok] role="status" { (text) }
            }
            @if rows.is_empty() {
                p.hint { "No certificates yet. " code { "kumo kit NAME" } " or " code { "kumo cert create" } " makes one." }
            } @else {
                table {
                    thead { tr { th { "Certificate ID" } th { "Status" } th { "Things" } th { "Policies" } th { "Expires" } th { "Change status" } } }
                    tbody {
                        @for c in &rows {
                            tr data-certificate=(c.id) {
                                td { code title=(c.id) { (c.id.get(..16).unwrap_or(&c.id)) "…" } }
                                td { span.badge.good[c.status == "ACTIVE"] { (c.status) } }
                                td { @if c.things.is_empty() { "—" } @else { (c.things.join(", ")) } }
                                td { @if c.policies.is_empty() { "—" } @else { (c.policies.join(", ")) } }
                                td { (date(c.not_after)) }
                                td.actions {
                                    @if c.status != "REVOKED" {
                                        form method="post" action="/console/certificates" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="id" value=(c.id);
                                            @if c.status == "ACTIVE" {
                                                button name="status" value="INACTIVE" { "Deactivate" }
                                            } @else {
                                                button name="status" value="ACTIVE" { "Activate" }
                                            }
                                            button.danger name="status" value="REVOKED" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                p.hint { "Deactivating or revoking closes the certificate's connections at once. Revoking cannot be undone." }
            }
        },
    )
}

/// `2027-11-23` from Unix seconds (UTC).
fn date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn policies(api: &Api, csrf: &str) -> Markup {
    let rows: Vec<(String, u32, usize, usize)> = api.registry.read(|r| {
        r.policies()
            .map(|p| {
                (
                    p.name.to_string(),
                    p.default_version,
                    p.versions.len(),
                    r.targets_of(&p.name).count(),
                )
            })
            .collect()
    });
    layout(
        "Policies",
        Some(csrf),
        html! {
            h1 { "Policies" }
            @if rows.is_empty() {
                p.hint { "No policies yet. " code { "kumo kit NAME" } " makes a least-privilege one per thing." }
            } @else {
                table {
                    thead { tr { th { "Name" } th { "Default version" } th { "Versions" } th { "Attached to" } } }
                    tbody { @for (name, default, versions, targets) in &rows { tr {
                        td { a href={ "/console/policies/" (name) } { (name) } }
                        td { (default) } td { (versions) }
                        td { (targets) " certificate" @if *targets != 1 { "s" } }
                    } } }
                }
            }
        },
    )
}

/// One policy: its default document, versions, targets, and an editor that
/// saves a new default version (validated as AWS does).
pub fn policy(
    api: &Api,
    csrf: &str,
    name: &str,
    message: Option<(&str, bool)>,
    draft: Option<&str>,
) -> Option<Markup> {
    let (default, versions, document, targets) = api.registry.read(|r| {
        let p = r.policy(name)?;
        Some((
            p.default_version,
            p.versions.keys().copied().collect::<Vec<_>>(),
            p.default_document().to_owned(),
            r.targets_of(&p.name).cloned().collect::<Vec<_>>(),
        ))
    })?;
    let title = format!("Policy {name}");
    // A refused draft: the line the error concerns, and the lines around it.
    let error_line = match (message, draft) {
        (Some((text, false)), Some(d)) => super::locate::error_line(d, text),
        _ => None,
    };
    let excerpt = error_line.zip(draft).map(|(n, d)| {
        d.lines()
            .enumerate()
            .skip(n.saturating_sub(3))
            .take(5)
            .map(|(i, l)| (i + 1, l.to_owned()))
            .collect::<Vec<_>>()
    });
    Some(layout(
        &title,
        Some(csrf),
        html! {
            p.crumbs { a href="/console/policies" { "Policies" } " / " (name) }
            h1 { (name) }
            @if let Some((text, ok)) = message {
                p.error[!ok].saved[ok] role="status" {
                    @if let Some(n) = error_line { "Line " (n) ": " }
                    (text)
                }
            }
            @if let (Some(n), Some(lines)) = (error_line, &excerpt) {
                pre.excerpt aria-label={ "The document around line " (n) } {
                    @for (i, l) in lines {
                        @if *i == n { mark { (format!("{i:>3}  {l}")) } "\n" }
                        @else { (format!("{i:>3}  {l}")) "\n" }
                    }
                }
            }
            dl.facts {
                dt { "Default version" } dd { (default) }
                dt { "Versions" } dd { (versions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                dt { "Attached to" } dd {
                    @if targets.is_empty() { "nothing" } @else {
                        @for t in &targets { code { (t.rsplit('/').next().unwrap_or(t).get(..16).unwrap_or(t)) "…" } " " }
                    }
                }
            }
            h2 { "Edit (saved as a new default version; AWS keeps at most five)" }
            form.editor method="post" action={ "/console/policies/" (name) } {
                input type="hidden" name="csrf" value=(csrf);
                label for="document" { "Policy document" }
                textarea id="document" name="document" rows="18" spellcheck="false"
                    data-error-line=[error_line] aria-invalid=[error_line.map(|_| "true")] {
                    (draft.unwrap_or(&pretty(document.as_bytes())))
                }
                button.primary type="submit" { "Save new version" }
            }
        },
    ))
}

/// The MQTT test client: subscribe, watch, publish (live parts in
/// console.js over `/console/live`).
pub fn test_client(csrf: &str, filters: &[String]) -> Markup {
    layout(
        "MQTT test client",
        Some(csrf),
        html! {
            h1 { "MQTT test client" }
            p.hint { "Subscribes and publishes through the broker as an admin connection (client ID "
                code { "kumo-console-…" } "), visible in the lifecycle events like any client. "
                "Topics starting with " code { "$" } " need a filter that names them, e.g. " code { "$aws/events/presence/#" } "." }
            div #test-client data-filters=(filters.join("\n")) {
                p #live-status.live role="status" aria-live="polite" { "Connecting…" }
                div.columns.two {
                    section.card aria-labelledby="sub-h" {
                        h2 #sub-h { "Subscribe to a topic" }
                        form #sub-form {
                            label for="filter" { "Topic filter" }
                            input #filter name="filter" required spellcheck="false" autocomplete="off" placeholder="sdk/test/python or #";
                            label for="sub-qos" { "QoS" }
                            select #sub-qos { option value="0" { "0 – at most once" } option value="1" { "1 – at least once" } }
                            button.primary type="submit" { "Subscribe" }
                        }
                        h3 { "Subscriptions" }
                        p.hint #no-subs { "None yet." }
                        ul #subscriptions.plain {}
                    }
                    section.card aria-labelledby="pub-h" {
                        h2 #pub-h { "Publish to a topic" }
                        form #pub-form {
                            label for="topic" { "Topic name" }
                            input #topic name="topic" required spellcheck="false" autocomplete="off" placeholder="raspi2/commands";
                            div.inline {
                                div { label for="pub-qos" { "QoS" }
                                    select #pub-qos { option value="0" { "0" } option value="1" selected { "1" } } }
                                div.check { input #retain type="checkbox"; label for="retain" { "Retain" } }
                            }
                            label for="payload" { "Message payload" }
                            textarea #payload rows="5" spellcheck="false" { "{\n  \"message\": \"Hello from the Kumo console\"\n}" }
                            button.primary type="submit" { "Publish" }
                        }
                        p #pub-note.hint role="status" aria-live="polite" {}
                    }
                }
                section aria-labelledby="msg-h" {
                    div.toolbar {
                        h2 #msg-h { "Messages" }
                        button #pause type="button" aria-pressed="false" { "Pause" }
                        button #clear type="button" { "Clear" }
                        button #export type="button" { "Export JSON" }
                    }
                    div #messages role="log" aria-live="polite" aria-relevant="additions" {}
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(951_782_400), "2000-02-29");
        assert_eq!(super::date(1_795_412_405), "2026-11-23");
        assert_eq!(super::date(-86_400), "1969-12-31");
    }
}
