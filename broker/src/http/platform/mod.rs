//! The platform API (Heroku's shapes): apps, config vars, releases, add-ons, attachments, a
//! Kafka add-on's topics, apps' domains and the add-on catalog for people, one file per
//! resource. Bearer
//! tokens (`platform` or `admin` scope); errors are `{"id": "...", "message": "..."}`; lists
//! page with `Range` / `Next-Range`.

pub mod addons;
pub mod apps;
pub mod attachments;
pub mod config_vars;
pub mod domains;
pub mod releases;
pub mod services;
pub mod topics;

use actix_web::web;

/// Mounts the platform routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/apps")
            .route(web::post().to(apps::create_app))
            .route(web::get().to(apps::list_apps)),
    )
    .service(
        web::resource("/apps/{app}")
            .route(web::get().to(apps::get_app))
            .route(web::patch().to(apps::update_app))
            .route(web::delete().to(apps::delete_app)),
    )
    .service(
        web::resource("/apps/{app}/config-vars")
            .route(web::get().to(config_vars::get_config_vars))
            .route(web::patch().to(config_vars::patch_config_vars)),
    )
    .service(
        web::resource("/apps/{app}/releases")
            .route(web::get().to(releases::list_releases))
            .route(web::post().to(releases::rollback)),
    )
    .route("/apps/{app}/releases/{release}", web::get().to(releases::get_release))
    .service(
        web::resource("/apps/{app}/domains")
            .route(web::get().to(domains::list_domains))
            .route(web::post().to(domains::create_domain)),
    )
    .service(
        web::resource("/apps/{app}/domains/{domain}")
            .route(web::get().to(domains::get_domain))
            .route(web::delete().to(domains::delete_domain)),
    )
    .service(
        web::resource("/apps/{app}/addons")
            .route(web::post().to(addons::create_addon))
            .route(web::get().to(addons::list_app_addons)),
    )
    .service(
        web::resource("/apps/{app}/addons/{addon}")
            .route(web::get().to(addons::get_addon))
            .route(web::patch().to(addons::update_addon))
            .route(web::delete().to(addons::delete_addon)),
    )
    .route("/addons", web::get().to(addons::list_addons))
    .service(
        web::resource("/addon-attachments")
            .route(web::post().to(attachments::create_attachment))
            .route(web::get().to(attachments::list_all_attachments)),
    )
    .route(
        "/apps/{app}/addon-attachments",
        web::get().to(attachments::list_attachments),
    )
    .route(
        "/addon-attachments/{id}",
        web::delete().to(attachments::delete_attachment),
    )
    .route("/addon-services", web::get().to(services::list_addon_services))
    .route(
        "/addon-services/{service}/plans",
        web::get().to(services::list_addon_plans),
    )
    .route("/apps/{app}/addons/{addon}/sso", web::get().to(addons::addon_sso))
    .route(
        "/apps/{app}/addons/{addon}/topics",
        web::get().to(topics::list_addon_topics),
    )
    .service(
        web::resource("/apps/{app}/addons/{addon}/topics/{topic}")
            .route(web::put().to(topics::put_addon_topic))
            .route(web::get().to(topics::get_addon_topic))
            .route(web::delete().to(topics::delete_addon_topic)),
    );
}
