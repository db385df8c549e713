//! telegate's mock Telegram datacenter: an MTProto 2.0 server that behaves like Telegram.
//!
//! The protocol core is sans-IO: modules here take bytes and the current time and return bytes;
//! only [`server`] touches sockets.
