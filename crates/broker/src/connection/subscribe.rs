//! SUBSCRIBE and UNSUBSCRIBE of one connection: filter checks, the policy
//! check per filter, the session's subscriptions (and their store ops), the
//! index, retained replays and the subscription lifecycle events.

use kumo_mqtt::{Packet, Properties, QoS, ReasonCode, SubAck, Subscribe, TopicFilter, Unsubscribe};
use kumo_store::Op;

use super::{Conn, End};
use crate::session::{OutMsg, Subscription};
use crate::{persist, Compat};

impl Conn {
    pub(super) fn subscribe(&mut self, s: Subscribe) -> Option<End> {
        let cfg = &self.inner.config;
        let sub_id = s.properties.subscription_identifiers.first().copied();
        if sub_id.is_some() && !cfg.subscription_identifiers {
            return Some(self.disconnect(ReasonCode::SubscriptionIdentifiersNotSupported));
        }
        let max_qos = if cfg.compat == Compat::AwsStrict {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let mut reasons = Vec::with_capacity(s.filters.len());
        let mut retained = Vec::new();
        let mut subscribed = Vec::new();
        for (raw, mut options) in s.filters {
            let filter = match TopicFilter::new(&raw) {
                Ok(f) => f,
                Err(_) => {
                    reasons.push(ReasonCode::TopicFilterInvalid);
                    continue;
                }
            };
            if cfg.deny_subscribe.contains(&raw) {
                reasons.push(ReasonCode::UnspecifiedError);
                continue;
            }
            if self.perms.as_ref().is_some_and(|p| !p.may_subscribe(&raw)) {
                tracing::info!(client_id = %self.session.client_id, filter = %raw, "SUBSCRIBE not authorized");
                // AWS IoT: MQTT 3.1.1 loses the connection.
                if !self.version.is_v5() {
                    return Some(self.disconnect(ReasonCode::NotAuthorized));
                }
                reasons.push(ReasonCode::NotAuthorized);
                continue;
            }
            if filter.share_group().is_some() {
                if !cfg.shared_subscriptions {
                    reasons.push(ReasonCode::SharedSubscriptionsNotSupported);
                    continue;
                }
                if options.no_local && self.version.is_v5() {
                    // [MQTT-3.8.3-4]
                    return Some(self.disconnect(ReasonCode::ProtocolError));
                }
            }
            if filter.has_wildcards() && !cfg.wildcard_subscriptions {
                reasons.push(ReasonCode::WildcardSubscriptionsNotSupported);
                continue;
            }
            options.qos = options.qos.min(max_qos);
            let sub = Subscription {
                filter,
                options,
                id: sub_id,
            };
            let existed = {
                let mut st = self.session.lock();
                if st.persisted {
                    let record = persist::subscription_record(&sub, &raw);
                    let client_id = self.session.client_id.clone();
                    self.inner.persist([Op::Subscribe {
                        client_id,
                        sub: record,
                    }]);
                }
                subscribed.push(raw.clone());
                st.subscriptions.insert(raw, sub.clone()).is_some()
            };
            self.inner.index_insert(&self.session, &sub);
            for msg in self.inner.retained_for(&sub, existed) {
                retained.push(OutMsg {
                    qos: msg.qos.min(sub.options.qos),
                    msg,
                    retain: true,
                    sub_ids: sub_id.into_iter().collect(),
                    stored: None,
                    restored: false,
                });
            }
            reasons.push(match options.qos {
                QoS::AtMostOnce => ReasonCode::Success,
                QoS::AtLeastOnce => ReasonCode::GrantedQos1,
                QoS::ExactlyOnce => ReasonCode::GrantedQos2,
            });
        }
        self.send(Packet::SubAck(SubAck {
            packet_id: s.packet_id,
            properties: Properties::default(),
            reasons,
        }));
        self.inner
            .event_subscriptions(&self.subject(), true, &subscribed);
        for out in retained {
            self.session.enqueue(out, cfg.max_queued_messages, None);
        }
        None
    }

    pub(super) fn unsubscribe(&mut self, u: Unsubscribe) {
        let mut reasons = Vec::with_capacity(u.filters.len());
        let mut unsubscribed = Vec::new();
        for raw in u.filters {
            let removed = {
                let mut st = self.session.lock();
                let removed = st.subscriptions.remove(&raw);
                if removed.is_some() && st.persisted {
                    let client_id = self.session.client_id.clone();
                    self.inner.persist([Op::Unsubscribe {
                        client_id,
                        filter: raw.clone(),
                    }]);
                }
                removed
            };
            reasons.push(match removed {
                Some(sub) => {
                    self.inner.index_remove(&self.session, &sub.filter);
                    unsubscribed.push(raw);
                    ReasonCode::Success
                }
                None if TopicFilter::new(&raw).is_err() => ReasonCode::TopicFilterInvalid,
                None => ReasonCode::NoSubscriptionExisted,
            });
        }
        self.send(Packet::UnsubAck(SubAck {
            packet_id: u.packet_id,
            properties: Properties::default(),
            reasons,
        }));
        self.inner
            .event_subscriptions(&self.subject(), false, &unsubscribed);
    }
}
