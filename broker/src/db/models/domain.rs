//! TEMPORARY stand-in until the domains branch lands.
use crate::db::DbConnection;
use crate::error::Result;
/// A custom domain.
pub struct Domain {
    /// Its app.
    pub app_id: String,
}
impl Domain {
    /// Stand-in.
    pub fn find_by_hostname(_c: &mut DbConnection, _h: &str) -> Result<Option<Domain>> {
        Ok(None)
    }
}
