//! [`EventSet`]: the set of distinct events of SPEC §2, keyed by
//! (`account`, `channel`, `id`). The first version of an id wins; a later
//! version with other content is a conflict, an identical one a duplicate.
//!
//! Stored compactly (accounts, channels, conversations and agents interned to
//! integers) so that ten million events fit in well under a gigabyte. Pure:
//! no IO, no clock.

use super::event::{MessageEvent, Sender};
use super::ids::{AccountId, AgentName, ChannelName, ConversationId, EventId};
use super::time::Timestamp;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use std::hash::BuildHasher;

/// Index of an (`account`, `channel`) pair in an [`EventSet`].
pub type StreamIdx = u32;
/// Index of an (`account`, `channel`, `conversation`) triple in an [`EventSet`].
pub type ConversationIdx = u32;
/// Index of an agent name in an [`EventSet`]; [`NO_AGENT`] when absent.
pub type AgentIdx = u32;
pub const NO_AGENT: AgentIdx = u32::MAX;

/// One stored event, with its strings interned.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub at: Timestamp,
    pub conversation: ConversationIdx,
    pub agent: AgentIdx,
    pub from: Sender,
    pub id: EventId,
}

/// What [`EventSet::insert`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// A new (`account`, `channel`, `id`).
    New,
    /// The same content as the stored version: counted once.
    Duplicate,
    /// Same key, other content: the stored (first) version is kept.
    Conflict,
}

/// Accounts and channels of a set of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub account: AccountId,
    pub channel: ChannelName,
}

/// The distinct events of SPEC §2 (see the module header).
#[derive(Debug, Default, Clone)]
pub struct EventSet {
    streams: Vec<Stream>,
    stream_index: HashMap<AccountId, HashMap<ChannelName, StreamIdx>>,
    conversations: Vec<(StreamIdx, ConversationId)>,
    /// (stream, conversation id) → index into `conversations`.
    conversation_index: HashTable<ConversationIdx>,
    agents: Vec<AgentName>,
    agent_index: HashMap<AgentName, AgentIdx>,
    events: Vec<StoredEvent>,
    by_key: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

fn to_u32(n: usize) -> u32 {
    // More than 4 billion distinct streams, conversations or events do not fit
    // in memory anyway; fail loudly rather than alias indexes.
    u32::try_from(n).unwrap_or_else(|_| panic!("EventSet holds at most {} items", u32::MAX))
}

impl EventSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for about `events` events, so that large
    /// inputs do not pay for rehashing and copying while they grow.
    pub fn with_capacity(events: usize) -> Self {
        let mut set = Self::default();
        set.events.reserve(events);
        let hasher = set.hasher.clone();
        set.by_key.reserve(events, |_| hasher.hash_one(0u32));
        set.conversation_index
            .reserve(events / 4, |_| hasher.hash_one(0u32));
        set.conversations.reserve(events / 4);
        set
    }

    /// Builds a set from events in the order they were seen.
    pub fn from_events<I: IntoIterator<Item = MessageEvent>>(events: I) -> Self {
        let mut set = EventSet::new();
        for e in events {
            set.insert(e);
        }
        set
    }

    /// A new set of the events `keep` accepts, in their insertion order
    /// (so "the first stored version wins" still holds).
    pub fn filtered(&self, keep: impl Fn(&EventSet, &StoredEvent) -> bool) -> EventSet {
        let mut out = EventSet::new();
        for (i, e) in self.events.iter().enumerate() {
            if keep(self, e) {
                out.insert(self.event(i));
            }
        }
        out
    }

    /// Number of distinct events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn events(&self) -> &[StoredEvent] {
        &self.events
    }

    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }

    pub fn stream(&self, idx: StreamIdx) -> &Stream {
        &self.streams[idx as usize]
    }

    /// The stream a conversation belongs to.
    pub fn stream_of(&self, conversation: ConversationIdx) -> StreamIdx {
        self.conversations[conversation as usize].0
    }

    pub fn conversation_id(&self, conversation: ConversationIdx) -> &ConversationId {
        &self.conversations[conversation as usize].1
    }

    pub fn conversation_count(&self) -> usize {
        self.conversations.len()
    }

    /// Number of distinct agent names.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// The agent name of an index, `None` for [`NO_AGENT`].
    pub fn agent(&self, idx: AgentIdx) -> Option<&AgentName> {
        self.agents.get(idx as usize)
    }

    /// The full event at `index` of [`EventSet::events`].
    pub fn event(&self, index: usize) -> MessageEvent {
        let e = &self.events[index];
        let (stream, conversation) = &self.conversations[e.conversation as usize];
        let s = &self.streams[*stream as usize];
        MessageEvent {
            id: e.id.clone(),
            account: s.account.clone(),
            channel: s.channel.clone(),
            conversation: conversation.clone(),
            from: e.from,
            at: e.at,
            agent: self.agent(e.agent).cloned(),
        }
    }

    fn intern_stream(&mut self, account: &AccountId, channel: &ChannelName) -> StreamIdx {
        if let Some(idx) = self
            .stream_index
            .get(account.as_str())
            .and_then(|m| m.get(channel.as_str()))
        {
            return *idx;
        }
        let idx = to_u32(self.streams.len());
        self.streams.push(Stream {
            account: account.clone(),
            channel: channel.clone(),
        });
        self.stream_index
            .entry(account.clone())
            .or_default()
            .insert(channel.clone(), idx);
        idx
    }

    fn intern_conversation(&mut self, stream: StreamIdx, id: &ConversationId) -> ConversationIdx {
        let hash = self.hasher.hash_one((stream, id.as_str()));
        let conversations = &self.conversations;
        let found = self.conversation_index.find(hash, |&i| {
            let (s, c) = &conversations[i as usize];
            *s == stream && c == id
        });
        if let Some(idx) = found {
            return *idx;
        }
        let idx = to_u32(self.conversations.len());
        self.conversations.push((stream, id.clone()));
        let (conversations, hasher) = (&self.conversations, &self.hasher);
        self.conversation_index.insert_unique(hash, idx, |&i| {
            let (s, c) = &conversations[i as usize];
            hasher.hash_one((*s, c.as_str()))
        });
        idx
    }

    fn intern_agent(&mut self, agent: Option<&AgentName>) -> AgentIdx {
        let Some(agent) = agent else { return NO_AGENT };
        if let Some(idx) = self.agent_index.get(agent.as_str()) {
            return *idx;
        }
        let idx = to_u32(self.agents.len());
        self.agents.push(agent.clone());
        self.agent_index.insert(agent.clone(), idx);
        idx
    }

    /// Looks an event up by its key, SPEC §1's idempotency key.
    fn find(&self, stream: StreamIdx, id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one((stream, id));
        self.by_key
            .find(hash, |&i| {
                let e = &self.events[i as usize];
                e.id.as_str() == id && self.stream_of(e.conversation) == stream
            })
            .map(|&i| i as usize)
    }

    /// Duplicate or conflict of the held event `i`, which has `event`'s key.
    fn compare(&self, i: usize, event: &MessageEvent) -> Insert {
        let kept = &self.events[i];
        let same = kept.at == event.at
            && kept.from == event.from
            && self.conversation_id(kept.conversation) == &event.conversation
            && self.agent(kept.agent) == event.agent.as_ref();
        match same {
            true => Insert::Duplicate,
            false => Insert::Conflict,
        }
    }

    /// What [`EventSet::insert`] would do with `event`, without doing it.
    pub fn probe(&self, event: &MessageEvent) -> Insert {
        let stream = self
            .stream_index
            .get(event.account.as_str())
            .and_then(|m| m.get(event.channel.as_str()));
        match stream.and_then(|&s| self.find(s, event.id.as_str())) {
            Some(i) => self.compare(i, event),
            None => Insert::New,
        }
    }

    /// Adds an event unless its (`account`, `channel`, `id`) is already held.
    pub fn insert(&mut self, event: MessageEvent) -> Insert {
        self.insert_in_stream(event).0
    }

    /// [`EventSet::insert`], also telling the event's stream.
    pub fn insert_in_stream(&mut self, event: MessageEvent) -> (Insert, StreamIdx) {
        let stream = self.intern_stream(&event.account, &event.channel);
        if let Some(i) = self.find(stream, event.id.as_str()) {
            return (self.compare(i, &event), stream);
        }
        let conversation = self.intern_conversation(stream, &event.conversation);
        let agent = self.intern_agent(event.agent.as_ref());
        let index = to_u32(self.events.len());
        let hash = self.hasher.hash_one((stream, event.id.as_str()));
        self.events.push(StoredEvent {
            at: event.at,
            conversation,
            agent,
            from: event.from,
            id: event.id,
        });
        let (events, conversations, hasher) = (&self.events, &self.conversations, &self.hasher);
        self.by_key.insert_unique(hash, index, |&i| {
            let e = &events[i as usize];
            hasher.hash_one((conversations[e.conversation as usize].0, e.id.as_str()))
        });
        (Insert::New, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::ev;

    #[test]
    fn exact_duplicate_counts_once() {
        let mut set = EventSet::new();
        assert_eq!(set.insert(ev("c1", Sender::Customer, 0)), Insert::New);
        assert_eq!(set.insert(ev("c1", Sender::Customer, 0)), Insert::Duplicate);
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn conflicting_duplicate_keeps_the_first_version() {
        let mut set = EventSet::new();
        let first = ev("c1", Sender::Customer, 0);
        let mut second = first.clone();
        second.from = Sender::Agent;
        set.insert(first.clone());
        assert_eq!(set.insert(second), Insert::Conflict);
        assert_eq!(set.event(0), first);
    }

    #[test]
    fn probe_tells_what_insert_would_do_without_inserting() {
        let mut set = EventSet::new();
        let first = ev("c1", Sender::Customer, 0);
        let mut other = first.clone();
        other.from = Sender::Agent;
        assert_eq!(set.probe(&first), Insert::New);
        assert!(set.is_empty());
        set.insert(first.clone());
        assert_eq!(set.probe(&first), Insert::Duplicate);
        assert_eq!(set.probe(&other), Insert::Conflict);
    }

    #[test]
    fn ids_are_unique_only_within_account_and_channel() {
        let mut set = EventSet::new();
        let a = ev("c1", Sender::Customer, 0);
        let mut b = a.clone();
        b.channel = ChannelName::parse("whatsapp").unwrap();
        let mut c = a.clone();
        c.account = AccountId::parse("other").unwrap();
        for e in [a, b, c] {
            assert_eq!(set.insert(e), Insert::New);
        }
        assert_eq!(set.streams().len(), 3);
    }
}
