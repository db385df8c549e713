//! Dev-only test kit: starts the mock DC and the gateway on free ports, seeds auth keys and
//! accounts, and offers fixtures, so integration tests drive the real interfaces (HTTP, MTProto
//! bytes) without copies of setup code.
//!
//! - [`mock`]: the mock DC in-process on port 0, with its control-API client, users and
//!   pre-authorized accounts seeded straight into a store (no login dance).
//! - [`gateway`]: the HTTP API in-process on port 0, over a runtime and a temp store.
//! - [`runtime`]: a temp SQLite store and an account runtime pointed at the mock exactly as
//!   production would be pointed at it (`TelegramTarget::mock(control_url)`).

pub mod gateway;
pub mod mock;
pub mod runtime;

pub use mock::TestMock;
pub use runtime::{events_of, fast_config, TestStore};
