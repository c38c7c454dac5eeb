//! The caller's account and tokens (`/account`, `/account/tokens`), and every token for
//! operators (`/admin/tokens`).

use actix_web::{web, HttpRequest, HttpResponse};

use crate::access::{AccountView, NewToken, NewTokenFor, TokenView};
use crate::http::errors::ApiError;
use crate::http::extract::{AdminCaller, PlatformCaller};
use crate::http::input::{json_body, query};
use crate::http::state::PlatformState;

/// Who the caller is: their name, the token in use and their teams.
#[utoipa::path(get, path = "/account", tag = "access",
    responses((status = 200, body = AccountView), (status = 401, body = ApiError)), security(("bearer" = [])))]
pub async fn get_account(caller: PlatformCaller, state: web::Data<PlatformState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.account(&caller.actor).await?))
}

/// The caller's tokens, newest first (never the tokens themselves).
#[utoipa::path(get, path = "/account/tokens", tag = "access",
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ApiError)), security(("bearer" = [])))]
pub async fn list_tokens(caller: PlatformCaller, state: web::Data<PlatformState>) -> Result<HttpResponse, ApiError> {
    let person = Some(caller.actor.sub.clone());
    Ok(HttpResponse::Ok().json(state.access.list_tokens(&caller.actor, person).await?))
}

/// Make a new token for the caller, of at most the caller's scope; the answer is the only
/// place the token appears.
#[utoipa::path(post, path = "/account/tokens", tag = "access", request_body = NewToken,
    responses((status = 201, body = TokenView), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 403, description = "A scope above the caller's", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_token(caller: PlatformCaller, state: web::Data<PlatformState>) -> Result<HttpResponse, ApiError> {
    let b: NewToken = json_body(&caller.body, true)?;
    Ok(HttpResponse::Created().json(state.access.create_token(&caller.actor, b).await?))
}

/// One of the caller's tokens.
#[utoipa::path(get, path = "/account/tokens/{id}", tag = "access", params(("id" = String, Path, description = "token id")),
    responses((status = 200, body = TokenView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_token(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.get_token(&caller.actor, path.into_inner()).await?))
}

/// Revoke one of the caller's tokens: every replica refuses it from the next request on.
#[utoipa::path(delete, path = "/account/tokens/{id}", tag = "access", params(("id" = String, Path, description = "token id")),
    responses((status = 200, body = TokenView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn revoke_token(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.revoke_token(&caller.actor, path.into_inner()).await?))
}

/// Every token, or one person's (`?user=`), newest first.
#[utoipa::path(get, path = "/admin/tokens", tag = "admin",
    params(("user" = Option<String>, Query, description = "only this person's")),
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ApiError)), security(("bearer" = [])))]
pub async fn admin_list_tokens(
    caller: AdminCaller,
    req: HttpRequest,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let person = query(&req)?.get("user").cloned();
    Ok(HttpResponse::Ok().json(state.access.list_tokens(&caller.actor, person).await?))
}

/// Make a token for anyone (how an operator, or a `broker dev` session, hands out access); the
/// answer is the only place the token appears.
#[utoipa::path(post, path = "/admin/tokens", tag = "admin", request_body = NewTokenFor,
    responses((status = 201, body = TokenView), (status = 400, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub async fn admin_create_token(
    caller: AdminCaller,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (person, terms) = json_body::<NewTokenFor>(&caller.body, false)?.split();
    let view = state.access.create_token_for(&caller.actor, &person, terms).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Revoke anyone's token.
#[utoipa::path(delete, path = "/admin/tokens/{id}", tag = "admin", params(("id" = String, Path, description = "token id")),
    responses((status = 200, body = TokenView), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn admin_revoke_token(
    caller: AdminCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.revoke_token(&caller.actor, path.into_inner()).await?))
}
