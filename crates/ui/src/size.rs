//! Sizes as people read them (`12.3 KiB`), with the exact byte count kept beside them: pages
//! show the short form and put the bytes in the cell's `title`, so a hover (or a test, or a
//! script) can compare them with what `skopeo inspect` or the API reports.

use std::fmt;

/// A byte count and its human form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Size {
    pub bytes: i64,
    human: String,
}

impl Size {
    pub fn of(bytes: i64) -> Size {
        Size {
            bytes: bytes.max(0),
            human: human_size(bytes),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.human)
    }
}

/// Bytes as people read them: `0 B`, `12.3 KiB`, `4.0 GiB`.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{} B", bytes.max(0));
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::{human_size, Size};

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        let s = Size::of(1536);
        assert_eq!((s.bytes, s.to_string().as_str()), (1536, "1.5 KiB"));
    }
}
