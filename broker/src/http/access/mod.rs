//! Who may do what, over HTTP: the caller's account and tokens, teams and their members, an
//! app's collaborators, and the operators' view of every token.

pub mod account;
pub mod collaborators;
pub mod teams;

use actix_web::web;

/// Mounts the access routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(account::get_account))
        .service(
            web::resource("/account/tokens")
                .route(web::get().to(account::list_tokens))
                .route(web::post().to(account::create_token)),
        )
        .service(
            web::resource("/account/tokens/{id}")
                .route(web::get().to(account::get_token))
                .route(web::delete().to(account::revoke_token)),
        )
        .service(
            web::resource("/admin/tokens")
                .route(web::get().to(account::admin_list_tokens))
                .route(web::post().to(account::admin_create_token)),
        )
        .route("/admin/tokens/{id}", web::delete().to(account::admin_revoke_token))
        .service(
            web::resource("/teams")
                .route(web::get().to(teams::list_teams))
                .route(web::post().to(teams::create_team)),
        )
        .service(
            web::resource("/teams/{team}")
                .route(web::get().to(teams::get_team))
                .route(web::delete().to(teams::delete_team)),
        )
        .service(
            web::resource("/teams/{team}/members")
                .route(web::get().to(teams::list_members))
                .route(web::put().to(teams::put_member)),
        )
        .route("/teams/{team}/members/{member}", web::delete().to(teams::remove_member))
        .service(
            web::resource("/apps/{app}/collaborators")
                .route(web::get().to(collaborators::list_collaborators))
                .route(web::post().to(collaborators::add_collaborator)),
        )
        .route(
            "/apps/{app}/collaborators/{collaborator}",
            web::delete().to(collaborators::remove_collaborator),
        );
}
