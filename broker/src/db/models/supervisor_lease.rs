//! Leases on dyno runtimes: which broker supervises a runtime's dynos, until when.

use diesel::prelude::*;

use crate::db::schema::supervisor_leases as leases;
use crate::db::DbConnection;
use crate::error::Result;

/// One runtime's supervisor and its lease.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::supervisor_leases)]
pub struct SupervisorLease {
    /// `runtime.name`.
    pub runtime: String,
    /// The holding broker's lease owner (`node-{id}/{boot}`).
    pub holder: String,
    /// The holder's API, where other replicas send dyno requests.
    pub url: String,
    /// When the lease lapses unless renewed (ms).
    pub expires_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl SupervisorLease {
    /// Takes or renews the lease on `runtime` for `holder` until `until`; false while another
    /// holder's lease runs. A lease of the same node's previous run (`node-{id}/…`) is taken
    /// at once: that run is dead, as this one holds the node's directory. Call it in a write transaction (the read and the write are one
    /// step).
    pub fn hold(
        conn: &mut DbConnection,
        runtime: &str,
        (holder, url): (&str, &str),
        now: i64,
        until: i64,
    ) -> Result<bool> {
        let current: Option<SupervisorLease> = leases::table
            .find(runtime)
            .select(SupervisorLease::as_select())
            .first(conn)
            .optional()?;
        match current {
            None => {
                let row = SupervisorLease {
                    runtime: runtime.to_string(),
                    holder: holder.to_string(),
                    url: url.to_string(),
                    expires_at: until,
                    updated_at: now,
                };
                diesel::insert_into(leases::table).values(&row).execute(conn)?;
                Ok(true)
            }
            Some(l) if l.holder == holder || l.expires_at < now || same_node(&l.holder, holder) => {
                diesel::update(leases::table.find(runtime))
                    .set((
                        leases::holder.eq(holder),
                        leases::url.eq(url),
                        leases::expires_at.eq(until),
                        leases::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    /// Gives the lease up, if `holder` has it, so that another replica takes over at once.
    pub fn release(conn: &mut DbConnection, runtime: &str, holder: &str) -> Result<()> {
        diesel::delete(leases::table.find(runtime).filter(leases::holder.eq(holder))).execute(conn)?;
        Ok(())
    }

    /// `runtime`'s lease, if someone holds it now.
    pub fn current(conn: &mut DbConnection, runtime: &str, now: i64) -> Result<Option<SupervisorLease>> {
        Ok(leases::table
            .find(runtime)
            .filter(leases::expires_at.ge(now))
            .select(SupervisorLease::as_select())
            .first(conn)
            .optional()?)
    }
}

/// Whether two lease owners (`node-{id}/{boot}`) are runs of one node.
fn same_node(a: &str, b: &str) -> bool {
    a.contains('/') && crate::node::node_of(a) == crate::node::node_of(b)
}
