//! Writes handed to the driver and not yet durable, with the messages that
//! wait for them (thesis §10.2.1).
//!
//! A turn's writes go to the driver as [`super::Action::Write`]; the turn
//! goes on without waiting for them: the messages that promise nothing about
//! this member's disk (a leader's AppendEntries) leave at once, committed
//! entries are applied, the next inputs are taken. Votes and
//! acknowledgements are held here until the driver reports, with
//! [`super::Member::synced`], that a sync covering their write completed.
//! A turn without writes of its own still holds its acknowledgements behind
//! the writes in progress: a heartbeat's reply vouches for the whole log.

use std::collections::VecDeque;

use raft::{Message, WriteMark};

/// Names a write handed out with [`super::Action::Write`]; later writes
/// have larger ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WriteId(pub u64);

/// The writes in progress, oldest first.
#[derive(Debug, Default)]
pub(super) struct Writes {
    next: u64,
    pending: VecDeque<Pending>,
    /// Held messages whose writes are durable: to send.
    released: Vec<Message>,
}

#[derive(Debug)]
struct Pending {
    id: WriteId,
    mark: WriteMark,
    held: Vec<Message>,
}

impl Writes {
    /// A new write of the Ready marked `mark`; `held` waits for it.
    pub(super) fn begin(&mut self, mark: WriteMark, held: Vec<Message>) -> WriteId {
        self.next += 1;
        let id = WriteId(self.next);
        self.pending.push_back(Pending { id, mark, held });
        id
    }

    /// Messages of a turn that wrote nothing: they wait for the writes in
    /// progress, if any; else they may go now (returned).
    pub(super) fn hold(&mut self, messages: Vec<Message>) -> Vec<Message> {
        match self.pending.back_mut() {
            Some(last) => {
                last.held.extend(messages);
                Vec::new()
            }
            None => messages,
        }
    }

    /// Every write up to `id` is durable: their messages are released; the
    /// mark of the last, for the core.
    pub(super) fn durable(&mut self, id: WriteId) -> Option<WriteMark> {
        let mut mark = None;
        while self.pending.front().is_some_and(|p| p.id <= id) {
            let Some(p) = self.pending.pop_front() else { break };
            self.released.extend(p.held);
            mark = Some(p.mark);
        }
        mark
    }

    /// Messages released by `durable`, to send.
    pub(super) fn take_released(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.released)
    }

    pub(super) fn has_released(&self) -> bool {
        !self.released.is_empty()
    }

    /// Writes handed out and not yet reported durable.
    pub(super) fn in_progress(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::Body;

    fn msg(to: u64) -> Message {
        Message { from: 1, to, term: 1, body: Body::RequestVoteReply { vote_granted: true } }
    }

    #[test]
    fn messages_wait_for_their_write_and_every_earlier_one() {
        let mut w = Writes::default();
        let first = w.begin(WriteMark::default(), vec![msg(2)]);
        assert!(w.hold(vec![msg(3)]).is_empty(), "a turn without writes waits too");
        let second = w.begin(WriteMark::default(), vec![msg(4)]);
        assert!(w.durable(WriteId(0)).is_none());
        assert!(w.durable(first).is_some());
        let tos: Vec<u64> = w.take_released().iter().map(|m| m.to).collect();
        assert_eq!(tos, [2, 3]);
        assert_eq!(w.in_progress(), 1);
        assert!(w.durable(second).is_some());
        assert_eq!(w.take_released().len(), 1);
        assert_eq!(w.hold(vec![msg(5)]).len(), 1, "nothing in progress: it goes now");
    }
}
