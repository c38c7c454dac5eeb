//! What a buildpack's `bin/release` prints: YAML whose `default_process_types` maps process
//! types to commands (other keys, such as `addons`, are ignored).

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::slugs::{valid_process_type, ProcessTypes};

#[derive(Deserialize)]
struct ReleaseYaml {
    #[serde(default)]
    default_process_types: Option<ProcessTypes>,
}

/// The default process types of one `bin/release` output (empty output: none).
pub fn default_process_types(buildpack: &str, yaml: &str) -> Result<ProcessTypes> {
    let bad = |why: String| Error::BadRequest(format!("buildpack {buildpack}: bin/release printed {why}"));
    if yaml.trim().is_empty() {
        return Ok(ProcessTypes::new());
    }
    let parsed: Option<ReleaseYaml> = serde_yaml_ng::from_str(yaml).map_err(|e| bad(format!("invalid YAML ({e})")))?;
    let types = parsed.and_then(|r| r.default_process_types).unwrap_or_default();
    for (name, command) in &types {
        if !valid_process_type(name) {
            return Err(bad(format!(
                "process type {:?}, which does not match ^[a-zA-Z0-9_-]{{1,63}}$",
                crate::catalog::clip(name)
            )));
        }
        if command.trim().is_empty() {
            return Err(bad(format!("no command for process type {name}")));
        }
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_yaml_gives_default_process_types() {
        let t = default_process_types("x", "---\naddons: []\ndefault_process_types:\n  web: npm start\n").unwrap();
        assert_eq!(t["web"], "npm start");
        assert!(default_process_types("x", "--- {}\n").unwrap().is_empty());
        assert!(default_process_types("x", "").unwrap().is_empty());
        let e = default_process_types("x", "default_process_types: [1").unwrap_err();
        assert!(e.to_string().contains("invalid YAML"), "{e}");
        let e = default_process_types("x", "default_process_types:\n  'a b': x\n").unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
    }
}
