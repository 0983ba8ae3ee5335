//! What InfraFlux's tests run against, shared by every test binary and
//! never shipped: a real control plane (etcd + kube-apiserver +
//! controller-manager + scheduler + kwok) on loopback, the network lab
//! (real peers in network namespaces), the Cloudflare-API test server over a
//! real Knot, the Proxmox-API test server whose VMs are namespaces with a
//! real sshd ([`pve`]), the bench tree generator and the helpers test crates used to
//! copy.

pub mod bench_tree;
pub mod cloudflare_api;
pub mod controlplane;
pub mod knot;
pub mod lab;
pub mod paths;
pub mod pve;
