//! Ordering, searching and paging the accounts of a §4 document (the page
//! `GET /` and `GET /v1/stats?order=&search=&limit=&cursor=`): which accounts
//! come first, a keyset cursor that stays right while figures change, and
//! an account search. Pure; no IO, no web.
//!
//! Accounts are listed whole: a page holds every group of each of its
//! accounts, in SPEC §4 order within the account; accounts are ordered by
//! their `all` group.

use super::GroupStats;
use super::ids::ALL_CHANNELS;
use std::cmp::Ordering;

/// A figure accounts can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Requests,
    ResponseRate,
    MedianFirstReply,
    P90FirstReply,
    HitRatio1h,
    HitRatio24h,
    Pending,
    OldestPending,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::Requests,
        Field::ResponseRate,
        Field::MedianFirstReply,
        Field::P90FirstReply,
        Field::HitRatio1h,
        Field::HitRatio24h,
        Field::Pending,
        Field::OldestPending,
    ];

    /// The field's name in the §4 document.
    pub fn name(self) -> &'static str {
        match self {
            Field::Requests => "requests",
            Field::ResponseRate => "response_rate",
            Field::MedianFirstReply => "median_first_reply_seconds",
            Field::P90FirstReply => "p90_first_reply_seconds",
            Field::HitRatio1h => "hit_ratio_1h",
            Field::HitRatio24h => "hit_ratio_24h",
            Field::Pending => "pending",
            Field::OldestPending => "oldest_pending_seconds",
        }
    }

    fn value(self, g: &GroupStats) -> Option<f64> {
        match self {
            Field::Requests => Some(g.requests as f64),
            Field::ResponseRate => g.response_rate,
            Field::MedianFirstReply => g.median_first_reply_seconds,
            Field::P90FirstReply => g.p90_first_reply_seconds,
            Field::HitRatio1h => g.hit_ratio_1h,
            Field::HitRatio24h => g.hit_ratio_24h,
            Field::Pending => Some(g.pending as f64),
            Field::OldestPending => g.oldest_pending_seconds,
        }
    }

    /// Which way is worse: a higher time or count, a lower rate.
    fn worse_is_higher(self) -> bool {
        !matches!(
            self,
            Field::ResponseRate | Field::HitRatio1h | Field::HitRatio24h
        )
    }
}

/// How accounts are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By name, byte-wise (SPEC §4's order).
    Account,
    /// Worst first: the lowest response rate, then the slowest median
    /// first reply, then the most pending; undefined figures last.
    Worst,
    /// By one figure; `descending` puts the largest first. Undefined last.
    By { field: Field, descending: bool },
}

impl Order {
    /// `account`, `worst`, a field name (ascending) or `-` and a field name
    /// (descending).
    pub fn parse(s: &str) -> Result<Order, String> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, s),
        };
        match name {
            "account" if !descending => Ok(Order::Account),
            "worst" if !descending => Ok(Order::Worst),
            _ => Field::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .map(|field| Order::By { field, descending })
                .ok_or_else(|| {
                    let fields: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                    format!(
                        "unknown order {s:?}: use account, worst, or a field ({}), with - before it for largest first",
                        fields.join(", ")
                    )
                }),
        }
    }

    /// Every order's name, as [`Order::parse`] reads it.
    pub fn names() -> Vec<String> {
        let mut out = vec!["account".to_string(), "worst".to_string()];
        for field in Field::ALL {
            out.push(field.name().to_string());
            out.push(format!("-{}", field.name()));
        }
        out
    }

    pub fn name(self) -> String {
        match self {
            Order::Account => "account".to_string(),
            Order::Worst => "worst".to_string(),
            Order::By { field, descending } => {
                format!("{}{}", if descending { "-" } else { "" }, field.name())
            }
        }
    }

    /// The account's sort key: values compared ascending, undefined last.
    fn key(self, g: &GroupStats) -> Vec<Option<f64>> {
        let neg = |v: Option<f64>| v.map(|v| -v);
        match self {
            Order::Account => Vec::new(),
            Order::Worst => vec![
                g.response_rate,
                neg(g.median_first_reply_seconds),
                Some(-(g.pending as f64)),
            ],
            Order::By { field, descending } => match descending {
                true => vec![neg(field.value(g))],
                false => vec![field.value(g)],
            },
        }
    }

    /// The default direction of a column on the page: worst first.
    pub fn worst_first(field: Field) -> Order {
        Order::By {
            field,
            descending: field.worse_is_higher(),
        }
    }
}

/// Where a page ends: the sort key and name of its last account.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    order: String,
    key: Vec<Option<f64>>,
    account: String,
}

impl Cursor {
    /// An opaque, URL-safe token (exact: values as their bits).
    pub fn encode(&self) -> String {
        let key: Vec<String> = self
            .key
            .iter()
            .map(|v| v.map_or("n".to_string(), |v| format!("{:x}", v.to_bits())))
            .collect();
        let hex: String = self.account.bytes().map(|b| format!("{b:02x}")).collect();
        format!("1.{}.{}.{hex}", self.order, key.join("_"))
    }

    /// Reads a token `encode` made; the error says what is wrong. Any
    /// token of the documented shape ([`Cursor::PATTERN`]) reads: the
    /// listing continues in the cursor's own order.
    pub fn decode(token: &str) -> Result<(Order, Cursor), String> {
        let bad = || format!("{token:?} is not a cursor this service made");
        let parts: Vec<&str> = token.split('.').collect();
        let [version, order, key, account] = parts[..] else {
            return Err(bad());
        };
        if version != "1" {
            return Err(bad());
        }
        let order = Order::parse(order).map_err(|_| bad())?;
        let key = match key {
            "" => Vec::new(),
            k => k
                .split('_')
                .map(|v| match v {
                    "n" => Ok(None),
                    v if v.len() <= 16 => u64::from_str_radix(v, 16)
                        .map(|b| Some(f64::from_bits(b)))
                        .map_err(|_| bad()),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
        };
        if account.len() % 2 != 0 {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..account.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(account.get(i..i + 2).unwrap_or("x"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let cursor = Cursor {
            order: order.name(),
            key,
            account: String::from_utf8_lossy(&bytes).into_owned(),
        };
        Ok((order, cursor))
    }

    /// The shape of a cursor, as a regular expression (the API documents it).
    pub const PATTERN: &'static str = r"^1\.(account|worst|-?(requests|response_rate|median_first_reply_seconds|p90_first_reply_seconds|hit_ratio_1h|hit_ratio_24h|pending|oldest_pending_seconds))\.((n|[0-9a-f]{1,16})(_(n|[0-9a-f]{1,16}))*)?\.([0-9a-f]{2})*$";
}

fn compare(a: (&[Option<f64>], &str), b: (&[Option<f64>], &str)) -> Ordering {
    for (x, y) in a.0.iter().zip(b.0) {
        let o = match (x, y) {
            (Some(x), Some(y)) => x.total_cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.1.as_bytes().cmp(b.1.as_bytes())
}

/// One page of accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// Every group of each account on the page, accounts in order.
    pub groups: Vec<GroupStats>,
    /// Accounts matching the search, on every page.
    pub accounts: usize,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// The accounts of `groups` (a §4 document's, in SPEC order) whose name
/// contains `search` (case-insensitive), ordered by `order`, after
/// `cursor`, at most `limit` of them.
pub fn list(
    groups: Vec<GroupStats>,
    order: Order,
    search: Option<&str>,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Listing {
    let needle = search.map(str::to_lowercase).filter(|s| !s.is_empty());
    // The accounts' runs of groups (SPEC order keeps an account together).
    let mut accounts: Vec<(Vec<Option<f64>>, Vec<GroupStats>)> = Vec::new();
    for g in groups {
        if needle
            .as_ref()
            .is_some_and(|n| !g.account.to_lowercase().contains(n.as_str()))
        {
            continue;
        }
        match accounts.last_mut() {
            Some((_, run)) if run[0].account == g.account => run.push(g),
            _ => accounts.push((Vec::new(), vec![g])),
        }
    }
    for (key, run) in &mut accounts {
        let all = run
            .iter()
            .find(|g| g.channel == ALL_CHANNELS)
            .unwrap_or(&run[0]);
        *key = order.key(all);
    }
    let total = accounts.len();
    accounts.sort_by(|a, b| compare((&a.0, &a.1[0].account), (&b.0, &b.1[0].account)));
    let start = match cursor {
        Some(c) => accounts.partition_point(|(key, run)| {
            compare((key, &run[0].account), (&c.key, &c.account)) != Ordering::Greater
        }),
        None => 0,
    };
    let end = (start + limit).min(accounts.len());
    let next = (end < accounts.len() && end > start).then(|| {
        let (key, run) = &accounts[end - 1];
        Cursor {
            order: order.name(),
            key: key.clone(),
            account: run[0].account.clone(),
        }
    });
    let groups = accounts
        .drain(start.min(end)..end)
        .flat_map(|(_, run)| run)
        .collect();
    Listing {
        groups,
        accounts: total,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, rate: Option<f64>, median: Option<f64>) -> Vec<GroupStats> {
        let mut g = GroupStats::empty(name, ALL_CHANNELS, false);
        g.response_rate = rate;
        g.median_first_reply_seconds = median;
        g.requests = 1;
        let mut c = g.clone();
        c.channel = "messenger".to_string();
        vec![c, g]
    }

    fn names(l: &Listing) -> Vec<&str> {
        l.groups
            .iter()
            .filter(|g| g.channel == ALL_CHANNELS)
            .map(|g| g.account.as_str())
            .collect()
    }

    fn groups() -> Vec<GroupStats> {
        [
            account("alpha", Some(1.0), Some(60.0)),
            account("bravo", Some(0.5), Some(600.0)),
            account("charlie", None, None),
            account("delta", Some(0.5), Some(6_000.0)),
        ]
        .concat()
    }

    #[test]
    fn worst_first_is_the_lowest_response_rate_then_the_slowest_with_undefined_last() {
        let l = list(groups(), Order::Worst, None, None, 10);
        assert_eq!(names(&l), ["delta", "bravo", "alpha", "charlie"]);
        assert_eq!(l.groups.len(), 8, "every group of each account");
        assert_eq!(
            l.groups[0].channel, "messenger",
            "SPEC order within an account"
        );
        assert_eq!(l.next, None);
    }

    #[test]
    fn pages_follow_each_other_without_gap_or_repeat_even_when_figures_change() {
        let order = Order::parse("-median_first_reply_seconds").unwrap();
        let first = list(groups(), order, None, None, 2);
        assert_eq!(names(&first), ["delta", "bravo"]);
        let token = first.next.as_ref().unwrap().encode();
        let (again, cursor) = Cursor::decode(&token).unwrap();
        assert_eq!(again, order, "the cursor carries its order");
        // Bravo got slower between the pages: the next page still starts
        // after bravo's old place, so nothing is shown twice.
        let mut changed = groups();
        changed[2].median_first_reply_seconds = Some(9_000.0);
        changed[3].median_first_reply_seconds = Some(9_000.0);
        let second = list(changed, order, None, Some(&cursor), 2);
        assert_eq!(names(&second), ["alpha", "charlie"]);
        assert_eq!(second.next, None);
        assert_eq!(second.accounts, 4);
    }

    #[test]
    fn a_search_keeps_the_accounts_whose_name_contains_it() {
        let l = list(groups(), Order::Account, Some("AR"), None, 10);
        assert_eq!(names(&l), ["charlie"]);
        assert_eq!(l.accounts, 1);
    }

    #[test]
    fn bad_orders_and_cursors_are_explained() {
        assert!(Order::parse("speed").unwrap_err().contains("response_rate"));
        assert!(Order::parse("-worst").is_err());
        for order in Order::names() {
            assert_eq!(Order::parse(&order).map(Order::name), Ok(order));
        }
        let c = list(groups(), Order::Worst, None, None, 1).next.unwrap();
        let token = c.encode();
        assert_eq!(Cursor::decode(&token), Ok((Order::Worst, c.clone())));
        let shape = regex::Regex::new(Cursor::PATTERN).unwrap();
        assert!(shape.is_match(&token), "{token}");
        assert!(
            shape.is_match(
                &list(groups(), Order::Account, None, None, 1)
                    .next
                    .unwrap()
                    .encode()
            )
        );
        assert!(Cursor::decode("1.account..zz").is_err());
        assert!(Cursor::decode("garbage").is_err());
        assert!(Cursor::decode("1.speed..61").is_err());
    }
}
