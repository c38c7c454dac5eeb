//! Attachments: an existing add-on attached to another app with its own credentials; list and
//! detach.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::paging::paginate;
use crate::http::state::PlatformState;
use crate::platform::AttachmentView;

/// Body of `POST /addon-attachments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentCreateRequest {
    /// Add-on name or id, or an attachment name (`REDIS`) or unambiguous service name
    /// (`redis`) on `app`.
    pub addon: String,
    /// App id or name.
    pub app: String,
    /// Config var prefix; the service's default when absent.
    pub name: Option<String>,
}

/// Attach an existing add-on to an app, with its own credentials.
#[utoipa::path(post, path = "/addon-attachments", tag = "platform", request_body = AttachmentCreateRequest,
    responses((status = 201, body = AttachmentView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError),
              (status = 422, description = "The add-on is not provisioned, not attachable here, or its name is ambiguous", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_attachment(
    caller: PlatformCaller,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: AttachmentCreateRequest = json_body(&caller.body, false)?;
    let view = state
        .platform
        .create_attachment(b.addon.into(), b.app.into(), b.name, &caller.actor)
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// An app's attachments.
#[utoipa::path(get, path = "/apps/{app}/addon-attachments", tag = "platform", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<AttachmentView>), (status = 206, body = Vec<AttachmentView>), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_attachments(
    caller: PlatformCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .platform
        .list_attachments(path.into_inner(), &caller.actor)
        .await?;
    Ok(paginate(&req, list, &["name", "id"], |a, f| {
        if f == "id" {
            a.id.clone()
        } else {
            a.name.clone()
        }
    })?)
}

/// The attachments to every app the caller may use (`Range: id ..`).
#[utoipa::path(get, path = "/addon-attachments", tag = "platform",
    responses((status = 200, body = Vec<AttachmentView>), (status = 206, body = Vec<AttachmentView>)),
    security(("bearer" = [])))]
pub async fn list_all_attachments(
    caller: PlatformCaller,
    req: HttpRequest,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list = state.platform.list_all_attachments(&caller.actor).await?;
    // By id only: attachment names repeat across apps, and a page boundary must not fall
    // between two equal keys.
    Ok(paginate(&req, list, &["id"], |a, _| a.id.clone())?)
}

/// Detach: unbind (the credentials stop working) and remove the vars in a release.
#[utoipa::path(delete, path = "/addon-attachments/{id}", tag = "platform", params(("id" = String, Path, description = "attachment id")),
    responses((status = 200, body = AttachmentView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn delete_attachment(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .platform
            .delete_attachment(path.into_inner(), &caller.actor)
            .await?,
    ))
}
