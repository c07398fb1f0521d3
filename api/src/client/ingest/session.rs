//! One MQTT session, 3.1.1 or 5, behind the few operations the bridge needs: what arrives
//! (a connection, a message, a lost connection) and acknowledging a message.
//!
//! The session is persistent (clean session / clean start off) and acknowledged by hand, so
//! the broker keeps every message the bridge has not acknowledged and sends it again after a
//! reconnect. rumqttc drops acknowledgements still queued when a connection breaks (a packet
//! id of the old connection must not reach the new one); the bridge never acknowledges a
//! message of an older connection either (`bridge.rs`).

use super::config::{Config, Protocol};
use bytes::Bytes;
use std::time::Duration;

/// What the session saw.
#[derive(Debug)]
pub enum Seen {
    /// Connected (again); `session_present` is false when the broker kept no session, so the
    /// bridge must subscribe, and messages queued for the old session may be gone.
    Connected {
        session_present: bool,
    },
    Message(Box<Message>),
    /// The broker answered a SUBSCRIBE: `refused` names a filter's failure code, `qos0` is set
    /// when the broker granted QoS 0 (no redelivery of what the bridge never acknowledged).
    Subscribed {
        refused: Option<String>,
        qos0: bool,
    },
    /// Nothing the bridge acts on (pings, acks going out, …).
    Other,
}

#[derive(Debug)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    pub ack: AckHandle,
}

/// What acknowledging a message needs: its packet (payload left out).
#[derive(Debug)]
pub enum AckHandle {
    V4(rumqttc::Publish),
    V5(rumqttc::v5::mqttbytes::v5::Publish),
    /// QoS 0: nothing to acknowledge.
    None,
}

pub enum Session {
    V4 {
        client: rumqttc::AsyncClient,
        events: Box<rumqttc::EventLoop>,
    },
    V5 {
        client: rumqttc::v5::AsyncClient,
        events: Box<rumqttc::v5::EventLoop>,
    },
}

/// A received PUBLISH: its payload goes to the bridge, and the packet without it stays as
/// the handle that acknowledges it (none for QoS 0).
fn message(topic: String, payload: Bytes, retain: bool, ack: Option<AckHandle>) -> Seen {
    Seen::Message(Box::new(Message {
        topic,
        payload,
        retain,
        ack: ack.unwrap_or(AckHandle::None),
    }))
}

/// Capacity of the request channel: acknowledgements are sent with `try_ack` from the task
/// that also polls, so the channel must hold every message in flight.
const REQUEST_CAPACITY: usize = 100_000;

impl Session {
    pub fn new(config: &Config) -> Self {
        let host = config.broker.host.clone();
        let port = config.broker.port;
        let transport = config.tls.as_ref().map(|tls| {
            rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Simple {
                ca: tls.ca.clone(),
                alpn: None,
                client_auth: tls.client.clone(),
            })
        });
        match config.protocol {
            Protocol::V311 => {
                let mut o = rumqttc::MqttOptions::new(&config.client_id, host, port);
                o.set_clean_session(false)
                    .set_manual_acks(true)
                    .set_keep_alive(config.keep_alive)
                    .set_max_packet_size(config.max_packet_bytes, 1 << 20);
                if let Some((user, pass)) = &config.credentials {
                    o.set_credentials(user, pass);
                }
                if let Some(t) = transport {
                    o.set_transport(t);
                }
                let (client, events) = rumqttc::AsyncClient::new(o, REQUEST_CAPACITY);
                Self::V4 {
                    client,
                    events: Box::new(events),
                }
            }
            Protocol::V5 => {
                let mut o = rumqttc::v5::MqttOptions::new(&config.client_id, host, port);
                o.set_clean_start(false)
                    .set_manual_acks(true)
                    .set_keep_alive(config.keep_alive)
                    .set_session_expiry_interval(Some(config.session_expiry_secs))
                    .set_receive_maximum(Some(config.receive_maximum))
                    .set_max_packet_size(Some(config.max_packet_bytes as u32));
                if let Some((user, pass)) = &config.credentials {
                    o.set_credentials(user, pass);
                }
                if let Some(t) = transport {
                    o.set_transport(t);
                }
                let (client, events) = rumqttc::v5::AsyncClient::new(o, REQUEST_CAPACITY);
                Self::V5 {
                    client,
                    events: Box::new(events),
                }
            }
        }
    }

    /// The next thing that happens. An error is a lost connection; polling again reconnects.
    pub async fn poll(&mut self) -> Result<Seen, String> {
        match self {
            Self::V4 { events, .. } => {
                use rumqttc::{Event, Packet, QoS};
                match events.poll().await.map_err(|e| e.to_string())? {
                    Event::Incoming(Packet::ConnAck(c)) => Ok(Seen::Connected {
                        session_present: c.session_present,
                    }),
                    Event::Incoming(Packet::Publish(mut p)) => {
                        let payload = std::mem::take(&mut p.payload);
                        let topic = p.topic.clone();
                        let acked = p.qos != QoS::AtMostOnce;
                        Ok(message(
                            topic,
                            payload,
                            p.retain,
                            acked.then(|| AckHandle::V4(p)),
                        ))
                    }
                    Event::Incoming(Packet::SubAck(ack)) => {
                        use rumqttc::SubscribeReasonCode as Code;
                        Ok(Seen::Subscribed {
                            refused: ack
                                .return_codes
                                .iter()
                                .find(|c| matches!(c, Code::Failure))
                                .map(|c| format!("{c:?}")),
                            qos0: ack
                                .return_codes
                                .iter()
                                .any(|c| matches!(c, Code::Success(QoS::AtMostOnce))),
                        })
                    }
                    _ => Ok(Seen::Other),
                }
            }
            Self::V5 { events, .. } => {
                use rumqttc::v5::Event;
                use rumqttc::v5::mqttbytes::QoS;
                use rumqttc::v5::mqttbytes::v5::Packet;
                match events.poll().await.map_err(|e| e.to_string())? {
                    Event::Incoming(Packet::ConnAck(c)) => Ok(Seen::Connected {
                        session_present: c.session_present,
                    }),
                    Event::Incoming(Packet::Publish(mut p)) => {
                        let payload = std::mem::take(&mut p.payload);
                        let topic = String::from_utf8_lossy(&p.topic).into_owned();
                        let acked = p.qos != QoS::AtMostOnce;
                        Ok(message(
                            topic,
                            payload,
                            p.retain,
                            acked.then(|| AckHandle::V5(p)),
                        ))
                    }
                    Event::Incoming(Packet::SubAck(ack)) => {
                        use rumqttc::v5::mqttbytes::v5::SubscribeReasonCode as Code;
                        Ok(Seen::Subscribed {
                            refused: ack
                                .return_codes
                                .iter()
                                .find(|c| !matches!(c, Code::Success(_)))
                                .map(|c| format!("{c:?}")),
                            qos0: ack
                                .return_codes
                                .iter()
                                .any(|c| matches!(c, Code::Success(QoS::AtMostOnce))),
                        })
                    }
                    _ => Ok(Seen::Other),
                }
            }
        }
    }

    /// Subscribes to every filter with QoS 1. Queued, sent as the event loop is polled.
    pub fn subscribe(&self, filters: &[String]) -> Result<(), String> {
        for f in filters {
            match self {
                Self::V4 { client, .. } => client
                    .try_subscribe(f, rumqttc::QoS::AtLeastOnce)
                    .map_err(|e| e.to_string())?,
                Self::V5 { client, .. } => client
                    .try_subscribe(f, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
                    .map_err(|e| e.to_string())?,
            }
        }
        Ok(())
    }

    /// Acknowledges one message (queued, sent as the event loop is polled).
    pub fn ack(&self, handle: &AckHandle) -> Result<(), String> {
        match (self, handle) {
            (Self::V4 { client, .. }, AckHandle::V4(p)) => {
                client.try_ack(p).map_err(|e| e.to_string())
            }
            (Self::V5 { client, .. }, AckHandle::V5(p)) => {
                client.try_ack(p).map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }

    /// Disconnects cleanly (the session stays with the broker).
    pub async fn disconnect(&mut self) {
        let _ = match self {
            Self::V4 { client, .. } => client.try_disconnect().map_err(|e| e.to_string()),
            Self::V5 { client, .. } => client.try_disconnect().map_err(|e| e.to_string()),
        };
        // Let the event loop write the DISCONNECT.
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while self.poll().await.is_ok() {}
        })
        .await;
    }
}
