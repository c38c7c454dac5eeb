//! Add-on attachments: an add-on bound to an app under a config var prefix.

use diesel::prelude::*;

/// An attachment of an add-on to an app, with its own binding.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::addon_attachments)]
pub struct Attachment {
    /// UUID; also the OSB binding id.
    pub id: String,
    /// The add-on.
    pub addon_id: String,
    /// The app it is attached to.
    pub app_id: String,
    /// Config var prefix (`DATABASE`).
    pub name: String,
    /// `pending` (binding, vars not yet released), `attached`, `detaching`.
    pub state: String,
    /// JSON list of the config var names it set.
    pub vars: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}
