//! Add-ons: service instances owned by apps, their states and their queries.

use std::fmt;

use diesel::prelude::*;

use crate::catalog::clip;
use crate::db::schema::addons;
use crate::db::DbConnection;
use crate::error::{Error, Result};

/// Where an add-on is in its life; stored as the string of [`AddonState::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddonState {
    /// Written, its instance not yet provisioned (or still provisioning).
    Provisioning,
    /// Its instance is provisioned and its attachments can bind.
    Provisioned,
    /// Being detached everywhere and deprovisioned.
    Deprovisioning,
    /// Its provision failed.
    Failed,
}

impl AddonState {
    /// Every state, for parsing.
    const ALL: [AddonState; 4] = [
        AddonState::Provisioning,
        AddonState::Provisioned,
        AddonState::Deprovisioning,
        AddonState::Failed,
    ];

    /// The stored (and shown) form.
    pub fn as_str(self) -> &'static str {
        match self {
            AddonState::Provisioning => "provisioning",
            AddonState::Provisioned => "provisioned",
            AddonState::Deprovisioning => "deprovisioning",
            AddonState::Failed => "failed",
        }
    }

    /// The state stored as `s`, if it is one.
    pub fn parse(s: &str) -> Option<AddonState> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

impl fmt::Display for AddonState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An add-on: a service instance owned by an app.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::addons)]
pub struct Addon {
    /// UUID; also the OSB instance id.
    pub id: String,
    /// Unique name (`postgresql-amber-1234`).
    pub name: String,
    /// The owning app.
    pub app_id: String,
    /// Catalog service name.
    pub service: String,
    /// Catalog plan name.
    pub plan: String,
    /// Plan parameters as JSON text.
    pub config: String,
    /// See [`AddonState`].
    pub state: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Addon {
    /// True when the add-on is in `state`.
    pub fn is(&self, state: AddonState) -> bool {
        self.state == state.as_str()
    }

    /// `service:plan`.
    pub fn plan_name(&self) -> String {
        format!("{}:{}", self.service, self.plan)
    }

    /// An add-on by id or name; 404 when there is none.
    pub fn find(conn: &mut DbConnection, id_or_name: &str) -> Result<Addon> {
        Addon::lookup(conn, id_or_name)?
            .ok_or_else(|| Error::NotFound(format!("add-on {} does not exist", clip(id_or_name))))
    }

    /// An add-on by id or name, if there is one.
    pub fn lookup(conn: &mut DbConnection, id_or_name: &str) -> Result<Option<Addon>> {
        Ok(addons::table
            .filter(addons::id.eq(id_or_name).or(addons::name.eq(id_or_name)))
            .select(Addon::as_select())
            .first(conn)
            .optional()?)
    }

    /// An add-on by its id alone (internal lookups never go by name); 404 when there is none.
    pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Addon> {
        Addon::get(conn, id)?.ok_or_else(|| Error::NotFound(format!("add-on {} does not exist", clip(id))))
    }

    /// An add-on by its id, if it exists.
    pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Addon>> {
        Ok(addons::table
            .find(id)
            .select(Addon::as_select())
            .first(conn)
            .optional()?)
    }

    /// Every add-on, by name.
    pub fn all(conn: &mut DbConnection) -> Result<Vec<Addon>> {
        Ok(addons::table
            .order(addons::name.asc())
            .select(Addon::as_select())
            .load(conn)?)
    }

    /// The add-ons an app owns.
    pub fn owned_by(conn: &mut DbConnection, app_id: &str) -> Result<Vec<Addon>> {
        Ok(addons::table
            .filter(addons::app_id.eq(app_id))
            .select(Addon::as_select())
            .load(conn)?)
    }

    /// How many add-ons an app owns.
    pub fn count_owned_by(conn: &mut DbConnection, app_id: &str) -> Result<i64> {
        Ok(addons::table
            .filter(addons::app_id.eq(app_id))
            .count()
            .get_result(conn)?)
    }

    /// The add-ons an app owns or has attached (`attached`: add-on ids), by name.
    pub fn owned_or_listed(conn: &mut DbConnection, app_id: &str, attached: &[String]) -> Result<Vec<Addon>> {
        Ok(addons::table
            .filter(addons::app_id.eq(app_id).or(addons::id.eq_any(attached)))
            .order(addons::name.asc())
            .select(Addon::as_select())
            .load(conn)?)
    }

    /// How many add-ons of `service` an app owns that have not failed.
    pub fn count_unfailed_of_service(conn: &mut DbConnection, app_id: &str, service: &str) -> Result<i64> {
        Ok(addons::table
            .filter(addons::app_id.eq(app_id))
            .filter(addons::service.eq(service))
            .filter(addons::state.ne(AddonState::Failed.as_str()))
            .count()
            .get_result(conn)?)
    }

    /// The add-ons in `state`.
    pub fn in_state(conn: &mut DbConnection, state: AddonState) -> Result<Vec<Addon>> {
        Ok(addons::table
            .filter(addons::state.eq(state.as_str()))
            .select(Addon::as_select())
            .load(conn)?)
    }

    /// The ids of the add-ons in `state`.
    pub fn ids_in_state(conn: &mut DbConnection, state: AddonState) -> Result<Vec<String>> {
        Ok(addons::table
            .filter(addons::state.eq(state.as_str()))
            .select(addons::id)
            .load(conn)?)
    }

    /// Inserts a new add-on row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(addons::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Moves an add-on from `from` to `to`, only if it is still in `from`; `now` (when given)
    /// becomes its last change.
    pub fn transition(
        conn: &mut DbConnection,
        id: &str,
        from: AddonState,
        to: AddonState,
        now: Option<i64>,
    ) -> Result<()> {
        let row = addons::table.find(id).filter(addons::state.eq(from.as_str()));
        match now {
            Some(now) => diesel::update(row)
                .set((addons::state.eq(to.as_str()), addons::updated_at.eq(now)))
                .execute(conn)?,
            None => diesel::update(row).set(addons::state.eq(to.as_str())).execute(conn)?,
        };
        Ok(())
    }

    /// Puts an add-on in `state`, whatever it was in (its last change stays).
    pub fn set_state(conn: &mut DbConnection, id: &str, state: AddonState) -> Result<()> {
        diesel::update(addons::table.find(id))
            .set(addons::state.eq(state.as_str()))
            .execute(conn)?;
        Ok(())
    }

    /// Records an add-on's plan; `now` (when given) becomes its last change.
    pub fn set_plan(conn: &mut DbConnection, id: &str, plan: &str, now: Option<i64>) -> Result<()> {
        let row = addons::table.find(id);
        match now {
            Some(now) => diesel::update(row)
                .set((addons::plan.eq(plan), addons::updated_at.eq(now)))
                .execute(conn)?,
            None => diesel::update(row).set(addons::plan.eq(plan)).execute(conn)?,
        };
        Ok(())
    }

    /// Deletes an add-on row.
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<()> {
        diesel::delete(addons::table.find(id)).execute(conn)?;
        Ok(())
    }

    /// The add-ons owned by any of these apps.
    pub fn owned_by_any(conn: &mut DbConnection, app_ids: &[String]) -> Result<Vec<Addon>> {
        Ok(addons::table
            .filter(addons::app_id.eq_any(app_ids))
            .select(Addon::as_select())
            .load(conn)?)
    }

    /// The add-ons owned by or attached to any of these apps (what their users may see).
    pub fn of_apps(conn: &mut DbConnection, app_ids: &[String]) -> Result<Vec<Addon>> {
        use crate::db::schema::addon_attachments as att;
        let attached = att::table.filter(att::app_id.eq_any(app_ids)).select(att::addon_id);
        Ok(addons::table
            .filter(addons::app_id.eq_any(app_ids).or(addons::id.eq_any(attached)))
            .order(addons::name.asc())
            .select(Addon::as_select())
            .load(conn)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_stored_as_their_names() {
        for state in AddonState::ALL {
            assert_eq!(AddonState::parse(state.as_str()), Some(state));
        }
        assert_eq!(AddonState::Provisioned.as_str(), "provisioned");
        assert_eq!(AddonState::parse("deprovisioned"), None);
    }
}
