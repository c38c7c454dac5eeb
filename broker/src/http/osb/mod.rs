//! The Open Service Broker API v2.17: catalog, instances, bindings, `last_operation`, one file
//! per resource.
//!
//! Every handler's caller passed basic auth (401) and then `X-Broker-API-Version` (412) in its
//! extractor ([`OsbCaller`](crate::http::extract::OsbCaller)); requests with a body have read it
//! first, so a refused request never leaves a half-read body on the connection.

pub mod bindings;
pub mod catalog;
pub mod common;
pub mod instances;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::catalog::clip;
use crate::http::errors::OsbError;

/// Answers requests that match no route, in the OSB error format.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    let description = clip(&format!("no such endpoint: {} {}", req.method(), req.path()));
    OsbError::framework(StatusCode::NOT_FOUND, description).error_response()
}

/// Mounts the OSB routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v2/catalog", web::get().to(catalog::get_catalog))
        .service(
            web::resource("/v2/service_instances/{instance_id}")
                .route(web::put().to(instances::put_instance))
                .route(web::patch().to(instances::patch_instance))
                .route(web::delete().to(instances::delete_instance))
                .route(web::get().to(instances::get_instance)),
        )
        .route(
            "/v2/service_instances/{instance_id}/last_operation",
            web::get().to(instances::instance_last_operation),
        )
        .service(
            web::resource("/v2/service_instances/{instance_id}/service_bindings/{binding_id}")
                .route(web::put().to(bindings::put_binding))
                .route(web::delete().to(bindings::delete_binding))
                .route(web::get().to(bindings::get_binding)),
        )
        .route(
            "/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation",
            web::get().to(bindings::binding_last_operation),
        );
}
