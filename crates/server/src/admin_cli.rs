//! `kumo thing|cert|policy|shadow|api`: the admin socket's client. Each command is
//! one registry operation (see `admin.rs` for the protocol); the answer is
//! printed as text (`key: value` lines) or, with `--output json`, as the
//! JSON body AWS would send.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{anyhow, Context};
use kumo_model::{Arn, CertificateId};
use serde_json::{json, Map, Value};

use crate::admin::socket_path;
use crate::cli::{
    AdminArgs, AdminCommand, ApiArgs, CertCommand, OutputFormat, PolicyCommand, ShadowArgs,
    ShadowCommand, ThingCommand,
};
use crate::commands::load;
use crate::error::{Failure, Result};

/// A connection to the running server's admin socket.
pub struct Admin {
    socket: std::path::PathBuf,
    arn: Arn,
    output: OutputFormat,
    data_dir: std::path::PathBuf,
    endpoint_names: Vec<String>,
}

/// An error the server answered with: (AWS exception name, message).
#[derive(Debug)]
pub struct AwsError(pub String, pub String);

impl AwsError {
    pub fn into_failure(self) -> Failure {
        Failure::runtime(anyhow!("{}: {}", self.0, self.1))
    }
}

impl Admin {
    pub fn new(args: AdminArgs) -> Result<Admin> {
        let loaded = load(args.config)?;
        Ok(Admin {
            socket: socket_path(&loaded.config.data_dir),
            arn: loaded.config.aws.arn(),
            output: args.output,
            data_dir: loaded.config.data_dir.clone(),
            endpoint_names: loaded.config.tls.endpoint_names.clone(),
        })
    }

    /// The name devices should connect to: the first endpoint name.
    pub fn endpoint(&self) -> String {
        self.endpoint_names
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".to_owned())
    }

    pub fn root_ca(&self) -> std::path::PathBuf {
        crate::pki::CaDir::new(&self.data_dir).root_cert()
    }

    /// The port the running server's mutual-TLS listener is bound to.
    pub fn tls_port(&self) -> Result<u16> {
        let l = self.call("DescribeListeners", json!({}))?;
        l["tls"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| {
                Failure::config(anyhow!(
                    "the server has no tls listener; give the port with --port"
                ))
            })
    }

    /// Send one operation: the AWS response body, the error as AWS names
    /// it, or a failure to talk to the server at all.
    pub fn call_aws(&self, op: &str, input: Value) -> Result<std::result::Result<Value, AwsError>> {
        let Value::Object(mut input) = input else {
            return Err(Failure::config(anyhow!("the input must be a JSON object")));
        };
        input.insert("op".into(), json!(op));
        let mut stream = UnixStream::connect(&self.socket).map_err(|e| {
            Failure::runtime(anyhow!(
                "cannot reach the Kumo server at {}: {e} (is `kumo serve` running with this data directory?)",
                self.socket.display()
            ))
        })?;
        let mut line = serde_json::to_vec(&Value::Object(input)).map_err(anyhow::Error::from)?;
        line.push(b'\n');
        stream
            .write_all(&line)
            .context("cannot send the request")
            .map_err(Failure::runtime)?;
        let mut reply = String::new();
        BufReader::new(stream)
            .read_line(&mut reply)
            .context("no answer from the server")
            .map_err(Failure::runtime)?;
        let reply: Value = serde_json::from_str(&reply)
            .with_context(|| format!("unreadable answer from the server: {reply:?}"))
            .map_err(Failure::runtime)?;
        if let Some(ok) = reply.get("ok") {
            return Ok(Ok(ok.clone()));
        }
        let e = &reply["error"];
        Ok(Err(AwsError(
            e["type"].as_str().unwrap_or("Error").to_owned(),
            e["message"].as_str().unwrap_or("(no message)").to_owned(),
        )))
    }

    /// As [`Admin::call_aws`], an AWS error being a failure.
    pub fn call(&self, op: &str, input: Value) -> Result<Value> {
        self.call_aws(op, input)?.map_err(AwsError::into_failure)
    }

    pub fn print(&self, v: &Value) {
        match self.output {
            OutputFormat::Json => println!("{v}"),
            OutputFormat::Text => {
                let mut lines = Vec::new();
                text_lines("", v, &mut lines);
                for l in lines {
                    println!("{l}");
                }
            }
        }
    }

    fn run(&self, op: &str, input: Value) -> Result<Value> {
        let out = self.call(op, input)?;
        self.print(&out);
        Ok(out)
    }

    /// A certificate ARN from an id or an ARN.
    fn cert_arn(&self, cert: &str) -> Result<String> {
        if cert.starts_with("arn:") {
            return Ok(cert.to_owned());
        }
        let id = CertificateId::new(cert).map_err(Failure::config)?;
        Ok(self.arn.cert(&id))
    }
}

/// `a.b[0].c: value` lines; multi-line strings (PEM) are printed after
/// their key, indented.
fn text_lines(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if m.is_empty() && prefix.is_empty() => {}
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                text_lines(&key, v, out);
            }
        }
        Value::Array(a) if a.is_empty() => out.push(format!("{prefix}: (none)")),
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                text_lines(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) if s.contains('\n') => {
            out.push(format!("{prefix}:"));
            out.extend(s.lines().map(|l| format!("    {l}")));
        }
        Value::String(s) => out.push(format!("{prefix}: {s}")),
        other => out.push(format!("{prefix}: {other}")),
    }
}

fn read_input(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read standard input")
            .map_err(Failure::config)?;
        return Ok(s);
    }
    Ok(arg.to_owned())
}

fn read_file(path: &Path) -> Result<String> {
    if path.as_os_str() == "-" {
        return read_input("-");
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(Failure::config)
}

pub fn api(args: ApiArgs) -> Result<()> {
    let admin = Admin::new(args.admin)?;
    let text = match &args.input {
        Some(i) => read_input(i)?,
        None => "{}".to_owned(),
    };
    let input: Value = serde_json::from_str(&text)
        .with_context(|| format!("the input is not JSON: {text:?}"))
        .map_err(Failure::config)?;
    admin.run(&args.op, input).map(drop)
}

pub fn thing(cmd: ThingCommand) -> Result<()> {
    match cmd {
        ThingCommand::Create {
            name,
            attributes,
            admin,
        } => {
            let mut attrs = Map::new();
            for a in attributes {
                let (k, v) = a.split_once('=').ok_or_else(|| {
                    Failure::config(anyhow!("--attribute {a:?}: expected NAME=VALUE"))
                })?;
                attrs.insert(k.to_owned(), json!(v));
            }
            let mut input = json!({ "thingName": name });
            if !attrs.is_empty() {
                input["attributePayload"] = json!({ "attributes": attrs });
            }
            Admin::new(admin)?.run("CreateThing", input).map(drop)
        }
        ThingCommand::Describe { name, admin } => Admin::new(admin)?
            .run("DescribeThing", json!({ "thingName": name }))
            .map(drop),
        ThingCommand::List { admin } => Admin::new(admin)?.run("ListThings", json!({})).map(drop),
        ThingCommand::Delete { name, admin } => Admin::new(admin)?
            .run("DeleteThing", json!({ "thingName": name }))
            .map(drop),
        ThingCommand::AttachCert { name, cert, admin } => {
            let admin = Admin::new(admin)?;
            let principal = admin.cert_arn(&cert)?;
            admin
                .run(
                    "AttachThingPrincipal",
                    json!({ "thingName": name, "principal": principal }),
                )
                .map(drop)
        }
        ThingCommand::DetachCert { name, cert, admin } => {
            let admin = Admin::new(admin)?;
            let principal = admin.cert_arn(&cert)?;
            admin
                .run(
                    "DetachThingPrincipal",
                    json!({ "thingName": name, "principal": principal }),
                )
                .map(drop)
        }
    }
}

/// `kumo admin keys`: through the running server (which switches at once),
/// or, when none runs, by rewriting the credentials file.
pub fn admin(cmd: AdminCommand) -> Result<()> {
    let AdminCommand::Keys { admin } = cmd;
    let admin = Admin::new(admin)?;
    let (id, secret, path) = if admin.socket.exists() {
        let r = admin.call("RotateAdminKeys", json!({}))?;
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        (s("accessKeyId"), s("secretAccessKey"), s("path"))
    } else {
        let c = crate::api::credentials::rotate(&admin.data_dir).map_err(Failure::runtime)?;
        let path = crate::api::credentials::path(&admin.data_dir);
        (
            c.access_key_id,
            c.secret_access_key,
            path.display().to_string(),
        )
    };
    match admin.output {
        OutputFormat::Json => println!(
            "{}",
            json!({"accessKeyId": id, "secretAccessKey": secret, "path": path})
        ),
        OutputFormat::Text => {
            println!(
                "credentials: {path} (profile {})",
                crate::api::credentials::PROFILE
            );
            println!("aws_access_key_id = {id}");
            println!("aws_secret_access_key = {secret}");
        }
    }
    Ok(())
}

/// Shadow documents are printed as JSON: indented (text) or on one line
/// (`--output json`).
pub fn shadow(cmd: ShadowCommand) -> Result<()> {
    let (op, thing, args, payload) = match cmd {
        ShadowCommand::Get { thing, shadow } => ("GetThingShadow", thing, shadow, None),
        ShadowCommand::Update {
            thing,
            document,
            shadow,
        } => (
            "UpdateThingShadow",
            thing,
            shadow,
            Some(read_input(&document)?),
        ),
        ShadowCommand::Delete { thing, shadow } => ("DeleteThingShadow", thing, shadow, None),
    };
    let ShadowArgs { name, admin } = args;
    let admin = Admin::new(admin)?;
    let mut input = json!({ "thingName": thing });
    if let Some(n) = name {
        input["shadowName"] = json!(n);
    }
    if let Some(p) = payload {
        input["payload"] = json!(p);
    }
    let doc = admin.call(op, input)?;
    match admin.output {
        OutputFormat::Json => println!("{doc}"),
        OutputFormat::Text => println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?
        ),
    }
    Ok(())
}

pub fn policy(cmd: PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::Create {
            name,
            document,
            admin,
        } => {
            let doc = read_file(&document)?;
            Admin::new(admin)?
                .run(
                    "CreatePolicy",
                    json!({ "policyName": name, "policyDocument": doc }),
                )
                .map(drop)
        }
        PolicyCommand::Get { name, admin } => Admin::new(admin)?
            .run("GetPolicy", json!({ "policyName": name }))
            .map(drop),
        PolicyCommand::List { admin } => {
            Admin::new(admin)?.run("ListPolicies", json!({})).map(drop)
        }
        PolicyCommand::Delete { name, admin } => Admin::new(admin)?
            .run("DeletePolicy", json!({ "policyName": name }))
            .map(drop),
        PolicyCommand::Attach { name, cert, admin } => {
            let admin = Admin::new(admin)?;
            let target = admin.cert_arn(&cert)?;
            admin
                .run(
                    "AttachPolicy",
                    json!({ "policyName": name, "target": target }),
                )
                .map(drop)
        }
        PolicyCommand::Detach { name, cert, admin } => {
            let admin = Admin::new(admin)?;
            let target = admin.cert_arn(&cert)?;
            admin
                .run(
                    "DetachPolicy",
                    json!({ "policyName": name, "target": target }),
                )
                .map(drop)
        }
    }
}

/// `kumo cert ...` except `issue` (offline, in commands.rs).
pub fn cert(cmd: CertCommand) -> Result<()> {
    match cmd {
        CertCommand::Issue(_) => unreachable!("handled by commands::run"),
        CertCommand::Create {
            active,
            out,
            prefix,
            admin,
        } => {
            let admin = Admin::new(admin)?;
            let created =
                admin.call("CreateKeysAndCertificate", json!({ "setAsActive": active }))?;
            if let Some(dir) = out {
                let id = created["certificateId"].as_str().unwrap_or("certificate");
                let prefix = prefix.unwrap_or_else(|| id.to_owned());
                write_kit_files(&dir, &prefix, &created)?;
                eprintln!(
                    "kumo: wrote {prefix}.cert.pem, {prefix}.private.key and {prefix}.public.key to {}",
                    dir.display()
                );
            }
            admin.print(&created);
            Ok(())
        }
        CertCommand::FromCsr {
            file,
            active,
            admin,
        } => {
            let csr = read_file(&file)?;
            Admin::new(admin)?
                .run(
                    "CreateCertificateFromCsr",
                    json!({ "certificateSigningRequest": csr, "setAsActive": active }),
                )
                .map(drop)
        }
        CertCommand::Register {
            file,
            active,
            admin,
        } => {
            let pem = read_file(&file)?;
            let status = if active { "ACTIVE" } else { "INACTIVE" };
            Admin::new(admin)?
                .run(
                    "RegisterCertificateWithoutCA",
                    json!({ "certificatePem": pem, "status": status }),
                )
                .map(drop)
        }
        CertCommand::Describe { id, admin } => Admin::new(admin)?
            .run("DescribeCertificate", json!({ "certificateId": id }))
            .map(drop),
        CertCommand::List { admin } => Admin::new(admin)?
            .run("ListCertificates", json!({}))
            .map(drop),
        CertCommand::Update { id, status, admin } => Admin::new(admin)?
            .run(
                "UpdateCertificate",
                json!({ "certificateId": id, "newStatus": status.to_ascii_uppercase() }),
            )
            .map(drop),
        CertCommand::Delete { id, force, admin } => Admin::new(admin)?
            .run(
                "DeleteCertificate",
                json!({ "certificateId": id, "forceDelete": force }),
            )
            .map(drop),
    }
}

/// The certificate, private key (0600) and public key of a
/// CreateKeysAndCertificate answer, named like the AWS console's kit.
fn write_kit_files(dir: &Path, prefix: &str, created: &Value) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
        .map_err(Failure::runtime)?;
    let files = [
        (
            format!("{prefix}.cert.pem"),
            &created["certificatePem"],
            0o644,
        ),
        (
            format!("{prefix}.private.key"),
            &created["keyPair"]["PrivateKey"],
            0o600,
        ),
        (
            format!("{prefix}.public.key"),
            &created["keyPair"]["PublicKey"],
            0o644,
        ),
    ];
    for (name, value, mode) in files {
        let text = value
            .as_str()
            .ok_or_else(|| Failure::runtime(anyhow!("the answer has no {name}")))?;
        crate::pki::write_file(&dir.join(&name), text.as_bytes(), mode)?;
    }
    Ok(())
}
