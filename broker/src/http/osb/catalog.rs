//! The service catalog.

use actix_web::{web, HttpResponse};

use crate::http::errors::OsbError;
use crate::http::extract::OsbCaller;
use crate::http::state::OsbState;

/// The service catalog.
#[utoipa::path(get, path = "/v2/catalog", tag = "osb",
    params(("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "The catalog", body = Object),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn get_catalog(_caller: OsbCaller, state: web::Data<OsbState>) -> Result<HttpResponse, OsbError> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(state.provisioning.catalog().body().to_vec()))
}
