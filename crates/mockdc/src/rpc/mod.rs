//! RPC dispatch: unwraps the invoke* wrappers and answers the API methods the mock implements.
//!
//! Every method the mock does not know answers `rpc_error 400 METHOD_NOT_IMPLEMENTED_IN_MOCK`
//! (never a dropped connection), so a client sees at once what is missing.

use grammers_tl_types::{self as tl, Cursor, Deserializable, Identifiable, Serializable};

use crate::cluster::Cluster;
use crate::session::Session;
use crate::tl as service;
use crate::world::Fail;

mod account;
mod channels;
mod chats;
mod contacts;
mod encode;
mod files;
mod invites;
mod layer198;
mod layer198_chats;
mod login;
mod messages;
mod peers;

pub(crate) use login::notify_login_token;
pub(crate) use messages::pushes_for_sent;
pub(crate) use peers::{
    control_pushes, notify_changes, push_channel_message, push_channel_update, push_group_copies,
};

/// The error every unimplemented method gets.
pub const NOT_IMPLEMENTED: &str = "METHOD_NOT_IMPLEMENTED_IN_MOCK";

/// What one call produced.
#[derive(Debug, PartialEq, Eq)]
pub enum RpcAnswer {
    /// A serialized boxed TL object.
    Result(Vec<u8>),
    Error {
        code: i32,
        message: String,
    },
}

impl RpcAnswer {
    pub fn error(code: i32, message: &str) -> Self {
        Self::Error {
            code,
            message: message.to_string(),
        }
    }

    fn of<T: Serializable>(value: &T) -> Self {
        Self::Result(value.to_bytes())
    }
}

impl From<Fail> for RpcAnswer {
    fn from(fail: Fail) -> Self {
        Self::Error {
            code: fail.code,
            message: fail.name,
        }
    }
}

/// Decodes a request's fields (the constructor id was read already); a malformed request is
/// Telegram's INPUT_FETCH_ERROR.
pub(crate) fn decode<T: Deserializable>(cursor: &mut Cursor) -> Result<T, Fail> {
    T::deserialize(cursor).map_err(|_| Fail::new(400, "INPUT_FETCH_ERROR"))
}

/// What a method handler returns: a TL result, or Telegram's error.
pub(crate) type Handled = Result<Vec<u8>, Fail>;

/// Everything a method may look at.
pub struct CallContext<'a> {
    pub cluster: &'a Cluster,
    pub dc_id: i32,
    pub session: &'a mut Session,
    /// The auth key the request came with: authorizations hang off it.
    pub key_id: i64,
    pub now_secs: i32,
    /// Updates for other sessions, delivered once the call is answered.
    pub pushes: &'a mut Vec<crate::connection::PendingPush>,
}

/// Answers one RPC body (constructor id first).
pub fn call(ctx: &mut CallContext<'_>, body: &[u8]) -> RpcAnswer {
    match call_inner(ctx, body, 0) {
        Ok(answer) => answer,
        // Telegram's answer to a request it cannot parse.
        Err(_) => RpcAnswer::error(400, "INPUT_FETCH_ERROR"),
    }
}

/// Wrappers nest (invokeWithLayer(initConnection(invokeWithoutUpdates(...)))); a bound on depth
/// keeps a hostile client from recursing forever.
const MAX_WRAPPER_DEPTH: usize = 8;

fn call_inner(
    ctx: &mut CallContext<'_>,
    body: &[u8],
    depth: usize,
) -> Result<RpcAnswer, tl::deserialize::Error> {
    if depth > MAX_WRAPPER_DEPTH {
        return Ok(RpcAnswer::error(400, "INPUT_REQUEST_TOO_LONG"));
    }
    let Some(id) = service::constructor_of(body) else {
        return Err(tl::deserialize::Error::UnexpectedEof);
    };
    let mut cursor = Cursor::from_slice(&body[4..]);
    let rest = |cursor: &Cursor| &body[4 + cursor.pos()..];
    match id {
        tl::functions::InvokeWithLayer::<()>::CONSTRUCTOR_ID => {
            let layer = i32::deserialize(&mut cursor)?;
            ctx.session.layer = Some(layer);
            call_inner(ctx, rest(&cursor), depth + 1)
        }
        tl::functions::InitConnection::<()>::CONSTRUCTOR_ID => {
            let flags = u32::deserialize(&mut cursor)?;
            let api_id = i32::deserialize(&mut cursor)?;
            for _ in 0..6 {
                // device_model, system_version, app_version, system_lang_code, lang_pack, lang_code
                String::deserialize(&mut cursor)?;
            }
            if flags & 1 != 0 {
                tl::enums::InputClientProxy::deserialize(&mut cursor)?;
            }
            if flags & 2 != 0 {
                tl::enums::Jsonvalue::deserialize(&mut cursor)?;
            }
            ctx.session.api_id = Some(api_id);
            call_inner(ctx, rest(&cursor), depth + 1)
        }
        tl::functions::InvokeAfterMsg::<()>::CONSTRUCTOR_ID => {
            // Requests of one connection are answered in order, so the dependency already holds.
            i64::deserialize(&mut cursor)?;
            call_inner(ctx, rest(&cursor), depth + 1)
        }
        tl::functions::InvokeAfterMsgs::<()>::CONSTRUCTOR_ID => {
            Vec::<i64>::deserialize(&mut cursor)?;
            call_inner(ctx, rest(&cursor), depth + 1)
        }
        tl::functions::InvokeWithoutUpdates::<()>::CONSTRUCTOR_ID => {
            call_inner(ctx, rest(&cursor), depth + 1)
        }
        service::GZIP_PACKED => match service::unpack_gzip(body) {
            Ok(inflated) => call_inner(ctx, &inflated, depth + 1),
            Err(_) => Ok(RpcAnswer::error(400, "INPUT_FETCH_ERROR")),
        },
        tl::functions::help::GetConfig::CONSTRUCTOR_ID => {
            Ok(RpcAnswer::of(&tl::enums::Config::Config(config(ctx))))
        }
        tl::functions::help::GetNearestDc::CONSTRUCTOR_ID => Ok(RpcAnswer::of(
            &tl::enums::NearestDc::Dc(tl::types::NearestDc {
                country: "NL".into(),
                this_dc: ctx.dc_id,
                nearest_dc: ctx.dc_id,
            }),
        )),
        // A layer-198 request whose constructor changed by 230 (GramJS' messages.sendMessage, ...):
        // answered by the layer-230 handler, in the session's layer like every answer.
        other if layer198::is_layer198_request(other) => {
            match layer198::upgrade_request(other, rest(&cursor)) {
                Some(Ok(upgraded)) => call_inner(ctx, &upgraded, depth + 1),
                Some(Err(fail)) => Ok(fail.into()),
                None => Ok(not_implemented(other)),
            }
        }
        other => {
            if let Some(fail) = injected_fault(ctx, other, rest(&cursor)) {
                return Ok(fail.into());
            }
            match files::handle(ctx, other, &mut cursor)
                .or_else(|| account::handle(ctx, other, &mut cursor))
                .or_else(|| messages::handle(ctx, other, &mut cursor))
                .or_else(|| login::handle(ctx, other, &mut cursor))
                .or_else(|| chats::handle(ctx, other, &mut cursor))
                .or_else(|| channels::handle(ctx, other, &mut cursor))
                .or_else(|| invites::handle(ctx, other, &mut cursor))
                .or_else(|| contacts::handle(ctx, other, &mut cursor))
            {
                Some(Ok(bytes)) => Ok(RpcAnswer::Result(bytes)),
                Some(Err(fail)) => Ok(fail.into()),
                None => Ok(not_implemented(other)),
            }
        }
    }
}

/// A fault injected through the control API for this method and caller, if any. `fields` are
/// the request's (after its constructor id): flood rules per chat look at its destination.
fn injected_fault(ctx: &CallContext<'_>, constructor: u32, fields: &[u8]) -> Option<Fail> {
    let method = tl::name_for_id(constructor);
    if method == "?" || method.is_empty() {
        return None;
    }
    let world = ctx.cluster.world();
    let caller = world.user_of(ctx.key_id).unwrap_or(ctx.key_id);
    let target = if ctx.cluster.faults().needs_target(method) {
        peers::flood_target(&world, caller, constructor, fields)
    } else {
        None
    };
    drop(world);
    ctx.cluster
        .faults()
        .on_call(method, caller, target, ctx.now_secs.max(0) as u64 * 1000)
}

fn not_implemented(other: u32) -> RpcAnswer {
    {
        {
            tracing::info!(
                method = tl::name_for_id(other),
                constructor = format_args!("{other:#010x}"),
                "method not implemented in the mock"
            );
            RpcAnswer::error(400, NOT_IMPLEMENTED)
        }
    }
}

/// `help.getConfig`: every DC points at the mock's own loopback listeners, marked static so
/// grammers keeps them.
fn config(ctx: &CallContext<'_>) -> tl::types::Config {
    let dc_options = ctx
        .cluster
        .dcs()
        .iter()
        .map(|dc| {
            tl::enums::DcOption::Option(tl::types::DcOption {
                ipv6: false,
                media_only: false,
                tcpo_only: false,
                cdn: false,
                r#static: true,
                this_port_only: false,
                id: dc.id,
                ip_address: dc.host.to_string(),
                port: dc.port as i32,
                secret: None,
            })
        })
        .collect();
    tl::types::Config {
        default_p2p_contacts: false,
        preload_featured_stickers: false,
        revoke_pm_inbox: true,
        blocked_mode: false,
        force_try_ipv6: false,
        date: ctx.now_secs,
        expires: ctx.now_secs + 3600,
        test_mode: false,
        this_dc: ctx.dc_id,
        dc_options,
        dc_txt_domain_name: "mockdc.invalid".into(),
        chat_size_max: 200,
        megagroup_size_max: 200_000,
        forwarded_count_max: 100,
        online_update_period_ms: 210_000,
        offline_blur_timeout_ms: 5_000,
        offline_idle_timeout_ms: 30_000,
        online_cloud_timeout_ms: 300_000,
        notify_cloud_delay_ms: 30_000,
        notify_default_delay_ms: 1_500,
        push_chat_period_ms: 60_000,
        push_chat_limit: 2,
        edit_time_limit: 172_800,
        revoke_time_limit: i32::MAX,
        revoke_pm_time_limit: i32::MAX,
        rating_e_decay: 2_419_200,
        stickers_recent_limit: 200,
        channels_read_media_period: 604_800,
        tmp_sessions: None,
        call_receive_timeout_ms: 20_000,
        call_ring_timeout_ms: 90_000,
        call_connect_timeout_ms: 30_000,
        call_packet_timeout_ms: 10_000,
        me_url_prefix: "https://t.me/".into(),
        autoupdate_url_prefix: None,
        gif_search_username: None,
        venue_search_username: None,
        img_search_username: None,
        static_maps_provider: None,
        caption_length_max: 1024,
        message_length_max: 4096,
        webfile_dc_id: 4,
        suggested_lang_code: None,
        lang_pack_version: None,
        base_lang_pack_version: None,
        reactions_default: None,
        autologin_token: None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::cluster::DcAddress;
    use crate::rsa_key::RsaKeyPair;

    fn cluster() -> Cluster {
        let dcs = (1..=3)
            .map(|id| DcAddress {
                id,
                host: Ipv4Addr::LOCALHOST,
                port: 4000 + id as u16,
            })
            .collect();
        Cluster::new(dcs, Arc::new(RsaKeyPair::generate()))
    }

    fn wrapped(layer: i32, query: impl Serializable) -> Vec<u8> {
        tl::functions::InvokeWithLayer {
            layer,
            query: tl::functions::InitConnection {
                api_id: 42,
                device_model: "test".into(),
                system_version: "1".into(),
                app_version: "1".into(),
                system_lang_code: "en".into(),
                lang_pack: "".into(),
                lang_code: "en".into(),
                proxy: None,
                params: None,
                query: tl::functions::InvokeWithoutUpdates { query },
            },
        }
        .to_bytes()
    }

    #[test]
    fn get_config_through_wrappers_lists_every_dc() {
        let cluster = cluster();
        let mut session = Session::new(1);
        let mut ctx = CallContext {
            cluster: &cluster,
            dc_id: 2,
            session: &mut session,
            key_id: 1,
            now_secs: 1000,
            pushes: &mut Vec::new(),
        };
        let RpcAnswer::Result(bytes) =
            call(&mut ctx, &wrapped(198, tl::functions::help::GetConfig {}))
        else {
            panic!("expected a result")
        };
        let tl::enums::Config::Config(config) = tl::enums::Config::from_bytes(&bytes).unwrap();
        assert_eq!(config.this_dc, 2);
        let ports: Vec<i32> = config
            .dc_options
            .iter()
            .map(|o| match o {
                tl::enums::DcOption::Option(o) => o.port,
            })
            .collect();
        assert_eq!(ports, vec![4001, 4002, 4003]);
        assert_eq!(session.layer, Some(198));
        assert_eq!(session.api_id, Some(42));
    }

    #[test]
    fn unknown_and_malformed_requests_get_errors() {
        let cluster = cluster();
        let mut session = Session::new(1);
        let mut ctx = CallContext {
            cluster: &cluster,
            dc_id: 1,
            session: &mut session,
            key_id: 1,
            now_secs: 0,
            pushes: &mut Vec::new(),
        };
        let unknown = tl::functions::help::GetTermsOfServiceUpdate {}.to_bytes();
        assert_eq!(
            call(&mut ctx, &unknown),
            RpcAnswer::error(400, NOT_IMPLEMENTED)
        );
        let truncated = &wrapped(230, tl::functions::help::GetConfig {})[..20];
        assert_eq!(
            call(&mut ctx, truncated),
            RpcAnswer::error(400, "INPUT_FETCH_ERROR")
        );
        assert_eq!(
            call(&mut ctx, &[1, 2]),
            RpcAnswer::error(400, "INPUT_FETCH_ERROR")
        );
        // A gzip_packed request is inflated and answered.
        let mut packed = service::GZIP_PACKED.to_le_bytes().to_vec();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(
            &mut encoder,
            &tl::functions::help::GetNearestDc {}.to_bytes(),
        )
        .unwrap();
        encoder.finish().unwrap().serialize(&mut packed);
        assert!(matches!(call(&mut ctx, &packed), RpcAnswer::Result(_)));
    }
}
