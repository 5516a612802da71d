//! rdkafka's `Client`: what a producer shares with every client type (its context). It is
//! re-exported as `crate::client::Client`.

use std::sync::{Arc, OnceLock};

use crate::client::{ClientContext, DefaultClientContext};
use purekafka_core::config::BrokerAddress;

use crate::error::{KafkaResult, RDKafkaErrorCode};
use crate::metadata::Metadata;
use crate::util::{Deadline, Timeout};

/// The client behind a producer, as [`Producer::client`](crate::producer::Producer::client)
/// returns it.
///
/// rdkafka's `fetch_group_list` (a consumer-group API) and `native_ptr` are not implemented.
pub struct Client<C: ClientContext = DefaultClientContext> {
    context: Arc<C>,
    bootstrap: Vec<BrokerAddress>,
    client_id: String,
    fatal: Arc<OnceLock<(RDKafkaErrorCode, String)>>,
}

impl<C: ClientContext> Client<C> {
    pub(crate) fn new(
        context: Arc<C>,
        bootstrap: Vec<BrokerAddress>,
        client_id: String,
        fatal: Arc<OnceLock<(RDKafkaErrorCode, String)>>,
    ) -> Self {
        Self {
            context,
            bootstrap,
            client_id,
            fatal,
        }
    }

    /// Asks the cluster for the metadata of `topic` (or of every topic when `None`), from the
    /// first bootstrap server that answers. Blocks up to `timeout`; fails with
    /// `KafkaError::MetadataFetch` (`OperationTimedOut`, or the transport error).
    pub fn fetch_metadata<T: Into<Timeout>>(
        &self,
        topic: Option<&str>,
        timeout: T,
    ) -> KafkaResult<Metadata> {
        let deadline: Deadline = timeout.into().into();
        crate::metadata::fetch(&self.bootstrap, &self.client_id, topic, deadline)
    }

    /// The low and high watermarks (earliest offset, and the offset the next record will
    /// get) of a partition, asked from its leader. Fails with `KafkaError::MetadataFetch`.
    pub fn fetch_watermarks<T: Into<Timeout>>(
        &self,
        topic: &str,
        partition: i32,
        timeout: T,
    ) -> KafkaResult<(i64, i64)> {
        let deadline: Deadline = timeout.into().into();
        crate::metadata::fetch_watermarks(
            &self.bootstrap,
            &self.client_id,
            topic,
            partition,
            deadline,
        )
    }

    /// The cluster id, or `None` if no bootstrap server answered in time.
    pub fn fetch_cluster_id<T: Into<Timeout>>(&self, timeout: T) -> Option<String> {
        let deadline: Deadline = timeout.into().into();
        crate::metadata::fetch_cluster_id(&self.bootstrap, &self.client_id, deadline)
    }

    /// The client's context.
    pub fn context(&self) -> &Arc<C> {
        &self.context
    }

    /// The fatal error that stopped the client (idempotence or transactions, e.g.
    /// `ProducerFenced`), if any: its code and reason. Once set, every `send` fails.
    pub fn fatal_error(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.fatal.get().cloned()
    }
}

impl<C: ClientContext> std::fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}
