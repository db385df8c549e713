//! Telegram API definitions for **layer 198**, the layer GramJS 2.26 (npm `telegram`) announces
//! in `invokeWithLayer`. Generated at build time from `tl/api198.tl` (GramJS' own `tl/apiTl.js`)
//! by grammers' generator (`grammers-tl-parser` + `grammers-tl-gen`), exactly like
//! `grammers-tl-types` generates layer 230.
//!
//! The generated code refers to `crate::Serializable`, `crate::Deserializable`, ...; these are
//! re-exported from `grammers_tl_types`, so layer-198 values use the **same traits** as
//! layer-230 ones (`grammers_tl_types::Serializable::to_bytes` works on both), and the primitive
//! / `Vec` impls come from grammers. Only the API schema is generated here: MTProto service types
//! (`rpc_result`, `msg_container`, ...) and the layer-independent wrappers stay in
//! `grammers_tl_types`.
//!
//! Conventions are grammers': a `types::X` struct serializes **bare** (no constructor id), the
//! boxed `enums::X` adds the id; `functions::*::from_bytes` expects the body **after** the id
//! (the caller dispatches on the id first).
//!
//! ```
//! use telegate_mockdc_tl198::{enums, types, Identifiable, Serializable, LAYER};
//! assert_eq!(LAYER, 198);
//! let peer = enums::Peer::User(types::PeerUser { user_id: 7 });
//! let bytes = peer.to_bytes(); // same trait as grammers_tl_types::Serializable
//! assert_eq!(bytes[..4], types::PeerUser::CONSTRUCTOR_ID.to_le_bytes());
//! assert_eq!(bytes.len(), 12);
//! ```

pub use grammers_tl_types::{
    Blob, Cursor, Deserializable, Identifiable, RawVec, RemoteCall, Serializable,
};

/// Serialization trait, re-exported from `grammers_tl_types`.
pub mod serialize {
    pub use grammers_tl_types::serialize::*;
}

/// Deserialization helpers, re-exported from `grammers_tl_types`.
///
/// `grammers_tl_types::deserialize::Buffer` (the `&mut Cursor` alias the generated code names as
/// `crate::deserialize::Buffer`) is `pub(crate)` there, so it is not reachable through the glob
/// re-export; it is re-declared here with the identical definition. Being a type alias, it is the
/// very same type, so the generated `impl Deserializable` blocks match the trait's signature.
pub mod deserialize {
    pub use grammers_tl_types::deserialize::*;

    /// Alias over a mutable reference to a [`Cursor`] (same as grammers' `pub(crate)` one).
    pub type Buffer<'a, 'b> = &'a mut Cursor<'b>;
}

pub use generated::{enums, functions, name_for_id, types, LAYER};

mod generated {
    pub use common::*;

    #[allow(clippy::all)]
    mod common {
        include!(concat!(env!("OUT_DIR"), "/generated_common.rs"));
    }

    /// All layer-198 bare types, each a `struct`; they implement
    /// [`crate::Identifiable`], [`crate::Serializable`] and [`crate::Deserializable`].
    #[allow(clippy::all, clippy::pedantic)]
    pub mod types {
        include!(concat!(env!("OUT_DIR"), "/generated_types.rs"));
    }

    /// All layer-198 boxed types, each an `enum`; they implement
    /// [`crate::Serializable`] and [`crate::Deserializable`].
    #[allow(clippy::all, clippy::pedantic)]
    pub mod enums {
        include!(concat!(env!("OUT_DIR"), "/generated_enums.rs"));
    }

    /// All layer-198 functions, each a `struct`; they implement [`crate::Identifiable`],
    /// [`crate::Serializable`], [`crate::Deserializable`] and [`crate::RemoteCall`].
    #[allow(clippy::all, clippy::pedantic)]
    pub mod functions {
        include!(concat!(env!("OUT_DIR"), "/generated_functions.rs"));
    }
}
