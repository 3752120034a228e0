//! The streaming metrics engine behind `serve`: the distinct events plus,
//! per conversation, its events in SPEC §2 order and its requests of both
//! views, kept up to date as batches are committed. A new event re-walks
//! only its own conversation (late and out-of-order events included), so
//! figures are exact, never approximated; and because figures are computed
//! at a given instant from the cached requests through the same
//! accumulators as `analyze` ([`RequestSource`]), they equal the pure
//! core's. Pure: no IO, no clock, no HTTP, no prometheus.

use crate::domain::requests::{
    View, WalkEvent, canonical_order, walk_conversation, walk_conversation_from,
};
use crate::domain::stats::RequestSource;
use crate::domain::{EventSet, Insert, MessageEvent, Micros, ReplyPolicy, Request, Timestamp};
use rayon::prelude::*;

type ConversationIdx = u32;

/// The requests of one conversation, in both views.
#[derive(Debug, Default, Clone)]
struct ConversationRequests {
    operational: Vec<Request>,
    badge: Vec<Request>,
}

/// A request that became answered while events were applied (for the
/// first-reply histogram, SPEC §5: observed when a request is answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    pub stream: u32,
    pub first_reply: Micros,
    /// The request as derived now (its opening and its reply).
    pub request: Request,
}

/// What applying a batch did, for the ingestion counters.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// Per new event: its stream and sender.
    pub new: Vec<(u32, crate::domain::Sender)>,
    /// Per duplicate or conflicting event: its stream.
    pub duplicates: Vec<u32>,
    pub answered: Vec<Answered>,
    /// Operational requests that did not exist before (a new or late
    /// customer message opened them), as derived now, with their stream.
    pub opened: Vec<(u32, Request)>,
}

/// See the module header.
#[derive(Debug)]
pub struct Engine {
    set: EventSet,
    operational: ReplyPolicy,
    /// Per conversation: indexes into `set.events()`, in canonical order.
    conversation_events: Vec<Vec<u32>>,
    requests: Vec<ConversationRequests>,
    /// Events per stream (to find the busiest accounts).
    stream_events: Vec<u64>,
}

impl Engine {
    /// Builds the state of every conversation of `set`.
    pub fn from_set(set: EventSet, operational: ReplyPolicy) -> Engine {
        let mut conversation_events: Vec<Vec<u32>> = vec![Vec::new(); set.conversation_count()];
        let mut stream_events = vec![0u64; set.streams().len()];
        for (i, e) in set.events().iter().enumerate() {
            conversation_events[e.conversation as usize].push(i as u32);
            stream_events[set.stream_of(e.conversation) as usize] += 1;
        }
        let events = set.events();
        conversation_events.par_iter_mut().for_each(|list| {
            list.sort_unstable_by(|&a, &b| {
                canonical_order(&events[a as usize], &events[b as usize])
            })
        });
        let mut engine = Engine {
            requests: Vec::new(),
            set,
            operational,
            conversation_events,
            stream_events,
        };
        engine.requests = (0..engine.conversation_events.len() as u32)
            .into_par_iter()
            .map(|c| engine.walk(c))
            .collect();
        engine
    }

    pub fn set(&self) -> &EventSet {
        &self.set
    }

    pub fn operational(&self) -> ReplyPolicy {
        self.operational
    }

    /// Events per stream, indexed like `set().streams()`.
    pub fn stream_events(&self) -> &[u64] {
        &self.stream_events
    }

    /// Conversation `c`'s events in SPEC §2 order, from its `start`-th on,
    /// as the walk reads them.
    fn walk_events(
        &self,
        c: ConversationIdx,
        start: usize,
    ) -> impl Iterator<Item = WalkEvent> + Clone + '_ {
        let events = self.set.events();
        self.conversation_events[c as usize][start..]
            .iter()
            .map(move |&i| {
                let e = &events[i as usize];
                WalkEvent {
                    at: e.at,
                    from: e.from,
                    agent: e.agent,
                }
            })
    }

    fn walk(&self, c: ConversationIdx) -> ConversationRequests {
        let walk = self.walk_events(c, 0);
        let mut out = ConversationRequests::default();
        walk_conversation(c, walk.clone(), self.operational, &mut out.operational);
        walk_conversation(c, walk, ReplyPolicy::badge(), &mut out.badge);
        out
    }

    /// Re-derives one view's requests of conversation `c` after events at
    /// or after `from` were added: the requests answered before `from`
    /// cannot change, so they stay, and the walk resumes just after the
    /// last of their replies. Cost: the changed part of the conversation,
    /// not its history (issue 15: one late event in a 100k-event
    /// conversation re-walked and compared everything under the lock).
    /// Returns how many requests were kept as they were, and those it
    /// replaced.
    fn rewalk(
        &self,
        c: ConversationIdx,
        requests: &mut Vec<Request>,
        from: Timestamp,
        policy: ReplyPolicy,
    ) -> (usize, Vec<Request>) {
        // Replies grow along the list (each request closes before the next
        // opens; only the last may be open), so this is a prefix.
        let keep = requests.partition_point(|r| r.reply.is_some_and(|x| x.at < from));
        let resume_after = keep
            .checked_sub(1)
            .and_then(|k| requests[k].reply)
            .map(|x| x.at);
        let replaced = requests.split_off(keep);
        let events = self.set.events();
        // Events at the reply's own instant after it (in SPEC §2 order) are
        // not customers, so nothing opens among them: resume after them.
        let start = resume_after.map_or(0, |t| {
            self.conversation_events[c as usize].partition_point(|&i| events[i as usize].at <= t)
        });
        walk_conversation_from(
            c,
            self.walk_events(c, start),
            policy,
            requests,
            resume_after,
        );
        (keep, replaced)
    }

    /// Adds committed events (the first version of a key wins, SPEC §2),
    /// re-walking each touched conversation once, from its earliest new event.
    pub fn apply(&mut self, events: impl IntoIterator<Item = MessageEvent>) -> Applied {
        let mut applied = Applied::default();
        let mut touched: Vec<(ConversationIdx, Timestamp)> = Vec::new();
        for e in events {
            let (verdict, stream) = self.set.insert_in_stream(e);
            if verdict != Insert::New {
                applied.duplicates.push(stream);
                continue;
            }
            let index = self.set.len() - 1;
            let stored = &self.set.events()[index];
            let c = stored.conversation as usize;
            if c >= self.conversation_events.len() {
                self.conversation_events.resize(c + 1, Vec::new());
                self.requests.resize(c + 1, ConversationRequests::default());
            }
            if stream as usize >= self.stream_events.len() {
                self.stream_events.resize(stream as usize + 1, 0);
            }
            self.stream_events[stream as usize] += 1;
            applied.new.push((stream, stored.from));
            let events = self.set.events();
            let list = &mut self.conversation_events[c];
            let at =
                list.partition_point(|&i| canonical_order(&events[i as usize], stored).is_lt());
            let new_at = stored.at;
            list.insert(at, index as u32);
            touched.push((c as ConversationIdx, new_at));
        }
        // Per conversation, its earliest new event.
        touched.sort_unstable();
        touched.dedup_by_key(|(c, _)| *c);
        for (c, from) in touched {
            let stream = self.set.stream_of(c);
            // Requests answered before `from` stay as they were; only the
            // re-walked tail can newly be answered (SPEC §5's histogram).
            let ConversationRequests {
                mut operational,
                mut badge,
            } = std::mem::take(&mut self.requests[c as usize]);
            let (unchanged, previously) = self.rewalk(c, &mut operational, from, self.operational);
            self.rewalk(c, &mut badge, from, ReplyPolicy::badge());
            for r in &operational[unchanged..] {
                let before = previously.binary_search_by_key(&r.opened_at, |b| b.opened_at);
                if before.is_err() {
                    applied.opened.push((stream, *r));
                }
                let Some(reply) = r.reply else { continue };
                let was_answered = before.is_ok_and(|i| previously[i].reply.is_some());
                if !was_answered {
                    applied.answered.push(Answered {
                        stream,
                        first_reply: reply.at.since(r.opened_at),
                        request: *r,
                    });
                }
            }
            self.requests[c as usize] = ConversationRequests { operational, badge };
        }
        applied
    }

    /// The operational-view requests as derived from the events with
    /// `at < until` (what `derive_requests` gives, without walking again).
    pub fn operational_at(&self, until: Timestamp) -> impl Iterator<Item = Request> + '_ {
        self.requests
            .iter()
            .flat_map(move |c| c.operational.iter().map_while(move |r| r.seen_at(until)))
    }

    /// Every conversation's operational-view requests (configured policy),
    /// in opening order, with the conversation's stream.
    pub fn operational_requests(&self) -> impl Iterator<Item = (u32, &[Request])> {
        self.requests
            .iter()
            .enumerate()
            .map(|(c, r)| (self.set.stream_of(c as u32), r.operational.as_slice()))
    }
}

impl RequestSource for Engine {
    fn fold<A: Send>(
        &self,
        until: Timestamp,
        init: impl Fn() -> A + Sync + Send,
        add: impl Fn(&mut A, View, &Request) + Sync + Send,
        merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> A {
        // One part per thread: each part allocates a full set of accumulators.
        let part = self
            .requests
            .len()
            .div_ceil(rayon::current_num_threads())
            .max(1);
        self.requests
            .par_chunks(part)
            .fold(&init, |mut acc, chunk| {
                for conversation in chunk {
                    for (view, list) in [
                        (View::Operational, &conversation.operational),
                        (View::Badge, &conversation.badge),
                    ] {
                        for r in list.iter().map_while(|r| r.seen_at(until)) {
                            add(&mut acc, view, &r);
                        }
                    }
                }
                acc
            })
            .reduce(&init, &merge)
    }
}
