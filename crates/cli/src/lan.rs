//! LAN discovery over mDNS: `gapmap serve --announce` advertises a peer,
//! `gapmap peers` lists the peers it hears, `gapmap sync --lan` syncs with them.
//!
//! `GAPMAP_MDNS_INTERFACE` limits mDNS to one interface (`lo` keeps the
//! multicast on this machine, as the tests do).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};

/// The mDNS service type of a gapmap peer.
const SERVICE: &str = "_gapmap._tcp.local.";

/// A peer heard on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanPeer {
    /// Its peer id (the instance name).
    pub name: String,
    /// Where to sync with it.
    pub url: String,
}

fn daemon() -> Result<ServiceDaemon> {
    let daemon = ServiceDaemon::new().context("starting mDNS")?;
    if let Some(interface) = std::env::var("GAPMAP_MDNS_INTERFACE")
        .ok()
        .filter(|v| !v.is_empty())
    {
        daemon
            .disable_interface(IfKind::All)
            .context("configuring mDNS")?;
        let kind = if interface == "lo" {
            IfKind::LoopbackV4
        } else {
            IfKind::Name(interface)
        };
        daemon.enable_interface(kind).context("configuring mDNS")?;
    }
    Ok(daemon)
}

/// Advertises a peer serving on `listen` until the returned daemon drops.
pub fn announce(peer_id: &str, listen: std::net::SocketAddr) -> Result<ServiceDaemon> {
    let daemon = daemon()?;
    let host = format!("{peer_id}.local.");
    let properties = [("peer", peer_id)];
    let info = if listen.ip().is_unspecified() {
        ServiceInfo::new(SERVICE, peer_id, &host, "", listen.port(), &properties[..])
            .map(ServiceInfo::enable_addr_auto)
    } else {
        ServiceInfo::new(
            SERVICE,
            peer_id,
            &host,
            listen.ip(),
            listen.port(),
            &properties[..],
        )
    }
    .context("describing the mDNS service")?;
    daemon.register(info).context("announcing on the LAN")?;
    Ok(daemon)
}

/// Listens for peers for `wait`; `skip` is our own peer id.
pub fn discover(wait: Duration, skip: Option<&str>) -> Result<Vec<LanPeer>> {
    let daemon = daemon()?;
    let events = daemon.browse(SERVICE).context("browsing the LAN")?;
    let deadline = Instant::now() + wait;
    let mut found = BTreeMap::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(service)) => {
                let name = service
                    .get_property_val_str("peer")
                    .unwrap_or(&service.fullname)
                    .to_string();
                if Some(name.as_str()) == skip {
                    continue;
                }
                let mut addresses: Vec<IpAddr> = service
                    .get_addresses_v4()
                    .into_iter()
                    .map(IpAddr::V4)
                    .collect();
                addresses.sort();
                if let Some(ip) = addresses.first() {
                    found.insert(
                        name.clone(),
                        LanPeer {
                            name,
                            url: format!("ws://{ip}:{}", service.port),
                        },
                    );
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = daemon.shutdown();
    Ok(found.into_values().collect())
}
