//! The OpenAPI document, generated from the handlers' annotations. `broker openapi` prints it;
//! `api-spec/openapi.json` is its committed copy, and a test fails when the two drift.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{admin, dynos, osb, platform, provider, topics};

/// The broker's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "addon-broker", description = "Add-on marketplace broker: Open Service Broker API v2.17 and a Heroku-shaped platform API."),
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
        platform::create_app,
        platform::list_apps,
        platform::get_app,
        platform::update_app,
        platform::delete_app,
        platform::get_config_vars,
        platform::patch_config_vars,
        platform::list_releases,
        platform::get_release,
        platform::rollback,
        platform::create_addon,
        platform::list_app_addons,
        platform::list_addons,
        platform::get_addon,
        platform::update_addon,
        platform::delete_addon,
        platform::create_attachment,
        platform::list_attachments,
        platform::delete_attachment,
        platform::list_addon_services,
        platform::list_addon_plans,
        platform::list_audit,
        platform::addon_sso,
        admin::create_provider,
        admin::list_providers,
        admin::get_provider,
        admin::approve_provider,
        admin::disable_provider,
        admin::delete_provider,
        admin::list_instances,
        admin::deprovision_instance,
        admin::list_operations,
        provider::submit_manifest,
        provider::update_addon_config,
        provider::addon_provisioned,
        provider::addon_deprovisioned,
        dynos::create_build,
        dynos::list_builds,
        dynos::get_build,
        dynos::get_slug,
        dynos::list_formation,
        dynos::get_formation,
        dynos::update_formation,
        dynos::update_formation_type,
        dynos::list_dynos,
        dynos::get_dyno,
        dynos::run_dyno,
        dynos::restart_all,
        dynos::restart_dyno,
        dynos::stop_dyno,
        dynos::dyno_output,
        dynos::app_logs,
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
        platform::ApiError,
        platform::AppCreateRequest,
        platform::AppUpdateRequest,
        platform::AppDeleteRequest,
        platform::RollbackRequest,
        platform::AttachmentSpec,
        platform::AddonCreateRequest,
        platform::AddonUpdateRequest,
        platform::AttachmentCreateRequest,
        platform::AddonServiceView,
        platform::PlanView,
        crate::platform::NameRef,
        crate::platform::AppView,
        crate::platform::ReleaseView,
        crate::platform::AddonView,
        crate::platform::AttachmentView,
        crate::platform::AuditView,
        dynos::FormationBatchRequest,
        dynos::FormationTypeRequest,
        crate::dynos::FormationView,
        crate::dynos::FormationUpdate,
        crate::dynos::ReleaseRef,
        crate::dynos::DynoView,
        crate::dynos::RunRequest,
        crate::dynos::OutputView,
        crate::dynos::SlugView,
        crate::platform::IdRef,
        crate::dynos::BuildView,
        crate::marketplace::ProviderView,
        crate::marketplace::AdminInstanceView,
        crate::marketplace::AdminOperationView,
        crate::marketplace::SsoView,
    )),
    modifiers(&Security),
    tags((name = "osb", description = "Open Service Broker API v2.17 (basic auth)"),
         (name = "osb-topics", description = "Extension: topics of messaging instances (basic auth)"),
         (name = "platform", description = "Platform API, Heroku's shapes (bearer token, scope platform or admin)"),
         (name = "dynos", description = "Platform API: builds, formation, dynos and logs (bearer token; changes, runs and logs need the app's owner or an admin)"),
         (name = "admin", description = "Admin API: providers, instances, operations (bearer token, scope admin)"),
         (name = "provider", description = "For third-party providers. Manifests: bearer token of scope provider. Callbacks: basic auth id:password and X-Addon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(password, \"<t>.<body>\")>, within 5 minutes of the broker's clock, each signature accepted once. The broker signs its own calls to providers (POST {base_url}, PUT/DELETE {base_url}/{uuid}) the same way.")),
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
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
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
