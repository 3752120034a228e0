//! SPEC §2: customer requests and their first replies, per conversation, in
//! both views. The canonical event order (at, then customer < agent < bot <
//! auto, then id byte-wise) lives here and nowhere else. Pure: no IO.

use super::event::Sender;
use super::eventset::{AgentIdx, ConversationIdx, EventSet, StoredEvent};
use super::time::{ONE_DAY, Timestamp};
use rayon::prelude::*;
use std::cmp::Ordering;

/// Which messages close a request (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyPolicy {
    /// `bot` messages reply too.
    pub bots_reply: bool,
}

impl ReplyPolicy {
    /// The operational view: `agent` only, plus `bot` with `bots_count_as_replies`.
    pub fn operational(bots_count_as_replies: bool) -> Self {
        ReplyPolicy {
            bots_reply: bots_count_as_replies,
        }
    }

    /// The badge view: Meta counts replies by hand or through the API.
    pub fn badge() -> Self {
        ReplyPolicy { bots_reply: true }
    }

    fn replies(self, from: Sender) -> bool {
        match from {
            Sender::Agent => true,
            Sender::Bot => self.bots_reply,
            // SPEC §2: auto never replies, in either view.
            Sender::Customer | Sender::Auto => false,
        }
    }
}

/// The first reply to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub at: Timestamp,
    pub agent: AgentIdx,
}

/// One customer request (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub conversation: ConversationIdx,
    pub opened_at: Timestamp,
    /// The first replying message, if one came before the evaluation instant.
    pub reply: Option<Reply>,
    /// Opened by the conversation's first event or after ≥ 24 h of silence.
    pub new_conversation: bool,
}

impl Request {
    /// The request as seen at `at` (SPEC §3: events at or after it have not
    /// happened): `None` when it opens later, else without a later reply.
    pub fn seen_at(&self, at: Timestamp) -> Option<Request> {
        (self.opened_at < at).then(|| Request {
            reply: self.reply.filter(|x| x.at < at),
            ..*self
        })
    }
}

/// The requests of both views, each ordered by conversation then opening time.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    pub operational: Vec<Request>,
    pub badge: Vec<Request>,
}

/// A minimal view of an event for the walk.
#[derive(Debug, Clone, Copy)]
pub struct WalkEvent {
    pub at: Timestamp,
    pub from: Sender,
    pub agent: AgentIdx,
}

/// Walks one conversation's events, already in canonical order, and appends
/// its requests under `policy` to `out`.
pub fn walk_conversation(
    conversation: ConversationIdx,
    events: impl IntoIterator<Item = WalkEvent>,
    policy: ReplyPolicy,
    out: &mut Vec<Request>,
) {
    walk_conversation_from(conversation, events, policy, out, None);
}

/// [`walk_conversation`] resumed at a point where no request is open and
/// the previous event was at `previous_at` (None: the conversation's start).
/// Every request closes before the next one opens, so just after a reply
/// the walk's whole state is that instant: the streaming engine resumes
/// there instead of walking a long conversation from its start.
pub fn walk_conversation_from(
    conversation: ConversationIdx,
    events: impl IntoIterator<Item = WalkEvent>,
    policy: ReplyPolicy,
    out: &mut Vec<Request>,
    previous_at: Option<Timestamp>,
) {
    let mut open: Option<Request> = None;
    let mut previous_at = previous_at;
    for e in events {
        match e.from {
            // SPEC §2: later customer messages join the open request.
            Sender::Customer if open.is_none() => {
                let new_conversation = previous_at.is_none_or(|p| e.at.since(p) >= ONE_DAY);
                open = Some(Request {
                    conversation,
                    opened_at: e.at,
                    reply: None,
                    new_conversation,
                });
            }
            from if policy.replies(from) => {
                // A reply with no open request is proactive: not a response.
                if let Some(mut r) = open.take() {
                    r.reply = Some(Reply {
                        at: e.at,
                        agent: e.agent,
                    });
                    out.push(r);
                }
            }
            _ => {}
        }
        previous_at = Some(e.at);
    }
    out.extend(open);
}

/// SPEC §2's order of two events of the same conversation.
pub fn canonical_order(a: &StoredEvent, b: &StoredEvent) -> Ordering {
    a.at.cmp(&b.at)
        .then(a.from.cmp(&b.from))
        .then_with(|| a.id.as_str().cmp(b.id.as_str()))
}

/// Which view a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Operational,
    Badge,
}

/// Sort key of an event: (conversation, at, from) in the high 98 bits, the
/// event's index in the low 30. 16 bytes per event instead of 24 for a tuple.
fn sort_key(e: &StoredEvent, index: usize) -> u128 {
    let at = (e.at.unix_micros() as u64) ^ (1 << 63); // order-preserving
    (u128::from(e.conversation) << 96)
        | (u128::from(at) << 32)
        | ((e.from as u128) << 30)
        | index as u128
}

const INDEX_BITS: u32 = 30;

/// Walks every conversation of `set` over the events with `at < until` (later
/// events have not happened yet, SPEC §3), on every core, and folds the
/// requests of both views into accumulators without materialising them:
/// `add` sees each request once, `merge` combines the per-thread results.
/// Only order-insensitive accumulators give thread-count-independent results.
pub fn fold_requests<A: Send>(
    set: &EventSet,
    until: Timestamp,
    operational: ReplyPolicy,
    init: impl Fn() -> A + Sync + Send,
    add: impl Fn(&mut A, View, &Request) + Sync + Send,
    merge: impl Fn(A, A) -> A + Sync + Send,
) -> A {
    let events = set.events();
    assert!(
        events.len() < 1 << INDEX_BITS,
        "too many events for one EventSet"
    );
    let mut order: Vec<u128> = events
        .par_iter()
        .enumerate()
        .filter(|(_, e)| e.at < until)
        .map(|(i, e)| sort_key(e, i))
        .collect();
    // The integers settle almost every comparison; ties fall back to the id.
    order.par_sort_unstable_by(|a, b| {
        (a >> INDEX_BITS).cmp(&(b >> INDEX_BITS)).then_with(|| {
            let (ia, ib) = ((a & 0x3FFF_FFFF) as usize, (b & 0x3FFF_FFFF) as usize);
            events[ia].id.as_str().cmp(events[ib].id.as_str())
        })
    });
    order
        .par_chunk_by(|a, b| (a >> 96) == (b >> 96))
        .fold(
            || (init(), Vec::new()),
            |(mut acc, mut buf): (A, Vec<Request>), chunk| {
                let conversation = (chunk[0] >> 96) as ConversationIdx;
                let walk = chunk.iter().map(|k| {
                    let e = &events[(k & 0x3FFF_FFFF) as usize];
                    WalkEvent {
                        at: e.at,
                        from: e.from,
                        agent: e.agent,
                    }
                });
                for (view, policy) in [
                    (View::Operational, operational),
                    (View::Badge, ReplyPolicy::badge()),
                ] {
                    buf.clear();
                    walk_conversation(conversation, walk.clone(), policy, &mut buf);
                    for r in &buf {
                        add(&mut acc, view, r);
                    }
                }
                (acc, buf)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(&init, &merge)
}

/// Derives the requests of both views from every event with `at < until`,
/// ordered by conversation then opening time.
pub fn derive_requests(set: &EventSet, until: Timestamp, operational: ReplyPolicy) -> Requests {
    let mut out = fold_requests(
        set,
        until,
        operational,
        Requests::default,
        |acc, view, r| match view {
            View::Operational => acc.operational.push(*r),
            View::Badge => acc.badge.push(*r),
        },
        |mut a, b| {
            a.operational.extend(b.operational);
            a.badge.extend(b.badge);
            a
        },
    );
    for v in [&mut out.operational, &mut out.badge] {
        v.sort_by_key(|r| (r.conversation, r.opened_at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{ev, ev_agent, set_of};

    fn requests(events: Vec<crate::domain::MessageEvent>, policy: ReplyPolicy) -> Vec<Request> {
        let set = set_of(events);
        let r = derive_requests(&set, Timestamp::from_unix_micros(i64::MAX), policy);
        if policy == ReplyPolicy::badge() {
            r.badge
        } else {
            r.operational
        }
    }

    fn op() -> ReplyPolicy {
        ReplyPolicy::operational(false)
    }

    fn reply_seconds(r: &Request) -> Option<i64> {
        r.reply.map(|x| x.at.since(r.opened_at).0 / 1_000_000)
    }

    #[test]
    fn later_customer_messages_join_the_open_request() {
        use Sender::*;
        let r = requests(
            vec![
                ev("c", Customer, 0),
                ev("c", Customer, 60),
                ev("c", Agent, 100),
            ],
            op(),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(reply_seconds(&r[0]), Some(100));
    }

    #[test]
    fn bot_message_does_not_close_request_in_operational_view() {
        use Sender::*;
        let events = vec![ev("c", Customer, 0), ev("c", Bot, 5), ev("c", Agent, 300)];
        assert_eq!(reply_seconds(&requests(events.clone(), op())[0]), Some(300));
        assert_eq!(
            reply_seconds(&requests(events.clone(), ReplyPolicy::operational(true))[0]),
            Some(5)
        );
        assert_eq!(
            reply_seconds(&requests(events, ReplyPolicy::badge())[0]),
            Some(5)
        );
    }

    #[test]
    fn auto_never_replies() {
        use Sender::*;
        let r = requests(
            vec![ev("c", Customer, 0), ev("c", Auto, 1)],
            ReplyPolicy::badge(),
        );
        assert_eq!(r[0].reply, None);
    }

    #[test]
    fn proactive_agent_message_opens_nothing() {
        use Sender::*;
        let r = requests(vec![ev("c", Agent, 0), ev("c", Customer, 10)], op());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].reply, None);
        assert!(
            !r[0].new_conversation,
            "the agent's message was 10 s before"
        );
    }

    #[test]
    fn customer_sorts_before_agent_at_the_same_instant() {
        use Sender::*;
        let r = requests(vec![ev("c", Agent, 50), ev("c", Customer, 50)], op());
        assert_eq!(reply_seconds(&r[0]), Some(0));
    }

    #[test]
    fn new_conversation_needs_24h_of_silence_from_either_side() {
        use Sender::*;
        let r = requests(
            vec![
                ev("c", Customer, 0),
                ev("c", Agent, 10),
                ev("c", Customer, 10 + 86_399),
                ev("c", Agent, 10 + 86_400),
                ev("c", Customer, 10 + 2 * 86_400),
            ],
            op(),
        );
        let new: Vec<bool> = r.iter().map(|r| r.new_conversation).collect();
        assert_eq!(new, [true, false, true]);
    }

    #[test]
    fn reply_agent_is_kept() {
        use Sender::*;
        let set = set_of(vec![ev("c", Customer, 0), ev_agent("c", 5, "ayse")]);
        let r = derive_requests(&set, Timestamp::from_unix_micros(i64::MAX), op());
        let agent = r.operational[0].reply.unwrap().agent;
        assert_eq!(set.agent(agent).unwrap().as_str(), "ayse");
    }

    #[test]
    fn events_at_or_after_until_have_not_happened() {
        use Sender::*;
        let set = set_of(vec![ev("c", Customer, 0), ev("c", Agent, 10)]);
        let until =
            crate::domain::test_support::base().plus(crate::domain::Micros::from_seconds(10));
        let r = derive_requests(&set, until, op());
        assert_eq!(r.operational[0].reply, None);
    }
}
