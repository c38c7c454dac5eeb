//! Id newtypes: the ids of different entities are all UUID strings, so a function that takes two
//! of them takes two distinct types and the compiler catches a swap. `AppRef` and `AddonRef` are
//! what people type (an id or a name), for the same reason.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read from the store or the wire.
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// A fresh random id (UUID v4).
            pub fn random() -> Self {
                $name(uuid::Uuid::new_v4().to_string())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string (for rows and views).
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_string())
            }
        }
    };
}

id_type!(
    /// An app's id.
    AppId
);
id_type!(
    /// An add-on's id (also its OSB instance id).
    AddonId
);
id_type!(
    /// An attachment's id (also its OSB binding id).
    AttachmentId
);
id_type!(
    /// An OSB service instance's id.
    InstanceId
);
id_type!(
    /// An OSB service binding's id.
    BindingId
);
id_type!(
    /// An operation's id in the journal.
    OperationId
);
id_type!(
    /// A release's id.
    ReleaseId
);
id_type!(
    /// A registered third-party provider's id (its slug).
    ProviderId
);

id_type!(
    /// What a request names an app by: its id or its name (resolved by `App::find`).
    AppRef
);
id_type!(
    /// What a request names an add-on by: its id or its name, or on an app its attachment name
    /// (`REDIS`) or unambiguous service name (`redis`) (resolved by `platform::addon_refs`).
    AddonRef
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let id = AppId::new("3f1c");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"3f1c\"");
        let back: AddonId = serde_json::from_str("\"a-1\"").unwrap();
        assert_eq!(back.as_str(), "a-1");
        assert_ne!(InstanceId::random(), InstanceId::random());
    }
}
