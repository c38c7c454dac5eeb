//! The dyno runtime's face of the platform API (Heroku's shapes), one file per resource:
//! builds and slugs, the formation, dynos (restart, stop, one-off runs, output, attaching to interactive ones) and logs.

pub mod attach;
pub mod buildpacks;
pub mod builds;
// Named for its resource, like its siblings; `http::dynos::dynos` is the dynos of the dyno API.
#[allow(clippy::module_inception)]
pub mod dynos;
pub mod formation;
pub mod logs;

use actix_web::web;

/// Registers the dyno routes; build uploads may be up to `max_archive` bytes.
pub fn routes(cfg: &mut web::ServiceConfig, max_archive: usize) {
    cfg.service(
        web::resource("/apps/{app}/builds")
            .app_data(web::PayloadConfig::new(max_archive))
            .route(web::post().to(builds::create_build))
            .route(web::get().to(builds::list_builds)),
    )
    .route("/apps/{app}/builds/{build}", web::get().to(builds::get_build))
    .route("/apps/{app}/builds/{build}/output", web::get().to(builds::build_output))
    .route("/apps/{app}/slugs/{slug}", web::get().to(builds::get_slug))
    .service(
        web::resource("/apps/{app}/buildpack-installations")
            .route(web::get().to(buildpacks::list_buildpack_installations))
            .route(web::put().to(buildpacks::update_buildpack_installations)),
    )
    .service(
        web::resource("/apps/{app}/formation")
            .route(web::get().to(formation::list_formation))
            .route(web::patch().to(formation::update_formation)),
    )
    .service(
        web::resource("/apps/{app}/formation/{type}")
            .route(web::get().to(formation::get_formation))
            .route(web::patch().to(formation::update_formation_type)),
    )
    .service(
        web::resource("/apps/{app}/dynos")
            .route(web::get().to(dynos::list_dynos))
            .route(web::post().to(dynos::run_dyno))
            .route(web::delete().to(dynos::restart_all)),
    )
    .service(
        web::resource("/apps/{app}/dynos/{dyno}")
            .route(web::get().to(dynos::get_dyno))
            .route(web::delete().to(dynos::restart_dyno)),
    )
    .route(
        "/apps/{app}/dynos/{dyno}/actions/stop",
        web::post().to(dynos::stop_dyno),
    )
    .route("/apps/{app}/dynos/{dyno}/output", web::get().to(dynos::dyno_output))
    .route("/apps/{app}/dynos/{dyno}/attach", web::get().to(attach::attach_dyno))
    .route("/apps/{app}/logs", web::get().to(logs::app_logs));
}
