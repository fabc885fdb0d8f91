//! Test-only: a scratch folder of its own for a unit test, removed when dropped.

use std::path::{Path, PathBuf};

/// `bitorrent-<label>-<pid>` in the temporary folder, made empty. Tests of one process run in
/// parallel: each names its own label (module and test).
pub struct Folder(pub PathBuf);

impl Folder {
    pub fn new(label: &str) -> Folder {
        let path = std::env::temp_dir().join(format!("bitorrent-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Folder(path)
    }

    /// The names of what it holds, sorted.
    pub fn names(&self) -> Vec<String> {
        names(&self.0)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The names of what `dir` holds, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
