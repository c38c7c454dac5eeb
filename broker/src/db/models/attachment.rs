//! Add-on attachments: an add-on bound to an app under a config var prefix; their states and
//! queries.

use std::fmt;

use diesel::prelude::*;

use crate::db::schema::addon_attachments;
use crate::db::DbConnection;
use crate::error::Result;
use crate::ids::{AddonId, AppId, AttachmentId};

/// Where an attachment is in its life; stored as the string of [`AttachmentState::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentState {
    /// Written, its binding not yet made or its vars not yet released.
    Pending,
    /// Bound, its vars released.
    Attached,
    /// Being unbound and its vars removed.
    Detaching,
}

impl AttachmentState {
    /// Every state, for parsing.
    const ALL: [AttachmentState; 3] = [
        AttachmentState::Pending,
        AttachmentState::Attached,
        AttachmentState::Detaching,
    ];

    /// The stored (and shown) form.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentState::Pending => "pending",
            AttachmentState::Attached => "attached",
            AttachmentState::Detaching => "detaching",
        }
    }

    /// The state stored as `s`, if it is one.
    pub fn parse(s: &str) -> Option<AttachmentState> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

impl fmt::Display for AttachmentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// See [`AttachmentState`].
    pub state: String,
    /// JSON list of the config var names it set.
    pub vars: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Attachment {
    /// A new attachment that has no binding yet (`pending`, no vars).
    pub fn pending(id: AttachmentId, addon_id: &AddonId, app_id: &AppId, name: String, now: i64) -> Attachment {
        Attachment {
            id: id.into_string(),
            addon_id: addon_id.to_string(),
            app_id: app_id.to_string(),
            name,
            state: AttachmentState::Pending.as_str().into(),
            vars: "[]".into(),
            created_at: now,
            updated_at: now,
        }
    }

    /// True when the attachment is in `state`.
    pub fn is(&self, state: AttachmentState) -> bool {
        self.state == state.as_str()
    }

    /// The config var names it set.
    pub fn var_names(&self) -> Vec<String> {
        serde_json::from_str(&self.vars).unwrap_or_default()
    }

    /// An attachment by id, if it exists.
    pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Attachment>> {
        Ok(addon_attachments::table
            .find(id)
            .select(Attachment::as_select())
            .first(conn)
            .optional()?)
    }

    /// The attachments with these ids (those that still exist).
    pub fn get_many(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<Attachment>> {
        Ok(addon_attachments::table
            .filter(addon_attachments::id.eq_any(ids))
            .select(Attachment::as_select())
            .load(conn)?)
    }

    /// An app's attachments.
    pub fn of_app(conn: &mut DbConnection, app_id: &str) -> Result<Vec<Attachment>> {
        Ok(addon_attachments::table
            .filter(addon_attachments::app_id.eq(app_id))
            .select(Attachment::as_select())
            .load(conn)?)
    }

    /// The attachments to any of these apps.
    pub fn of_apps(conn: &mut DbConnection, app_ids: &[String]) -> Result<Vec<Attachment>> {
        Ok(addon_attachments::table
            .filter(addon_attachments::app_id.eq_any(app_ids))
            .order(addon_attachments::name.asc())
            .select(Attachment::as_select())
            .load(conn)?)
    }

    /// The attachments of any of these add-ons.
    pub fn of_addons(conn: &mut DbConnection, addon_ids: &[String]) -> Result<Vec<Attachment>> {
        Ok(addon_attachments::table
            .filter(addon_attachments::addon_id.eq_any(addon_ids))
            .select(Attachment::as_select())
            .load(conn)?)
    }

    /// An add-on's attachments.
    pub fn of_addon(conn: &mut DbConnection, addon_id: &str) -> Result<Vec<Attachment>> {
        Ok(addon_attachments::table
            .filter(addon_attachments::addon_id.eq(addon_id))
            .select(Attachment::as_select())
            .load(conn)?)
    }

    /// The attachments in `state`.
    pub fn in_state(conn: &mut DbConnection, state: AttachmentState) -> Result<Vec<Attachment>> {
        Ok(addon_attachments::table
            .filter(addon_attachments::state.eq(state.as_str()))
            .select(Attachment::as_select())
            .load(conn)?)
    }

    /// The add-on ids of the attachments in `state` (repeats included).
    pub fn addon_ids_in_state(conn: &mut DbConnection, state: AttachmentState) -> Result<Vec<String>> {
        Ok(addon_attachments::table
            .filter(addon_attachments::state.eq(state.as_str()))
            .select(addon_attachments::addon_id)
            .load(conn)?)
    }

    /// Inserts a new attachment row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(addon_attachments::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Writes every column of this row.
    pub fn save(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::update(addon_attachments::table.find(&self.id))
            .set(self)
            .execute(conn)?;
        Ok(())
    }

    /// Puts the attachments with these ids in `state` (their last change stays).
    pub fn set_state_many(conn: &mut DbConnection, ids: &[String], state: AttachmentState) -> Result<()> {
        diesel::update(addon_attachments::table.filter(addon_attachments::id.eq_any(ids)))
            .set(addon_attachments::state.eq(state.as_str()))
            .execute(conn)?;
        Ok(())
    }

    /// Deletes an attachment row.
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<()> {
        diesel::delete(addon_attachments::table.find(id)).execute(conn)?;
        Ok(())
    }

    /// Deletes the attachments with these ids.
    pub fn delete_many(conn: &mut DbConnection, ids: &[String]) -> Result<()> {
        diesel::delete(addon_attachments::table.filter(addon_attachments::id.eq_any(ids))).execute(conn)?;
        Ok(())
    }

    /// Deletes an add-on's attachments that are in `state`.
    pub fn delete_of_addon_in_state(conn: &mut DbConnection, addon_id: &str, state: AttachmentState) -> Result<()> {
        diesel::delete(
            addon_attachments::table
                .filter(addon_attachments::addon_id.eq(addon_id))
                .filter(addon_attachments::state.eq(state.as_str())),
        )
        .execute(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_stored_as_their_names() {
        for state in AttachmentState::ALL {
            assert_eq!(AttachmentState::parse(state.as_str()), Some(state));
        }
        assert_eq!(AttachmentState::Detaching.as_str(), "detaching");
        assert_eq!(AttachmentState::parse("bound"), None);
    }

    #[test]
    fn a_pending_attachment_has_no_vars() {
        let att = Attachment::pending(
            AttachmentId::new("b"),
            &AddonId::new("a"),
            &AppId::new("p"),
            "DATABASE".into(),
            7,
        );
        assert!(att.is(AttachmentState::Pending));
        assert_eq!(
            (att.id.as_str(), att.addon_id.as_str(), att.app_id.as_str()),
            ("b", "a", "p")
        );
        assert!(att.var_names().is_empty());
    }
}
