//! CONNECT, from the broker's side: what a client is granted (client id,
//! session expiry, keep-alive, CONNACK properties) and attaching the
//! connection to its session, taking it over from a live one if need be.

use kumo_store::{Op, SessionRecord};

use crate::persist;
use std::sync::Arc;

use kumo_mqtt::{Connect, Properties, QoS, ReasonCode};

use crate::session::{Link, Session};
use crate::{Compat, Inner};

/// What CONNECT negotiated.
pub(crate) struct Accepted {
    pub client_id: String,
    pub expiry: u32,
    pub keep_alive: u16,
    pub connack_properties: Properties,
}

impl Inner {
    /// Check a CONNECT and work out what the broker grants.
    pub(crate) fn accept_connect(&self, c: &Connect) -> Result<Accepted, ReasonCode> {
        let cfg = &self.config;
        let v5 = c.protocol.is_v5();
        let aws = cfg.compat == Compat::AwsStrict;
        let mut props = Properties::default();
        if c.properties.authentication_method.is_some() {
            return Err(ReasonCode::BadAuthenticationMethod);
        }
        if c.client_id.len() > cfg.max_client_id_len {
            return Err(ReasonCode::ClientIdentifierNotValid);
        }
        let client_id = if c.client_id.is_empty() {
            if !v5 && !c.clean_start {
                return Err(ReasonCode::ClientIdentifierNotValid); // [MQTT-3.1.3-8]
            }
            let id = self.generated_client_id();
            if v5 {
                props.assigned_client_identifier = Some(id.clone());
            }
            id
        } else {
            c.client_id.clone()
        };
        if let Some(w) = &c.will {
            if w.qos == QoS::ExactlyOnce && aws {
                return Err(ReasonCode::QosNotSupported);
            }
            if w.retain && !cfg.retain_available {
                return Err(ReasonCode::RetainNotSupported);
            }
        }
        let expiry = if v5 {
            let asked = c.properties.session_expiry_interval.unwrap_or(0);
            let granted = asked.min(cfg.max_session_expiry);
            if granted != asked {
                props.session_expiry_interval = Some(granted);
            }
            granted
        } else if c.clean_start {
            0
        } else {
            cfg.max_session_expiry
        };
        let mut keep_alive = c.keep_alive;
        if aws && keep_alive == 0 {
            keep_alive = 1200;
        }
        if let Some(max) = cfg.max_keep_alive {
            if keep_alive == 0 || keep_alive > max {
                keep_alive = max;
            }
        }
        if let Some(min) = cfg.min_keep_alive {
            if keep_alive != 0 && keep_alive < min {
                keep_alive = min;
            }
        }
        if v5 {
            if keep_alive != c.keep_alive || aws {
                props.server_keep_alive = Some(keep_alive);
            }
            if cfg.receive_maximum != u16::MAX {
                props.receive_maximum = Some(cfg.receive_maximum);
            }
            if aws {
                props.maximum_qos = Some(1);
            }
            if !cfg.retain_available {
                props.retain_available = Some(0);
            }
            props.maximum_packet_size = Some(cfg.max_packet_size);
            if cfg.topic_alias_maximum > 0 {
                props.topic_alias_maximum = Some(cfg.topic_alias_maximum);
            }
            if !cfg.wildcard_subscriptions {
                props.wildcard_subscription_available = Some(0);
            }
            if !cfg.subscription_identifiers {
                props.subscription_identifier_available = Some(0);
            }
            if !cfg.shared_subscriptions {
                props.shared_subscription_available = Some(0);
            }
        }
        Ok(Accepted {
            client_id,
            expiry,
            keep_alive,
            connack_properties: props,
        })
    }

    fn generated_client_id(&self) -> String {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(self.new_id());
        let a = h.finish();
        h.write_u64(a);
        let b = h.finish();
        match self.config.compat {
            // AWS IoT Core's form (aws-iot-core.md §1.4).
            Compat::AwsStrict => format!(
                "$GEN/{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xffff,
                b >> 48,
                b & 0xffff_ffff_ffff
            ),
            Compat::Spec => format!("kumo-{a:016x}{b:016x}"),
        }
    }

    /// Attach a connection to the session for `client_id`, taking it over
    /// from a live connection if there is one. Returns the session and
    /// whether an existing session was resumed.
    pub(crate) async fn attach(
        &self,
        client_id: &str,
        clean_start: bool,
        expiry: u32,
        link: Link,
    ) -> (Arc<Session>, bool) {
        loop {
            let existing = self
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(client_id)
                .cloned();
            if let Some(s) = &existing {
                let old = s.lock().link.clone();
                if let Some(old) = old {
                    old.kick(ReasonCode::SessionTakenOver);
                    old.wait_closed().await;
                    continue;
                }
            }
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            let current = sessions.get(client_id).cloned();
            let (session, present) = match current {
                Some(s) if s.lock().link.is_some() => continue, // lost a race; take over again
                Some(s) if !clean_start => (s, true),
                Some(s) => {
                    drop(sessions);
                    // The old session ends here, so a will still waiting out
                    // its delay is due now [MQTT-3.1.2-8].
                    if let Some(will) = self.take_pending_will(&s) {
                        self.publish(will);
                    }
                    self.end_session(&s);
                    continue;
                }
                None => {
                    let s = Session::new(self.new_id(), client_id.to_owned(), expiry);
                    sessions.insert(client_id.to_owned(), s.clone());
                    (s, false)
                }
            };
            {
                let mut st = session.lock();
                st.link = Some(link);
                st.generation += 1;
                st.expiry = expiry;
                st.resend = true;
                if expiry > 0 && self.store.is_some() {
                    // The session now outlives its connection: the store
                    // keeps it (and, from here on, its QoS 1/2 messages).
                    let mut ops = vec![Op::SessionPut(SessionRecord {
                        client_id: session.client_id.clone(),
                        expiry,
                        disconnected_at: None,
                    })];
                    if !st.persisted {
                        ops.extend(st.subscriptions.iter().map(|(raw, sub)| Op::Subscribe {
                            client_id: session.client_id.clone(),
                            sub: persist::subscription_record(sub, raw),
                        }));
                    }
                    st.persisted = true;
                    self.persist(ops);
                }
            }
            drop(sessions);
            // Resumed within the will delay: the will is not sent.
            self.take_pending_will(&session);
            return (session, present);
        }
    }
}
