//! This broker's identity among the replicas sharing a state store: a node id kept in its data
//! directory (so that a restarted broker knows the leases its previous run left) and a boot id
//! for this run. The data directory is locked while the broker runs, so two live processes
//! never share a node id: a second one on the same directory runs under a fresh, unsaved id.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use tracing::warn;

use crate::error::{Error, Result};

/// Name of the file that holds the node id.
const ID_FILE: &str = "node-id";
/// Name of the file locked while a broker runs on the directory.
const LOCK_FILE: &str = "node.lock";

/// Who this broker is: the node and this run of it.
#[derive(Debug)]
pub struct Node {
    id: String,
    boot: String,
    /// Held for the life of the process (the lock goes with the file).
    lock: Option<File>,
}

impl Node {
    /// The node of `data_dir`: its saved id (made on first use) with the directory locked, or
    /// a fresh id when another live broker holds the lock.
    pub fn claim(data_dir: &Path) -> Result<Node> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::internal(format!("creating {}", data_dir.display()), e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(data_dir.join(LOCK_FILE))
            .map_err(|e| Error::internal("opening the node lock", e))?;
        if lock.try_lock().is_err() {
            warn!(
                data_dir = %data_dir.display(),
                "another broker runs on this data directory; this one takes a fresh node id (its leases are not resumed early after a restart)"
            );
            return Ok(Node::ephemeral());
        }
        let id = read_or_make_id(&data_dir.join(ID_FILE))?;
        Ok(Node {
            id,
            boot: new_id(),
            lock: Some(lock),
        })
    }

    /// A node known to nobody (tests, and a second broker on one directory).
    pub fn ephemeral() -> Node {
        Node {
            id: new_id(),
            boot: new_id(),
            lock: None,
        }
    }

    /// Whether this broker holds the data directory (no other live broker uses it), so that
    /// what a previous run left there may be cleared.
    pub fn holds_directory(&self) -> bool {
        self.lock.is_some()
    }

    /// `node-{id}/`: what every lease owner of this node starts with, whichever run wrote it.
    pub fn prefix(&self) -> String {
        format!("node-{}/", self.id)
    }

    /// `node-{id}/{boot}`: the owner of this run's leases.
    pub fn owner(&self) -> String {
        format!("{}{}", self.prefix(), self.boot)
    }
}

/// `node-{id}/` of a lease owner `node-{id}/{boot}`: the node whichever run it names.
pub fn node_of(owner: &str) -> &str {
    owner.find('/').map_or(owner, |i| &owner[..=i])
}

/// A fresh id: 32 hex digits (no character that is special in SQL `LIKE` patterns).
fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn read_or_make_id(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if is_id(s.trim()) => return Ok(s.trim().to_string()),
        Ok(_) => warn!(file = %path.display(), "the node id file is not an id; making a new one"),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::internal(format!("reading {}", path.display()), e)),
    }
    let id = new_id();
    // Written whole to a side file and renamed, so a crash never leaves half an id.
    let side = path.with_extension("new");
    let mut f = File::create(&side).map_err(|e| Error::internal("writing the node id", e))?;
    f.write_all(id.as_bytes())
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&side, path))
        .map_err(|e| Error::internal("writing the node id", e))?;
    Ok(id)
}

fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_keeps_its_node_and_a_second_process_gets_another() {
        let dir = tempfile::tempdir().unwrap();
        let first = Node::claim(dir.path()).unwrap();
        let second = Node::claim(dir.path()).unwrap();
        assert_ne!(
            first.prefix(),
            second.prefix(),
            "the lock is held: a second claimant is someone else"
        );
        let saved = first.prefix();
        drop(first);
        drop(second);
        let again = Node::claim(dir.path()).unwrap();
        assert_eq!(again.prefix(), saved, "the next run is the same node");
        assert!(again.owner().starts_with(&saved));
        assert_eq!(node_of(&again.owner()), saved);
        assert_ne!(again.owner(), saved);
    }

    #[test]
    fn a_damaged_id_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ID_FILE), "x%_").unwrap();
        let node = Node::claim(dir.path()).unwrap();
        let id = node
            .prefix()
            .trim_start_matches("node-")
            .trim_end_matches('/')
            .to_string();
        assert!(is_id(&id));
    }
}
