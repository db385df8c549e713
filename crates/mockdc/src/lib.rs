//! telegate's mock Telegram datacenter: an MTProto 2.0 server that behaves like Telegram.
//!
//! The protocol core is sans-IO: modules here take bytes and the current time and return bytes;
//! only [`server`] touches sockets.

pub mod cluster;
pub mod connection;
pub mod control;
mod control_chats;
mod control_files;
pub mod crypto;
pub mod faults;
pub mod files;
pub mod handshake;
pub mod rpc;
pub mod rsa_key;
pub mod server;
pub mod session;
pub mod srp;
pub mod tl;
pub mod transport;
pub mod world;
