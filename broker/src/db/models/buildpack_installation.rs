//! Buildpack installations: the buildpacks an app's builds run, in order.

use diesel::prelude::*;

use crate::db::schema::buildpack_installations as bpi;
use crate::db::DbConnection;
use crate::error::Result;

/// One buildpack of an app, at its place in the order.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::buildpack_installations)]
pub struct BuildpackInstallation {
    /// The app.
    pub app_id: String,
    /// Its place, from 0.
    pub ordinal: i32,
    /// What the person set: a built-in name (`heroku/python`), a host path or an archive URL.
    pub url: String,
    /// When it was set (ms).
    pub created_at: i64,
}

impl BuildpackInstallation {
    /// An app's buildpacks in order.
    pub fn of_app(conn: &mut DbConnection, app_id: &str) -> Result<Vec<BuildpackInstallation>> {
        Ok(bpi::table
            .filter(bpi::app_id.eq(app_id))
            .order(bpi::ordinal.asc())
            .select(BuildpackInstallation::as_select())
            .load(conn)?)
    }

    /// Replaces an app's buildpacks with `urls`, in this order.
    pub fn replace(conn: &mut DbConnection, app_id: &str, urls: &[String], now: i64) -> Result<()> {
        Self::delete_of_app(conn, app_id)?;
        // One row at a time: batch inserts are not portable across both backends.
        for (i, url) in urls.iter().enumerate() {
            let row = BuildpackInstallation {
                app_id: app_id.to_string(),
                ordinal: i as i32,
                url: url.clone(),
                created_at: now,
            };
            diesel::insert_into(bpi::table).values(&row).execute(conn)?;
        }
        Ok(())
    }

    /// Deletes an app's buildpacks.
    pub fn delete_of_app(conn: &mut DbConnection, app_id: &str) -> Result<()> {
        diesel::delete(bpi::table.filter(bpi::app_id.eq(app_id))).execute(conn)?;
        Ok(())
    }
}
