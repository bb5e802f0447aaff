//! What the transport did, counted: traffic, retransmissions, acks,
//! duplicates, and every dropped datagram or message by reason.

/// Why a datagram, fragment or message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Too short, bad magic, lengths or flags that do not agree.
    Malformed,
    /// Our magic, another wire format version (a member or client of
    /// another release; [`crate::Endpoint::take_foreign_version`]).
    Version,
    /// CRC32C mismatch.
    Checksum,
    /// Another cluster id.
    WrongCluster,
    /// MAC missing, unexpected or wrong.
    Auth,
    /// Sender address or id not in the peer table, or not addressed to us.
    UnknownPeer,
    /// Datagram over [`crate::wire::MAX_DATAGRAM`], or a message over the
    /// configured maximum size.
    TooLarge,
    /// A bounded queue or buffer was full (send queue, reassembly memory,
    /// dedup window, ack queue).
    QueueFull,
    /// A message not acknowledged before its deadline.
    Deadline,
    /// An incomplete message whose fragments did not all arrive in time.
    ReassemblyTimeout,
    /// A delivered message that did not decode as the expected type.
    Decode,
    /// Dropped on purpose by the fault injector.
    Injected,
    /// From a boot of its sender whose dedup window was retired (the peer
    /// restarted several times since): it might have been delivered already.
    RetiredBoot,
}

/// Drops by reason. Serde, so an application can report them (`node
/// status --json` does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Drops {
    pub malformed: u64,
    #[serde(default)]
    pub version: u64,
    pub checksum: u64,
    pub wrong_cluster: u64,
    pub auth: u64,
    pub unknown_peer: u64,
    pub too_large: u64,
    pub queue_full: u64,
    pub deadline: u64,
    pub reassembly_timeout: u64,
    pub decode: u64,
    pub injected: u64,
    pub retired_boot: u64,
}

impl Drops {
    /// How many of [`Drops::named`] are rejections of received datagrams.
    pub const REJECTIONS: usize = 7;

    /// The counters by reason, mutable.
    pub fn slots_mut(&mut self) -> [(&'static str, &mut u64); 13] {
        [
            ("malformed", &mut self.malformed),
            ("version", &mut self.version),
            ("checksum", &mut self.checksum),
            ("wrong_cluster", &mut self.wrong_cluster),
            ("auth", &mut self.auth),
            ("unknown_peer", &mut self.unknown_peer),
            ("too_large", &mut self.too_large),
            ("queue_full", &mut self.queue_full),
            ("deadline", &mut self.deadline),
            ("reassembly_timeout", &mut self.reassembly_timeout),
            ("decode", &mut self.decode),
            ("injected", &mut self.injected),
            ("retired_boot", &mut self.retired_boot),
        ]
    }

    /// The counters by reason, named as the fields, in their order: the
    /// first [`Drops::REJECTIONS`] are those of [`Drops::rejected`].
    pub fn named(&self) -> [(&'static str, u64); 13] {
        let mut copy = *self;
        copy.slots_mut().map(|(name, n)| (name, *n))
    }

    /// Drops of received datagrams that failed a check (not injected ones,
    /// not messages given up by the sender).
    pub fn rejected(&self) -> u64 {
        self.malformed
            + self.version
            + self.checksum
            + self.wrong_cluster
            + self.auth
            + self.unknown_peer
            + self.too_large
    }

    fn slot(&mut self, reason: DropReason) -> &mut u64 {
        match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::Checksum => &mut self.checksum,
            DropReason::WrongCluster => &mut self.wrong_cluster,
            DropReason::Auth => &mut self.auth,
            DropReason::Version => &mut self.version,
            DropReason::UnknownPeer => &mut self.unknown_peer,
            DropReason::TooLarge => &mut self.too_large,
            DropReason::QueueFull => &mut self.queue_full,
            DropReason::Deadline => &mut self.deadline,
            DropReason::ReassemblyTimeout => &mut self.reassembly_timeout,
            DropReason::Decode => &mut self.decode,
            DropReason::Injected => &mut self.injected,
            DropReason::RetiredBoot => &mut self.retired_boot,
        }
    }
}

/// Counters of one endpoint. Plain numbers, read with
/// [`crate::Endpoint::counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    pub datagrams_received: u64,
    pub bytes_received: u64,
    /// Messages accepted by `send`.
    pub messages_sent: u64,
    /// Messages handed to the application.
    pub messages_delivered: u64,
    /// Fragments sent again after their RTO expired.
    pub retransmissions: u64,
    /// Ack entries sent and received.
    pub acks_sent: u64,
    pub acks_received: u64,
    /// Fragments of messages already delivered or being reassembled.
    pub duplicates: u64,
    /// Ack entries for another boot of ours (a previous incarnation of this
    /// node): ignored, they say nothing about this boot's messages.
    pub stale_acks: u64,
    /// New boots of peers heard after an earlier boot of theirs (restarts).
    pub peer_restarts: u64,
    /// Socket errors the driver survived.
    pub send_errors: u64,
    pub recv_errors: u64,
    /// Client addresses learned, and forgotten to keep the table bounded
    /// (see `Config::accept_clients`).
    pub clients_learned: u64,
    pub clients_evicted: u64,
    /// Our messages a peer refused as busy (`FLAG_BUSY`), dropped unsent.
    pub refused: u64,
    pub drops: Drops,
}

impl Counters {
    pub(crate) fn drop(&mut self, reason: DropReason) {
        *self.drops.slot(reason) += 1;
        tracing::trace!(target: "net", ?reason, "drop");
    }

    pub(crate) fn drop_n(&mut self, reason: DropReason, n: u64) {
        *self.drops.slot(reason) += n;
    }
}
