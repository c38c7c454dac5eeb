//! The OpenAPI document, generated from the handlers' annotations. `broker openapi` prints it;
//! `api-spec/openapi.json` is its committed copy, and a test fails when the two drift.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::access::{account, collaborators, teams};
use crate::http::dynos::{attach, buildpacks, builds, dynos, formation, logs};
use crate::http::osb::{bindings, catalog, common, instances};
use crate::http::platform::{
    addons, apps, attachments, config_vars, domains, releases, services, topics as addon_topics,
};
use crate::http::{admin, errors, git, provider, topics};

/// The broker's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "addon-broker", description = "Add-on marketplace broker: Open Service Broker API v2.17 and a Heroku-shaped platform API."),
    paths(
        catalog::get_catalog,
        instances::put_instance,
        instances::patch_instance,
        instances::delete_instance,
        instances::get_instance,
        instances::instance_last_operation,
        bindings::put_binding,
        bindings::delete_binding,
        bindings::get_binding,
        bindings::binding_last_operation,
        topics::put_topic,
        topics::get_topic,
        topics::delete_topic,
        topics::list_topics,
        apps::create_app,
        apps::list_apps,
        apps::get_app,
        apps::update_app,
        apps::delete_app,
        config_vars::get_config_vars,
        config_vars::patch_config_vars,
        releases::list_releases,
        releases::get_release,
        releases::rollback,
        domains::list_domains,
        domains::create_domain,
        domains::get_domain,
        domains::delete_domain,
        addons::create_addon,
        addons::list_app_addons,
        addons::list_addons,
        addons::get_addon,
        addons::update_addon,
        addons::delete_addon,
        attachments::create_attachment,
        attachments::list_attachments,
        attachments::list_all_attachments,
        attachments::delete_attachment,
        services::list_addon_services,
        services::list_addon_plans,
        admin::list_audit,
        addons::addon_sso,
        addon_topics::list_addon_topics,
        addon_topics::put_addon_topic,
        addon_topics::get_addon_topic,
        addon_topics::delete_addon_topic,
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
        builds::create_build,
        builds::list_builds,
        builds::get_build,
        builds::build_output,
        builds::get_slug,
        buildpacks::list_buildpack_installations,
        buildpacks::update_buildpack_installations,
        git::get_info_refs,
        git::upload_pack,
        git::receive_pack,
        formation::list_formation,
        formation::get_formation,
        formation::update_formation,
        formation::update_formation_type,
        dynos::list_dynos,
        dynos::get_dyno,
        dynos::run_dyno,
        dynos::restart_all,
        dynos::restart_dyno,
        dynos::stop_dyno,
        dynos::dyno_output,
        attach::attach_dyno,
        logs::app_logs,
        account::get_account,
        account::list_tokens,
        account::create_token,
        account::get_token,
        account::revoke_token,
        account::admin_list_tokens,
        account::admin_create_token,
        account::admin_revoke_token,
        teams::create_team,
        teams::list_teams,
        teams::get_team,
        teams::delete_team,
        teams::list_members,
        teams::put_member,
        teams::remove_member,
        collaborators::list_collaborators,
        collaborators::add_collaborator,
        collaborators::remove_collaborator,
    ),
    components(schemas(
        errors::OsbError,
        instances::ProvisionRequest,
        instances::UpdateInstanceRequest,
        bindings::BindRequest,
        common::MaintenanceInfoBody,
        instances::ProvisionResponse,
        common::AsyncOperationResponse,
        instances::InstanceResponse,
        bindings::BindingResponse,
        common::LastOperationResponse,
        topics::TopicRequest,
        topics::TopicResponse,
        topics::TopicListResponse,
        errors::ApiError,
        apps::AppCreateRequest,
        apps::AppUpdateRequest,
        apps::AppDeleteRequest,
        releases::RollbackRequest,
        domains::DomainCreateRequest,
        addons::AttachmentSpec,
        addons::AddonCreateRequest,
        addons::AddonUpdateRequest,
        attachments::AttachmentCreateRequest,
        services::AddonServiceView,
        services::PlanView,
        crate::platform::NameRef,
        crate::platform::AppView,
        crate::platform::ReleaseView,
        crate::platform::AddonView,
        crate::platform::AttachmentView,
        crate::platform::DomainView,
        crate::platform::AuditView,
        formation::FormationBatchRequest,
        formation::FormationTypeRequest,
        crate::dynos::FormationView,
        crate::dynos::FormationUpdate,
        crate::dynos::ReleaseRef,
        crate::dynos::DynoView,
        crate::dynos::RunRequest,
        crate::dynos::OutputView,
        crate::dynos::SlugView,
        crate::platform::IdRef,
        crate::dynos::BuildView,
        crate::dynos::BuildpackInstallationView,
        crate::dynos::BuildpackRef,
        crate::dynos::BuildpackInstallationsUpdate,
        crate::dynos::BuildpackUpdate,
        crate::marketplace::ProviderView,
        crate::marketplace::AdminInstanceView,
        crate::marketplace::AdminOperationView,
        crate::marketplace::SsoView,
        crate::access::AccountView,
        crate::access::TokenView,
        crate::access::NewToken,
        crate::access::NewTokenFor,
        crate::access::PersonRef,
        crate::access::TeamView,
        crate::access::NewTeam,
        crate::access::TeamMemberView,
        crate::access::TeamMemberChange,
        crate::access::CollaboratorView,
        crate::access::NewCollaborator,
    )),
    modifiers(&Security),
    tags((name = "osb", description = "Open Service Broker API v2.17 (basic auth)"),
         (name = "osb-topics", description = "Extension: topics of messaging instances (basic auth)"),
         (name = "platform", description = "Platform API, Heroku's shapes (bearer token, scope platform or admin). Every app-scoped route needs access to the app: its owner, a collaborator, a member of the team that owns it, or an admin token. Without access the answer is the 404 of an app that does not exist; deleting, renaming and transferring an app and managing its access need its owner (or a team admin): 403 otherwise."),
         (name = "access", description = "Accounts, revocable tokens, teams and collaborators (bearer token). Every token is recorded; a revoked one gets 401 from the next request on, on every replica."),
         (name = "dynos", description = "Platform API: builds, formation, dynos and logs (bearer token; the same access rule as the platform tag)"),
         (name = "git", description = "git's smart HTTP protocol: every app is the git remote {broker}/apps/{app}.git (id or name). HTTP Basic with any user name and a platform token as the password (or a bearer token); no or bad credentials get 401 with WWW-Authenticate: Basic realm=\"broker\". Fetch and push need access to the app (the platform tag's rule: 404 otherwise). A push of main or master builds and releases that commit before the ref moves (the build's output comes back as remote: lines) and is refused when the build fails; other branches are kept without a build."),
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
