//! Accepted partner callback signatures, kept to refuse replays.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::Result;

/// Records a callback signature; false when it was seen before (a replay).
pub fn remember_signature(conn: &mut DbConnection, provider_id: &str, mac: &str, now: i64) -> Result<bool> {
    use crate::db::schema::callback_nonces::dsl;
    // Signatures older than the replay window can never verify again: forget them.
    diesel::delete(dsl::callback_nonces.filter(dsl::seen_at.lt(now - 2 * 300_000))).execute(conn)?;
    let seen: i64 = dsl::callback_nonces
        .filter(dsl::provider_id.eq(provider_id))
        .filter(dsl::mac.eq(mac))
        .count()
        .get_result(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    diesel::insert_into(dsl::callback_nonces)
        .values((dsl::provider_id.eq(provider_id), dsl::mac.eq(mac), dsl::seen_at.eq(now)))
        .execute(conn)?;
    Ok(true)
}
