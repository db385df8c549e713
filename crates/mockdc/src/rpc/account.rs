//! Logins, authorizations and users: `auth.*`, `account.getPassword/getAuthorizations/...`,
//! `users.*`, `contacts.resolveUsername`, `updates.getState`.

use grammers_tl_types::{self as tl, Cursor, Identifiable, Serializable};

use super::encode::{self, Layered};
use super::{decode, CallContext, Handled};
use crate::srp;
use crate::world::{Fail, SignIn, World};

/// `auth.authorization` for a user who just logged in, in the client's layer.
pub(super) fn authorization(world: &World, user_id: i64, layer: Option<i32>) -> Vec<u8> {
    let user = world.user(user_id).expect("authorized user exists");
    tl::enums::auth::Authorization::Authorization(tl::types::auth::Authorization {
        setup_password_required: false,
        tmp_sessions: None,
        otherwise_relogin_days: None,
        future_auth_token: None,
        user: encode::user(world, user_id, user),
    })
    .encode_for(layer)
}

/// Answers the methods of this module; `None` for any other constructor.
pub(super) fn handle(ctx: &mut CallContext<'_>, id: u32, cursor: &mut Cursor) -> Option<Handled> {
    use tl::functions::{account, auth, contacts, users};
    let now = ctx.now_secs as i64;
    let dc_id = ctx.dc_id;
    let key_id = ctx.key_id;
    let layer = ctx.session.layer;
    let mut world = ctx.cluster.world();
    let world = &mut *world;

    Some(match id {
        auth::SendCode::CONSTRUCTOR_ID => (|| {
            let request: auth::SendCode = decode(cursor)?;
            let (phone_code_hash, length) = world.send_code(dc_id, &request.phone_number, now)?;
            Ok(tl::enums::auth::SentCode::Code(tl::types::auth::SentCode {
                r#type: tl::enums::auth::SentCodeType::Sms(tl::types::auth::SentCodeTypeSms {
                    length: length as i32,
                }),
                phone_code_hash,
                next_type: None,
                timeout: Some(60),
            })
            .to_bytes())
        })(),
        auth::SignIn::CONSTRUCTOR_ID => (|| {
            let request: auth::SignIn = decode(cursor)?;
            match world.sign_in(
                dc_id,
                key_id,
                &request.phone_number,
                &request.phone_code_hash,
                request.phone_code.as_deref(),
                now,
            )? {
                SignIn::Authorized(user_id) => Ok(authorization(world, user_id, layer)),
                SignIn::SignUpRequired => Ok(tl::enums::auth::Authorization::SignUpRequired(
                    tl::types::auth::AuthorizationSignUpRequired {
                        terms_of_service: None,
                    },
                )
                .to_bytes()),
            }
        })(),
        auth::SignUp::CONSTRUCTOR_ID => (|| {
            let request: auth::SignUp = decode(cursor)?;
            let user_id = world.sign_up(
                dc_id,
                key_id,
                &request.phone_number,
                &request.phone_code_hash,
                &request.first_name,
                &request.last_name,
                now,
            )?;
            Ok(authorization(world, user_id, layer))
        })(),
        account::GetPassword::CONSTRUCTOR_ID => (|| {
            let password = match world.get_password(key_id)? {
                Some((verifier, challenge)) => {
                    let (salt1, salt2, g, p) = srp::algo_params(verifier);
                    tl::types::account::Password {
                        has_recovery: false,
                        has_secure_values: false,
                        has_password: true,
                        current_algo: Some(algo(salt1, salt2, g, p)),
                        srp_b: Some(challenge.srp_b.to_vec()),
                        srp_id: Some(challenge.srp_id),
                        hint: None,
                        email_unconfirmed_pattern: None,
                        new_algo: new_algo(),
                        new_secure_algo: new_secure_algo(),
                        secure_random: random_bytes(256),
                        pending_reset_date: None,
                        login_email_pattern: None,
                    }
                }
                None => tl::types::account::Password {
                    has_recovery: false,
                    has_secure_values: false,
                    has_password: false,
                    current_algo: None,
                    srp_b: None,
                    srp_id: None,
                    hint: None,
                    email_unconfirmed_pattern: None,
                    new_algo: new_algo(),
                    new_secure_algo: new_secure_algo(),
                    secure_random: random_bytes(256),
                    pending_reset_date: None,
                    login_email_pattern: None,
                },
            };
            Ok(tl::enums::account::Password::Password(password).to_bytes())
        })(),
        auth::CheckPassword::CONSTRUCTOR_ID => (|| {
            let request: auth::CheckPassword = decode(cursor)?;
            let tl::enums::InputCheckPasswordSrp::Srp(proof) = request.password else {
                return Err(Fail::new(400, "PASSWORD_HASH_INVALID"));
            };
            let user_id =
                world.check_password(dc_id, key_id, proof.srp_id, &proof.a, &proof.m1, now)?;
            Ok(authorization(world, user_id, layer))
        })(),
        auth::ImportBotAuthorization::CONSTRUCTOR_ID => (|| {
            let request: auth::ImportBotAuthorization = decode(cursor)?;
            let user_id = world.import_bot(dc_id, key_id, &request.bot_auth_token, now)?;
            Ok(authorization(world, user_id, layer))
        })(),
        auth::LogOut::CONSTRUCTOR_ID => (|| {
            world.log_out(key_id)?;
            Ok(tl::enums::auth::LoggedOut::Out(tl::types::auth::LoggedOut {
                future_auth_token: None,
            })
            .to_bytes())
        })(),
        auth::ResetAuthorizations::CONSTRUCTOR_ID => (|| {
            let user_id = world.user_of(key_id)?;
            world.revoke_user_keys(user_id, Some(key_id));
            Ok(true.to_bytes())
        })(),
        account::ResetAuthorization::CONSTRUCTOR_ID => (|| {
            let request: account::ResetAuthorization = decode(cursor)?;
            world.reset_authorization(key_id, request.hash)?;
            Ok(true.to_bytes())
        })(),
        account::GetAuthorizations::CONSTRUCTOR_ID => (|| {
            let user_id = world.user_of(key_id)?;
            let authorizations = world
                .authorizations_of(user_id)
                .into_iter()
                .map(|(key, a)| {
                    tl::enums::Authorization::Authorization(tl::types::Authorization {
                        current: key == key_id,
                        official_app: false,
                        password_pending: false,
                        encrypted_requests_disabled: false,
                        call_requests_disabled: false,
                        unconfirmed: false,
                        hash: if key == key_id { 0 } else { a.hash },
                        device_model: "mock".into(),
                        platform: "mock".into(),
                        system_version: "1".into(),
                        api_id: a.api_id,
                        app_name: "mock".into(),
                        app_version: "1".into(),
                        date_created: a.created as i32,
                        date_active: a.created as i32,
                        ip: "127.0.0.1".into(),
                        country: "NL".into(),
                        region: "".into(),
                    })
                })
                .collect();
            Ok(tl::enums::account::Authorizations::Authorizations(
                tl::types::account::Authorizations {
                    authorization_ttl_days: 180,
                    authorizations,
                },
            )
            .to_bytes())
        })(),
        users::GetUsers::CONSTRUCTOR_ID => (|| {
            let request: users::GetUsers = decode(cursor)?;
            let viewer = world.user_of(key_id)?;
            let found: Vec<tl::enums::User> = request
                .id
                .iter()
                .map(|input| match resolve_input_user(world, viewer, input) {
                    Ok(id) => encode::user(world, viewer, world.user(id).expect("resolved")),
                    Err(_) => encode::user_empty(input_user_id(input).unwrap_or(0)),
                })
                .collect();
            Ok(found.encode_for(layer))
        })(),
        users::GetFullUser::CONSTRUCTOR_ID => (|| {
            let request: users::GetFullUser = decode(cursor)?;
            let viewer = world.user_of(key_id)?;
            let target = resolve_input_user(world, viewer, &request.id)?;
            let user = world.user(target).expect("resolved");
            Ok(
                tl::enums::users::UserFull::Full(tl::types::users::UserFull {
                    full_user: encode::user_full(user),
                    chats: Vec::new(),
                    users: vec![encode::user(world, viewer, user)],
                })
                .encode_for(layer),
            )
        })(),
        contacts::ResolveUsername::CONSTRUCTOR_ID => (|| {
            let request: contacts::ResolveUsername = decode(cursor)?;
            let viewer = world.user_of(key_id)?;
            let Some(user) = world.user_by_username(&request.username) else {
                // Public channels have usernames too.
                let channel = world
                    .channel_by_username(&request.username)
                    .ok_or_else(|| Fail::new(400, "USERNAME_NOT_OCCUPIED"))?
                    .id;
                let peer = crate::world::Peer::Channel(channel);
                return Ok(tl::enums::contacts::ResolvedPeer::Peer(
                    tl::types::contacts::ResolvedPeer {
                        peer: super::peers::peer(peer),
                        chats: super::peers::chat(world, viewer, peer, now as i32)
                            .into_iter()
                            .collect(),
                        users: vec![encode::user(
                            world,
                            viewer,
                            world.user(viewer).expect("authorized user exists"),
                        )],
                    },
                )
                .encode_for(layer));
            };
            Ok(
                tl::enums::contacts::ResolvedPeer::Peer(tl::types::contacts::ResolvedPeer {
                    peer: tl::enums::Peer::User(tl::types::PeerUser { user_id: user.id }),
                    chats: Vec::new(),
                    users: vec![encode::user(world, viewer, user)],
                })
                .encode_for(layer),
            )
        })(),
        _ => return None,
    })
}

fn input_user_id(input: &tl::enums::InputUser) -> Option<i64> {
    match input {
        tl::enums::InputUser::User(u) => Some(u.user_id),
        tl::enums::InputUser::FromMessage(u) => Some(u.user_id),
        _ => None,
    }
}

/// An `InputUser` as the viewer may name it: itself, or an id with the access hash the viewer
/// was given (USER_ID_INVALID otherwise, as Telegram answers a wrong hash).
pub(super) fn resolve_input_user(
    world: &World,
    viewer: i64,
    input: &tl::enums::InputUser,
) -> Result<i64, Fail> {
    match input {
        tl::enums::InputUser::UserSelf => Ok(viewer),
        tl::enums::InputUser::User(u)
            if world.user(u.user_id).is_some()
                && world.access_hash(viewer, u.user_id) == u.access_hash =>
        {
            Ok(u.user_id)
        }
        _ => Err(Fail::new(400, "USER_ID_INVALID")),
    }
}

fn algo(salt1: Vec<u8>, salt2: Vec<u8>, g: i32, p: Vec<u8>) -> tl::enums::PasswordKdfAlgo {
    tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(
        tl::types::PasswordKdfAlgoSha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow {
            salt1,
            salt2,
            g,
            p,
        },
    )
}

fn new_algo() -> tl::enums::PasswordKdfAlgo {
    let (salt1, salt2, g, p) = srp::new_algo_params(&mut rand::rng());
    algo(salt1, salt2, g, p)
}

fn new_secure_algo() -> tl::enums::SecurePasswordKdfAlgo {
    tl::enums::SecurePasswordKdfAlgo::Pbkdf2Hmacsha512iter100000(
        tl::types::SecurePasswordKdfAlgoPbkdf2Hmacsha512iter100000 {
            salt: random_bytes(8),
        },
    )
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes
}
