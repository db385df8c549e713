//! QR login and cross-DC authorization: `auth.exportLoginToken`, `importLoginToken`,
//! `acceptLoginToken`, `exportAuthorization`, `importAuthorization`.

use std::sync::Arc;

use grammers_tl_types::{self as tl, Cursor, Identifiable, Serializable};

use super::{decode, CallContext, Handled};
use crate::world::login::LoginTokenState;
use crate::world::World;

fn login_token(world: &World, state: LoginTokenState, layer: Option<i32>) -> Vec<u8> {
    match state {
        LoginTokenState::Waiting { token, expires } => {
            tl::enums::auth::LoginToken::Token(tl::types::auth::LoginToken {
                expires: expires as i32,
                token,
            })
            .to_bytes()
        }
        LoginTokenState::MigrateTo { dc_id, token } => {
            tl::enums::auth::LoginToken::MigrateTo(tl::types::auth::LoginTokenMigrateTo {
                dc_id,
                token,
            })
            .to_bytes()
        }
        LoginTokenState::Success(user_id) => {
            // loginTokenSuccess wraps an auth.authorization: reuse its (layer-aware) encoding.
            let mut out = tl::types::auth::LoginTokenSuccess::CONSTRUCTOR_ID
                .to_le_bytes()
                .to_vec();
            out.extend(super::account::authorization(world, user_id, layer));
            out
        }
    }
}

/// The `updateLoginToken` a waiting QR-login key receives once its token is accepted.
fn update_login_token(now: i32) -> Vec<u8> {
    tl::enums::Updates::UpdateShort(tl::types::UpdateShort {
        update: tl::enums::Update::LoginToken,
        date: now,
    })
    .to_bytes()
}

/// Tells the key waiting on a QR token that it was accepted.
pub(crate) fn notify_login_token(cluster: &crate::cluster::Cluster, waiting_key: i64, now: i32) {
    let body = update_login_token(now);
    let push: crate::cluster::Push = Arc::new(move |_layer| body.clone());
    cluster.deliver(&[waiting_key], None, &push);
}

pub(super) fn handle(ctx: &mut CallContext<'_>, id: u32, cursor: &mut Cursor) -> Option<Handled> {
    use tl::functions::auth;
    let now = ctx.now_secs;
    let (dc_id, key_id, layer) = (ctx.dc_id, ctx.key_id, ctx.session.layer);
    let dc_count = ctx.cluster.dcs().len() as i32;
    let cluster = ctx.cluster;
    let mut guard = cluster.world();
    let world = &mut *guard;
    // The key waiting on an accepted QR token, told after the world lock is released.
    let mut accepted_for = None;
    let answer = match id {
        auth::ExportLoginToken::CONSTRUCTOR_ID => (|| {
            let _request: auth::ExportLoginToken = decode(cursor)?;
            let state = world.export_login_token(dc_id, key_id, now as i64)?;
            Ok(login_token(world, state, layer))
        })(),
        auth::ImportLoginToken::CONSTRUCTOR_ID => (|| {
            let request: auth::ImportLoginToken = decode(cursor)?;
            let state = world.import_login_token(dc_id, key_id, &request.token, now as i64)?;
            Ok(login_token(world, state, layer))
        })(),
        auth::AcceptLoginToken::CONSTRUCTOR_ID => (|| {
            let request: auth::AcceptLoginToken = decode(cursor)?;
            let me = world.user_of(key_id)?;
            accepted_for = Some(world.accept_login_token(me, &request.token, now as i64)?);
            Ok(
                tl::enums::Authorization::Authorization(tl::types::Authorization {
                    current: false,
                    official_app: false,
                    password_pending: false,
                    encrypted_requests_disabled: false,
                    call_requests_disabled: false,
                    unconfirmed: false,
                    hash: 0,
                    device_model: "mock".into(),
                    platform: "mock".into(),
                    system_version: "1".into(),
                    api_id: 0,
                    app_name: "mock".into(),
                    app_version: "1".into(),
                    date_created: now,
                    date_active: now,
                    ip: "127.0.0.1".into(),
                    country: "NL".into(),
                    region: "".into(),
                })
                .to_bytes(),
            )
        })(),
        auth::ExportAuthorization::CONSTRUCTOR_ID => (|| {
            let request: auth::ExportAuthorization = decode(cursor)?;
            let (id, bytes) =
                world.export_authorization(key_id, dc_id, request.dc_id, dc_count, now as i64)?;
            Ok(tl::enums::auth::ExportedAuthorization::Authorization(
                tl::types::auth::ExportedAuthorization { id, bytes },
            )
            .to_bytes())
        })(),
        auth::ImportAuthorization::CONSTRUCTOR_ID => (|| {
            let request: auth::ImportAuthorization = decode(cursor)?;
            let user_id = world.import_authorization(
                dc_id,
                key_id,
                request.id,
                &request.bytes,
                now as i64,
            )?;
            Ok(super::account::authorization(world, user_id, layer))
        })(),
        _ => return None,
    };
    drop(guard);
    if let Some(waiting) = accepted_for {
        notify_login_token(cluster, waiting, now);
    }
    Some(answer)
}
