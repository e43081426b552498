//! Publishing task events to containerd from one background thread.
//!
//! Task handlers never block on containerd: they queue the event. The publisher reconnects and
//! retries with a growing pause, so events raised while containerd restarts still arrive (and
//! containerd, once back, asks the shim for the state of every task anyway).

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread;
use std::time::Duration;

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::shim::events_ttrpc::EventsClient;
use containerd_shim::protos::ttrpc::context::Context;
use containerd_shim::protos::ttrpc::Client;
use containerd_shim::util::{convert_to_any, timestamp};

/// Attempts per event before it is dropped (with a warning); about a minute in all.
const ATTEMPTS: u32 = 12;

/// A handle that queues events for containerd.
#[derive(Debug, Clone)]
pub struct Events {
    tx: Sender<(&'static str, Box<dyn MessageDyn>)>,
}

impl Events {
    /// Starts the publisher thread for `namespace`, talking to containerd's ttrpc `address`.
    pub fn start(address: String, namespace: String) -> Self {
        let (tx, rx) = channel();
        thread::Builder::new()
            .name("events".into())
            .spawn(move || publish_loop(&address, &namespace, &rx))
            .map_err(|e| log::error!("cannot start the event publisher: {e}"))
            .ok();
        Self { tx }
    }

    /// A handle whose events go nowhere (tests, the `delete` action).
    pub fn discard() -> Self {
        let (tx, _rx) = channel();
        Self { tx }
    }

    /// Queues `event` on `topic`.
    pub fn send(&self, topic: &'static str, event: impl MessageDyn) {
        if self.tx.send((topic, Box::new(event))).is_err() {
            log::debug!("event publisher gone, dropping {topic}");
        }
    }
}

fn publish_loop(
    address: &str,
    namespace: &str,
    rx: &Receiver<(&'static str, Box<dyn MessageDyn>)>,
) {
    let mut client: Option<EventsClient> = None;
    while let Ok((topic, event)) = rx.recv() {
        let request = match envelope(topic, namespace, event) {
            Ok(r) => r,
            Err(e) => {
                log::warn!("cannot encode event {topic}: {e}");
                continue;
            }
        };
        let mut sent = false;
        for attempt in 0..ATTEMPTS {
            if client.is_none() {
                client = connect(address);
            }
            if let Some(c) = &client {
                match c.forward(Context::default(), &request) {
                    Ok(_) => {
                        sent = true;
                        break;
                    }
                    Err(e) => {
                        log::debug!("publishing {topic} (attempt {attempt}): {e}");
                        client = None;
                    }
                }
            }
            thread::sleep(Duration::from_millis(100) * (attempt + 1));
        }
        if !sent {
            log::warn!("dropped event {topic}: containerd at {address} did not answer");
        }
    }
}

fn connect(address: &str) -> Option<EventsClient> {
    let fd = containerd_shim::util::connect(address).ok()?;
    Client::new(fd).ok().map(EventsClient::new)
}

fn envelope(
    topic: &str,
    namespace: &str,
    event: Box<dyn MessageDyn>,
) -> containerd_shim::Result<ForwardRequest> {
    let mut envelope = Envelope::new();
    envelope.set_topic(topic.to_owned());
    envelope.set_namespace(namespace.to_owned());
    envelope.set_timestamp(timestamp()?);
    envelope.set_event(convert_to_any(event)?);
    let mut req = ForwardRequest::new();
    req.set_envelope(envelope);
    Ok(req)
}
