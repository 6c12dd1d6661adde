//! The session's backend state: the multipart upload id, the parts sent so far and the length
//! of the tail object, kept as a small JSON document in the session's database row (never in
//! this process), so any replica can take the next chunk.

use serde::{Deserialize, Serialize};

use crate::StorageError;

/// One uploaded part of the session's multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Part {
    pub(super) n: i32,
    pub(super) etag: String,
    pub(super) len: u64,
}

/// The backend state of one upload session (kept as JSON in the session's row).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UploadState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) mpu: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) parts: Vec<Part>,
    /// Bytes in the tail object (`tail-<total size>`), 0 when there is none.
    #[serde(default)]
    pub(super) tail: u64,
}

impl UploadState {
    pub(super) fn parse(s: Option<&str>) -> Result<UploadState, StorageError> {
        match s {
            None | Some("") => Ok(UploadState::default()),
            Some(s) => serde_json::from_str(s)
                .map_err(|e| StorageError::Io(std::io::Error::other(format!("upload state: {e}")))),
        }
    }

    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn parts_len(&self) -> u64 {
        self.parts.iter().map(|p| p.len).sum()
    }

    pub(super) fn size(&self) -> u64 {
        self.parts_len() + self.tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_sums() {
        let st = UploadState {
            mpu: Some("m1".into()),
            parts: vec![
                Part {
                    n: 1,
                    etag: "\"a\"".into(),
                    len: 8,
                },
                Part {
                    n: 2,
                    etag: "\"b\"".into(),
                    len: 8,
                },
            ],
            tail: 3,
        };
        let back = UploadState::parse(Some(&st.to_json())).unwrap();
        assert_eq!(back, st);
        assert_eq!(back.size(), 19);
        assert_eq!(UploadState::parse(None).unwrap().size(), 0);
        assert_eq!(
            UploadState::parse(Some("{}")).unwrap(),
            UploadState::default()
        );
        assert!(UploadState::parse(Some("nope")).is_err());
    }
}
