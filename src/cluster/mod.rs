//! Several `serve` nodes as one cluster (`serve --nats URL`): NATS JetStream
//! holds the event log and decides who owns what; PostgreSQL holds the
//! events. No consensus of our own:
//!
//! - [`log`]: the front of any node publishes a validated batch to one
//!   JetStream stream, one subject per partition (a stable hash of the
//!   account, [`partition_of`]), and answers 202 once JetStream acknowledged
//!   every message (stored on disk). A message id (hash of its content) lets
//!   JetStream drop a re-published chunk; the store's key drops the rest.
//! - [`ownership`] (pure) and [`node`]: each partition is owned through a
//!   lease, a key in a JetStream key-value bucket whose entries expire after
//!   `--lease-ttl` unless renewed (compare-and-set on the revision). A node
//!   that dies stops renewing; its leases expire and the others take its
//!   partitions. Nodes announce themselves in the same bucket, and each aims
//!   at an even share, so a node that comes back gets partitions back.
//! - The owner of a partition loads its accounts from PostgreSQL into the
//!   live engine, consumes the partition with a durable pull consumer,
//!   commits through the ordinary ingestion worker and acknowledges a message
//!   only after its events are committed.
//!
//! Owns the NATS client; knows nothing of HTTP.

pub mod log;
pub mod node;
pub mod ownership;

pub use log::{DeadLetter, EventLog, LogError, Published};
pub use node::{Cluster, ClusterStatus};

use crate::args::parse_window;
use crate::domain::Micros;

/// Cluster settings of `serve`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Cluster")]
pub struct ClusterArgs {
    /// Run as a node of a cluster whose event log is on NATS JetStream: one
    /// server URL, or the comma-separated URLs of a NATS cluster's servers
    /// (the client moves to another when one fails), e.g.
    /// nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222.
    /// Every node needs the same postgres:// --database-url.
    #[arg(long, env = "REPLYWATCH_NATS", value_name = "URL[,URL…]")]
    pub nats: Option<String>,
    /// With --nats: replicas of the event stream, the dead letters and the
    /// lease bucket, set when they are first created (1, 3 or 5; at most the
    /// number of NATS servers). With 3, a 202 means JetStream stored the
    /// batch on two of three servers, and one server may fail or be killed
    /// without losing it or stopping the cluster. A node refuses to start
    /// against a stream created with another count.
    #[arg(long, env = "REPLYWATCH_NATS_REPLICAS", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub nats_replicas: u8,
    /// With --nats: number of partitions, fixed when the cluster's stream is
    /// first created (every node must give the same number).
    #[arg(long, env = "REPLYWATCH_PARTITIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub partitions: u32,
    /// With --nats: this node's name in the cluster (letters, digits, `-`, `_`;
    /// default: host name and process id).
    #[arg(long, env = "REPLYWATCH_NODE_ID")]
    pub node_id: Option<String>,
    /// With --nats: a partition lease not renewed for this long expires, and
    /// another node takes the partition over (renewed every third of it).
    #[arg(long, env = "REPLYWATCH_LEASE_TTL", default_value = "5s", value_parser = parse_window)]
    pub lease_ttl: Micros,
}

impl Default for ClusterArgs {
    fn default() -> Self {
        ClusterArgs {
            nats: None,
            nats_replicas: 1,
            partitions: 16,
            node_id: None,
            lease_ttl: Micros(5_000_000),
        }
    }
}

/// The partition of an account: FNV-1a (64 bit) of its bytes modulo
/// `partitions`. Stable across processes, versions and platforms (std's
/// hasher is seeded per process), so every node agrees.
pub fn partition_of(account: &str, partitions: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in account.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(partitions.max(1))) as u32
}

/// The server addresses of `--nats`: one URL or a comma-separated list,
/// each checked, the error naming the one that is not a URL.
pub fn nats_servers(list: &str) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
    let servers: Vec<async_nats::ServerAddr> = list
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse()
                .map_err(|e| anyhow::anyhow!("--nats: {u:?} is not a NATS server URL: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!servers.is_empty(), "--nats: no server URL given");
    Ok(servers)
}

/// A node id usable as a key-value key: the given one if valid, else host
/// name and process id.
pub fn node_id(given: Option<&str>) -> anyhow::Result<String> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match given {
        Some(id) if valid(id) => Ok(id.to_string()),
        Some(id) => anyhow::bail!("--node-id {id:?}: use 1 to 64 letters, digits, '-' or '_'"),
        None => {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let host: String = host
                .trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(40)
                .collect();
            let host = if host.is_empty() { "node".into() } else { host };
            Ok(format!("{host}-{}", std::process::id()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_of_an_account_is_fnv1a_so_every_node_and_version_agrees() {
        // FNV-1a 64 of "" is the offset basis; of "a" a published test vector.
        assert_eq!(
            partition_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            partition_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8cu64 % u64::from(u32::MAX)) as u32
        );
        let spread: std::collections::HashSet<u32> = (0..200)
            .map(|i| partition_of(&format!("acct-{i:04}"), 16))
            .collect();
        assert_eq!(
            spread.len(),
            16,
            "200 accounts reach every one of 16 partitions"
        );
    }

    #[test]
    fn nats_takes_one_url_or_a_list_and_names_the_bad_one() {
        assert_eq!(nats_servers("nats://127.0.0.1:4222").unwrap().len(), 1);
        let three = nats_servers("nats://a:4222, nats://b:4222,nats://c:4222").unwrap();
        assert_eq!(three.len(), 3);
        let err = nats_servers("nats://a:4222,http://[bad")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"http://[bad\""), "{err}");
        assert!(nats_servers(" , ").is_err());
    }

    #[test]
    fn node_ids_must_be_usable_as_keys() {
        assert_eq!(node_id(Some("node-1")).unwrap(), "node-1");
        assert!(node_id(Some("a.b")).is_err());
        assert!(node_id(Some("")).is_err());
        let default = node_id(None).unwrap();
        assert!(
            default.ends_with(&std::process::id().to_string()),
            "{default}"
        );
    }
}
