//! The OpenAPI document, generated from the handlers' annotations. `broker openapi` prints it;
//! `api-spec/openapi.json` is its committed copy, and a test fails when the two drift.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{osb, topics};

/// The broker's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "addon-broker", description = "Add-on marketplace broker: Open Service Broker API v2.17."),
    paths(
        osb::get_catalog,
        osb::put_instance,
        osb::patch_instance,
        osb::delete_instance,
        osb::get_instance,
        osb::instance_last_operation,
        osb::put_binding,
        osb::delete_binding,
        osb::get_binding,
        osb::binding_last_operation,
        topics::put_topic,
        topics::get_topic,
        topics::delete_topic,
        topics::list_topics,
    ),
    components(schemas(
        osb::OsbError,
        osb::ProvisionRequest,
        osb::UpdateInstanceRequest,
        osb::BindRequest,
        osb::MaintenanceInfoBody,
        osb::ProvisionResponse,
        osb::AsyncOperationResponse,
        osb::InstanceResponse,
        osb::BindingResponse,
        osb::LastOperationResponse,
        topics::TopicRequest,
        topics::TopicResponse,
        topics::TopicListResponse,
    )),
    modifiers(&Security),
    tags((name = "osb", description = "Open Service Broker API v2.17 (basic auth)"),
         (name = "osb-topics", description = "Extension: topics of messaging instances (basic auth)")),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic_auth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// The document as pretty JSON with a trailing newline, exactly as committed.
pub fn render() -> String {
    let mut doc = ApiDoc::openapi();
    // The crate version would churn the committed file on every release bump; the API has its
    // own version.
    doc.info.version = "2.17".into();
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
