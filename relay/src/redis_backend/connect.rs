//! Where the Redis backend connects: the `--backend` URL (one node, or the
//! seed nodes of a Redis Cluster; plain or TLS) and the connections built
//! from it.

use std::path::Path;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, Pipeline, PushInfo, RedisFuture, TlsCertificates, Value};

/// What a `--backend` URL names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `redis://` or `rediss://`: one node.
    Single(String),
    /// `redis+cluster://` or `rediss+cluster://`: a Cluster, found from
    /// these seed nodes (each a `redis://` or `rediss://` URL).
    Cluster(Vec<String>),
}

impl Target {
    /// Parses a Redis `--backend` URL; `None` when it is not one.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "not a URL".to_string())?;
        let (tls, cluster) = match scheme {
            "redis" => (false, false),
            "rediss" => (true, false),
            "redis+cluster" => (false, true),
            "rediss+cluster" => (true, true),
            _ => return Err(format!("unknown scheme {scheme}://")),
        };
        let base = if tls { "rediss" } else { "redis" };
        if !cluster {
            return Ok(Target::Single(format!("{base}://{rest}")));
        }
        // A Cluster has no databases: only `/` or nothing after the hosts.
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if !path.is_empty() && path != "/" && path != "/0" {
            return Err("a Redis Cluster has one database: no /DB in the URL".into());
        }
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let nodes: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|host| format!("{base}://{userinfo}{host}"))
            .collect();
        if nodes.is_empty() {
            return Err("no host:port in the cluster URL".into());
        }
        Ok(Target::Cluster(nodes))
    }

    fn tls(&self) -> bool {
        match self {
            Target::Single(url) => url.starts_with("rediss://"),
            Target::Cluster(nodes) => nodes.iter().all(|n| n.starts_with("rediss://")),
        }
    }
}

/// Whether `url` is a Redis `--backend` URL (as opposed to `sled`).
pub(crate) fn is_redis_url(url: &str) -> bool {
    [
        "redis://",
        "rediss://",
        "redis+cluster://",
        "rediss+cluster://",
    ]
    .iter()
    .any(|scheme| url.starts_with(scheme))
}

/// The root certificates to trust instead of the system's (`--redis-ca`).
pub(crate) fn certificates(
    target: &Target,
    ca: Option<&Path>,
) -> Result<Option<TlsCertificates>, String> {
    let Some(ca) = ca else {
        return Ok(None);
    };
    if !target.tls() {
        return Err("--redis-ca needs a TLS URL: rediss://… or rediss+cluster://…".into());
    }
    let pem = std::fs::read(ca)
        .map_err(|e| format!("cannot read the Redis CA file {}: {e}", ca.display()))?;
    Ok(Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

pub(super) fn single_client(
    url: &str,
    certs: Option<TlsCertificates>,
) -> redis::RedisResult<Client> {
    match certs {
        Some(certs) => Client::build_with_tls(url, certs),
        None => Client::open(url),
    }
}

pub(super) async fn single_manager(client: &Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client.clone(), config).await
}

fn cluster_builder(nodes: &[String], certs: Option<TlsCertificates>) -> ClusterClientBuilder {
    let mut builder = ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(5))
        // A failover takes a few node timeouts: commands meanwhile are
        // retried (MOVED, CLUSTERDOWN, a lost node) for about that long.
        .retries(8)
        .min_retry_wait(50)
        .max_retry_wait(1000);
    if let Some(certs) = certs {
        builder = builder.certs(certs);
    }
    builder
}

/// The command client of a Cluster (RESP2, no pushes).
pub(super) fn cluster_client(
    nodes: &[String],
    certs: Option<TlsCertificates>,
) -> redis::RedisResult<ClusterClient> {
    cluster_builder(nodes, certs).build()
}

/// The subscription client of a Cluster: RESP3, its pushes to `pushes`.
pub(super) fn bell_client(
    nodes: &[String],
    certs: Option<TlsCertificates>,
    pushes: tokio::sync::mpsc::UnboundedSender<PushInfo>,
) -> redis::RedisResult<ClusterClient> {
    cluster_builder(nodes, certs)
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(pushes)
        .build()
}

/// The command connection: one node (reconnects by itself) or a Cluster
/// (routes each command to the node serving its key's slot, follows
/// MOVED/ASK and re-reads the topology after a failover).
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_one_node_or_a_cluster() {
        assert_eq!(
            Target::parse("redis://127.0.0.1:6379/2"),
            Ok(Target::Single("redis://127.0.0.1:6379/2".into()))
        );
        assert_eq!(
            Target::parse("rediss+cluster://:pw@a:1,b:2/"),
            Ok(Target::Cluster(vec![
                "rediss://:pw@a:1".into(),
                "rediss://:pw@b:2".into()
            ]))
        );
        assert_eq!(
            Target::parse("redis+cluster://a:1"),
            Ok(Target::Cluster(vec!["redis://a:1".into()]))
        );
        assert!(Target::parse("redis+cluster://a:1/3").is_err());
        assert!(Target::parse("redis+cluster://").is_err());
        assert!(Target::parse("http://a:1").is_err());
        assert!(is_redis_url("rediss+cluster://a:1") && !is_redis_url("sled"));
    }

    #[test]
    fn a_ca_file_needs_tls() {
        let plain = Target::parse("redis://a:1").unwrap();
        assert!(certificates(&plain, Some(Path::new("/nonexistent"))).is_err());
        let tls = Target::parse("rediss://a:1").unwrap();
        let err = certificates(&tls, Some(Path::new("/nonexistent"))).unwrap_err();
        assert!(err.contains("/nonexistent"), "{err}");
        assert!(certificates(&tls, None).unwrap().is_none());
    }
}
